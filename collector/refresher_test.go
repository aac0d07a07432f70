package collector

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
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

func (c *virtualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testTenant is a simulated tenant on a virtual clock, with a client that
// reaches it in-process and counts the API's answers.
type testTenant struct {
	*simulator.Tenant
	clock  *virtualClock
	client *apiclient.Client
	api    *APIMetrics
}

func newTestTenant(t testing.TB, cfg simulator.Config) *testTenant {
	t.Helper()
	clock := &virtualClock{now: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	cfg.Token, cfg.TeamID = "tok", "team"
	cfg.Start, cfg.Clock = clock.now, clock.Now
	tenant := simulator.New(cfg)
	api := NewAPIMetrics()
	u, _ := url.Parse("http://tenant.test")
	client := &apiclient.Client{BaseURL: u, TeamID: "team", Token: apiclient.StaticToken("tok"), Observer: api,
		Now: clock.Now, HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)}}
	return &testTenant{Tenant: tenant, clock: clock, client: client, api: api}
}

func (tt *testTenant) refresher(opts RefresherOptions) *Refresher {
	opts.Fetcher = tt.client
	if opts.Walk.Concurrency == 0 {
		opts.Walk = apiclient.WalkOptions{FirstPage: 1, Concurrency: 1, MaxPages: 100000}
	}
	opts.RateLimit = tt.api.RateLimit
	opts.Now = tt.clock.Now
	return NewRefresher(opts)
}

// diffTruth compares served counts with the simulator's truth.
func diffTruth(got *Counts, truth simulator.Counts) string {
	want := map[statusChannel]int{}
	for _, s := range Statuses {
		for _, ch := range Channels {
			want[statusChannel{s, ch}] = 0
		}
	}
	for k, v := range truth.ByStatusChannel {
		want[statusChannel{k[0], k[1]}] = v
	}
	if !maps.Equal(got.ByStatusChannel, want) {
		for k, v := range want {
			if got.ByStatusChannel[k] != v {
				return fmt.Sprintf("chats{status=%q,channel=%q} = %d, truth %d", k.status, k.channel, got.ByStatusChannel[k], v)
			}
		}
		return fmt.Sprintf("extra series: %v", got.ByStatusChannel)
	}
	if got.Total != truth.Total {
		return fmt.Sprintf("total %d, truth %d", got.Total, truth.Total)
	}
	wantOldest := map[statusChannel]time.Time{}
	for k, v := range truth.OldestCreated {
		wantOldest[statusChannel{k[0], k[1]}] = v
	}
	if !maps.EqualFunc(got.OldestCreated, wantOldest, time.Time.Equal) {
		return fmt.Sprintf("oldest created %v, truth %v", got.OldestCreated, wantOldest)
	}
	return ""
}

// TestIncrementalEqualsFullWalk lets a tenant live for a day of arrivals,
// pickings, holds and closes, refreshing incrementally every few minutes,
// and compares the merged counts with the truth after every refresh.
func TestIncrementalEqualsFullWalk(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 5, History: 2000, ArrivalsPerDay: 3000, QuotaPerDay: 1 << 30})
	r := tt.refresher(RefresherOptions{
		OpenRefreshInterval: time.Nanosecond, // every open chat re-read on every refresh
		FullWalkInterval:    6 * time.Hour,
		QuotaShare:          1,
		MaxBurst:            200, // enough for every stale page, less than a full walk
	})
	ctx := context.Background()
	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTruth(snap.Counts, tt.Counts()); d != "" {
		t.Fatalf("after the first full walk: %s", d)
	}
	var incrementalPages, fullWalkPages, refreshes int
	for step := 0; step < 24*6; step++ { // a day, every 10 minutes
		tt.clock.Advance(10 * time.Minute)
		snap, err := r.Snapshot(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !snap.RefreshedAt.Equal(tt.clock.Now()) {
			t.Fatalf("step %d: served data from %v, not refreshed now", step, snap.RefreshedAt)
		}
		if d := diffTruth(snap.Counts, tt.Counts()); d != "" {
			t.Fatalf("step %d (%v): %s", step, tt.clock.Now(), d)
		}
		incrementalPages += snap.Pages
		fullWalkPages += snap.Counts.Total/apiclient.PageSize + 1
		refreshes++
	}
	t.Logf("a refresh cost %.1f pages on average; a full walk would have cost %.1f",
		float64(incrementalPages)/float64(refreshes), float64(fullWalkPages)/float64(refreshes))
	if incrementalPages*2 > fullWalkPages {
		t.Errorf("incremental refreshes cost %d pages, full walks %d: less than half saved", incrementalPages, fullWalkPages)
	}
}

// TestSweepCatchesReopenedAndDeletedChats changes closed chats deep in the
// list, which head and open-chat refreshes cannot see; the rolling re-walk
// must bring the counts back to the truth within one full-walk interval.
func TestSweepCatchesReopenedAndDeletedChats(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 6, History: 2000, QuotaPerDay: 1 << 30})
	r := tt.refresher(RefresherOptions{FullWalkInterval: time.Hour, QuotaShare: 1})
	ctx := context.Background()
	if _, err := r.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	chats := tt.Chats()
	var closed []simulator.Chat
	for _, c := range chats[len(chats)/2:] {
		if c.Status == "closed" {
			closed = append(closed, c)
		}
	}
	tt.SetStatus(closed[0].ID, "queued")
	tt.Delete(closed[1].ID)
	tt.Delete(closed[2].ID)

	tt.clock.Advance(time.Minute)
	snap, _ := r.Snapshot(ctx)
	if diffTruth(snap.Counts, tt.Counts()) == "" {
		t.Fatal("a cheap refresh saw a change deep in the list: the test proves nothing")
	}
	for range 70 { // a little more than the hour
		tt.clock.Advance(time.Minute)
		if snap, err := r.Snapshot(ctx); err != nil {
			t.Fatal(err)
		} else if d := diffTruth(snap.Counts, tt.Counts()); d == "" {
			return
		}
	}
	snap, _ = r.Snapshot(ctx)
	t.Errorf("after a full-walk interval: %s", diffTruth(snap.Counts, tt.Counts()))
}

// TestConcurrentPullsShareOneWalk starts many pulls at once while a slow
// walk runs: the tenant must see the requests of one walk only.
func TestConcurrentPullsShareOneWalk(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 7, History: 95, Latency: 20 * time.Millisecond, QuotaPerDay: 1 << 30})
	r := tt.refresher(RefresherOptions{MinInterval: time.Minute})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, err := r.Snapshot(context.Background())
			if err == nil && snap.Counts.Total != 95 {
				err = fmt.Errorf("%d chats", snap.Counts.Total)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := tt.Requests(); got != 10 { // pages 1 to 10, one request each
		t.Errorf("20 concurrent pulls made %d requests; one walk makes 10", got)
	}
	// A second wave within the minimum interval is served from the result.
	tt.ResetRequests()
	tt.clock.Advance(30 * time.Second)
	for range 5 {
		if _, err := r.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := tt.Requests(); got != 0 {
		t.Errorf("pulls within the minimum interval made %d requests", got)
	}
}

// TestPacingHoldsRefreshesBack gives the exporter a quota it can only
// afford a refresh from now and then, and pulls every 15 s.
func TestPacingHoldsRefreshesBack(t *testing.T) {
	// 2,880 requests a day at share 0.5 is 1,440 for us: one request a
	// minute; half of it for the head, so a one-page head refresh every
	// two minutes.
	tt := newTestTenant(t, simulator.Config{Seed: 8, History: 5, QuotaPerDay: 2880})
	r := tt.refresher(RefresherOptions{QuotaShare: 0.5})
	ctx := context.Background()
	if _, err := r.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	tt.ResetRequests()
	var refreshedAt []time.Time
	last := time.Time{}
	for range 4 * 60 { // an hour of pulls every 15 s
		tt.clock.Advance(15 * time.Second)
		snap, err := r.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !snap.RefreshedAt.Equal(last) {
			refreshedAt = append(refreshedAt, snap.RefreshedAt)
			last = snap.RefreshedAt
		}
	}
	requests := tt.Requests()
	// Our share of an hour of this quota is 60 requests.
	if requests > 60 {
		t.Errorf("%d requests in an hour, more than the quota share of 60", requests)
	}
	if len(refreshedAt) < 20 {
		t.Errorf("only %d refreshes in an hour: pacing is too stingy", len(refreshedAt))
	}
	if skipped := counterValue(t, r, "imichat_refresh_skipped_total", "quota"); skipped == 0 {
		t.Error("no refresh was counted as held back for the quota")
	}
	t.Logf("%d requests, %d refreshes in an hour of pulls every 15 s", requests, len(refreshedAt))
}

// TestFailedRefreshServesNoNumbers: a refresh that fails after a good one
// answers with the error, not with the stale numbers as if all were well.
func TestFailedRefreshServesNoNumbers(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 9, History: 30, QuotaPerDay: 1 << 30})
	r := tt.refresher(RefresherOptions{})
	ctx := context.Background()
	if _, err := r.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	tt.ExpireToken()
	tt.clock.Advance(time.Minute)
	if _, err := r.Snapshot(ctx); err == nil {
		t.Fatal("an expired token did not fail the refresh")
	}
	tt.SetToken("tok")
	tt.clock.Advance(time.Minute)
	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTruth(snap.Counts, tt.Counts()); d != "" {
		t.Error(d)
	}
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
