package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// teamArrivals reports, once per team, the first request of each team (its
// teamid header) that reaches the tenant: the probe that started that
// team's refresh is in flight.
type teamArrivals struct {
	next    http.Handler
	arrived chan string

	mu   sync.Mutex
	seen map[string]bool
}

func newTeamArrivals(next http.Handler) *teamArrivals {
	return &teamArrivals{next: next, arrived: make(chan string, 1024), seen: map[string]bool{}}
}

func (a *teamArrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	team := r.Header.Get("teamid")
	a.mu.Lock()
	first := !a.seen[team]
	a.seen[team] = true
	a.mu.Unlock()
	if first {
		a.arrived <- team
	}
	a.next.ServeHTTP(w, r)
}

// TestHungTenantLeavesTheOthersTheirProbeSlots: the probes of a tenant
// whose API hangs reach --web.max-requests (twice as many probes as the
// limit, one per team, each with a 60 s scrape timeout); while every one of
// them is either held or refused, every probe of a healthy tenant is
// answered 200 with its numbers. Outcomes only: a held probe is one whose
// team's request reached the hung API.
func TestHungTenantLeavesTheOthersTheirProbeSlots(t *testing.T) {
	const limit = 4
	dir := t.TempDir()
	hungTeams := map[string]int{}
	for i := range 2 * limit {
		hungTeams[fmt.Sprint(i+1)] = 5
	}
	var gate *pageGate
	var arrivals *teamArrivals
	hung := startOrgBehind(t, dir, "hung", hungTeams, func(h http.Handler) http.Handler {
		gate = newPageGate(h)
		arrivals = newTeamArrivals(gate)
		return arrivals
	})
	healthy := startOrg(t, dir, "healthy", map[string]int{"1": 30, "2": 12})
	configFile := filepath.Join(dir, "config.yml")
	var ids []string
	for id := range hungTeams {
		ids = append(ids, id)
	}
	writeConfig(t, configFile, tenantEntry("hung", hung, "", ids...), tenantEntry("healthy", healthy, "", "1", "2"))
	base, _ := startMultiTarget(t, configFile, fmt.Sprintf("--web.max-requests=%d", limit))
	client := &http.Client{Timeout: 2 * time.Minute} // a bound for a hung exporter only

	gate.Hold()
	defer gate.Release()
	hungCodes := make(chan int, len(ids))
	for _, id := range ids {
		go func() {
			code, _ := scrape(t, client, probeURL(base, "hung", id), "60")
			hungCodes <- code
		}()
	}
	// Settle: each hung probe is held (its team reached the API) or
	// answered (refused at once).
	held, refused := 0, 0
	for held+refused < len(ids) {
		select {
		case <-arrivals.arrived:
			held++
		case code := <-hungCodes:
			if code != http.StatusServiceUnavailable {
				t.Fatalf("a probe of the hung tenant answered HTTP %d while its API hangs", code)
			}
			refused++
		case <-time.After(time.Minute): // a bound for a broken test, not a measurement
			t.Fatalf("the hung tenant's probes did not settle: %d held, %d refused", held, refused)
		}
	}
	t.Logf("hung tenant: %d probes held, %d refused", held, refused)

	// The healthy tenant's probes, one after the other and then two at
	// once, while the hung tenant's probes are held.
	answers := map[int]int{}
	var mu sync.Mutex
	probe := func(team string) {
		code, body := scrape(t, client, probeURL(base, "healthy", team), "10")
		mu.Lock()
		defer mu.Unlock()
		answers[code]++
		if code == http.StatusOK && !strings.Contains(body, "\nimichat_up 1\n") {
			t.Errorf("healthy/%s: not up while another tenant hangs:\n%s", team, body)
		}
	}
	for i := range 10 {
		probe(fmt.Sprint(i%2 + 1))
	}
	var wg sync.WaitGroup
	for _, team := range []string{"1", "2"} {
		wg.Add(1)
		go func() { defer wg.Done(); probe(team) }()
	}
	wg.Wait()
	t.Logf("healthy tenant's probes while the limit is held: %v (HTTP status: count)", answers)
	if answers[http.StatusOK] != 12 {
		t.Errorf("healthy tenant's probes answered %v, want all 12 HTTP 200", answers)
	}
	select {
	case code := <-hungCodes:
		t.Fatalf("a held probe of the hung tenant answered HTTP %d before its API did: the order this test relies on is broken", code)
	default:
	}
	gate.Release()
	for range held {
		if code := <-hungCodes; code != http.StatusOK {
			t.Errorf("a held probe of the hung tenant answered HTTP %d once its API answered", code)
		}
	}
}

// TestProbeWithoutTimeoutHeaderWaitsTheDefault: a probe without
// X-Prometheus-Scrape-Timeout-Seconds (curl, a script: no Prometheus)
// answers, imichat_up 0, while the tenant's API still hangs: it waits
// --web.default-scrape-timeout, not --imichat.timeout (5 m). What is
// asserted is the order of events: the answer comes before the API's.
func TestProbeWithoutTimeoutHeaderWaitsTheDefault(t *testing.T) {
	dir := t.TempDir()
	var gate *pageGate
	hung := startOrgBehind(t, dir, "hung", map[string]int{"1": 5}, func(h http.Handler) http.Handler {
		gate = newPageGate(h)
		return gate
	})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("hung", hung, "", "1"))
	base, _ := startMultiTarget(t, configFile, "--web.default-scrape-timeout=1s", "--imichat.timeout=1h")
	gate.Hold()
	defer gate.Release()
	client := &http.Client{Timeout: time.Minute} // a bound for a hung exporter only
	code, body := scrape(t, client, probeURL(base, "hung", "1"), "")
	select {
	case <-gate.arrived:
	default:
		t.Fatal("the probe's refresh never reached the API: the order this test relies on is broken")
	}
	if code != http.StatusOK || !strings.Contains(body, "\nimichat_up 0\n") || strings.Contains(body, "imichat_chats{") {
		t.Errorf("a probe without the timeout header while the API hangs: HTTP %d, want 200, imichat_up 0 and no chat gauges:\n%.500s", code, body)
	}
}

// TestProbeSlots: each tenant holds at most its share of the limit, the
// limit divided by the running tenants, at least one; a slot given back can
// be taken again; 0 is no limit.
func TestProbeSlots(t *testing.T) {
	tests := []struct {
		max, tenants, wantShare int
	}{
		{40, 1, 40},
		{40, 2, 20},
		{40, 3, 13},
		{4, 3, 1},
		{4, 9, 1}, // more tenants than the limit: one each
		{4, 0, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.max, tt.tenants), func(t *testing.T) {
			p := newProbeSlots(tt.max)
			var releases []func()
			for i := range tt.wantShare {
				release, _, ok := p.take("a", tt.tenants)
				if !ok {
					t.Fatalf("slot %d of %d refused", i+1, tt.wantShare)
				}
				releases = append(releases, release)
			}
			if _, share, ok := p.take("a", tt.tenants); ok || share != tt.wantShare {
				t.Fatalf("a slot beyond the share: ok %v, share %d; want refused, share %d", ok, share, tt.wantShare)
			}
			if _, _, ok := p.take("b", tt.tenants); !ok {
				t.Error("another tenant refused while one holds its share")
			}
			releases[0]()
			if _, _, ok := p.take("a", tt.tenants); !ok {
				t.Error("a slot given back could not be taken again")
			}
		})
	}
	p := newProbeSlots(0)
	for range 1000 {
		if _, _, ok := p.take("a", 1); !ok {
			t.Fatal("refused without a limit")
		}
	}
}
