package refresh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// TestColdStartOnALongHistory: a tenant with 200,000 chats of history. The
// first pull is up with exact numbers for what its first refresh covered,
// within one refresh's pages; later pulls deepen the window, exact each
// time for what they cover, until it reaches the lookback. The tenant's
// clock stands still, so that every pull has one truth to be held to.
func TestColdStartOnALongHistory(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 21, History: 200000, ArrivalsPerDay: 10000, QuotaPerDay: replayQuota})
	r := tt.refresher(Options{FirstPage: 1, Concurrency: 4, MaxPages: 100, Lookback: 24 * time.Hour})
	ctx := context.Background()
	now := tt.clock.Now()
	cutoff := now.Add(-24 * time.Hour)

	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatalf("first pull: %v", err)
	}
	if got := tt.Requests(); got > 100 {
		t.Errorf("the first refresh made %d requests, more than --imichat.max-pages", got)
	}
	if !snap.Coverage.After(cutoff) {
		t.Fatalf("100 pages cannot cover a day of 10,000 chats, yet coverage is %v", snap.Coverage)
	}
	if d := diffTruth(snap.Counts, tt.CountsSince(snap.Coverage)); d != "" {
		t.Fatalf("first pull, covering down to %v: %s", snap.Coverage, d)
	}
	previous := snap.Coverage
	for pull := 1; previous.After(cutoff); pull++ {
		if pull > 200 {
			t.Fatalf("after 200 pulls the window reaches %v, not the lookback %v", previous, cutoff)
		}
		snap, err = r.Snapshot(ctx)
		if err != nil {
			t.Fatalf("pull %d: %v", pull, err)
		}
		if snap.Coverage.After(previous) {
			t.Fatalf("pull %d: coverage went back from %v to %v", pull, previous, snap.Coverage)
		}
		if d := diffTruth(snap.Counts, tt.CountsSince(snap.Coverage)); d != "" {
			t.Fatalf("pull %d, covering down to %v: %s", pull, snap.Coverage, d)
		}
		previous = snap.Coverage
	}
	if !snap.Coverage.Equal(cutoff) {
		t.Errorf("a complete window covers down to %v, want the lookback %v", snap.Coverage, cutoff)
	}
	// Within the day's share, cold start included.
	if got, share := tt.Requests(), int64(replayQuotaShare*replayQuota); got > share {
		t.Errorf("the cold start made %d requests, more than the day's share of %d", got, share)
	}
}

// TestLookbackIsNeverReadPast lets a tenant with a week of history live for
// four hours under a two-hour lookback: no page is requested beyond the one
// holding the first chat older than the lookback.
func TestLookbackIsNeverReadPast(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 22, History: 20000, ArrivalsPerDay: 3000, QuotaPerDay: 1 << 30})
	rec := &recordingFetcher{Fetcher: tt.client, clock: tt.clock}
	const lookback = 2 * time.Hour
	r := tt.refresher(Options{Fetcher: rec, FirstPage: 1, Lookback: lookback, SweepInterval: 30 * time.Minute,
		QuotaShare: 1, DailyBudget: 1 << 30, MinInterval: 15 * time.Second})
	ctx := context.Background()
	inWindow := map[time.Time]int{} // chats created within the lookback, at a time
	for range 4 * 60 * 4 {          // four hours of pulls every 15 s
		if _, err := r.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		for _, f := range rec.pages {
			n, ok := inWindow[f.at]
			if !ok {
				n = tt.CountsSince(f.at.Add(-lookback)).Total
				inWindow[f.at] = n
			}
			if last := 1 + n/apiclient.PageSize; f.page > last {
				t.Fatalf("%v: page %d requested; the lookback ends on page %d", f.at, f.page, last)
			}
		}
		rec.pages = rec.pages[:0]
		rec.mu.Unlock()
		tt.clock.Advance(15 * time.Second)
	}
}

// TestMergedCountsEqualTheTruth lets a tenant live for a day of arrivals,
// pickings, holds and closes, with a quota that affords every page, pulled
// every ten minutes: once the price of a page has fallen to what the quota
// affords, every pull serves the truth of its window.
func TestMergedCountsEqualTheTruth(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 5, History: 2000, ArrivalsPerDay: 3000, QuotaPerDay: 1 << 30})
	r := tt.refresher(Options{FirstPage: 1, MaxPages: 1000, QuotaShare: 1, DailyBudget: 1 << 30})
	ctx := context.Background()
	var pages, refreshes int
	for step := range 24 * 6 {
		tt.clock.Advance(10 * time.Minute)
		snap, err := r.Snapshot(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if !snap.RefreshedAt.Equal(tt.clock.Now()) {
			t.Fatalf("step %d: served data from %v, not refreshed now", step, snap.RefreshedAt)
		}
		if step < 4*6 {
			continue // the price falls from its start over a few hours
		}
		if d := diffTruth(snap.Counts, tt.CountsSince(snap.Coverage)); d != "" {
			t.Fatalf("step %d (%v): %s", step, tt.clock.Now(), d)
		}
		pages += snap.Pages
		refreshes++
	}
	window := tt.CountsSince(tt.clock.Now().Add(-24*time.Hour)).Total/apiclient.PageSize + 1
	t.Logf("a refresh read %.1f pages on average; the window is %d pages", float64(pages)/float64(refreshes), window)
	if pages >= refreshes*window/2 {
		t.Errorf("refreshes read %d pages, more than half of reading the window each time (%d)", pages, refreshes*window)
	}
}

// TestSweepCatchesReopenedAndDeletedChats changes closed chats deep in the
// window, which no read of the head or of open chats looks at: the sweep
// brings the numbers back to the truth within its interval.
func TestSweepCatchesReopenedAndDeletedChats(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 6, History: 2000, QuotaPerDay: 1 << 30})
	r := tt.refresher(Options{FirstPage: 1, MaxPages: 1000, SweepInterval: time.Hour, QuotaShare: 1, DailyBudget: 1 << 30})
	ctx := context.Background()
	if _, err := r.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.eng.state.complete {
		t.Fatal("the first refresh did not cover the whole (short) history")
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
	truth := func() simulator.Counts { return tt.CountsSince(snap.Coverage) }
	if diffTruth(snap.Counts, truth()) == "" {
		t.Fatal("a cheap refresh saw a change deep in the list: the test proves nothing")
	}
	for range 70 { // a little more than the sweep's hour
		tt.clock.Advance(time.Minute)
		var err error
		if snap, err = r.Snapshot(ctx); err != nil {
			t.Fatal(err)
		} else if diffTruth(snap.Counts, truth()) == "" {
			return
		}
	}
	t.Errorf("after the sweep's interval: %s", diffTruth(snap.Counts, truth()))
}

// TestConcurrentPullsShareOneRefresh starts many pulls at once while a slow
// refresh runs: the tenant sees the requests of one refresh only.
func TestConcurrentPullsShareOneRefresh(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 7, History: 95, Latency: 20 * time.Millisecond, QuotaPerDay: 1 << 30})
	r := tt.refresher(Options{FirstPage: 1, MinInterval: time.Minute})
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
		t.Errorf("20 concurrent pulls made %d requests; one cold start reads 10 pages", got)
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

// TestWithinTheShareInEvery24Hours pulls a tenant of 20,000 chats every
// 15 s for 36 hours on a quota of 2,880 requests a day (1,440 for us): no
// 24-hour window, cold start included, holds more than the share.
func TestWithinTheShareInEvery24Hours(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 8, History: 20000, ArrivalsPerDay: 3000, QuotaPerDay: 2880})
	r := tt.refresher(Options{FirstPage: 1, Concurrency: 4, QuotaShare: 0.5, DailyBudget: 2880, MinInterval: 15 * time.Second})
	ctx := context.Background()
	perMinute := map[int64]int64{}
	ups := 0
	const pulls = 36 * 60 * 4
	for range pulls {
		before := tt.Requests()
		if _, err := r.Snapshot(ctx); err == nil {
			ups++
		}
		perMinute[tt.clock.Now().Unix()/60] += tt.Requests() - before
		tt.clock.Advance(15 * time.Second)
	}
	if most := maxInWindow(perMinute, 24*60); most > 1440 {
		t.Errorf("%d requests in one 24-hour window, more than the share of 1,440", most)
	}
	if ups < pulls*99/100 {
		t.Errorf("only %d of %d pulls served numbers", ups, pulls)
	}
	if skipped := counterValue(t, r, "imichat_refresh_skipped_total", SkipQuota); skipped == 0 {
		t.Error("no refresh was counted as held back for the quota")
	}
}

// TestNeverPastTheRemainingQuota: another integration of the tenant has
// spent nearly all of the day's quota. The exporter, whose share is the
// whole quota, makes no request the rate-limit headers say is not there.
func TestNeverPastTheRemainingQuota(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 9, History: 500, ArrivalsPerDay: 3000, QuotaPerDay: 1000})
	// The other integration: 990 requests early in the day.
	for range 990 {
		if _, err := tt.client.FetchPage(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	r := tt.refresher(Options{FirstPage: 1, QuotaShare: 1, DailyBudget: 1000})
	ctx := context.Background()
	tt.ResetRequests()
	end := nextMidnightUTC(tt.clock.Now())
	for tt.clock.Now().Before(end.Add(-time.Minute)) {
		if _, err := r.Snapshot(ctx); err != nil && !strings.Contains(err.Error(), "no read") {
			t.Fatalf("%v: %v", tt.clock.Now(), err)
		}
		tt.clock.Advance(15 * time.Second)
	}
	if got := tt.Requests(); got > 10 {
		t.Errorf("the exporter made %d requests; the headers said 10 were left", got)
	}
}

// TestFailedRefreshServesNoNumbers: a refresh that fails after a good one
// answers with the error, not with the stale numbers as if all were well;
// each failed refresh is logged once, however many pulls serve it, and the
// retries back off.
func TestFailedRefreshServesNoNumbers(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 9, History: 30, QuotaPerDay: 1 << 30})
	var logs bytes.Buffer
	r := tt.refresher(Options{FirstPage: 1, MinInterval: 15 * time.Second, Logger: log.NewLogfmtLogger(&logs)})
	ctx := context.Background()
	if _, err := r.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	tt.ExpireToken()
	tt.ResetRequests()
	failing := false
	for range 40 { // ten minutes of pulls every 15 s
		tt.clock.Advance(15 * time.Second)
		_, err := r.Snapshot(ctx)
		switch {
		case err != nil:
			failing = true
		case failing:
			t.Fatal("after a failed refresh, a pull served numbers again while the token is still expired")
		}
	}
	if !failing {
		t.Fatal("ten minutes of pulls never noticed the expired token")
	}
	failed := tt.Requests()
	if lines := int64(strings.Count(logs.String(), "level=error")); lines != failed {
		t.Errorf("%d failed refreshes logged %d error lines; want one each:\n%s", failed, lines, logs.String())
	}
	// Backing off: 15 s, 30 s, then a minute at most between retries.
	if failed > 13 || failed < 6 {
		t.Errorf("%d retries in ten minutes of pulls every 15 s; backing off to a minute makes about 10", failed)
	}
	if skipped := counterValue(t, r, "imichat_refresh_skipped_total", SkipBackoff); skipped == 0 {
		t.Error("no pull was counted as held back by the backoff")
	}
	tt.SetToken("tok")
	tt.clock.Advance(time.Minute)
	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffTruth(snap.Counts, tt.CountsSince(snap.Coverage)); d != "" {
		t.Error(d)
	}
}

// TestYoungQueuedChatsAreReadFirst: a queued chat read a minute ago when it
// was a minute old has probably been picked since (waits are short); one
// read a minute ago after two hours in the queue probably has not. The
// young one's page is worth more.
func TestYoungQueuedChatsAreReadFirst(t *testing.T) {
	now := testStart
	r := New(Options{Now: func() time.Time { return now }})
	r.eng.state = newChatState()
	q := r.eng.model.byStatus["queued"]
	for i := range 2000 { // waits: mostly two minutes, a few hours
		wait := -120 * math.Log(1-(float64(i)+0.5)/2000)
		if i%50 == 0 {
			wait = 3600 + float64(i)
		}
		q.observe(0, wait, true)
	}
	r.eng.model.ageTo(now)
	young := apiclient.Chat{ID: "young", Status: "queued", CreatedAt: now.Add(-2 * time.Minute)}
	old := apiclient.Chat{ID: "old", Status: "queued", CreatedAt: now.Add(-2 * time.Hour)}
	var page []apiclient.Chat
	for i := range 60 {
		c := apiclient.Chat{ID: fmt.Sprint("closed", i), Status: "closed", CreatedAt: now.Add(-time.Duration(i+1) * time.Minute * 2)}
		page = append(page, c)
	}
	page = append(page, young, old)
	r.eng.state.replace(page, now.Add(-time.Minute), true, true)
	pages := r.eng.openPages(now, 0)
	if len(pages) < 2 {
		t.Fatalf("pages %v", pages)
	}
	youngPage := r.opts.FirstPage + r.eng.state.index(r.eng.state.byID["young"])/apiclient.PageSize
	if pages[0].page != youngPage {
		t.Errorf("pages by worth %v; want the young chat's page %d first", pages, youngPage)
	}
}

// TestHeldBackTeamSaysItIsTheQuota: a team that starts when its tenant's
// share is spent (by the tenant's other teams, under this or another name)
// reads nothing, and says that the quota holds it back, not that its first
// refresh is still running.
func TestHeldBackTeamSaysItIsTheQuota(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 3, History: 200, QuotaPerDay: 1000})
	q := NewQuota(0.5, 1000)
	// What the tenant's other teams spent: the whole share.
	other := q.join()
	k := other.reserve(tt.clock.Now(), apiclient.RateLimit{}, 1000)
	other.release(tt.clock.Now(), k, k)
	other.leave()
	if k != 500 {
		t.Fatalf("the other teams spent %d, want the share of 500", k)
	}

	r := tt.refresher(Options{FirstPage: 1, Quota: q})
	before := tt.Requests()
	_, err := r.Snapshot(context.Background())
	if !errors.Is(err, ErrHeldByQuota) {
		t.Errorf("Snapshot: %v, want %v", err, ErrHeldByQuota)
	}
	if n := tt.Requests() - before; n != 0 {
		t.Errorf("%d requests past the spent share", n)
	}
	if skipped := counterValue(t, r, "imichat_refresh_skipped_total", SkipQuota); skipped != 1 {
		t.Errorf("imichat_refresh_skipped_total{reason=\"quota\"} = %v, want 1", skipped)
	}
}
