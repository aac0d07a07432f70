package refresh

import (
	"context"
	"github.com/imichat-exporter/imichat_exporter/simulator"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// read is what one read showed of a chat, at seconds after the first read.
type read struct {
	at       float64
	status   string
	updated  float64 // seconds after the first read; NaN-free: 0 is allowed
	assignee string
}

func TestServiceLogCountsWhatTheReadsDate(t *testing.T) {
	const (
		q = apiclient.StatusQueued
		p = apiclient.StatusPicked
		h = apiclient.StatusOnHold
		c = apiclient.StatusClosed
	)
	for _, tc := range []struct {
		name      string
		created   float64 // seconds after the first read
		channel   string
		reads     []read
		arrived   uint64
		picked    uint64
		abandoned uint64
		waits     []float64  // queue waits observed, seconds
		waitIn    [2]float64 // or: one wait, dated within these bounds
		handles   []float64
	}{
		{name: "queued at the first read, picked later: an exit, not an arrival",
			created: -100, reads: []read{{0, q, -100, ""}, {60, p, 30, "ann"}},
			picked: 1, waits: []float64{130}},
		{name: "out of the queue at the first read: before the exporter, nothing",
			created: -100, reads: []read{{0, p, -50, "ann"}, {60, c, 30, "ann"}}},
		{name: "arrived, seen queued, then picked: updated_at dates the pick",
			created: 10, reads: []read{{15, q, 10, ""}, {45, p, 40, "ann"}},
			arrived: 1, picked: 1, waits: []float64{30}},
		{name: "arrived and abandoned between reads: no wait observed",
			created: 10, reads: []read{{50, c, 40, ""}},
			arrived: 1, abandoned: 1},
		{name: "first seen on hold: the pick between the last read queued and the hold",
			created: 10, reads: []read{{20, q, 10, ""}, {200, h, 110, "ann"}},
			arrived: 1, picked: 1, waitIn: [2]float64{10, 100}},
		{name: "picked, then closed by its agent: handle time from the dated pick",
			created: 10, reads: []read{{20, q, 10, ""}, {60, p, 50, "ann"}, {700, c, 650, "ann"}},
			arrived: 1, picked: 1, waits: []float64{40}, handles: []float64{600}},
		{name: "picked and closed between two reads: an exit, no handle time",
			created: 10, reads: []read{{20, q, 10, ""}, {900, c, 800, "ann"}},
			arrived: 1, picked: 1, waitIn: [2]float64{10, 790}},
		{name: "reopened into the queue and picked again: the first exit only",
			created: 10, reads: []read{{20, q, 10, ""}, {60, p, 50, "ann"}, {300, c, 250, "ann"}, {400, q, 350, ""}, {500, p, 450, "bob"}},
			arrived: 1, picked: 1, waits: []float64{40}, handles: []float64{200}},
		{name: "queued at the first read, reopened later: its wait from the reopening",
			created: -3600, reads: []read{{0, q, -60, ""}, {30, p, 20, "ann"}},
			picked: 1, waits: []float64{80}},
		{name: "a read twice in one instant, or the same read again: counted once",
			created: 10, reads: []read{{20, p, 15, "ann"}, {20, p, 15, "ann"}, {80, p, 15, "ann"}},
			arrived: 1, picked: 1, waits: []float64{5}},
		{name: "an undocumented channel counts as other",
			created: 10, channel: "pigeon", reads: []read{{20, p, 15, "ann"}},
			arrived: 1, picked: 1, waits: []float64{5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
			sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
			channel := tc.channel
			if channel == "" {
				channel = "whatsapp"
			}
			l := newServiceLog(newModel())
			l.start(t0)
			for _, r := range tc.reads {
				chat := apiclient.Chat{ID: "c1", Channel: channel, CreatedAt: sec(tc.created),
					UpdatedAt: sec(r.updated), Status: r.status, Assignee: r.assignee}
				l.see(observation{fresh: &chat, at: sec(r.at)})
			}
			label := collector.ServiceChannel(channel)
			lv := l.level
			if got := lv.Created[label]; got != tc.arrived {
				t.Errorf("created %d, want %d", got, tc.arrived)
			}
			if got := lv.LeftQueue[collector.ChannelOutcome{Channel: label, Outcome: collector.OutcomePicked}]; got != tc.picked {
				t.Errorf("left picked %d, want %d", got, tc.picked)
			}
			if got := lv.LeftQueue[collector.ChannelOutcome{Channel: label, Outcome: collector.OutcomeClosed}]; got != tc.abandoned {
				t.Errorf("left closed %d, want %d", got, tc.abandoned)
			}
			if tc.waitIn != [2]float64{} {
				w := lv.QueueWait[label]
				if w == nil || w.Count != 1 || w.Sum < tc.waitIn[0] || w.Sum > tc.waitIn[1] {
					t.Errorf("queue wait %+v, want one within %v s", w, tc.waitIn)
				}
			} else {
				checkHistogram(t, "queue wait", lv.QueueWait[label], tc.waits)
			}
			checkHistogram(t, "handle", lv.Handle[label], tc.handles)
		})
	}
}

func checkHistogram(t *testing.T, name string, h *collector.Histogram, want []float64) {
	t.Helper()
	var count uint64
	var sum float64
	if h != nil {
		count, sum = h.Count, h.Sum
	}
	wantSum := 0.0
	for _, v := range want {
		wantSum += v
	}
	if count != uint64(len(want)) || sum != wantSum {
		t.Errorf("%s: %d observations summing to %g s, want %d summing to %g s", name, count, sum, len(want), wantSum)
	}
}

// A state that starts over (after a long outage) sees every chat again as
// new: the log still counts each arrival once. A chat that fell out of the
// lookback and is read again on a page's edge is not new either.
func TestServiceLogCountsAnArrivalOnce(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	l := newServiceLog(newModel())
	l.start(t0)
	chat := apiclient.Chat{ID: "c1", Channel: "sms", CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute), Status: apiclient.StatusQueued}
	l.see(observation{fresh: &chat, at: t0.Add(2 * time.Minute)})
	l.see(observation{old: nil, fresh: &chat, at: t0.Add(3 * time.Minute)})
	if got := l.level.Created["sms"]; got != 1 {
		t.Fatalf("seen twice as new: created %d, want 1", got)
	}
	l.prune(t0.Add(2 * time.Minute)) // the chat is older than the lookback now
	if n := len(l.chats) + len(l.done); n != 0 {
		t.Fatalf("%d chats remembered after the lookback passed them, want 0", n)
	}
	l.see(observation{fresh: &chat, at: t0.Add(30 * time.Hour)})
	if got := l.level.Created["sms"]; got != 1 {
		t.Errorf("a chat older than the lookback read again: created %d, want 1", got)
	}
}

// datePick puts an undated pick where the life tables say it most
// probably was: early in the gap when the queue moves fast and agents
// take long, late when the queue is slow and agents are quick; never
// outside the gap, and later for a larger u.
func TestDatePickFollowsTheLifeTables(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	from, to := t0.Add(20*time.Second), t0.Add(20*time.Minute)
	// The picked table dates a pick before a hold; the handle table one
	// before a close.
	trained := func(queueExit, pickedFor, handledFor float64) *model {
		m := newModel()
		for range 500 {
			m.byStatus[apiclient.StatusQueued].observe(0, queueExit, true)
			m.byStatus[apiclient.StatusPicked].observe(0, pickedFor, true)
			m.handle.observe(0, handledFor, true)
		}
		m.ageTo(t0)
		return m
	}
	for _, tc := range []struct {
		name           string
		m              *model
		change         string
		medianFraction [2]float64 // where the median pick lies, as a fraction of the gap
	}{
		{"fast queue, long until the hold: early", trained(25, 1500, 40), apiclient.StatusOnHold, [2]float64{0, 0.25}},
		{"slow queue, quick hold: late", trained(3000, 40, 1500), apiclient.StatusOnHold, [2]float64{0.75, 1}},
		{"fast queue, long handling: early", trained(25, 40, 1500), apiclient.StatusClosed, [2]float64{0, 0.25}},
		{"slow queue, quick handling: late", trained(3000, 1500, 40), apiclient.StatusClosed, [2]float64{0.75, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var last time.Time
			var picks []time.Time
			for i := range 101 {
				at := tc.m.datePick("sms", tc.change, t0, from, to, float64(i)/101)
				if at.Before(from) || at.After(to) {
					t.Fatalf("u=%.2f: pick at %v, outside the gap [%v, %v]", float64(i)/101, at, from, to)
				}
				if at.Before(last) {
					t.Fatalf("u=%.2f: pick at %v, before the pick of a smaller u (%v)", float64(i)/101, at, last)
				}
				last = at
				picks = append(picks, at)
			}
			median := picks[50].Sub(from).Seconds() / to.Sub(from).Seconds()
			if median < tc.medianFraction[0] || median > tc.medianFraction[1] {
				t.Errorf("median pick at %.2f of the gap, want within %v", median, tc.medianFraction)
			}
		})
	}
}

// Against a simulated tenant over hours of pulls, every chat that arrives
// after the first read and before the last is counted once, and every
// chat that left the queue in between (seen or not seen leave) is counted
// once with its outcome, by the time a read has shown it.
func TestServiceLevelAgainstTheSimulator(t *testing.T) {
	tt := newTestTenant(t, simulator.Config{Seed: 5, History: 3000, ArrivalsPerDay: 3000, QuotaPerDay: 100000})
	r := tt.refresher(Options{FirstPage: 1, Concurrency: 1, MinInterval: 15 * time.Second, QuotaShare: 1, DailyBudget: 100000})
	start := tt.clock.Now()
	var snap collector.Snapshot
	for range 4 * 60 * 4 { // four hours, a pull every 15 s
		var err error
		if snap, err = r.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
		tt.clock.Advance(15 * time.Second)
	}
	if snap.Service == nil {
		t.Fatal("no service level served")
	}
	// The head was read by the last refresh: every arrival until then is
	// on it.
	last := snap.RefreshedAt
	var arrived, picked, abandoned int
	for _, x := range tt.QueueExits(start.Add(-24*time.Hour), last.Add(time.Nanosecond)) {
		if x.Created.After(start) {
			arrived++
		}
		// A chat queued at the start, or arriving after it, that left
		// the queue before the last read; the reads see every exit by
		// then only if they re-read every open chat, so this counts
		// the exits the exporter could have seen at most.
		if !x.Left.After(last) && x.Left.After(start) {
			if x.Abandoned {
				abandoned++
			} else {
				picked++
			}
		}
	}
	var created, left [2]uint64
	for _, n := range snap.Service.Created {
		created[0] += n
	}
	for k, n := range snap.Service.LeftQueue {
		if k.Outcome == collector.OutcomePicked {
			left[0] += n
		} else {
			left[1] += n
		}
	}
	if created[0] != uint64(arrived) {
		t.Errorf("imichat_chats_created_total sums to %d, want the %d chats created after the first read", created[0], arrived)
	}
	// The exits of the last minutes, and of the chats that wait for
	// hours, may not have been read yet; none may be counted twice or
	// invented. (Measured: 503 of 503 picks, 19 of 19 abandonments, 527 of 527
	// arrivals.)
	if left[0] > uint64(picked) || left[0] < uint64(picked)*97/100 {
		t.Errorf("%d picks counted, want at most the %d that happened and not 3 %% fewer", left[0], picked)
	}
	if left[1] > uint64(abandoned) || left[1] < uint64(abandoned)*80/100 {
		t.Errorf("%d abandonments counted, want at most the %d that happened and not 20 %% fewer", left[1], abandoned)
	}
	t.Logf("arrived %d/%d picked %d/%d abandoned %d/%d", created[0], arrived, left[0], picked, left[1], abandoned)
	var answered uint64
	for _, h := range snap.Service.QueueWait {
		answered += h.Count
	}
	if answered != left[0] {
		t.Errorf("the queue-wait histograms hold %d answered chats, imichat_chats_left_queue_total{outcome=\"picked\"} %d", answered, left[0])
	}
}
