package refresh

import (
	"math"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// The pacer's unit tests. A quota of share 0.5 of 10,000 requests a day
// may spend 5,000 in any 24 hours; every expected value below is written
// from the formulas of pacer.go's comments, not taken from a run.

const (
	testShare  = 0.5
	testBudget = 10000
	testDay    = testShare * testBudget // the share of a day: 5,000
)

// pacerNow is a Wednesday 10:00 UTC: 14 hours before the documented reset.
var pacerNow = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// noHeaders is what the pacer sees before any response.
var noHeaders apiclient.RateLimit

// spend records n requests of the tenant in the minute of at, in its
// 24-hour window only (not in the API's period), as requests made before a
// period began would be.
func spend(q *Quota, at time.Time, n int64) {
	q.advance(at)
	q.perMinute[q.lastMinute%minutesPerDay] += n
}

// relClose says whether got is want within a relative tolerance.
func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// TestPacerWindowFormula: the pace is the fastest constant pace that keeps
// every 24-hour window within the share, min over x of
// (share − spent in the last x − held) ÷ (24h − x). A request spent in the
// current minute counts from x = 1 minute; one spent a minutes ago from
// x = a + 1.
func TestPacerWindowFormula(t *testing.T) {
	const day = secondsPerDay
	type spent struct {
		ago time.Duration // whole minutes before now
		n   int64
	}
	for _, tc := range []struct {
		name   string
		spends []spent
		grant  float64 // part of the share of a day put in the bucket (held)
		want   float64 // requests per second
	}{
		{"nothing spent: the share over a day", nil, 0, testDay / day},
		{"a burst now: the rest over a day less a minute",
			[]spent{{0, 3000}}, 0, (testDay - 3000) / (day - 60)},
		{"a burst 12 h ago, small: the whole window binds",
			[]spent{{12 * time.Hour, 1000}}, 0, testDay / day},
		{"a burst 23 h ago leaving the window in 59 min binds until then",
			[]spent{{23 * time.Hour, 4990}}, 0, (testDay - 4990) / (day - 1381*60)},
		{"a burst 23 h 59 min ago has left the window",
			[]spent{{1439 * time.Minute, 4990}}, 0, testDay / day},
		{"two bursts: the older one binds",
			[]spent{{0, 1000}, {12 * time.Hour, 2500}}, 0, (testDay - 3500) / (day - 721*60)},
		{"tokens held count as spent", nil, coldStartShare, (1 - coldStartShare) * testDay / day},
		{"spent past the share: zero, not negative", []spent{{0, 6000}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			for i := len(tc.spends) - 1; i >= 0; i-- { // oldest first
				spend(q, pacerNow.Add(-tc.spends[i].ago), tc.spends[i].n)
			}
			if tc.grant > 0 {
				p.grant(tc.grant)
			}
			// A tenant's only team: its part of the pace is the pace.
			got, _ := p.refill(pacerNow, noHeaders, 1)
			if !relClose(got, tc.want, 1e-12) {
				t.Errorf("pace %.9g/s, want %.9g/s", got, tc.want)
			}
		})
	}
}

// TestPacerPeriodBound: the API's period bounds the pace too: what is left
// of it, no more than remaining, evenly until the reset (no sooner than a
// minute from now). share × limit − used never binds the pace before the
// 24-hour window does (what is used in the period was spent in the
// window), so the rows bind by remaining.
func TestPacerPeriodBound(t *testing.T) {
	const day = secondsPerDay
	for _, tc := range []struct {
		name string
		rl   apiclient.RateLimit
		want float64 // requests per second
	}{
		{"headers with room: the window binds",
			apiclient.RateLimit{Limit: testBudget, HasLimit: true, Remaining: 9000, HasRemaining: true, Reset: pacerNow.Add(time.Hour), HasReset: true},
			testDay / day},
		{"remaining 36 for an hour",
			apiclient.RateLimit{Remaining: 36, HasRemaining: true, Reset: pacerNow.Add(time.Hour), HasReset: true},
			36.0 / 3600},
		{"remaining 100 for two hours",
			apiclient.RateLimit{Remaining: 100, HasRemaining: true, Reset: pacerNow.Add(2 * time.Hour), HasReset: true},
			100.0 / 7200},
		{"a reset in 10 s spreads over a minute",
			apiclient.RateLimit{Remaining: 1, HasRemaining: true, Reset: pacerNow.Add(10 * time.Second), HasReset: true},
			1.0 / 60},
		{"no reset header: remaining until midnight UTC",
			apiclient.RateLimit{Remaining: 140, HasRemaining: true},
			140.0 / (14 * 3600)},
		{"the header's limit sizes the share",
			apiclient.RateLimit{Limit: 2000, HasLimit: true, Reset: pacerNow.Add(time.Hour), HasReset: true},
			testShare * 2000 / day},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			got, _ := p.refill(pacerNow, tc.rl, 1)
			if !relClose(got, tc.want, 1e-12) {
				t.Errorf("pace %.9g/s, want %.9g/s", got, tc.want)
			}
		})
	}
}

// TestQuotaHardLimit: whatever the buckets hold, never past the share of
// the last 24 hours or the period's budget, less what runs in flight have
// reserved.
func TestQuotaHardLimit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spentDay  int64 // in the window, before the period
		usedNow   int   // made now, in the window and the period
		rl        apiclient.RateLimit
		reserved  int // by a run in flight
		want      int
		wantTeams int // fairHardLimit with two teams
	}{
		{"nothing spent", 0, 0, noHeaders, 0, testDay, testDay / 2},
		{"spent in the window", 4000, 0, noHeaders, 0, 1000, 500},
		{"used in the period", 0, 4200, noHeaders, 0, 800, 400},
		{"remaining says less", 0, 0, apiclient.RateLimit{Remaining: 300, HasRemaining: true}, 0, 300, 150},
		{"reserved by a run in flight", 4000, 0, noHeaders, 201, 799, 399},
		{"past the share: zero", 5600, 0, noHeaders, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			spend(q, pacerNow.Add(-time.Hour), tc.spentDay)
			if tc.usedNow > 0 {
				k := p.reserve(pacerNow, tc.rl, tc.usedNow)
				p.release(pacerNow, k, tc.usedNow)
			}
			if tc.reserved > 0 {
				if k := p.reserve(pacerNow, tc.rl, tc.reserved); k != tc.reserved {
					t.Fatalf("reserved %d of %d", k, tc.reserved)
				}
			}
			if got := p.fairHardLimit(pacerNow, tc.rl); got != tc.want {
				t.Errorf("hard limit %d, want %d", got, tc.want)
			}
			q.join()
			if got := p.fairHardLimit(pacerNow, tc.rl); got != tc.wantTeams {
				t.Errorf("fair hard limit of two teams %d, want %d", got, tc.wantTeams)
			}
		})
	}
}

// TestPacerAffordable: a team may spend its own and the shared bucket's
// tokens within the hard limit; from its own bucket alone, ownAffordable,
// what its own floor holds, or for a tenant's only team the shared bucket
// too, and with inDebt the whole hard limit.
func TestPacerAffordable(t *testing.T) {
	for _, tc := range []struct {
		name             string
		teams            int
		own, shared      float64
		spentDay         int64
		wantAff, wantOwn int
		wantOwnDebt      int
	}{
		{"lone team, tokens in the shared bucket", 1, 0, 12.7, 0, 12, 12, testDay},
		{"lone team in debt", 1, 0, -3, 0, 0, 0, testDay},
		{"lone team in debt near the limit", 1, 0, -3, 4990, 0, 0, 10},
		{"lone team, hard limit below the bucket", 1, 0, 40, 4990, 10, 10, 10},
		{"two teams: own floor only", 2, 5.5, 30, 0, 35, 5, 5},
		{"two teams: own floor within the hard limit", 2, 5.5, 30, 4997, 3, 3, 3},
		{"two teams: negative floor is none", 2, -2, 30, 0, 30, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			for range tc.teams - 1 {
				q.join()
			}
			spend(q, pacerNow.Add(-time.Hour), tc.spentDay)
			p.tokens, q.tokens = tc.own, tc.shared
			if got := p.affordable(pacerNow, noHeaders); got != tc.wantAff {
				t.Errorf("affordable %d, want %d", got, tc.wantAff)
			}
			if got := p.ownAffordable(pacerNow, noHeaders, false); got != tc.wantOwn {
				t.Errorf("ownAffordable %d, want %d", got, tc.wantOwn)
			}
			if got := p.ownAffordable(pacerNow, noHeaders, true); got != tc.wantOwnDebt {
				t.Errorf("ownAffordable in debt %d, want %d", got, tc.wantOwnDebt)
			}
		})
	}
}

// TestPacerGrant: a cold start's grant is part of the share of a day,
// divided among the teams; a lone team's goes to the shared bucket, else
// to the team's own.
func TestPacerGrant(t *testing.T) {
	for _, teams := range []int{1, 2, 4} {
		q := NewQuota(testShare, testBudget)
		p := q.join()
		for range teams - 1 {
			q.join()
		}
		want := coldStartShare * testDay / float64(teams)
		if got := p.grant(coldStartShare); got != want {
			t.Errorf("%d teams: granted %g, want %g", teams, got, want)
		}
		ownWant, sharedWant := want, 0.0
		if teams == 1 {
			ownWant, sharedWant = 0, want
		}
		if p.tokens != ownWant || q.tokens != sharedWant {
			t.Errorf("%d teams: own %g shared %g, want %g and %g", teams, p.tokens, q.tokens, ownWant, sharedWant)
		}
	}
}

// TestPacerReserveRelease: a reservation takes from the hard limit until
// it is released; what was used is counted in the window and the period,
// drawn from the team's own tokens first, then from the shared bucket,
// whose debt is bounded by its capacity.
func TestPacerReserveRelease(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		own, shared, capacity float64
		ask, used             int
		wantK                 int
		wantOwn, wantShared   float64
	}{
		{"own first", 10, 20, 50, 8, 6, 8, 4, 20},
		{"own, then shared", 3, 20, 50, 8, 8, 8, 0, 15},
		{"shared into debt", 0, 2, 50, 10, 10, 10, 0, -8},
		{"debt bounded by the capacity", 0, 2, 5, 10, 10, 10, 0, -5},
		{"nothing used: nothing drawn", 4, 4, 50, 10, 0, 10, 4, 4},
		{"more than the hard limit: capped", 0, 0, 50, 6000, 5000, 5000, 0, -50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			q.join() // two teams: the grant goes nowhere, the floor is the team's
			p.tokens, q.tokens, q.capacity = tc.own, tc.shared, tc.capacity
			k := p.reserve(pacerNow, noHeaders, tc.ask)
			if k != tc.wantK {
				t.Fatalf("reserved %d, want %d", k, tc.wantK)
			}
			if got, want := p.fairHardLimit(pacerNow, noHeaders), (testDay-k)/2; got != want {
				t.Errorf("fair hard limit during the run %d, want %d", got, want)
			}
			p.release(pacerNow, k, tc.used)
			if q.reserved != 0 {
				t.Errorf("reserved %d after release", q.reserved)
			}
			if got := q.spentInDay(); got != float64(tc.used) {
				t.Errorf("spent in the window %g, want %d", got, tc.used)
			}
			if q.usedInPeriod != int64(tc.used) {
				t.Errorf("used in the period %d, want %d", q.usedInPeriod, tc.used)
			}
			if p.tokens != tc.wantOwn || q.tokens != tc.wantShared {
				t.Errorf("own %g shared %g, want %g and %g", p.tokens, q.tokens, tc.wantOwn, tc.wantShared)
			}
		})
	}
}

// TestPacerFloorsAndShares: with several teams, floorShare of the pace
// fills the teams' own buckets evenly, the rest the shared bucket; a
// team's part of the pace is the floor evenly and the rest by need.
func TestPacerFloorsAndShares(t *testing.T) {
	for _, tc := range []struct {
		name  string
		needs []float64
	}{
		{"one team", []float64{2}},
		{"two teams, 3 to 1", []float64{3, 1}},
		{"three teams, one idle", []float64{0, 1, 1}},
		{"no need anywhere: even", []float64{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			ps := make([]*pacer, len(tc.needs))
			for i := range ps {
				ps[i] = q.join()
			}
			n := float64(len(ps))
			floor := floorShare
			if len(ps) == 1 {
				floor = 0
			}
			total := 0.0
			for _, v := range tc.needs {
				total += v
			}
			// First refill: needs recorded, buckets' clocks started.
			for i, p := range ps {
				p.refill(pacerNow, noHeaders, tc.needs[i])
			}
			// A minute later: each refill's pace counts what the buckets
			// hold by then (the first refill fills the shared bucket).
			later := pacerNow.Add(time.Minute)
			var firstPace, pace float64
			for i, p := range ps {
				held := max(q.tokens, 0)
				for _, o := range ps {
					held += max(o.tokens, 0)
				}
				pace = (testDay - held) / secondsPerDay
				if i == 0 {
					firstPace = pace
				}
				rate, since := p.refill(later, noHeaders, tc.needs[i])
				want := pace / n
				if total > 0 {
					want = pace * (floor/n + (1-floor)*tc.needs[i]/total)
				}
				if !relClose(rate, want, 1e-12) {
					t.Errorf("team %d: rate %.9g, want %.9g", i, rate, want)
				}
				if since != time.Minute {
					t.Errorf("team %d: since %v, want 1m", i, since)
				}
				if wantOwn := pace * floor / n * 60; !relClose(p.tokens, wantOwn, 1e-12) && !(wantOwn == 0 && p.tokens == 0) {
					t.Errorf("team %d: floor bucket %.9g, want %.9g", i, p.tokens, wantOwn)
				}
			}
			if want := firstPace * (1 - floor) * 60; !relClose(q.tokens, want, 1e-12) {
				t.Errorf("shared bucket %.9g, want %.9g", q.tokens, want)
			}
			if want := max(pace*(1-floor)*capacityWindow.Seconds(), minCapacity); !relClose(q.capacity, want, 1e-12) {
				t.Errorf("shared capacity %.9g, want %.9g", q.capacity, want)
			}
		})
	}
}

// TestPacerBucketCapacity: a bucket fills up to capacityWindow of its pace
// and no further; a grant's tokens past it stay.
func TestPacerBucketCapacity(t *testing.T) {
	q := NewQuota(testShare, testBudget)
	p := q.join()
	q.join()
	p.refill(pacerNow, noHeaders, 1)
	p.refill(pacerNow.Add(3*time.Hour), noHeaders, 1)
	floorRate := testDay / float64(secondsPerDay) * floorShare / 2
	if want := floorRate * capacityWindow.Seconds(); !relClose(p.tokens, want, 1e-12) {
		t.Errorf("floor bucket after 3 h: %.9g, want its capacity %.9g", p.tokens, want)
	}
	granted := p.grant(0.1)
	before := p.tokens
	p.refill(pacerNow.Add(4*time.Hour), noHeaders, 1)
	if p.tokens != before || before <= granted {
		t.Errorf("floor bucket past its capacity: %.9g then %.9g, want it kept", before, p.tokens)
	}
}

// TestPacerMinCapacity: however slow the pace, the shared bucket saves up
// minCapacity requests.
func TestPacerMinCapacity(t *testing.T) {
	q := NewQuota(testShare, testBudget)
	p := q.join()
	// Remaining 3 until a reset in an hour: a pace of 3 an hour, 15
	// minutes of which is 0.75 of a request.
	rl := apiclient.RateLimit{Remaining: 3, HasRemaining: true, Reset: pacerNow.Add(time.Hour), HasReset: true}
	p.refill(pacerNow, rl, 1)
	if q.capacity != minCapacity {
		t.Errorf("capacity %g, want minCapacity %d", q.capacity, minCapacity)
	}
	// Half an hour later the pace is 3 in the half hour left: the bucket
	// holds 3, below minCapacity, not clipped to 15 minutes of pace.
	p.refill(pacerNow.Add(30*time.Minute), rl, 1)
	if !relClose(q.tokens, 3, 1e-12) {
		t.Errorf("shared bucket %.9g, want 3", q.tokens)
	}
}

// TestPacerPrice: the price follows the shared bucket's level, by
// e^(priceGain × (0.5 − level)) a minute, within [minPrice, maxPrice].
func TestPacerPrice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		price  float64
		tokens float64 // before the minute's fill; +Inf: the capacity
		want   float64
	}{
		// An empty bucket fills by a minute of 15: level 1/15.
		{"empty bucket: the price rises", 1, 0, math.Exp(priceGain * (0.5 - 1.0/15))},
		{"full bucket: it falls by e^0.15", 1, math.Inf(1), math.Exp(-priceGain * 0.5)},
		{"never below minPrice", minPrice, math.Inf(1), minPrice},
		{"never above maxPrice", maxPrice, 0, maxPrice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQuota(testShare, testBudget)
			p := q.join()
			// The pace bound by remaining, whatever the bucket holds.
			rl := apiclient.RateLimit{Remaining: 36, HasRemaining: true, Reset: pacerNow.Add(time.Hour), HasReset: true}
			p.refill(pacerNow, rl, 1)
			q.price = tc.price
			q.tokens = tc.tokens
			if math.IsInf(tc.tokens, 1) {
				q.tokens = q.capacity // full: fills no further
			}
			p.refill(pacerNow.Add(time.Minute), rl, 1)
			if got := p.price(); !relClose(got, tc.want, 1e-12) {
				t.Errorf("price %.12g, want %.12g", got, tc.want)
			}
		})
	}
}

// TestQuotaPeriodFollowsLaterHeaders: a cold start without headers takes
// the period to end at the next midnight UTC; the rate-limit headers that
// come later say when it really resets, and the pacer follows them: it
// spreads what remains until that reset, and a new period begins there.
func TestQuotaPeriodFollowsLaterHeaders(t *testing.T) {
	q := NewQuota(testShare, testBudget)
	p := q.join()
	p.refill(pacerNow, noHeaders, 1) // cold start: until midnight, 14 h
	k := p.reserve(pacerNow, noHeaders, 10)
	p.release(pacerNow, k, 10)

	// Five minutes later the first headers: 100 left until 11:00.
	at := pacerNow.Add(5 * time.Minute)
	reset := pacerNow.Add(time.Hour)
	rl := apiclient.RateLimit{Limit: testBudget, HasLimit: true, Remaining: 100, HasRemaining: true, Reset: reset, HasReset: true}
	got, _ := p.refill(at, rl, 1)
	if want := 100 / reset.Sub(at).Seconds(); !relClose(got, want, 1e-12) {
		t.Errorf("pace %.9g/s, want remaining until the header's reset %.9g/s", got, want)
	}
	if !q.periodEnd.Equal(reset) {
		t.Errorf("period ends %v, want the header's %v", q.periodEnd, reset)
	}

	// Past 11:00, the headers say the next reset is at 12:00: a new period,
	// nothing used in it yet.
	at, reset = pacerNow.Add(time.Hour+time.Second), pacerNow.Add(2*time.Hour)
	rl = apiclient.RateLimit{Limit: testBudget, HasLimit: true, Remaining: 10000, HasRemaining: true, Reset: reset, HasReset: true}
	p.refill(at, rl, 1)
	if !q.periodEnd.Equal(reset) || q.usedInPeriod != 0 {
		t.Errorf("period ends %v with %d used, want a new one ending %v with none", q.periodEnd, q.usedInPeriod, reset)
	}
}
