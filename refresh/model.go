package refresh

import (
	"math"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// model is what the exporter has learned of the tenant from its own reads:
// how long chats stay in each open status (a hazard per status; the queue's
// per channel too) and how fast new chats arrive. The scheduler uses it to
// price each page it could read by the correction of the served numbers
// that the read is expected to bring, and the estimate of the queued count
// to move the chats that have most probably left the queue since they were
// read.
type model struct {
	// byStatus holds a life table per open status; the queued one pools
	// every channel.
	byStatus map[string]*hazard
	// queues holds a channel's own queue life table, with the pooled one
	// as its prior: e-mail waits hours where messaging waits seconds.
	queues map[string]*hazard
	// pace holds, per channel ("" pooling them), how fast chats have left
	// the queue of late against what the life tables expect.
	pace map[string]*queuePace

	// handle is the life table of the time from a chat's pick to its
	// close, hold included: the service log feeds it with the chats whose
	// pick it dated, and dates by it the picks no read saw.
	handle *hazard

	// Arrivals: new chats seen at the head, and the time they span,
	// both decayed so that the rate follows the time of day.
	arrivals, arrivalSeconds float64
	arrivalsAt               time.Time
}

func newModel() *model {
	m := &model{byStatus: map[string]*hazard{}, queues: map[string]*hazard{}, pace: map[string]*queuePace{"": {}},
		handle: newHazard(hazardHalfLife)}
	for _, s := range []string{apiclient.StatusQueued, apiclient.StatusPicked, apiclient.StatusOnHold} {
		m.byStatus[s] = newHazard(hazardHalfLife)
	}
	for _, ch := range collector.Channels {
		h := newHazard(hazardHalfLife)
		h.parent = m.byStatus[apiclient.StatusQueued]
		m.queues[ch] = h
		m.pace[ch] = &queuePace{}
	}
	return m
}

// table is the life table of a chat's status: for a queued chat its
// channel's (the pooled one for a channel not documented: the list brings
// whatever values it likes, and they must not grow the model).
func (m *model) table(status, channel string) *hazard {
	if status == apiclient.StatusQueued {
		if h := m.queues[channel]; h != nil {
			return h
		}
	}
	return m.byStatus[status]
}

// queuePace compares the queue exits the reads have seen with those the
// life table expected over the same time at risk (the observed ÷ expected
// ratio of the epidemiologist), decayed over minutes: a queue that stops
// moving, or is swamped by a campaign, shows within a few reads, long
// before its life table, which follows the time of day over hours, has
// learned it.
type queuePace struct {
	observed, expected float64
	at                 time.Time
}

func (p *queuePace) add(observed, expected float64, at time.Time) {
	if !p.at.IsZero() && at.After(p.at) {
		f := math.Exp2(-at.Sub(p.at).Seconds() / paceHalfLife.Seconds())
		p.observed *= f
		p.expected *= f
	}
	if at.After(p.at) {
		p.at = at
	}
	p.observed += observed
	p.expected += max(expected, 0)
}

// factor multiplies the queue's hazard of a channel: 1 when the exits
// seen are those expected, towards 0 when none are seen where many were
// expected. A channel with little evidence takes the pooled factor.
func (m *model) factor(channel string) float64 {
	all := m.pace[""]
	pooled := (all.observed + pacePrior) / (all.expected + pacePrior)
	p := m.pace[channel]
	if p == nil {
		return pooled
	}
	return (p.observed + pacePrior*pooled) / (p.expected + pacePrior)
}

// sawQueue records that a chat of a channel was at risk of leaving the
// queue from age "from" to age "to" (seconds in the queue) and left at
// "to", or not.
func (m *model) sawQueue(channel string, from, to float64, left bool, at time.Time) {
	from, to = max(from, 0), max(to, 0)
	if to < from {
		return
	}
	h := m.table(apiclient.StatusQueued, channel)
	expected := h.cumulative(to) - h.cumulative(from)
	observed := 0.0
	if left {
		observed = 1
	}
	m.pace[""].add(observed, expected, at)
	if p := m.pace[channel]; p != nil {
		p.add(observed, expected, at)
	}
	m.byStatus[apiclient.StatusQueued].observe(from, to, left)
	if h != m.byStatus[apiclient.StatusQueued] {
		h.observe(from, to, left)
	}
}

// queueCurve is a channel's queue life table with its pace: what the
// estimate of a channel's queue needs, looked up once per pull.
type queueCurve struct {
	h    *hazard
	pace float64
}

func (m *model) queueCurve(channel string) queueCurve {
	return queueCurve{m.table(apiclient.StatusQueued, channel), m.factor(channel)}
}

// stillQueued is the probability that a chat read queued at age from is
// still queued at age to.
func (q queueCurve) stillQueued(from, to float64) float64 {
	if to <= from {
		return 1
	}
	return math.Exp(-q.pace * (q.h.cumulative(to) - q.h.cumulative(from)))
}

// enteredStatus is when a chat entered its current status: its updated_at
// when that is plausible (not before its creation), else its creation. A
// queued chat's updated_at is its creation (every chat starts queued), or
// its reopening when it was closed and reopened into the queue: its queue
// time counts from there, not from its creation days before.
func enteredStatus(c *apiclient.Chat) time.Time {
	if !c.UpdatedAt.IsZero() && !c.UpdatedAt.Before(c.CreatedAt) {
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
		// First seen. Every chat begins queued at its creation, or at
		// its reopening.
		if f.Status == apiclient.StatusQueued {
			m.sawQueue(f.Channel, 0, o.at.Sub(enteredStatus(f)).Seconds(), false, o.at)
			return
		}
		left := leftQueue(f, f.CreatedAt, o.at)
		m.sawQueue(f.Channel, 0, left.Sub(f.CreatedAt).Seconds(), true, o.at)
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
		if old.Status == apiclient.StatusQueued {
			m.sawQueue(old.Channel, from, o.at.Sub(entered).Seconds(), false, o.at)
			return
		}
		h.observe(from, o.at.Sub(entered).Seconds(), false)
		return
	}
	// It left the status between the two reads; updated_at says when, as
	// far as the two reads allow.
	if old.Status == apiclient.StatusQueued {
		left := leftQueue(f, o.old.readAt, o.at)
		m.sawQueue(old.Channel, from, left.Sub(entered).Seconds(), true, o.at)
	} else {
		left := clampTime(f.UpdatedAt, o.old.readAt, o.at)
		h.observe(from, left.Sub(entered).Seconds(), true)
	}
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
	if f.Status == apiclient.StatusQueued { // reopened
		m.sawQueue(f.Channel, 0, at.Sub(enteredStatus(f)).Seconds(), false, at)
		return
	}
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
	for _, h := range m.queues { // after the pooled table, their prior
		h.decay(now)
		h.refreshCum()
	}
	m.handle.decay(now)
	m.handle.refreshCum()
}

// changedArea is the probability that a chat read at readAt has left its
// status, integrated from readAt to now: the expected error it has added
// to the served numbers since, in chat-seconds.
func (m *model) changedArea(c *entry, now time.Time) float64 {
	h := m.table(c.Status, c.Channel)
	if h == nil || !now.After(c.readAt) {
		return 0
	}
	entered := enteredStatus(&c.Chat)
	from := c.readAt.Sub(entered).Seconds()
	span := now.Sub(c.readAt).Seconds()
	dt := span / areaSteps
	k := 1.0
	if c.Status == apiclient.StatusQueued {
		k = m.factor(c.Channel)
	}
	sum := 0.0
	for i := range areaSteps {
		sum += -math.Expm1(-k * (h.cumulative(from+(float64(i)+0.5)*dt) - h.cumulative(from)))
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
