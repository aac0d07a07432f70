package main

import (
	"net/http"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// newProbeHandler serves GET /probe?tenant=NAME&team=ID: one team's
// metrics, as /metrics serves them in single-tenant mode. Only the
// configuration names what is read: an unknown tenant or team, or a
// missing parameter, is answered 400 with the reason, and nothing is
// requested upstream.
func newProbeHandler(set *tenants.Set, maxWait, offset time.Duration, logger log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		team, err := set.Lookup(q.Get("tenant"), q.Get("team"))
		if err != nil { // a *tenants.LookupError: the caller's mistake
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		newMetricsHandler(team.Registry, team.Source(), maxWait, offset, logger,
			collector.WithLabelLimit(team.LabelLimit)).ServeHTTP(w, r)
	})
}
