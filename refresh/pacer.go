package refresh

import (
	"math"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// pacer spends the API quota like an engineer would: never more than its
// share of the quota in any 24 hours, spread evenly, and never a request the
// rate-limit headers say is not there. It is a token bucket whose fill rate
// is recomputed at every refresh as the fastest constant pace that keeps
// every 24-hour window within the share, counting what was spent in the last
// 24 hours and what the bucket already holds:
//
//	rate = min over x in [0, 24h) of (share − spent in the last x − tokens) ÷ (24h − x)
//
// so a burst (the cold start's) is paid for by a slower pace until it leaves
// the window, not by hours without a refresh. The API's own quota period
// bounds it too: no more than share × limit − used, nor than remaining,
// before the reset. Without headers the limit is the configured daily budget
// and the period ends at 00:00 UTC, as the API documents.
type pacer struct {
	share       float64
	dailyBudget int64

	// perMinute[m % minutesPerDay] counts our requests in Unix minute m,
	// for minutes (lastMinute − minutesPerDay, lastMinute].
	perMinute  [minutesPerDay]int64
	lastMinute int64

	usedInPeriod int64     // our requests in the API's current quota period
	periodEnd    time.Time // when the API's quota period resets
	limit        float64   // the quota of the period, from headers or configured
	remaining    float64   // what the headers said is left, +Inf when unknown

	tokens   float64 // requests we may make now
	last     time.Time
	rate     float64 // requests per second, at the last fill
	capacity float64 // unspent tokens past this are not hoarded
}

const (
	minutesPerDay = 1440
	secondsPerDay = 86400
	// capacityWindow is how much of the pace the bucket saves up: enough to
	// wait for a page worth reading, not enough to spend an hour in a burst.
	capacityWindow = 15 * time.Minute
	minCapacity    = 4
)

func newPacer(share float64, dailyBudget int64) *pacer {
	return &pacer{share: share, dailyBudget: dailyBudget, remaining: math.Inf(1), limit: float64(dailyBudget)}
}

// nextMidnightUTC is the documented reset time of the quota.
func nextMidnightUTC(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// shareOfDay is the most we may spend in any 24 hours.
func (p *pacer) shareOfDay() float64 { return p.share * p.limit }

// grant puts tokens in the bucket beyond its capacity: the cold start's
// burst. The pace that follows is slower by as much.
func (p *pacer) grant(n float64) { p.tokens += n }

// advance moves the per-minute window to now, forgetting what left it.
func (p *pacer) advance(now time.Time) {
	m := now.Unix() / 60
	if p.lastMinute == 0 || m-p.lastMinute >= minutesPerDay {
		clear(p.perMinute[:])
	} else {
		for i := p.lastMinute + 1; i <= m; i++ {
			p.perMinute[i%minutesPerDay] = 0
		}
	}
	if m > p.lastMinute {
		p.lastMinute = m
	}
}

// spentInDay is what we spent in the last 24 hours.
func (p *pacer) spentInDay() float64 {
	var n int64
	for _, v := range p.perMinute {
		n += v
	}
	return float64(n)
}

// fill brings the bucket up to now and the limits up to the headers, and
// returns the pace in requests per second.
func (p *pacer) fill(now time.Time, rl apiclient.RateLimit) float64 {
	p.limits(now, rl)
	// The fastest constant pace that keeps every 24-hour window that ends
	// in the future within the share.
	share := p.shareOfDay()
	rate := math.Inf(1)
	var spent float64 // in the last x minutes
	cur := p.lastMinute
	for x := int64(0); x < minutesPerDay; x++ {
		if x > 0 {
			spent += float64(p.perMinute[(cur-x+1)%minutesPerDay])
		}
		ahead := float64(minutesPerDay-x) * 60
		rate = min(rate, (share-spent-max(p.tokens, 0))/ahead)
	}
	// The API's period: what is left of it, evenly until the reset.
	if left := p.periodEnd.Sub(now).Seconds(); left > 0 {
		rate = min(rate, p.periodBudget()/max(left, 60))
	}
	p.rate = max(rate, 0)
	p.capacity = max(p.rate*capacityWindow.Seconds(), minCapacity)
	if !p.last.IsZero() && now.After(p.last) && p.tokens < p.capacity {
		p.tokens = min(p.tokens+p.rate*now.Sub(p.last).Seconds(), p.capacity)
	}
	p.last = now
	return p.rate
}

// limits takes the quota's period, limit and remaining requests from the
// latest rate-limit headers.
func (p *pacer) limits(now time.Time, rl apiclient.RateLimit) {
	p.advance(now)
	reset := nextMidnightUTC(now)
	if rl.HasReset && rl.Reset.After(now) {
		reset = rl.Reset
	}
	if p.periodEnd.IsZero() {
		p.periodEnd = reset
	}
	if !now.Before(p.periodEnd) { // a new quota period
		p.usedInPeriod = 0
		p.periodEnd = reset
	}
	p.limit = float64(p.dailyBudget)
	if rl.HasLimit && rl.Limit > 0 {
		p.limit = float64(rl.Limit)
	}
	p.remaining = math.Inf(1)
	if rl.HasRemaining {
		p.remaining = float64(rl.Remaining)
	}
}

// periodBudget is what the API's current period leaves to us.
func (p *pacer) periodBudget() float64 {
	return max(min(p.shareOfDay()-float64(p.usedInPeriod), p.remaining), 0)
}

// hardLimit is the most requests we may make now whatever the bucket
// holds: never past the share of the last 24 hours or the period's budget.
func (p *pacer) hardLimit() int {
	return int(max(min(p.shareOfDay()-p.spentInDay(), p.periodBudget()), 0))
}

// affordable is the most requests we may make now: the bucket's tokens,
// within the hard limit.
func (p *pacer) affordable() int {
	return min(int(max(p.tokens, 0)), p.hardLimit())
}

// charge records requests made at now. The bucket may go into debt (a
// head that needed more pages than expected); the pace pays it back.
func (p *pacer) charge(now time.Time, n int) {
	if n <= 0 {
		return
	}
	p.advance(now)
	p.perMinute[p.lastMinute%minutesPerDay] += int64(n)
	p.usedInPeriod += int64(n)
	p.tokens = max(p.tokens-float64(n), -p.capacity)
}
