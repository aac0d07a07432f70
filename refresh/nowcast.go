package refresh

import (
	"math"
	"time"

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

// minQueueExits is how many queue exits the exporter must have seen
// before it estimates: until then its life table is mostly its prior, and
// the raw count is served.
const minQueueExits = 20

// nowcast moves the chats that have most probably left the queue since
// they were read, at now.
func (r *Refresher) nowcast(c *collector.Counts, now time.Time) {
	q := r.model.byStatus["queued"]
	if q.evidence() < minQueueExits {
		return
	}
	left := map[string]float64{}
	var stay []*entry // in the queue more probably than not
	for _, e := range r.state.open {
		if e.Status != "queued" || e.CreatedAt.IsZero() || !now.After(e.readAt) {
			if e.Status == "queued" {
				stay = append(stay, e)
			}
			continue
		}
		from := max(e.readAt.Sub(e.CreatedAt).Seconds(), 0)
		p := q.leaveProbability(from, now.Sub(e.CreatedAt).Seconds())
		left[e.Channel] += p
		if p < 0.5 {
			stay = append(stay, e)
		}
	}
	for ch, n := range left {
		c.MoveChats("queued", "picked", ch, int(math.Round(n)))
	}
	// The oldest queued chat of each channel, among those that stay.
	oldest := map[string]time.Time{}
	for _, e := range stay {
		if t, ok := oldest[e.Channel]; !e.CreatedAt.IsZero() && (!ok || e.CreatedAt.Before(t)) {
			oldest[e.Channel] = e.CreatedAt
		}
	}
	c.SetOldestQueued(oldest)
}
