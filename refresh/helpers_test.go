package refresh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// virtualClock is a clock tests move by hand.
type virtualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d; a negative d does nothing.
func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
}

// testTenant is a simulated tenant on a virtual clock, with a client that
// reaches it in-process and counts the API's answers.
type testTenant struct {
	*simulator.Tenant
	clock  *virtualClock
	client *apiclient.Client
	api    *collector.APIMetrics
}

var testStart = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func newTestTenant(t testing.TB, cfg simulator.Config) *testTenant {
	t.Helper()
	clock := &virtualClock{now: testStart}
	cfg.Token, cfg.TeamID = "tok", "team"
	cfg.Start, cfg.Clock = clock.now, clock.Now
	tenant := simulator.New(cfg)
	api := collector.NewAPIMetrics()
	u, _ := url.Parse("http://tenant.test")
	client := &apiclient.Client{BaseURL: u, TeamID: "team", Token: apiclient.StaticToken("tok"), Observer: api,
		Now: clock.Now, HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)}}
	return &testTenant{Tenant: tenant, clock: clock, client: client, api: api}
}

// refresher returns a Refresher of the tenant on its clock.
func (tt *testTenant) refresher(opts Options) *Refresher {
	if opts.Fetcher == nil {
		opts.Fetcher = tt.client
	}
	opts.RateLimit = tt.api.RateLimit
	opts.Now = tt.clock.Now
	return New(opts)
}

// recordingFetcher remembers every page it fetched, with what it held.
type recordingFetcher struct {
	apiclient.Fetcher
	clock *virtualClock
	mu    sync.Mutex
	pages []fetched
}

type fetched struct {
	at    time.Time
	page  int
	chats []apiclient.Chat
}

func (f *recordingFetcher) FetchPage(ctx context.Context, n int) (apiclient.Page, error) {
	p, err := f.Fetcher.FetchPage(ctx, n)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = append(f.pages, fetched{at: f.clock.Now(), page: n, chats: p.Chats})
	return p, err
}

// chatsOf is the served count of a status on a channel.
func chatsOf(c *collector.Counts, status, channel string) int {
	return c.ByStatusChannel[collector.StatusChannel{Status: status, Channel: channel}]
}

// oldestOf is the creation time of the oldest chat of a status on a
// channel, and whether there is one.
func oldestOf(c *collector.Counts, status, channel string) (time.Time, bool) {
	t, ok := c.OldestCreated[collector.StatusChannel{Status: status, Channel: channel}]
	return t, ok
}

// queuedOf is the served queued count, the figure people are paged on.
func queuedOf(c *collector.Counts) int {
	n := 0
	for k, v := range c.ByStatusChannel {
		if k.Status == apiclient.StatusQueued {
			n += v
		}
	}
	return n
}

// spentInDay is the tenant's requests in the last 24 hours.
func spentInDay(q *Quota, now time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance(now)
	return int64(q.spentInDay())
}

// diffTruth compares served counts with the simulator's truth.
func diffTruth(got *collector.Counts, truth simulator.Counts) string {
	if got.Total != truth.Total {
		return fmt.Sprintf("total %d, truth %d", got.Total, truth.Total)
	}
	for _, s := range collector.Statuses {
		for _, ch := range collector.Channels {
			k := [2]string{s, ch}
			if n := chatsOf(got, s, ch); n != truth.ByStatusChannel[k] {
				return fmt.Sprintf("chats{status=%q,channel=%q} = %d, truth %d", s, ch, n, truth.ByStatusChannel[k])
			}
			want, wantOK := truth.OldestCreated[k]
			if have, ok := oldestOf(got, s, ch); ok != wantOK || !have.Equal(want) {
				return fmt.Sprintf("oldest created {status=%q,channel=%q} = %v, truth %v", s, ch, have, want)
			}
		}
	}
	return ""
}

// counterValue reads one labelled counter of a collector.
func counterValue(t *testing.T, c prometheus.Collector, name, label string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s}", name, label)
	return 0
}
