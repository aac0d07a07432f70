package refresh

import (
	"math"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// The queued count people are paged on is the one the quota cannot keep
// exact on a busy tenant: a chat read queued is picked a minute later, and
// its page may not be read again for many minutes; until then it counts as
// queued (a phantom). On a tenant of 10,000 chats a day the phantoms made
// the count worse than a constant (a mean error of 33 where the day's mean
// served as a constant is off by 5.6).
//
// nowcast corrects what the reads cannot have seen yet, with what the
// exporter has learned of the tenant's own queue: each chat last read
// queued counts as still queued with the probability that a chat queued
// that long at its read is still queued now (the life table of queue
// times, refresh/hazard.go). Per channel, the expected number that have
// left is moved from queued to picked, rounded, in imichat_chats; a chat
// read in this refresh is exact. The oldest queued chat of a channel is
// the oldest more likely still queued than not.

// queueOdds prices the chats last read queued at now: the probability
// that each has left the queue since, each channel's life table and pace
// looked up once.
type queueOdds struct {
	m      *model
	now    time.Time
	curves map[string]queueCurve
}

func (e *engine) queueOdds(now time.Time) *queueOdds {
	return &queueOdds{m: e.model, now: now, curves: map[string]queueCurve{}}
}

// left is 0 for a chat read now, or without a creation time; a reopened
// chat waits from its reopening.
func (q *queueOdds) left(c *entry) float64 {
	entered := enteredStatus(&c.Chat)
	if entered.IsZero() || !q.now.After(c.readAt) {
		return 0
	}
	curve, ok := q.curves[c.Channel]
	if !ok {
		curve = q.m.queueCurve(c.Channel)
		q.curves[c.Channel] = curve
	}
	return 1 - curve.stillQueued(max(c.readAt.Sub(entered).Seconds(), 0), q.now.Sub(entered).Seconds())
}

// nowcast moves the chats that have most probably left the queue since
// they were read, at now. It runs at every pull: each channel's life
// table and pace are looked up once, and each queued chat priced once.
func (e *engine) nowcast(c *collector.Counts, now time.Time) {
	if e.model.byStatus[apiclient.StatusQueued].evidence() < minQueueExits {
		return
	}
	odds := e.queueOdds(now)
	type priced struct {
		c    *entry
		left float64 // the probability that it has left the queue by now
	}
	queued := make([]priced, 0, len(e.state.queued))
	gone := map[string]float64{} // expected departures, by channel
	for _, ch := range e.state.queued {
		p := priced{c: ch, left: odds.left(ch)}
		queued = append(queued, p)
		gone[ch.Channel] += p.left
	}
	for ch, n := range gone {
		c.LeftQueue(ch, int(math.Round(n)))
	}
	for ch, n := range e.unseenQueued(now) {
		c.ArrivedUnread(ch, int(math.Round(n)))
	}
	// The oldest queued chats, of those more likely still queued than not.
	c.SetOldestQueued(func(yield func(*apiclient.Chat) bool) {
		for _, p := range queued {
			if p.left < 0.5 && !yield(&p.c.Chat) {
				return
			}
		}
	})
}

// servedOldestQueued is the chat the estimate at now serves as the oldest
// queued (of every channel): the oldest of those more likely still queued
// than not. nil: none, or no estimate yet.
func (e *engine) servedOldestQueued(now time.Time) *entry {
	if e.model.byStatus[apiclient.StatusQueued].evidence() < minQueueExits {
		return nil
	}
	var oldest *entry
	odds := e.queueOdds(now)
	for _, c := range e.state.queued {
		if c.CreatedAt.IsZero() || (oldest != nil && !c.CreatedAt.Before(oldest.CreatedAt)) || odds.left(c) >= 0.5 {
			continue
		}
		oldest = c
	}
	return oldest
}

// unseenQueued is, by channel, how many of the chats that have arrived
// since the head was last read are most probably still queued: between
// reads, the chats read queued leave the queue while new ones join it,
// and serving the first without the second would put the count below the
// truth on every pull the engine holds back. The arrival rate is the
// model's; the channels share it as the chats created in the last hour
// did.
func (e *engine) unseenQueued(now time.Time) map[string]float64 {
	span := now.Sub(e.lastHead).Seconds()
	rate := e.model.arrivalRate()
	if e.lastHead.IsZero() || span <= 0 || rate <= 0 {
		return nil
	}
	share := map[string]float64{}
	n := 0.0
	since := e.lastHead.Add(-time.Hour)
	for _, c := range e.state.list { // newest first, by their place in time
		if c.key.Before(since) {
			break // a chat without created_at has its neighbours' key
		}
		share[c.Channel]++
		n++
	}
	if n == 0 {
		return nil
	}
	out := map[string]float64{}
	dt := span / areaSteps
	for ch, k := range share {
		curve := e.model.queueCurve(ch)
		stay := 0.0
		for i := range areaSteps {
			stay += curve.stillQueued(0, (float64(i)+0.5)*dt) * dt
		}
		out[ch] = rate * k / n * stay
	}
	return out
}
