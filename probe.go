package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// newProbeHandler serves GET /probe?target=TENANT/TEAM (or
// ?tenant=TENANT&team=TEAM, see probeTarget): one team's
// metrics, as /metrics serves them in single-tenant mode. Only the
// configuration names what is read: an unknown tenant or team, or a
// missing parameter, is answered 400 with the reason, and nothing is
// requested upstream. A known tenant's probe takes one of the tenant's
// slots (see probeSlots), or is answered 503 at once.
func newProbeHandler(set *tenants.Set, slots *probeSlots, waits scrapeWaits, logger log.Logger, tap *logTap) http.Handler {
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
		release, share, ok := slots.take(team.Tenant, set.Len())
		if !ok {
			http.Error(w, fmt.Sprintf("Limit of concurrent probes of this tenant reached (%d, its share of --web.max-requests), try again later.", share),
				http.StatusServiceUnavailable)
			return
		}
		defer release()
		if d := r.URL.Query().Get("debug"); d == "true" || d == "1" {
			serveDebugProbe(w, r, team, tap, waits, logger)
			return
		}
		newMetricsHandler(team.Registry, team.Source(), waits, logger,
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

// probeSlots bounds the probes in flight per tenant, so that the probes of
// a tenant whose API hangs cannot take the slots of the others: each
// tenant may hold its share of max, max/n of the n running tenants' (at
// least one), and a probe beyond its tenant's share is answered 503 at
// once. The shares add up to at most max, or to n when there are more
// tenants than max. max 0: no limit.
type probeSlots struct {
	max int

	mu       sync.Mutex
	inFlight map[string]int // by tenant; a tenant with none is absent
}

func newProbeSlots(max int) *probeSlots {
	return &probeSlots{max: max, inFlight: map[string]int{}}
}

// take takes a slot of tenant, one of n tenants. ok false: the tenant
// holds its share already.
func (p *probeSlots) take(tenant string, n int) (release func(), share int, ok bool) {
	if p.max <= 0 {
		return func() {}, 0, true
	}
	share = max(1, p.max/max(1, n))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inFlight[tenant] >= share {
		return nil, share, false
	}
	p.inFlight[tenant]++
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.inFlight[tenant]--; p.inFlight[tenant] <= 0 {
			delete(p.inFlight, tenant)
		}
	}, share, true
}
