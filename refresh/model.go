package refresh

import (
	"math"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// model is what the exporter has learned of the tenant from its own reads:
// how long chats stay in each open status (a hazard per status) and how
// fast new chats arrive. The scheduler uses it to price each page it could
// read by the correction of the served numbers that the read is expected
// to bring.
type model struct {
	byStatus map[string]*hazard

	// Arrivals: new chats seen at the head, and the time they span,
	// both decayed so that the rate follows the time of day.
	arrivals, arrivalSeconds float64
	arrivalsAt               time.Time
}

func newModel() *model {
	m := &model{byStatus: map[string]*hazard{}}
	for _, s := range []string{apiclient.StatusQueued, apiclient.StatusPicked, apiclient.StatusOnHold} {
		m.byStatus[s] = newHazard(hazardHalfLife)
	}
	return m
}

// enteredStatus is when a chat entered its current status: its creation
// for a queued chat (every chat starts queued), else its updated_at when
// that is plausible.
func enteredStatus(c *apiclient.Chat) time.Time {
	if c.Status != apiclient.StatusQueued && !c.UpdatedAt.IsZero() && !c.UpdatedAt.Before(c.CreatedAt) {
		return c.UpdatedAt
	}
	return c.CreatedAt
}

func clampTime(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// learn takes what one read showed of one chat.
func (m *model) learn(o observation) {
	f := o.fresh
	if f.CreatedAt.IsZero() {
		return // no time in status to learn from
	}
	if o.old == nil {
		// First seen. Every chat begins queued at its creation.
		q := m.byStatus[apiclient.StatusQueued]
		if f.Status == apiclient.StatusQueued {
			q.observe(0, o.at.Sub(f.CreatedAt).Seconds(), false)
			return
		}
		left := leftQueue(f, f.CreatedAt, o.at)
		q.observe(0, left.Sub(f.CreatedAt).Seconds(), true)
		m.beginEpisode(f, o.at)
		return
	}
	old := &o.old.Chat
	h := m.byStatus[old.Status]
	if h == nil { // closed (or unknown) before: a reopened chat starts anew
		m.beginEpisode(f, o.at)
		return
	}
	entered := enteredStatus(old)
	from := o.old.readAt.Sub(entered).Seconds()
	if f.Status == old.Status && enteredStatus(f).Equal(entered) {
		h.observe(from, o.at.Sub(entered).Seconds(), false)
		return
	}
	// It left the status between the two reads; updated_at says when, as
	// far as the two reads allow.
	left := clampTime(f.UpdatedAt, o.old.readAt, o.at)
	if old.Status == apiclient.StatusQueued {
		left = leftQueue(f, o.old.readAt, o.at)
	}
	h.observe(from, left.Sub(entered).Seconds(), true)
	m.beginEpisode(f, o.at)
}

// leftQueue is when a chat seen out of the queue at "at", and last seen
// queued (or created) at "since", left the queue. Its updated_at says so
// when it was picked and nothing happened since, or when it was closed
// unassigned (abandoned). Otherwise (on hold, or closed by an agent),
// updated_at is a later change: the pick lies somewhere before it, and is
// taken a third of the way in, since queue waits are short. Taking
// updated_at itself would put every such pick late, make the queue look
// slower than it is, and so re-read queued chats too late to learn better.
func leftQueue(f *apiclient.Chat, since, at time.Time) time.Time {
	upd := clampTime(f.UpdatedAt, since, at)
	if f.Status == apiclient.StatusPicked || (f.Status == apiclient.StatusClosed && f.Assignee == "") {
		return upd
	}
	return since.Add(upd.Sub(since) / 3)
}

// beginEpisode records the time a chat has spent so far in the open
// status it was seen in.
func (m *model) beginEpisode(f *apiclient.Chat, at time.Time) {
	if h := m.byStatus[f.Status]; h != nil {
		h.observe(0, at.Sub(enteredStatus(f)).Seconds(), false)
	}
}

// sawArrivals records n new chats seen at the head over the time since
// the head was last read.
func (m *model) sawArrivals(n int, over time.Duration, now time.Time) {
	if over <= 0 {
		return
	}
	if !m.arrivalsAt.IsZero() && now.After(m.arrivalsAt) {
		f := math.Exp2(-now.Sub(m.arrivalsAt).Seconds() / arrivalHalfLife.Seconds())
		m.arrivals *= f
		m.arrivalSeconds *= f
	}
	m.arrivalsAt = now
	m.arrivals += float64(n)
	m.arrivalSeconds += over.Seconds()
}

// arrivalRate is the estimated rate of new chats per second.
func (m *model) arrivalRate() float64 {
	if m.arrivalSeconds < 1 {
		return 0
	}
	return m.arrivals / m.arrivalSeconds
}

// ageTo brings the estimates up to now, before they are used: the
// observations decay.
func (m *model) ageTo(now time.Time) {
	for _, h := range m.byStatus {
		h.decay(now)
		h.refreshCum()
	}
}

// changedArea is the probability that a chat read at readAt has left its
// status, integrated from readAt to now: the expected error it has added
// to the served numbers since, in chat-seconds.
func (m *model) changedArea(c *entry, now time.Time) float64 {
	h := m.byStatus[c.Status]
	if h == nil || !now.After(c.readAt) {
		return 0
	}
	entered := enteredStatus(&c.Chat)
	from := c.readAt.Sub(entered).Seconds()
	span := now.Sub(c.readAt).Seconds()
	dt := span / areaSteps
	sum := 0.0
	for i := range areaSteps {
		sum += h.leaveProbability(from, from+(float64(i)+0.5)*dt)
	}
	return sum * dt
}

// newChatArea is the error that chats arriving over the last span, and
// not yet read, have added to the served numbers, in chat-seconds: a new
// chat still queued weighs queued, one already picked or closed other.
func (m *model) newChatArea(span time.Duration, queued, other float64) float64 {
	q := m.byStatus[apiclient.StatusQueued]
	lambda := m.arrivalRate()
	total := span.Seconds()
	dt := total / areaSteps
	sum := 0.0
	for i := range areaSteps {
		// A chat that arrived age seconds ago, unseen since.
		age := (float64(i) + 0.5) * dt
		stay := q.survival(age)
		sum += (queued*stay + other*(1-stay)) * (total - age)
	}
	return lambda * sum * dt
}
