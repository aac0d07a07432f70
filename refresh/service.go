package refresh

import (
	"math"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// serviceLog turns what the reads show of each chat over time into the
// service-level numbers: arrivals, queue exits with their waits, handle
// times. It follows every chat of the window by id, apart from the state,
// which starts over after a long outage: a chat is counted once whatever
// the state forgets.
//
// What a read can date, and so what is counted:
//   - an arrival: a chat created after the first read, when first seen;
//   - a queue exit: the chat's first, when a read first sees it out of the
//     queue, if a read saw it queued before or it arrived after the first
//     read (an exit before the exporter started is not news). It is dated
//     by updated_at for a chat seen picked or abandoned, by datePick for
//     one first seen on hold or closed by its agent;
//   - a handle time: when a read sees a chat closed by an agent whose pick
//     an earlier read dated.
type serviceLog struct {
	model  *model    // dates the picks no read saw
	since  time.Time // the first read; zero before it
	cutoff time.Time // the lookback's start at the last prune
	// The chats of the window, keyed by a 64-bit hash of the chat id
	// rather than the id (two ids of one window colliding is a chance of
	// about 1 in 10^9 a day at 100,000 chats): those still followed, and
	// the creation time of those done with, which only need to be known.
	chats map[uint64]followed
	done  map[uint64]int64
	level *collector.ServiceLevel
}

// followed is what the service log remembers of a chat: a window of
// tens of thousands of chats a team, so times in Unix nanoseconds and the
// value held in the map (BenchmarkTeams measures what it costs).
type followed struct {
	created    int64 // created_at
	readAt     int64 // when last read
	queuedFrom int64 // when it entered the queue, as last read queued
	pickedAt   int64 // the pick, when a read dated it before the chat closed; 0: none
	exited     bool  // its queue exit is counted, or predates the exporter
	handled    bool  // its handle time is counted, or cannot be
}

func fromUnixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func newServiceLog(m *model) *serviceLog {
	return &serviceLog{model: m, chats: map[uint64]followed{}, done: map[uint64]int64{}, level: collector.NewServiceLevel()}
}

// start records the exporter's first read of the list, at: the chats
// created before it are not arrivals.
func (l *serviceLog) start(at time.Time) {
	if l.since.IsZero() {
		l.since = at
	}
}

// see takes what one read showed of one chat.
func (l *serviceLog) see(o observation) {
	f := o.fresh
	if f.CreatedAt.IsZero() || f.ID == "" {
		return // no time to count from
	}
	if f.CreatedAt.Before(l.cutoff) {
		return // outside the window: forgotten, and not new
	}
	l.start(o.at)
	key := idHash(f.ID)
	if _, done := l.done[key]; done {
		return // its exit and handle time are counted, or cannot be
	}
	c, known := l.chats[key]
	if !known {
		c = followed{created: f.CreatedAt.UnixNano(), readAt: f.CreatedAt.UnixNano(), queuedFrom: f.CreatedAt.UnixNano()}
		arrived := f.CreatedAt.After(l.since)
		if arrived {
			l.level.Arrived(f.Channel)
		}
		// Every chat begins queued: one created before the first read
		// and first seen out of the queue left it before the exporter
		// could see it.
		c.exited = !arrived && f.Status != apiclient.StatusQueued
	}
	switch f.Status {
	case apiclient.StatusQueued:
		c.queuedFrom = enteredStatus(f).UnixNano()
	case apiclient.StatusPicked, apiclient.StatusOnHold, apiclient.StatusClosed:
		if !c.exited {
			l.leftQueue(&c, f, o.at)
		}
		if c.pickedAt != 0 && !c.handled {
			l.followHandling(&c, f, o.at)
		}
	}
	c.readAt = o.at.UnixNano()
	if c.exited && (c.handled || c.pickedAt == 0) {
		delete(l.chats, key)
		l.done[key] = c.created
		return
	}
	l.chats[key] = c
}

// leftQueue counts the queue exit of c, first seen out of the queue as f
// at "at".
func (l *serviceLog) leftQueue(c *followed, f *apiclient.Chat, at time.Time) {
	c.exited = true
	// The exit lies between the last read that saw it queued (or its
	// creation) and now.
	queuedFrom := fromUnixNano(c.queuedFrom)
	lastQueued := fromUnixNano(max(c.readAt, c.queuedFrom))
	if f.Status == apiclient.StatusClosed && f.Assignee == "" {
		l.level.Left(f.Channel, collector.OutcomeClosed, 0)
		return
	}
	left := clampTime(f.UpdatedAt, lastQueued, at)
	if f.Status != apiclient.StatusPicked {
		// On hold, or closed by its agent: updated_at is a later change,
		// and the pick lies somewhere before it.
		left = l.model.datePick(f.Channel, f.Status, queuedFrom, lastQueued, left, unitHash(f.ID))
	}
	l.level.Left(f.Channel, collector.OutcomePicked, left.Sub(queuedFrom).Seconds())
	if f.Status != apiclient.StatusClosed {
		c.pickedAt = left.UnixNano() // a later read may see it closed
	} else {
		c.handled = true // picked and closed unseen: not a handle time
	}
}

// followHandling takes a read of a chat whose pick is dated, before it
// closed: the time since the pick is at risk of closing, and a close is a
// handle time.
func (l *serviceLog) followHandling(c *followed, f *apiclient.Chat, at time.Time) {
	pickedAt, readAt := fromUnixNano(c.pickedAt), fromUnixNano(c.readAt)
	from := readAt.Sub(pickedAt).Seconds()
	if f.Status != apiclient.StatusClosed {
		l.model.handle.observe(from, at.Sub(pickedAt).Seconds(), false)
		return
	}
	c.handled = true
	if f.Assignee == "" {
		return // closed by no one: not handled
	}
	handled := clampTime(f.UpdatedAt, readAt, at).Sub(pickedAt).Seconds()
	l.model.handle.observe(from, handled, true)
	l.level.Handled(f.Channel, handled)
}

// datePick dates the pick of a chat of channel, queued since entered,
// that lies between from (the last read that saw it queued) and to (the
// later change a read saw: a hold, or its close). The life tables give
// the odds of each moment in between: the queue's of leaving it then, the
// picked status's of the change coming to - t later. Rather than put
// every such chat at the likeliest moment, which would bunch them in one
// bucket, the chat is put at the u-quantile of those odds, u a fixed
// number of its own: over many chats the waits are spread as the tables
// say, and a chat gets the same date whenever it is counted.
func (m *model) datePick(channel, change string, entered, from, to time.Time, u float64) time.Time {
	span := to.Sub(from).Seconds()
	if span < 1 {
		return from
	}
	queue := m.table(apiclient.StatusQueued, channel)
	// A hold ends the picked status; a close ends the handling, which
	// holds may have made far longer.
	picked := m.byStatus[apiclient.StatusPicked]
	if change == apiclient.StatusClosed {
		picked = m.handle
	}
	var weights [pickSteps]float64
	total := 0.0
	a := from.Sub(entered).Seconds()
	dt := span / pickSteps
	for i := range pickSteps {
		lo, hi := a+float64(i)*dt, a+float64(i+1)*dt
		leaves := queue.survival(lo) - queue.survival(hi)
		// the change came to-t after the pick, t in [lo, hi]
		changes := picked.survival(span-float64(i+1)*dt) - picked.survival(span-float64(i)*dt)
		weights[i] = max(leaves*changes, 0)
		total += weights[i]
	}
	if total <= 0 || math.IsNaN(total) {
		return from.Add(time.Duration(u * span * float64(time.Second)))
	}
	target := u * total
	for i, w := range weights {
		if target <= w || i == pickSteps-1 {
			frac := 0.5
			if w > 0 {
				frac = min(target/w, 1)
			}
			return from.Add(time.Duration((float64(i) + frac) * dt * float64(time.Second)))
		}
		target -= w
	}
	return from
}

// idHash is a chat id's 64-bit FNV-1a hash, computed in place: it runs
// for every chat of every page read.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211
	}
	return h
}

// unitHash is a number in [0, 1) fixed by s.
func unitHash(s string) float64 { return float64(idHash(s)>>11) / (1 << 53) }

// prune forgets the chats created before cutoff: the lookback. A chat
// seen again after that (the window deepened) is not an arrival.
func (l *serviceLog) prune(cutoff time.Time) {
	if cutoff.Sub(l.cutoff) < servicePruneStep {
		return
	}
	l.cutoff = cutoff
	before := cutoff.UnixNano()
	for id, c := range l.chats {
		if c.created < before {
			delete(l.chats, id)
		}
	}
	for id, created := range l.done {
		if created < before {
			delete(l.done, id)
		}
	}
}
