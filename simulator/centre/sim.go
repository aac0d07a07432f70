package centre

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

// transition is a chat entering a status at an instant (Unix ns).
type transition struct {
	at     int64
	status uint8
	agent  int32 // -1: none
}

// chat is one chat and its whole history; trans[0] is its creation, queued.
type chat struct {
	id      string
	created int64
	channel uint8
	asset   uint8
	trans   []transition
}

// state is the chat's last transition at or before t (t ≥ created).
func (c *chat) state(t int64) transition {
	tr := c.trans
	if len(tr) == 1 || tr[1].at > t {
		return tr[0]
	}
	i := sort.Search(len(tr), func(i int) bool { return tr[i].at > t })
	return tr[i-1]
}

// Centre is a simulated contact centre: every chat's history over the
// simulated span. It is read-only once built and safe for concurrent use.
type Centre struct {
	cfg      Config
	chats    []chat // by (created, index) ascending; the wire order is the reverse
	agents   []string
	shifts   []agentShift // by agent
	channels []string
	byID     map[string]int32
	changes  []change // queue entries and exits, by time
	stats    Stats
}

// agentShift is an agent's team (its index in Config.Teams) and shift.
type agentShift struct {
	team  int
	shift Shift
}

// change is a chat entering (enter) or leaving the queue.
type change struct {
	at    int64
	chat  int32
	enter bool
}

// event kinds of the simulation.
const (
	evArrive uint8 = iota
	evAbandon
	evHold
	evUnhold
	evDone
	evReopen
	evShiftOn
	evShiftOff
	evWake
)

type event struct {
	at   int64
	seq  uint64
	kind uint8
	a, b int32
}

type events []event

func (h events) Len() int { return len(h) }
func (h events) Less(i, j int) bool {
	return h[i].at < h[j].at || (h[i].at == h[j].at && h[i].seq < h[j].seq)
}
func (h events) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *events) Push(x any)   { *h = append(*h, x.(event)) }
func (h *events) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// simChat is what the simulation keeps of a chat while it runs.
type simChat struct {
	queueSeq int32 // bumped at each queue entry
	rest     int64 // handling left after a hold
	reopened bool
}

type simAgent struct {
	team int
	load int
	on   bool
}

type simTeam struct {
	conc   int
	chans  []int
	agents []int
	free   int // free slots of the agents on shift
}

type queueEntry struct {
	enq  int64
	chat int32
	seq  int32
}

// sim is one run of the simulation.
type sim struct {
	cfg    Config
	rng    *rand.Rand
	ev     events
	seq    uint64
	chats  []chat
	sc     []simChat
	agents []simAgent
	teams  []simTeam
	queues [][]queueEntry // per channel, by queue entry
	heads  []int
	stalls []Window
	stats  Stats
}

const ms = int64(time.Millisecond)

// New simulates the centre over cfg.Days days from cfg.Start.
func New(cfg Config) *Centre {
	if cfg.Days <= 0 {
		cfg.Days = 3
	}
	if len(cfg.Channels) == 0 || len(cfg.Teams) == 0 {
		panic("centre: Config.Channels and Config.Teams are required")
	}
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xce17e)), stalls: cfg.Stalls}
	c := &Centre{cfg: cfg, byID: map[string]int32{}}
	chanIndex := map[string]int{}
	for i, ch := range cfg.Channels {
		c.channels = append(c.channels, ch.Name)
		chanIndex[ch.Name] = i
	}
	s.queues = make([][]queueEntry, len(cfg.Channels))
	s.heads = make([]int, len(cfg.Channels))

	s.history()
	arrivals := s.arrivals(chanIndex)
	for _, a := range arrivals {
		s.push(a.at, evArrive, a.chat, 0)
	}
	// Agents: every shift has agents of its own, on every day.
	for ti, t := range cfg.Teams {
		st := simTeam{conc: max(t.Concurrency, 1)}
		if t.Channels == nil {
			for i := range cfg.Channels {
				st.chans = append(st.chans, i)
			}
		}
		for _, name := range t.Channels {
			i, ok := chanIndex[name]
			if !ok {
				panic("centre: team " + t.Name + " serves an unknown channel " + name)
			}
			st.chans = append(st.chans, i)
		}
		for si, sh := range t.Shifts {
			for k := range sh.Agents {
				ai := int32(len(s.agents))
				s.agents = append(s.agents, simAgent{team: ti})
				c.shifts = append(c.shifts, agentShift{team: ti, shift: sh})
				c.agents = append(c.agents, fmt.Sprintf("%s.%d.%d@centre.example", strings.ToLower(t.Name), si+1, k+1))
				st.agents = append(st.agents, int(ai))
				for d := range cfg.Days {
					day := cfg.Start.Add(time.Duration(d) * 24 * time.Hour).UnixNano()
					s.push(day+int64(sh.From), evShiftOn, ai, 0)
					s.push(day+int64(sh.To), evShiftOff, ai, 0)
				}
			}
		}
		s.teams = append(s.teams, st)
	}
	for _, w := range cfg.Stalls {
		s.push(w.To.UnixNano(), evWake, 0, 0)
	}
	s.run()

	c.chats, c.stats = s.chats, s.stats
	for i := range c.chats {
		c.byID[c.chats[i].id] = int32(i)
		prev := uint8(255)
		for _, tr := range c.chats[i].trans {
			switch {
			case tr.status == stQueued && prev != stQueued:
				c.changes = append(c.changes, change{at: tr.at, chat: int32(i), enter: true})
			case tr.status != stQueued && prev == stQueued:
				c.changes = append(c.changes, change{at: tr.at, chat: int32(i)})
			}
			prev = tr.status
		}
	}
	slices.SortStableFunc(c.changes, func(a, b change) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	return c
}

func (s *sim) push(at int64, kind uint8, a, b int32) {
	s.seq++
	heap.Push(&s.ev, event{at: at - at%ms, seq: s.seq, kind: kind, a: a, b: b})
}

// chatID is a 24-hex-digit id, unique per seed and index.
func chatID(seed int64, i int) string {
	return fmt.Sprintf("%024x", splitmix(uint64(seed)^0xc3a7, uint64(i)))[:24]
}

func splitmix(a, b uint64) uint64 {
	z := a + b*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// history adds cfg.History closed chats created in the week before Start.
func (s *sim) history() {
	start := s.cfg.Start.UnixNano()
	week := int64(7 * 24 * time.Hour)
	times := make([]int64, s.cfg.History)
	for i := range times {
		t := start - week + s.rng.Int64N(week-int64(time.Hour))
		times[i] = t - t%ms
	}
	slices.Sort(times)
	for _, t := range times {
		ch := s.pickChannel()
		s.chats = append(s.chats, chat{id: chatID(s.cfg.Seed, len(s.chats)), created: t, channel: ch,
			asset: uint8(s.rng.IntN(2)), trans: []transition{
				{at: t, status: stQueued, agent: -1},
				{at: t + 30*int64(time.Second), status: stPicked, agent: -1},
				{at: t + 10*int64(time.Minute), status: stClosed, agent: -1},
			}})
	}
	s.sc = make([]simChat, len(s.chats))
}

func (s *sim) pickChannel() uint8 {
	total := 0.0
	for _, ch := range s.cfg.Channels {
		total += ch.Share
	}
	x := s.rng.Float64() * total
	for i, ch := range s.cfg.Channels {
		if x < ch.Share {
			return uint8(i)
		}
		x -= ch.Share
	}
	return uint8(len(s.cfg.Channels) - 1)
}

type arrival struct {
	at   int64
	chat int32
}

// arrivals creates every chat arriving over the span, in time order: a
// Poisson process whose rate is constant within each hour, and the
// campaigns.
func (s *sim) arrivals(chanIndex map[string]int) []arrival {
	profile := s.cfg.Profile
	mean := 1.0
	if profile != nil {
		mean = 0
		for _, p := range profile {
			mean += p
		}
		mean /= float64(len(profile))
	}
	type born struct {
		at int64
		ch int
	}
	var all []born
	start := s.cfg.Start.UnixNano()
	end := start + int64(s.cfg.Days)*int64(24*time.Hour)
	hour := int64(time.Hour)
	for t := start; t < end; {
		hourEnd := t - (t-start)%hour + hour
		rate := s.cfg.ArrivalsPerDay / 24 / 3600 // per second
		if profile != nil {
			rate *= profile[int(((t-start)/hour)%24)%len(profile)] / mean
		}
		if rate <= 0 {
			t = hourEnd
			continue
		}
		next := t + int64(s.rng.ExpFloat64()/rate*1e9)
		if next >= hourEnd {
			t = hourEnd // memoryless: start afresh at the boundary
			continue
		}
		t = next
		all = append(all, born{at: t - t%ms, ch: -1})
	}
	for _, c := range s.cfg.Campaigns {
		ch := -1
		if c.Channel != "" {
			i, ok := chanIndex[c.Channel]
			if !ok {
				panic("centre: campaign on an unknown channel " + c.Channel)
			}
			ch = i
		}
		for range c.Chats {
			t := c.At.UnixNano() + s.rng.Int64N(max(int64(c.For), 1))
			all = append(all, born{at: t - t%ms, ch: ch})
		}
	}
	slices.SortStableFunc(all, func(a, b born) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	out := make([]arrival, len(all))
	for i, b := range all {
		ch := uint8(b.ch)
		if b.ch < 0 {
			ch = s.pickChannel()
		}
		idx := int32(len(s.chats))
		s.chats = append(s.chats, chat{id: chatID(s.cfg.Seed, int(idx)), created: b.at, channel: ch,
			asset: uint8(s.rng.IntN(2)), trans: make([]transition, 0, 4)})
		s.sc = append(s.sc, simChat{})
		out[i] = arrival{at: b.at, chat: idx}
	}
	return out
}

func (s *sim) exp(mean time.Duration) int64 {
	return int64(s.rng.ExpFloat64() * float64(mean))
}

// logNormal has the given mean and a shape of 0.8.
func (s *sim) logNormal(mean time.Duration) int64 {
	const sigma = 0.8
	return int64(float64(mean) * math.Exp(sigma*s.rng.NormFloat64()-sigma*sigma/2))
}

func (s *sim) set(c int32, at int64, status uint8, agent int32) {
	s.chats[c].trans = append(s.chats[c].trans, transition{at: at, status: status, agent: agent})
}

func (s *sim) enqueue(c int32, now int64) {
	s.set(c, now, stQueued, -1)
	sc := &s.sc[c]
	sc.queueSeq++
	ch := s.chats[c].channel
	s.queues[ch] = append(s.queues[ch], queueEntry{enq: now, chat: c, seq: sc.queueSeq})
	if p := s.cfg.Channels[ch].Patience; p > 0 {
		s.push(now+max(s.exp(p), ms), evAbandon, c, sc.queueSeq)
	}
}

func (s *sim) status(c int32) uint8 {
	tr := s.chats[c].trans
	return tr[len(tr)-1].status
}

func (s *sim) run() {
	for s.ev.Len() > 0 {
		e := heap.Pop(&s.ev).(event)
		now := e.at
		switch e.kind {
		case evArrive:
			s.stats.Arrived++
			s.enqueue(e.a, now)
		case evAbandon:
			if s.status(e.a) == stQueued && s.sc[e.a].queueSeq == e.b {
				s.set(e.a, now, stClosed, -1)
				s.stats.Abandoned++
			}
			continue // frees no agent, queues nothing
		case evHold:
			tr := s.chats[e.a].trans
			s.set(e.a, now, stOnHold, tr[len(tr)-1].agent)
			s.stats.Holds++
			s.push(now+max(s.exp(s.cfg.Channels[s.chats[e.a].channel].Hold), ms), evUnhold, e.a, 0)
			continue
		case evUnhold:
			tr := s.chats[e.a].trans
			s.set(e.a, now, stPicked, tr[len(tr)-1].agent)
			s.push(now+max(s.sc[e.a].rest, ms), evDone, e.a, 0)
			continue
		case evDone:
			tr := s.chats[e.a].trans
			ag := tr[len(tr)-1].agent
			s.set(e.a, now, stClosed, ag)
			s.stats.Handled++
			a := &s.agents[ag]
			a.load--
			if a.on {
				s.teams[a.team].free++
			}
			ch := s.cfg.Channels[s.chats[e.a].channel]
			if !s.sc[e.a].reopened && ch.Reopen > 0 && s.rng.Float64() < ch.Reopen {
				s.push(now+max(s.exp(ch.ReopenAfter), ms), evReopen, e.a, 0)
			}
		case evReopen:
			s.sc[e.a].reopened = true
			s.stats.Reopened++
			s.enqueue(e.a, now)
		case evShiftOn:
			a := &s.agents[e.a]
			if !a.on {
				a.on = true
				s.teams[a.team].free += s.teams[a.team].conc - a.load
			}
		case evShiftOff:
			a := &s.agents[e.a]
			if a.on {
				a.on = false
				s.teams[a.team].free -= s.teams[a.team].conc - a.load
			}
			continue
		case evWake:
		}
		s.dispatch(now)
	}
}

func (s *sim) stalled(now int64) bool {
	for _, w := range s.stalls {
		if now >= w.From.UnixNano() && now < w.To.UnixNano() {
			return true
		}
	}
	return false
}

// head is the longest-waiting chat still queued on a channel.
func (s *sim) head(ch int) (queueEntry, bool) {
	q := s.queues[ch]
	for s.heads[ch] < len(q) {
		e := q[s.heads[ch]]
		if s.status(e.chat) == stQueued && s.sc[e.chat].queueSeq == e.seq {
			return e, true
		}
		s.heads[ch]++
	}
	if s.heads[ch] > 0 && s.heads[ch] == len(q) {
		s.queues[ch], s.heads[ch] = q[:0], 0
	}
	return queueEntry{}, false
}

// dispatch has the agents with a free slot pick the longest-waiting chats
// they serve, one at a time, the least loaded agent of a team first.
func (s *sim) dispatch(now int64) {
	if s.stalled(now) {
		return
	}
	for {
		best, bestTeam, bestCh := queueEntry{}, -1, -1
		for ti := range s.teams {
			t := &s.teams[ti]
			if t.free <= 0 {
				continue
			}
			for _, ch := range t.chans {
				e, ok := s.head(ch)
				if ok && (bestTeam < 0 || e.enq < best.enq || (e.enq == best.enq && e.chat < best.chat)) {
					best, bestTeam, bestCh = e, ti, ch
				}
			}
		}
		if bestTeam < 0 {
			return
		}
		t := &s.teams[bestTeam]
		ag := -1
		for _, ai := range t.agents {
			a := &s.agents[ai]
			if a.on && a.load < t.conc && (ag < 0 || a.load < s.agents[ag].load) {
				ag = ai
			}
		}
		s.heads[bestCh]++
		s.agents[ag].load++
		t.free--
		s.pick(best.chat, int32(ag), now)
	}
}

func (s *sim) pick(c int32, agent int32, now int64) {
	s.set(c, now, stPicked, agent)
	s.stats.Picked++
	ch := s.cfg.Channels[s.chats[c].channel]
	handle := max(s.logNormal(ch.Handle), ms)
	if ch.HoldShare > 0 && s.rng.Float64() < ch.HoldShare {
		before := int64(s.rng.Float64() * float64(handle))
		s.sc[c].rest = handle - before
		s.push(now+max(before, ms), evHold, c, 0)
		return
	}
	s.push(now+handle, evDone, c, 0)
}
