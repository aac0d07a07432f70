package collector

import (
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// pacer spends the API quota like an engineer would: never more than its
// share of the quota, spread evenly until the quota resets. It is a pair of
// token buckets filled at the pace the remaining budget allows: one for the
// head of the list (what people are paged on), one for everything else
// (re-reading open chats further down, the rolling full re-walk).
//
// The pace is recomputed from the rate-limit headers at every refresh:
//
//	budget = min(share × limit − used by us this period, remaining)
//	pace   = budget ÷ time until the reset
//
// so overspending slows the pace down and a quiet tenant speeds it up.
// Without headers, limit is the configured daily budget and the period ends
// at 00:00 UTC, as the API documents.
type pacer struct {
	share       float64
	dailyBudget int64

	used      int64     // requests made by us in the current period
	budget    float64   // what is left to us in the period, at the last fill
	periodEnd time.Time // when the current period's quota resets
	last      time.Time // when the buckets were last filled
	head      float64   // tokens (requests) for head refreshes
	rest      float64   // tokens for everything else

	headBucketSize, restBucketSize float64
}

// headShare is the part of the pace reserved for the head of the list.
const headShare = 0.5

// newPacer returns a pacer whose buckets hold at most burst requests (the
// head's a tenth of it): unspent quota is not hoarded for later.
func newPacer(share float64, dailyBudget int64, burst int) *pacer {
	return &pacer{share: share, dailyBudget: dailyBudget,
		headBucketSize: max(float64(burst)/10, 1), restBucketSize: float64(burst)}
}

// nextMidnightUTC is the documented reset time of the quota.
func nextMidnightUTC(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// fill brings the buckets up to now and returns the budget left to us in
// this period and the pace in requests per second.
func (p *pacer) fill(now time.Time, rl apiclient.RateLimit) (budget, pace float64) {
	reset := nextMidnightUTC(now)
	if rl.HasReset && rl.Reset.After(now) {
		reset = rl.Reset
	}
	if p.periodEnd.IsZero() {
		p.periodEnd = reset
	}
	if !now.Before(p.periodEnd) { // a new quota period
		p.used = 0
		p.periodEnd = reset
	}
	limit := p.dailyBudget
	if rl.HasLimit && rl.Limit > 0 {
		limit = rl.Limit
	}
	budget = p.share*float64(limit) - float64(p.used)
	if rl.HasRemaining && float64(rl.Remaining) < budget {
		budget = float64(rl.Remaining)
	}
	budget = max(budget, 0)
	p.budget = budget
	left := p.periodEnd.Sub(now).Seconds()
	// Evenly means evenly: budget left near the reset is not spent in a
	// burst, the pace stays within twice the share's daily average.
	pace = min(budget/max(left, 1), 2*p.share*float64(limit)/secondsPerDay)
	if !p.last.IsZero() && now.After(p.last) {
		dt := now.Sub(p.last).Seconds()
		p.head = min(p.head+headShare*pace*dt, p.headBucketSize)
		p.rest = min(p.rest+(1-headShare)*pace*dt, p.restBucketSize)
	}
	p.last = now
	return budget, pace
}

const secondsPerDay = 86400

// charge records requests paid from the buckets. A bucket may go into
// debt by one bucketful at most: a larger spend (the catch-up after an
// outage) is paid for by the lower pace of a smaller budget, not by hours
// without a refresh.
func (p *pacer) charge(headPages, restPages int) {
	p.used += int64(headPages + restPages)
	p.head = max(p.head-float64(headPages), -p.headBucketSize)
	p.rest = max(p.rest-float64(restPages), -p.restBucketSize)
}

// record records requests that had to be made whatever the buckets held
// (the first walk, a walk after the list moved past recognition). They
// lower the budget, and with it the pace, for the rest of the period, but
// put no bucket in debt: a day-long debt would stop the refreshes of open
// chats, the very ones whose numbers change.
func (p *pacer) record(pages int) { p.used += int64(pages) }
