package refresh

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// The model's unit tests: what one read teaches it of a chat, its queue
// tables and pace, and the integrals that price a page.

var modelT0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// sec is modelT0 plus s seconds.
func sec(s float64) time.Time { return modelT0.Add(time.Duration(s * float64(time.Second))) }

// knownModel returns a model whose every table has seen so much that its
// hazard is rate in every interval, to within 1e-9: what a test adds to it
// does not move it.
func knownModel(rate float64) *model {
	m := newModel()
	set := func(h *hazard) {
		for i := range hazardEdges {
			h.exposure[i] = 1e12
			h.events[i] = 1e12 * rate
		}
		h.refreshCum()
	}
	for _, h := range m.byStatus {
		set(h)
	}
	for _, h := range m.queues {
		set(h)
	}
	return m
}

// tableDelta is what an observation added to a table: exposure in
// seconds, and the interval an exit was counted in (−1: none).
type tableDelta struct {
	exposure float64
	exit     int
}

func (d tableDelta) String() string { return fmt.Sprintf("%.3f s, exit in %d", d.exposure, d.exit) }

func snapshot(h *hazard) hazard { return *h }

func delta(before hazard, after *hazard) tableDelta {
	d := tableDelta{exit: -1}
	for i := range hazardEdges {
		d.exposure += after.exposure[i] - before.exposure[i]
		if after.events[i] != before.events[i] {
			if d.exit >= 0 || after.events[i]-before.events[i] != 1 {
				d.exit = -2 // more than one exit: wrong whatever was wanted
			} else {
				d.exit = i
			}
		}
	}
	return d
}

func none() tableDelta { return tableDelta{exit: -1} }

// TestModelLearn: what one read of a chat teaches the life tables. A chat
// created at 0 (seconds); the queue time counts from its creation, the
// time in another status from its updated_at; a change between two reads
// is dated by updated_at, clamped to the reads; a chat seen out of the
// queue that was not just picked (on hold, closed by an agent) left it a
// third of the way to its updated_at.
func TestModelLearn(t *testing.T) {
	chat := func(status string, updated float64, assignee string) *apiclient.Chat {
		return &apiclient.Chat{ID: "c", Channel: "sms", Status: status, CreatedAt: sec(0), UpdatedAt: sec(updated), Assignee: assignee}
	}
	read := func(c *apiclient.Chat, at float64) *entry { return &entry{Chat: *c, readAt: sec(at)} }
	for _, tc := range []struct {
		name                  string
		old                   *entry
		fresh                 *apiclient.Chat
		at                    float64
		queue, picked, onhold tableDelta
	}{
		{"first seen queued", nil, chat("queued", 0, ""), 90,
			tableDelta{90, -1}, none(), none()},
		{"first seen picked", nil, chat("picked", 40, "a"), 100,
			tableDelta{40, interval(40)}, tableDelta{60, -1}, none()},
		{"first seen on hold: picked a third of the way", nil, chat("onhold", 90, "a"), 100,
			tableDelta{30, interval(30)}, none(), tableDelta{10, -1}},
		{"first seen abandoned", nil, chat("closed", 50, ""), 100,
			tableDelta{50, interval(50)}, none(), none()},
		{"first seen closed by an agent: a third of the way", nil, chat("closed", 90, "a"), 100,
			tableDelta{30, interval(30)}, none(), none()},
		{"re-read still queued", read(chat("queued", 0, ""), 60), chat("queued", 0, ""), 200,
			tableDelta{140, -1}, none(), none()},
		{"picked between the reads", read(chat("queued", 0, ""), 60), chat("picked", 100, "a"), 200,
			tableDelta{40, interval(100)}, tableDelta{100, -1}, none()},
		// The exit is clamped to the earlier read; the picked episode
		// still counts from updated_at (enteredStatus is not clamped):
		// 170 s where the reads allow 140 at most.
		{"updated_at before the earlier read: at that read", read(chat("queued", 0, ""), 60), chat("picked", 30, "a"), 200,
			tableDelta{0, interval(60)}, tableDelta{170, -1}, none()},
		{"updated_at after the read: at the read", read(chat("queued", 0, ""), 60), chat("picked", 300, "a"), 200,
			tableDelta{140, interval(200)}, tableDelta{0, -1}, none()},
		{"on hold between the reads: picked a third of the way", read(chat("queued", 0, ""), 60), chat("onhold", 150, "a"), 200,
			tableDelta{30, interval(90)}, none(), tableDelta{50, -1}},
		{"re-read still picked", read(chat("picked", 100, "a"), 200), chat("picked", 100, "a"), 400,
			none(), tableDelta{200, -1}, none()},
		{"picked, then on hold", read(chat("picked", 100, "a"), 200), chat("onhold", 250, "a"), 400,
			none(), tableDelta{50, interval(150)}, tableDelta{150, -1}},
		{"picked, then closed", read(chat("picked", 100, "a"), 200), chat("closed", 250, "a"), 400,
			none(), tableDelta{50, interval(150)}, none()},
		{"closed after the read: at the read", read(chat("picked", 100, "a"), 200), chat("closed", 500, "a"), 400,
			none(), tableDelta{200, interval(300)}, none()},
		{"picked again after a hold: a new episode", read(chat("picked", 100, "a"), 200), chat("picked", 300, "a"), 400,
			none(), tableDelta{100 + 100, interval(300 - 100)}, none()},
		{"closed, then picked (reopened and picked)", read(chat("closed", 100, "a"), 200), chat("picked", 300, "a"), 400,
			none(), tableDelta{100, -1}, none()},
		{"no created_at: nothing", nil, &apiclient.Chat{ID: "c", Channel: "sms", Status: "picked", UpdatedAt: sec(10)}, 100,
			none(), none(), none()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel()
			q, sms := m.byStatus[apiclient.StatusQueued], m.queues["sms"]
			p, o := m.byStatus[apiclient.StatusPicked], m.byStatus[apiclient.StatusOnHold]
			qb, sb, pb, ob := snapshot(q), snapshot(sms), snapshot(p), snapshot(o)
			m.learn(observation{old: tc.old, fresh: tc.fresh, at: sec(tc.at)})
			for _, c := range []struct {
				table     string
				got, want tableDelta
			}{
				{"queue (pooled)", delta(qb, q), tc.queue},
				{"queue (channel)", delta(sb, sms), tc.queue},
				{"picked", delta(pb, p), tc.picked},
				{"on hold", delta(ob, o), tc.onhold},
			} {
				if math.Abs(c.got.exposure-c.want.exposure) > 1e-9 || c.got.exit != c.want.exit {
					t.Errorf("%s: %v, want %v", c.table, c.got, c.want)
				}
			}
		})
	}
}

// TestModelQueueTables: each documented channel has its own queue table,
// the pooled one its prior; a chat of a channel teaches its channel's and
// the pooled table, not another channel's; a channel the list brings that
// is not documented uses the pooled table and grows nothing.
func TestModelQueueTables(t *testing.T) {
	m := newModel()
	pooled := m.byStatus[apiclient.StatusQueued]
	for ch, h := range m.queues {
		if h.parent != pooled || h == pooled {
			t.Errorf("%s: its table's prior is not the pooled one", ch)
		}
	}
	tables, paces := len(m.queues), len(m.pace)
	email := &apiclient.Chat{ID: "e", Channel: "email", Status: "picked", CreatedAt: sec(0), UpdatedAt: sec(3000)}
	fax := &apiclient.Chat{ID: "f", Channel: "fax", Status: "picked", CreatedAt: sec(0), UpdatedAt: sec(20)}
	m.learn(observation{fresh: email, at: sec(3600)})
	m.learn(observation{fresh: fax, at: sec(3600)})
	if got := m.queues["email"].evidence(); got != 1 {
		t.Errorf("email table: %g exits, want 1", got)
	}
	if got := pooled.evidence(); got != 2 {
		t.Errorf("pooled table: %g exits, want 2", got)
	}
	if got := m.queues["sms"].evidence(); got != 0 {
		t.Errorf("sms table: %g exits, want none", got)
	}
	if len(m.queues) != tables || len(m.pace) != paces {
		t.Errorf("an undocumented channel grew the model: %d tables, %d paces; want %d, %d", len(m.queues), len(m.pace), tables, paces)
	}
	m.ageTo(sec(3600))
	// The email chat waited 3000 s: its table's rate there is its own
	// exit against its parent's prior; sms, with nothing, is its parent.
	i := interval(3000)
	if got, want := m.queues["sms"].rate(i), pooled.rate(i); got != want {
		t.Errorf("sms rate at 3000 s %g, want the pooled %g", got, want)
	}
	// Email's own: one exit in 3000 − 1920 s of exposure in the interval,
	// with its parent's rate worth parentExposure.
	own := 3000 - hazardEdges[i]
	if got, want := m.queues["email"].rate(i), (1+parentExposure*pooled.rate(i))/(own+parentExposure); !relClose(got, want, 1e-12) {
		t.Errorf("email rate at 3000 s %g, want %g", got, want)
	}
	for _, tc := range []struct {
		status, channel string
		want            *hazard
	}{
		{"queued", "email", m.queues["email"]},
		{"queued", "fax", pooled},
		{"queued", "", pooled},
		{"picked", "email", m.byStatus["picked"]},
		{"onhold", "sms", m.byStatus["onhold"]},
		{"closed", "sms", nil},
	} {
		if got := m.table(tc.status, tc.channel); got != tc.want {
			t.Errorf("table(%q, %q) is not the right one", tc.status, tc.channel)
		}
	}
}

// TestModelPaceFactor: the queue's pace compares the exits seen with those
// the life tables expected: factor = (O_ch + pacePrior × pooled) ÷ (E_ch +
// pacePrior), pooled = (O + pacePrior) ÷ (E + pacePrior). With a table of
// rate 1/60, a chat at risk for 60 s is one expected exit.
func TestModelPaceFactor(t *testing.T) {
	type batch struct {
		channel string
		n, left int     // chats at risk for 60 s, of which left
		from    float64 // seconds in the queue at the start of the 60
	}
	pooled := func(o, e float64) float64 { return (o + pacePrior) / (e + pacePrior) }
	// own is a channel's factor: o seen of e expected on it, the pooled
	// factor its prior.
	own := func(o, e, pooled float64) float64 { return (o + pacePrior*pooled) / (e + pacePrior) }
	for _, tc := range []struct {
		name    string
		batches []batch
		channel string
		want    float64
	}{
		{"nothing seen: 1", nil, "sms", 1},
		{"as expected: 1", []batch{{"sms", 10, 10, 0}}, "sms", 1},
		{"none of 10 expected, 10 min in the queue", []batch{{"sms", 10, 0, 600}}, "sms", own(0, 10, pooled(0, 10))},
		{"none of 10 expected: far below 1", []batch{{"sms", 10, 0, 0}}, "sms", own(0, 10, pooled(0, 10))},
		{"none of 3 expected: below 1", []batch{{"sms", 3, 0, 0}}, "sms", own(0, 3, pooled(0, 3))},
		{"half of 10", []batch{{"sms", 10, 5, 0}}, "sms", own(5, 10, pooled(5, 10))},
		{"twice as many: above 1", []batch{{"sms", 10, 20, 0}}, "sms", own(20, 10, pooled(20, 10))},
		{"a channel with nothing seen: the pooled factor", []batch{{"sms", 10, 0, 0}}, "whatsapp", pooled(0, 10)},
		{"an undocumented channel: the pooled factor", []batch{{"sms", 10, 0, 0}}, "fax", pooled(0, 10)},
		{"little evidence leans on the pooled", []batch{{"sms", 20, 0, 0}, {"email", 1, 1, 0}}, "email",
			own(1, 1, pooled(1, 21))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := knownModel(1.0 / 60)
			for _, b := range tc.batches {
				for k := range max(b.n, b.left) {
					// left > n: more exits than expected, each at risk
					// 60 s × n/left.
					span := 60.0
					if b.left > b.n {
						span = 60 * float64(b.n) / float64(b.left)
					}
					m.sawQueue(b.channel, b.from, b.from+span, k < b.left, modelT0)
				}
			}
			if got := m.factor(tc.channel); !relClose(got, tc.want, 1e-6) {
				t.Errorf("factor(%s) = %.6f, want %.6f", tc.channel, got, tc.want)
			}
		})
	}
}

// TestModelPaceForgets: the comparison decays with paceHalfLife: ten
// chats expected out and none seen, then a half-life later one expected
// and seen, compares 1 seen with 6 expected.
func TestModelPaceForgets(t *testing.T) {
	m := knownModel(1.0 / 60)
	for range 10 {
		m.sawQueue("sms", 0, 60, false, modelT0)
	}
	m.sawQueue("sms", 0, 60, true, modelT0.Add(paceHalfLife))
	pooled := (1 + pacePrior) / (6 + pacePrior)
	if got, want := m.factor("sms"), (1+pacePrior*pooled)/(6+pacePrior); !relClose(got, want, 1e-6) {
		t.Errorf("factor %.6f, want %.6f", got, want)
	}
}

// TestModelStillQueued: the probability that a chat read queued at age a
// is still queued at age b is e^(−factor × (H(b) − H(a))).
func TestModelStillQueued(t *testing.T) {
	const rate = 1.0 / 60
	for _, tc := range []struct {
		name     string
		expected float64 // exits expected and not seen, pooled
		from, to float64
	}{
		{"a minute at pace", 0, 30, 90},
		{"an hour in, a minute later", 0, 3600, 3660},
		{"slow queue", 8, 30, 90},
		{"no time", 0, 90, 90},
		{"back in time", 0, 90, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := knownModel(rate)
			m.pace[""].expected = tc.expected
			k := (0 + pacePrior) / (tc.expected + pacePrior)
			want := 1.0
			if tc.to > tc.from {
				want = math.Exp(-k * rate * (tc.to - tc.from))
			}
			if got := m.queueCurve("sms").stillQueued(tc.from, tc.to); !relClose(got, want, 1e-6) {
				t.Errorf("still queued %.9f, want %.9f", got, want)
			}
		})
	}
}

// integral is ∫ f over [0, span] by the midpoint rule with n steps.
func integral(f func(float64) float64, span float64, n int) float64 {
	dt := span / float64(n)
	sum := 0.0
	for i := range n {
		sum += f((float64(i) + 0.5) * dt)
	}
	return sum * dt
}

// midpointBound bounds the error of the midpoint rule with n steps over
// [0, span]: the sum over its cells of dt³ ÷ 24 × the largest |f”| in the
// cell, which f2max gives from the cell's lower end.
func midpointBound(span float64, n int, f2max func(lo float64) float64) float64 {
	dt := span / float64(n)
	sum := 0.0
	for j := range n {
		sum += f2max(float64(j)*dt) * dt * dt * dt / 24
	}
	return sum
}

// TestModelChangedArea: the worth of re-reading a chat is ∫ P(left by s)
// ds from its read to now, P(left) = 1 − e^(−k (H(from + s) − H(from))),
// compared with a fine numerical integral (and, for a constant hazard,
// with its closed form). changedArea takes areaSteps midpoints; the
// tolerance is the midpoint rule's error bound: |f”| = (k r)² e^(−k ΔH)
// is largest at a cell's lower end, and where the hazard jumps f' jumps by
// J = k |Δr| e^(−k ΔH) ≤ k |Δr|, which costs at most J dt² ÷ 8.
func TestModelChangedArea(t *testing.T) {
	const fast, slow = 1.0 / 30, 1.0 / 600
	for _, tc := range []struct {
		name       string
		status     string
		twoPhase   bool    // fast below 120 s in status, slow after; else fast
		expected   float64 // pooled exits expected and not seen: the pace
		read, span float64 // the read, seconds in status; seconds since
	}{
		{"queued, 30 s", "queued", false, 0, 10, 30},
		{"queued, 2 min", "queued", false, 0, 10, 120},
		{"queued, 10 min", "queued", false, 0, 10, 600},
		{"queued, slow pace", "queued", false, 8, 10, 120},
		{"picked, 2 min", "picked", false, 0, 100, 120},
		{"queued, across the break", "queued", true, 0, 60, 300},
		{"on hold, across the break", "onhold", true, 0, 100, 60},
		{"closed: never", "closed", false, 0, 10, 120},
		{"read now: nothing yet", "queued", false, 0, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := knownModel(fast)
			if tc.twoPhase {
				for _, h := range append([]*hazard{m.byStatus["picked"], m.byStatus["onhold"], m.byStatus["queued"]}, m.queues["sms"]) {
					for i := range hazardEdges {
						if hazardEdges[i] >= 120 {
							h.events[i] = h.exposure[i] * slow
						}
					}
					h.refreshCum()
				}
			}
			m.pace[""].expected = tc.expected
			k := 1.0
			if tc.status == "queued" {
				k = pacePrior / (tc.expected + pacePrior)
			}
			H := func(t float64) float64 {
				if !tc.twoPhase || t <= 120 {
					return fast * t
				}
				return fast*120 + slow*(t-120)
			}
			c := &entry{Chat: apiclient.Chat{ID: "c", Status: tc.status, Channel: "sms", CreatedAt: sec(0), UpdatedAt: sec(0)}, readAt: sec(tc.read)}
			got := m.changedArea(c, sec(tc.read+tc.span))
			want, tol := 0.0, 0.0
			if tc.status != "closed" && tc.span > 0 {
				want = integral(func(s float64) float64 {
					return -math.Expm1(-k * (H(tc.read+s) - H(tc.read)))
				}, tc.span, 1e5)
				dt := tc.span / areaSteps
				tol = midpointBound(tc.span, areaSteps, func(lo float64) float64 {
					return math.Pow(k*fast, 2) * math.Exp(-k*(H(tc.read+lo)-H(tc.read)))
				})
				if tc.twoPhase {
					tol += k * (fast - slow) * math.Exp(-k*(H(120)-H(tc.read))) * dt * dt / 8
				}
				tol += 1e-6 * want // the tables' rates, to 1e-9, and the reference's steps
			}
			if math.Abs(got-want) > tol {
				t.Errorf("area %.6f chat-seconds, want %.6f ± %.6f", got, want, tol)
			}
			if !tc.twoPhase && tc.span > 0 && tc.status != "closed" {
				// The closed form of the same integral.
				a := k * fast
				if exact := tc.span + math.Expm1(-a*tc.span)/a; math.Abs(exact-want) > 1e-6*exact {
					t.Fatalf("reference %.9f, closed form %.9f", want, exact)
				}
			}
		})
	}
}

// TestModelArrivals: the arrival rate is the new chats seen over the time
// they span, both decayed by arrivalHalfLife.
func TestModelArrivals(t *testing.T) {
	type seen struct {
		n    int
		over time.Duration
		at   time.Duration // after modelT0
	}
	for _, tc := range []struct {
		name string
		seen []seen
		want float64 // per second
	}{
		{"nothing seen", nil, 0},
		{"60 in an hour", []seen{{60, time.Hour, 0}}, 60.0 / 3600},
		{"two reads", []seen{{10, 10 * time.Minute, 0}, {20, 20 * time.Minute, 0}}, 30.0 / 1800},
		{"an hour later, none in the next hour", []seen{{60, time.Hour, 0}, {0, time.Hour, time.Hour}}, 30.0 / (1800 + 3600)},
		{"no time spanned: ignored", []seen{{60, time.Hour, 0}, {50, 0, time.Minute}}, 60.0 / 3600 / 1},
		{"under a second spanned: no rate", []seen{{5, 500 * time.Millisecond, 0}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel()
			for _, s := range tc.seen {
				m.sawArrivals(s.n, s.over, modelT0.Add(s.at))
			}
			if got := m.arrivalRate(); !relClose(got, tc.want, 1e-12) {
				t.Errorf("rate %.9g/s, want %.9g/s", got, tc.want)
			}
		})
	}
}

// TestModelNewChatArea: the error that chats arriving over the last span
// and not yet read have added is λ ∫₀ᵀ (queued S(a) + other (1 − S(a)))
// (T − a) da, S the pooled queue survival; areaSteps midpoints, within the
// midpoint rule's bound: g” = (queued − other) r S(a) (r (T − a) + 2),
// largest at a cell's lower end.
func TestModelNewChatArea(t *testing.T) {
	const rate = 1.0 / 60
	for _, span := range []time.Duration{30 * time.Second, 2 * time.Minute, 10 * time.Minute} {
		m := knownModel(rate)
		m.sawArrivals(90, time.Hour, modelT0) // λ = 1/40 s
		lambda := 90.0 / 3600
		const queued, other = 1.0, 0.01
		T := span.Seconds()
		got := m.newChatArea(span, queued, other)
		want := lambda * integral(func(a float64) float64 {
			s := math.Exp(-rate * a)
			return (queued*s + other*(1-s)) * (T - a)
		}, T, 1e5)
		tol := lambda*midpointBound(T, areaSteps, func(lo float64) float64 {
			return (queued - other) * rate * math.Exp(-rate*lo) * (rate*(T-lo) + 2)
		}) + 1e-6*want
		if math.Abs(got-want) > tol {
			t.Errorf("%v: area %.6f, want %.6f ± %.6f", span, got, want, tol)
		}
	}
}

// TestModelReopenedIntoTheQueue: a chat closed and reopened into the queue
// keeps its created_at; its queue time counts from the reopening, which
// its updated_at dates, not from its creation two days before: the queue
// tables learn the same from it as from a new chat, and its page is worth
// the same.
func TestModelReopenedIntoTheQueue(t *testing.T) {
	const created, closed, reopened = -2 * 86400.0, -86400.0, 1000.0
	chat := func(status string, updated float64, assignee string) *apiclient.Chat {
		return &apiclient.Chat{ID: "c", Channel: "sms", Status: status, CreatedAt: sec(created), UpdatedAt: sec(updated), Assignee: assignee}
	}
	read := func(c *apiclient.Chat, at float64) *entry { return &entry{Chat: *c, readAt: sec(at)} }
	for _, tc := range []struct {
		name          string
		old           *entry
		fresh         *apiclient.Chat
		at            float64
		queue, picked tableDelta
	}{
		{"seen closed, then queued", read(chat("closed", closed, "a"), 0), chat("queued", reopened, ""), reopened + 30,
			tableDelta{30, -1}, none()},
		{"first seen queued after its reopening", nil, chat("queued", reopened, ""), reopened + 30,
			tableDelta{30, -1}, none()},
		{"re-read still queued", read(chat("queued", reopened, ""), reopened+30), chat("queued", reopened, ""), reopened + 90,
			tableDelta{60, -1}, none()},
		{"an updated_at before the creation is not plausible: from the creation", nil,
			&apiclient.Chat{ID: "c", Channel: "sms", Status: "queued", CreatedAt: sec(reopened), UpdatedAt: sec(reopened - 50)}, reopened + 30,
			tableDelta{30, -1}, none()},
		{"picked between the reads", read(chat("queued", reopened, ""), reopened+30), chat("picked", reopened+100, "a"), reopened + 150,
			tableDelta{70, interval(100)}, tableDelta{50, -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel()
			q, p := m.byStatus[apiclient.StatusQueued], m.byStatus[apiclient.StatusPicked]
			qb, pb := snapshot(q), snapshot(p)
			m.learn(observation{old: tc.old, fresh: tc.fresh, at: sec(tc.at)})
			if got := delta(qb, q); math.Abs(got.exposure-tc.queue.exposure) > 1e-9 || got.exit != tc.queue.exit {
				t.Errorf("queue: %v, want %v", got, tc.queue)
			}
			if got := delta(pb, p); math.Abs(got.exposure-tc.picked.exposure) > 1e-9 || got.exit != tc.picked.exit {
				t.Errorf("picked: %v, want %v", got, tc.picked)
			}
			// Every row is within 2 minutes of the reopening.
			for i := interval(120); i < len(hazardEdges); i++ {
				if d := q.exposure[i] - qb.exposure[i]; d != 0 {
					t.Errorf("queue: %g s of exposure from %g s in the queue on", d, hazardEdges[i])
				}
			}
		})
	}
	// Its worth: that of a chat created at its reopening, read as long
	// after. The queue is fast for its first 2 minutes, slow after.
	m := knownModel(1.0 / 30)
	for _, h := range []*hazard{m.byStatus["queued"], m.queues["sms"]} {
		for i := interval(120); i < len(hazardEdges); i++ {
			h.events[i] = h.exposure[i] / 600
		}
		h.refreshCum()
	}
	again := &entry{Chat: *chat("queued", reopened, ""), readAt: sec(reopened + 30)}
	fresh := &entry{Chat: apiclient.Chat{ID: "n", Channel: "sms", Status: "queued", CreatedAt: sec(reopened), UpdatedAt: sec(reopened)}, readAt: sec(reopened + 30)}
	now := sec(reopened + 120)
	if got, want := m.changedArea(again, now), m.changedArea(fresh, now); !relClose(got, want, 1e-12) {
		t.Errorf("worth of the reopened chat %.6f chat-seconds, want a new chat's %.6f", got, want)
	}
}
