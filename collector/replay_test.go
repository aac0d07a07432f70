package collector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// replayTenant is the tenant of the quota issue: a 50,000-chat history,
// 3,000 new chats a day, the documented quota of 10,000 requests a day.
var replayTenant = simulator.Config{Seed: 11, History: 50000, ArrivalsPerDay: 3000, QuotaPerDay: 10000}

const (
	replayQuota      = 10000
	replayQuotaShare = 0.5
	pullInterval     = 15 * time.Second
	secondServerLag  = 7 * time.Second // the HA pair does not pull in step
)

// replayDay is what one strategy did over the measured day.
type replayDay struct {
	requests      int64         // requests made during the day
	maxHourShare  float64       // the largest share of the daily quota used in any hour
	age           []float64     // per pull: seconds since the served numbers were read
	absErr        []float64     // per pull: |served queued − true queued|
	warmup        int64         // requests made the day before, from a cold start
	warmupMaxHour float64       // the largest hourly share on that first day
	wall          time.Duration // real time the replay took
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(p*float64(len(sorted))))-1)]
}

// replay runs two days of a tenant's life on a virtual clock, pulled every
// 15 s by two Prometheus servers, and measures the second day: the first
// is the exporter's cold start, whose one full walk of the history no
// strategy can avoid.
func replay(tb testing.TB, newSource func(*testTenant) Source) replayDay {
	wallStart := time.Now()
	tt := newTestTenant(tb, replayTenant)
	dayStart := tt.clock.Now()
	day0 := time.Date(dayStart.Year(), dayStart.Month(), dayStart.Day(), 0, 0, 0, 0, time.UTC)
	tt.clock.Advance(day0.Add(30 * time.Second).Sub(dayStart)) // start just after a quota reset
	measureFrom := day0.Add(24 * time.Hour)
	measureTo := measureFrom.Add(24 * time.Hour)
	src := newSource(tt)

	type served struct {
		queued int
		at     time.Time
		ok     bool
	}
	var (
		res        replayDay
		lastServed [2]served
		perHour    = map[int]int64{}
		warmHour   = map[int]int64{}
		ctx        = context.Background()
	)
	next := [2]time.Time{tt.clock.Now(), tt.clock.Now().Add(secondServerLag)}
	for {
		server := 0
		if next[1].Before(next[0]) {
			server = 1
		}
		at := next[server]
		if !at.Before(measureTo) {
			break
		}
		next[server] = at.Add(pullInterval)
		tt.clock.Advance(at.Sub(tt.clock.Now()))
		before := tt.Requests()
		snap, err := src.Snapshot(ctx)
		made := tt.Requests() - before
		if err == nil && snap.Counts != nil {
			lastServed[server] = served{queued: snap.Counts.Queued(), at: snap.RefreshedAt, ok: true}
		}
		if at.Before(measureFrom) {
			res.warmup += made
			warmHour[int(at.Sub(day0)/time.Hour)] += made
			continue
		}
		res.requests += made
		perHour[int(at.Sub(measureFrom)/time.Hour)] += made
		s := lastServed[server]
		if !s.ok {
			res.age = append(res.age, math.Inf(1))
			res.absErr = append(res.absErr, math.Inf(1))
			continue
		}
		res.age = append(res.age, at.Sub(s.at).Seconds())
		res.absErr = append(res.absErr, math.Abs(float64(s.queued-tt.CountQueued())))
	}
	for _, n := range perHour {
		res.maxHourShare = max(res.maxHourShare, float64(n)/replayQuota)
	}
	for _, n := range warmHour {
		res.warmupMaxHour = max(res.warmupMaxHour, float64(n)/replayQuota)
	}
	slices.Sort(res.age)
	slices.Sort(res.absErr)
	res.wall = time.Since(wallStart)
	return res
}

func naiveSource(tt *testTenant) Source {
	return WalkSource{Fetcher: tt.client, Now: tt.clock.Now,
		Options: apiclient.WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 100000}}
}

func refresherSource(tt *testTenant) Source {
	return tt.refresher(RefresherOptions{
		Walk:        apiclient.WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 100000},
		MinInterval: 15 * time.Second,
		QuotaShare:  replayQuotaShare,
	})
}

func formatReplay(name string, d replayDay) string {
	f := func(v float64, unit string) string {
		if math.IsInf(v, 1) {
			return "never"
		}
		return fmt.Sprintf("%.0f%s", v, unit)
	}
	return fmt.Sprintf("| %s | %d (%.0f%% of quota) | %.1f%% | %s / %s / %s | %s / %s / %s | %d (%.0f%%/h max) |",
		name, d.requests, 100*float64(d.requests)/replayQuota, 100*d.maxHourShare,
		f(percentile(d.age, 0.5), " s"), f(percentile(d.age, 0.99), " s"), f(d.age[len(d.age)-1], " s"),
		f(percentile(d.absErr, 0.5), ""), f(percentile(d.absErr, 0.99), ""), f(d.absErr[len(d.absErr)-1], ""),
		d.warmup, 100*d.warmupMaxHour)
}

const replayHeader = "| strategy | requests on the day | largest share of the quota in an hour | age of the served queued count p50 / p99 / worst | error of the served queued count p50 / p99 / worst | first day from a cold start: requests |\n|---|---|---|---|---|---|"

// BenchmarkQuotaReplay prints the table of the README: the naive
// walk-everything strategy against the Refresher, over a replayed day.
func BenchmarkQuotaReplay(b *testing.B) {
	for b.Loop() {
		naive := replay(b, naiveSource)
		ours := replay(b, refresherSource)
		b.Logf("\n%s\n%s\n%s\nreplay took %v (naive) and %v (refresher) of real time",
			replayHeader, formatReplay("walk everything on every pull", naive), formatReplay("Refresher (this exporter)", ours),
			naive.wall.Round(time.Millisecond), ours.wall.Round(time.Millisecond))
		b.ReportMetric(float64(ours.requests), "requests/day")
		b.ReportMetric(percentile(ours.age, 0.99), "p99-age-s")
		b.ReportMetric(percentile(ours.absErr, 0.99), "p99-queued-error")
	}
}

// TestQuotaReplay holds the Refresher to the bar over a replayed
// day: within the quota share all day, and the queued count's 99th
// percentile age under two minutes.
func TestQuotaReplay(t *testing.T) {
	ours := replay(t, refresherSource)
	t.Logf("\n%s\n%s", replayHeader, formatReplay("Refresher", ours))
	if share := float64(ours.requests) / replayQuota; share > replayQuotaShare {
		t.Errorf("%d requests in the day: %.1f%% of the quota, more than the %.0f%% share", ours.requests, 100*share, 100*replayQuotaShare)
	}
	if p99 := percentile(ours.age, 0.99); p99 >= 120 {
		t.Errorf("the served queued count's 99th-percentile age is %.0f s, not under 2 minutes", p99)
	}
}
