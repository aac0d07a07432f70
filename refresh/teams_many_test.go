package refresh

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// manyOutcome is one team's measured 12 hours in runTeams.
type manyOutcome struct {
	pages              int64
	errMean, truthMean float64
}

// runTeams pulls every team every minute on the cold start's day and every
// 30 s on the next 12 hours, which it measures.
func runTeams(t *testing.T, cfgs []simulator.Config, quota func(i int) *Quota) []manyOutcome {
	o := newTestOrg(t, teamsQuota, cfgs)
	now := o.clock.Now()
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
	o.clock.Advance(day0.Add(30 * time.Second).Sub(now))
	var rs []*Refresher
	for i := range cfgs {
		rs = append(rs, o.refresher(i, Options{Fetcher: slowFetcher{o.teams[i].client, o.clock}, FirstPage: 1, Concurrency: 4, MinInterval: 15 * time.Second, Quota: quota(i)}))
	}
	from, end := day0.Add(24*time.Hour), day0.Add(36*time.Hour)
	n := len(cfgs)
	errSum, truthSum, pages := make([]float64, n), make([]float64, n), make([]int64, n)
	var pulls float64
	for at := o.clock.Now(); at.Before(end); {
		o.clock.Advance(at.Sub(o.clock.Now()))
		for i, r := range rs {
			before := o.teams[i].truth.Requests()
			snap, err := r.Snapshot(context.Background())
			if at.Before(from) {
				continue
			}
			pages[i] += o.teams[i].truth.Requests() - before
			if err != nil {
				t.Fatal(err)
			}
			tq, _ := o.teams[i].truth.Queued()
			errSum[i] += math.Abs(float64(queuedOf(snap.Counts) - tq))
			truthSum[i] += float64(tq)
		}
		if at.Before(from) {
			at = at.Add(time.Minute)
		} else {
			pulls++
			at = at.Add(30 * time.Second)
		}
	}
	out := make([]manyOutcome, n)
	for i, r := range rs {
		out[i] = manyOutcome{pages: pages[i], errMean: errSum[i] / pulls, truthMean: truthSum[i] / pulls}
		t.Logf("team %s arrivals=%.0f pages_12h=%d err_mean=%.2f truth_mean=%.2f open_in_state=%d price=%.3g", cfgs[i].TeamID, cfgs[i].ArrivalsPerDay, pages[i], out[i].errMean, out[i].truthMean, len(r.eng.state.open), r.eng.pacer.price())
	}
	if most, share := o.maxDay(), int64(teamsShare*teamsQuota); most > share {
		t.Errorf("the tenant made %d requests in one 24-hour window, more than the share of %d", most, share)
	}
	return out
}

// TestIdleTeamsDoNotStarveABusyOne: six idle teams share a tenant with a
// busy one. Refreshes forced by MaxAge once drew on the shared bucket, so
// the idle teams read their heads every 2 minutes, the price sat at its
// ceiling and the busy team's queued count was off by 610 on average
// against a truth of 15. Each idle team now reads on its own floor, and
// the busy team's count is about as good as alone.
func TestIdleTeamsDoNotStarveABusyOne(t *testing.T) {
	busy := simulator.Config{TeamID: "busy", Seed: 41, ArrivalsPerDay: 3000, History: 4500}
	alone := runTeams(t, []simulator.Config{busy}, func(int) *Quota { return NewQuota(teamsShare, teamsQuota) })[0]
	cfgs := []simulator.Config{busy}
	for i := range 6 {
		cfgs = append(cfgs, simulator.Config{TeamID: fmt.Sprintf("idle%d", i), Seed: int64(50 + i), ArrivalsPerDay: 20, History: 30})
	}
	q := NewQuota(teamsShare, teamsQuota)
	shared := runTeams(t, cfgs, func(int) *Quota { return q })
	if e := shared[0].errMean; e > 1.5*alone.errMean {
		t.Errorf("busy team: mean error %.2f beside six idle teams, %.2f alone", e, alone.errMean)
	}
	for i, o := range shared[1:] {
		if o.errMean > 0.1 {
			t.Errorf("idle team %d: mean error %.2f", i, o.errMean)
		}
		if o.pages >= shared[0].pages/4 {
			t.Errorf("idle team %d read %d pages, the busy one %d", i, o.pages, shared[0].pages)
		}
	}
}

// TestEightMediumTeamsShareEvenly: eight teams of 1,000 chats a day, 8,000
// in all on a share of 5,000 requests, past what one team of that size
// would get right alone (see the quota replay). Each team's count still
// stays within a few chats, and no team is read far less than another
// (the teams pulled first once drained the shared bucket).
func TestEightMediumTeamsShareEvenly(t *testing.T) {
	var cfgs []simulator.Config
	for i := range 8 {
		cfgs = append(cfgs, simulator.Config{TeamID: fmt.Sprintf("m%d", i), Seed: int64(60 + i), ArrivalsPerDay: 1000, History: 1500})
	}
	q := NewQuota(teamsShare, teamsQuota)
	out := runTeams(t, cfgs, func(int) *Quota { return q })
	least, most := out[0].pages, out[0].pages
	for i, o := range out {
		least, most = min(least, o.pages), max(most, o.pages)
		if o.errMean > 0.5*o.truthMean {
			t.Errorf("team m%d: mean error %.2f of a mean queued count of %.2f", i, o.errMean, o.truthMean)
		}
	}
	if float64(least) < 0.6*float64(most) {
		t.Errorf("pages per team from %d to %d: the shared bucket is not shared", least, most)
	}
}
