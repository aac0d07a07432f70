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
// The pace is split among the teams by what each needs (its rate of new
// chats: every chat needs reading as it arrives and as it changes), with a
// floor so that a quiet team is still read.
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

	teams map[*pacer]struct{}
}

const (
	minutesPerDay = 1440
	secondsPerDay = 86400
	// capacityWindow is how much of its pace a team's bucket saves up:
	// enough to wait for a page worth reading, not enough to spend an
	// hour in a burst.
	capacityWindow = 15 * time.Minute
	minCapacity    = 4
	// floorShare is the part of the tenant's pace split evenly among its
	// teams whatever they need: a quiet team is still read, and its first
	// chats are seen.
	floorShare = 0.2
)

// NewQuota returns the quota of one tenant: share is the largest part of
// it the exporter uses in any 24 hours, dailyBudget the quota assumed when
// the API sends no rate-limit headers.
func NewQuota(share float64, dailyBudget int64) *Quota {
	if share <= 0 || share > 1 {
		share = 0.5
	}
	if dailyBudget <= 0 {
		dailyBudget = 10000
	}
	return &Quota{share: share, dailyBudget: dailyBudget, remaining: math.Inf(1),
		limit: float64(dailyBudget), teams: map[*pacer]struct{}{}}
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

// SpentInDay is the tenant's requests in the last 24 hours.
func (q *Quota) SpentInDay(now time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance(now)
	var n int64
	for _, v := range q.perMinute {
		n += v
	}
	return n
}

// pacer is one team's account with its tenant's Quota: a token bucket
// filled at the team's part of the tenant's pace. All its state is guarded
// by the quota's mutex.
type pacer struct {
	q *Quota

	tokens   float64 // requests this team may make now
	last     time.Time
	rate     float64 // requests per second, at the last fill
	capacity float64 // unspent tokens past this are not hoarded
	need     float64 // what the team needs, relative to its tenant's others
}

// join opens a team's account.
func (q *Quota) join() *pacer {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := &pacer{q: q, capacity: minCapacity}
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

// grant puts tokens in the bucket beyond its capacity: a cold start's
// burst. The pace that follows is slower by as much. The grant is the given
// part of the tenant's share of a day, divided among its teams.
func (p *pacer) grant(part float64) float64 {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	n := part * p.q.shareOfDay() / float64(max(len(p.q.teams), 1))
	p.tokens += n
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
	held := float64(q.reserved)
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

// weight is a team's part of its tenant's pace: the floor, evenly, and the
// rest by need.
func (q *Quota) weight(p *pacer) float64 {
	n := float64(max(len(q.teams), 1))
	total := 0.0
	for t := range q.teams {
		total += t.need
	}
	if total <= 0 {
		return 1 / n
	}
	return floorShare/n + (1-floorShare)*p.need/total
}

// fill brings the bucket up to now and the limits up to the headers, with
// need as what the team needs now. It returns the team's pace in requests
// per second, and the time since the last fill (0 on the first).
func (p *pacer) fill(now time.Time, rl apiclient.RateLimit, need float64) (rate float64, since time.Duration) {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	p.need = max(need, 0)
	p.rate = q.pace(now) * q.weight(p)
	p.capacity = max(p.rate*capacityWindow.Seconds(), minCapacity)
	if !p.last.IsZero() && now.After(p.last) {
		since = now.Sub(p.last)
		if p.tokens < p.capacity {
			p.tokens = min(p.tokens+p.rate*since.Seconds(), p.capacity)
		}
	}
	if now.After(p.last) {
		p.last = now
	}
	return p.rate, since
}

// level is how full the bucket is, 0 to 1 (more after a grant).
func (p *pacer) level() float64 {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	return p.tokens / p.capacity
}

// limits takes the quota's period, limit and remaining requests from the
// latest rate-limit headers. It runs under the quota's mutex.
func (q *Quota) limits(now time.Time, rl apiclient.RateLimit) {
	q.advance(now)
	reset := nextMidnightUTC(now)
	if rl.HasReset && rl.Reset.After(now) {
		reset = rl.Reset
	}
	if q.periodEnd.IsZero() {
		q.periodEnd = reset
	}
	if !now.Before(q.periodEnd) { // a new quota period
		q.usedInPeriod = 0
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
// headers: its bucket's tokens, within the tenant's hard limit.
func (p *pacer) affordable(now time.Time, rl apiclient.RateLimit) int {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	return min(int(max(p.tokens, 0)), q.hardLimit())
}

// reserve takes up to n requests of the tenant's hard limit for a run
// about to start, so that the runs of two teams in flight at once cannot
// both spend the last requests. The bucket is not consulted: the caller
// has sized n by affordable. settle tells what the run used.
func (p *pacer) reserve(now time.Time, rl apiclient.RateLimit, n int) int {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits(now, rl)
	k := max(min(n, q.hardLimit()), 0)
	q.reserved += int64(k)
	return k
}

// settle ends a reservation of k requests of which used were made at now.
// The bucket may go into debt (a head that needed more pages than
// expected); the pace pays it back.
func (p *pacer) settle(now time.Time, k, used int) {
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved -= int64(k)
	if used <= 0 {
		return
	}
	q.advance(now)
	q.perMinute[q.lastMinute%minutesPerDay] += int64(used)
	q.usedInPeriod += int64(used)
	p.tokens = max(p.tokens-float64(used), -p.capacity)
}
