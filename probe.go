package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// newProbeHandler serves GET /probe?target=TENANT/TEAM (or
// ?tenant=TENANT&team=TEAM, see probeTarget): one team's
// metrics, as /metrics serves them in single-tenant mode. Only the
// configuration names what is read: an unknown tenant or team, or a
// missing parameter, is answered 400 with the reason, and nothing is
// requested upstream.
func newProbeHandler(set *tenants.Set, maxWait, offset time.Duration, logger log.Logger, tap *logTap) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, teamID, err := probeTarget(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		team, err := set.Lookup(tenant, teamID)
		if err != nil { // a *tenants.LookupError: the caller's mistake
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if d := r.URL.Query().Get("debug"); d == "true" || d == "1" {
			serveDebugProbe(w, r, team, tap, maxWait, offset, logger)
			return
		}
		newMetricsHandler(team.Registry, team.Source(), maxWait, offset, logger,
			collector.WithLabelLimit(team.LabelLimit)).ServeHTTP(w, r)
	})
}

// probeTarget reads the team a probe names: target=TENANT/TEAM, the
// form the instance label takes and the standard relabelling sends, or
// tenant=TENANT&team=TEAM; target=TENANT and a missing team are the
// tenant's default team (tenants.Set.Lookup). module= is ignored.
func probeTarget(q url.Values) (tenant, team string, err error) {
	target := q.Get("target")
	if target == "" {
		return q.Get("tenant"), q.Get("team"), nil
	}
	if q.Has("tenant") || q.Has("team") {
		return "", "", errors.New("give target=TENANT/TEAM or tenant= and team=, not both")
	}
	tenant, team, slash := strings.Cut(target, "/")
	if tenant == "" || (slash && team == "") {
		if len(target) > 64 {
			target = target[:64] + "…"
		}
		return "", "", fmt.Errorf("target %q is not TENANT/TEAM or TENANT", target)
	}
	return tenant, team, nil
}
