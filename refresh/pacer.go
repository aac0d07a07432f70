package refresh

import (
	"math"
	"sync"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// Quota is one tenant's API quota: every team of the tenant draws on it,
// since the API counts the tenant's requests, not a team's. It spends the
// quota like an engineer would: never more than its share in any 24 hours,
// spread evenly, and never a request the rate-limit headers say is not
// there. The pace is recomputed at every refresh as the fastest constant
// pace that keeps every 24-hour window within the share, counting what was
// spent in the last 24 hours and what the teams' buckets already hold:
//
//	pace = min over x in [0, 24h) of (share − spent in the last x − held) ÷ (24h − x)
//
// so a burst (a cold start's) is paid for by a slower pace until it leaves
// the window, not by hours without a refresh. The API's own quota period
// bounds it too: no more than share × limit − used, nor than remaining,
// before the reset. Without headers the limit is the configured daily
// budget and the period ends at 00:00 UTC, as the API documents.
//
// The teams of a tenant share one token bucket and one price of a page: a
// page is read, whichever team it belongs to, when what it is expected to
// correct is worth the price, and the price follows the shared bucket's
// level. The pace is so spent where it corrects most: a busy team, whose
// pages change more, gets more of it than an idle one. A floor of the pace
// (floorShare) is split evenly among the teams in buckets of their own,
// spent first, so that a quiet team is still read, its head at least every
// MaxAge, whatever the others do.
type Quota struct {
	mu          sync.Mutex
	share       float64
	dailyBudget int64

	// perMinute[m % minutesPerDay] counts the tenant's requests in Unix
	// minute m, for minutes (lastMinute − minutesPerDay, lastMinute].
	perMinute  [minutesPerDay]int64
	lastMinute int64

	usedInPeriod int64     // requests in the API's current quota period
	periodEnd    time.Time // when the API's quota period resets
	limit        float64   // the quota of the period, from headers or configured
	remaining    float64   // what the headers said is left, +Inf when unknown
	reserved     int64     // requests of runs in flight, not yet settled

	// The shared bucket: the pace less the teams' floors.
	tokens, capacity float64
	last             time.Time
	// price of a page, in chat-seconds (see worth.go), following the
	// shared bucket's level.
	price float64

	teams map[*pacer]struct{}

	// onSpend, when set (a journal), is called after every reservation and
	// release, outside mu: the journal reads spent.
	onSpend func()
}

// setJournal makes f be called after every reservation and release.
func (q *Quota) setJournal(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.onSpend = f
}

// spent is what was spent in each minute of the last 24 hours, by Unix
// minute, with the reservations in flight counted in the current minute.
func (q *Quota) spent(now time.Time) map[int64]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance(now)
	out := map[int64]int64{}
	for x := int64(0); x < minutesPerDay; x++ {
		m := q.lastMinute - x
		if n := q.perMinute[m%minutesPerDay]; n > 0 {
			out[m] = n
		}
	}
	if q.reserved > 0 {
		out[q.lastMinute] += q.reserved
	}
	return out
}

// restore counts what an earlier run spent (by Unix minute) in the last
// 24 hours, and in the API's period when it is the documented one (since
// 00:00 UTC).
func (q *Quota) restore(now time.Time, spent map[int64]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance(now)
	periodStart := nextMidnightUTC(now).Add(-24*time.Hour).Unix() / 60
	for m, n := range spent {
		if n <= 0 || m > q.lastMinute || m <= q.lastMinute-minutesPerDay {
			continue
		}
		q.perMinute[m%minutesPerDay] += n
		if m >= periodStart {
			q.usedInPeriod += n
		}
	}
}

const (
	minutesPerDay = 1440
	secondsPerDay = 86400
)

// NewQuota returns the quota of one tenant: share is the largest part of
// it the exporter uses in any 24 hours, dailyBudget the quota assumed when
// the API sends no rate-limit headers.
func NewQuota(share float64, dailyBudget int64) *Quota {
	if share <= 0 || share > 1 {
		share = DefaultQuotaShare
	}
	if dailyBudget <= 0 {
		dailyBudget = DefaultDailyBudget
	}
	return &Quota{share: share, dailyBudget: dailyBudget, remaining: math.Inf(1),
		limit: float64(dailyBudget), capacity: minCapacity, price: minPrice, teams: map[*pacer]struct{}{}}
}

// SetLimits changes the share and the daily budget (a reloaded
// configuration); what was spent stays counted.
func (q *Quota) SetLimits(share float64, dailyBudget int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if share > 0 && share <= 1 {
		q.share = share
	}
	if dailyBudget > 0 {
		q.dailyBudget = dailyBudget
	}
}

// pacer is one team's account with its tenant's Quota: its floor bucket,
// filled at its part of the floor, and its draw on the shared bucket. All
// its state is guarded by the quota's mutex.
type pacer struct {
	q *Quota

	tokens float64 // the floor bucket: requests only this team may make
	last   time.Time
	need   float64 // what the team needs, relative to its tenant's others
}

// join opens a team's account.
func (q *Quota) join() *pacer {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := &pacer{q: q}
	q.teams[p] = struct{}{}
	return p
}

// leave closes a team's account. What it spent stays counted.
func (p *pacer) leave() {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	delete(p.q.teams, p)
}

// nextMidnightUTC is the documented reset time of the quota.
func nextMidnightUTC(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// shareOfDay is the most the tenant may spend in any 24 hours.
func (q *Quota) shareOfDay() float64 { return q.share * q.limit }

// grant puts tokens in a bucket beyond its capacity: a cold start's burst.
// The pace that follows is slower by as much. The grant is the given part
// of the tenant's share of a day, divided among its teams, and goes to the
// team's own bucket, or to the shared one when the team is the tenant's
// only one.
func (p *pacer) grant(part float64) float64 {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	n := part * q.shareOfDay() / float64(max(len(q.teams), 1))
	if len(q.teams) == 1 {
		q.tokens += n
	} else {
		p.tokens += n
	}
	return n
}

// advance moves the per-minute window to now, forgetting what left it.
func (q *Quota) advance(now time.Time) {
	m := now.Unix() / 60
	if q.lastMinute == 0 || m-q.lastMinute >= minutesPerDay {
		clear(q.perMinute[:])
	} else {
		for i := q.lastMinute + 1; i <= m; i++ {
			q.perMinute[i%minutesPerDay] = 0
		}
	}
	if m > q.lastMinute {
		q.lastMinute = m
	}
}

func (q *Quota) spentInDay() float64 {
	var n int64
	for _, v := range q.perMinute {
		n += v
	}
	return float64(n)
}

// pace is the tenant's fastest constant pace, in requests per second.
func (q *Quota) pace(now time.Time) float64 {
	share := q.shareOfDay()
	held := float64(q.reserved) + max(q.tokens, 0)
	for t := range q.teams {
		held += max(t.tokens, 0)
	}
	rate := math.Inf(1)
	var spent float64 // in the last x minutes
	cur := q.lastMinute
	for x := int64(0); x < minutesPerDay; x++ {
		if x > 0 {
			spent += float64(q.perMinute[(cur-x+1)%minutesPerDay])
		}
		ahead := float64(minutesPerDay-x) * 60
		rate = min(rate, (share-spent-held)/ahead)
	}
	// The API's period: what is left of it, evenly until the reset.
	if left := q.periodEnd.Sub(now).Seconds(); left > 0 {
		rate = min(rate, q.periodBudget()/max(left, 60))
	}
	return max(rate, 0)
}

// floor is the part of the pace kept for the teams' own buckets: none
// for a tenant with one team.
func (q *Quota) floor() float64 {
	if len(q.teams) < 2 {
		return 0
	}
	return floorShare
}

// weight is a team's part of its tenant's pace, which sizes its deepening
// and sweep allowances: the floor, evenly, and the rest by need.
func (q *Quota) weight(p *pacer) float64 {
	n := float64(max(len(q.teams), 1))
	total := 0.0
	for t := range q.teams {
		total += t.need
	}
	if total <= 0 {
		return 1 / n
	}
	return q.floor()/n + (1-q.floor())*p.need/total
}

// fillBucket fills a bucket at rate since last, up to capacity; what a
// grant put past the capacity stays.
func fillBucket(tokens *float64, last *time.Time, now time.Time, rate, capacity float64) (since time.Duration) {
	if !last.IsZero() && now.After(*last) {
		since = now.Sub(*last)
		if *tokens < capacity {
			*tokens = min(*tokens+rate*since.Seconds(), capacity)
		}
	}
	if now.After(*last) {
		*last = now
	}
	return since
}

// refill brings the team's and the shared bucket, and the price, up to now
// and the limits up to the headers, with need as what the team needs now.
// It returns the team's part of the pace in requests per second, and the
// time since the team's last refill (0 on the first).
func (p *pacer) refill(now time.Time, rl apiclient.RateLimit, need float64) (rate float64, since time.Duration) {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	p.need = max(need, 0)
	pace := q.pace(now)
	// Unspent floor tokens past capacityWindow of the floor's pace are not
	// hoarded.
	floorRate := pace * q.floor() / float64(max(len(q.teams), 1))
	since = fillBucket(&p.tokens, &p.last, now, floorRate, floorRate*capacityWindow.Seconds())

	sharedRate := pace * (1 - q.floor())
	q.capacity = max(sharedRate*capacityWindow.Seconds(), minCapacity)
	if dt := fillBucket(&q.tokens, &q.last, now, sharedRate, q.capacity).Seconds(); dt > 0 {
		// The price follows the shared bucket: a full bucket means
		// pages worth less are worth reading, an empty one that only
		// the best are.
		level := q.tokens / q.capacity
		q.price = min(max(q.price*math.Exp(priceGain*(0.5-level)*dt/60), minPrice), maxPrice)
	}
	return pace * q.weight(p), since
}

// price is the price of a page now.
func (p *pacer) price() float64 {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	return p.q.price
}

// limits takes the quota's period, limit and remaining requests from the
// latest rate-limit headers. It runs under the quota's mutex.
func (q *Quota) limits(now time.Time, rl apiclient.RateLimit) {
	q.advance(now)
	reset := nextMidnightUTC(now)
	fromHeader := rl.HasReset && rl.Reset.After(now)
	if fromHeader {
		reset = rl.Reset
	}
	switch {
	case q.periodEnd.IsZero():
		q.periodEnd = reset
	case !now.Before(q.periodEnd): // a new quota period
		q.usedInPeriod = 0
		q.periodEnd = reset
	case fromHeader:
		// The headers say when the current period ends: a midnight
		// assumed on a cold start without them, or an earlier header's
		// reset, gives way.
		q.periodEnd = reset
	}
	q.limit = float64(q.dailyBudget)
	if rl.HasLimit && rl.Limit > 0 {
		q.limit = float64(rl.Limit)
	}
	q.remaining = math.Inf(1)
	if rl.HasRemaining {
		q.remaining = float64(rl.Remaining)
	}
}

// periodBudget is what the API's current period leaves to the exporter.
func (q *Quota) periodBudget() float64 {
	return max(min(q.shareOfDay()-float64(q.usedInPeriod), q.remaining), 0)
}

// hardLimit is the most requests the tenant may make now whatever the
// buckets hold: never past the share of the last 24 hours or the period's
// budget, less what runs in flight have reserved.
func (q *Quota) hardLimit() int {
	return int(max(min(q.shareOfDay()-q.spentInDay(), q.periodBudget())-float64(q.reserved), 0))
}

// affordable is the most requests the team may make now, with the latest
// headers: its own and the shared bucket's tokens, within the tenant's hard
// limit.
func (p *pacer) affordable(now time.Time, rl apiclient.RateLimit) int {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	return min(int(max(p.tokens, 0)+max(q.tokens, 0)), q.hardLimit())
}

// fairHardLimit is the team's even part of what the tenant may spend now:
// a cold start reads no more, so that the first team to start does not
// take what the others need for their first reads.
func (p *pacer) fairHardLimit(now time.Time, rl apiclient.RateLimit) int {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	return q.hardLimit() / max(len(q.teams), 1)
}

// ownAffordable is what the team may spend from its own bucket alone: the
// refreshes it makes whatever its pages are worth (an old result's, a
// retry's) draw on its floor, not on what its tenant's other teams need.
// A tenant's only team owns the shared bucket too, and with inDebt it may
// spend past the bucket, within the hard limit: the pace pays it back, and
// the numbers people are paged on stay fresh through a campaign that
// empties the bucket.
func (p *pacer) ownAffordable(now time.Time, rl apiclient.RateLimit, inDebt bool) int {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	own := max(p.tokens, 0)
	if len(q.teams) < 2 {
		if inDebt {
			return q.hardLimit()
		}
		own += max(q.tokens, 0)
	}
	return min(int(own), q.hardLimit())
}

// reserve takes up to n requests of the tenant's hard limit for a run
// about to start, so that the runs of two teams in flight at once cannot
// both spend the last requests. The bucket is not consulted: the caller
// has sized n by affordable. release tells what the run used.
func (p *pacer) reserve(now time.Time, rl apiclient.RateLimit, n int) int {
	q := p.q
	q.mu.Lock()
	q.limits(now, rl)
	k := max(min(n, q.hardLimit()), 0)
	q.reserved += int64(k)
	onSpend := q.onSpend
	q.mu.Unlock()
	if onSpend != nil && k > 0 {
		onSpend() // in the journal before the requests are made
	}
	return k
}

// release ends a reservation of k requests of which used were made at now.
// The bucket may go into debt (a head that needed more pages than
// expected); the pace pays it back.
func (p *pacer) release(now time.Time, k, used int) {
	q := p.q
	q.mu.Lock()
	defer func() {
		onSpend := q.onSpend
		q.mu.Unlock()
		if onSpend != nil && k > 0 {
			onSpend()
		}
	}()
	q.reserved -= int64(k)
	if used <= 0 {
		return
	}
	q.advance(now)
	q.perMinute[q.lastMinute%minutesPerDay] += int64(used)
	q.usedInPeriod += int64(used)
	// The team's own tokens first, then the shared bucket's, which may go
	// into debt: the pace pays it back.
	own := min(max(p.tokens, 0), float64(used))
	p.tokens -= own
	q.tokens = max(q.tokens-(float64(used)-own), -q.capacity)
}
