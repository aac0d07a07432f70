package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// channels in the spec's order, with the share of traffic each gets.
var channels = [...]struct {
	name   string
	weight float64
}{
	{"sms", 0.10}, {"facebook", 0.12}, {"twitter", 0.06}, {"livechat", 0.25},
	{"email", 0.15}, {"abc", 0.05}, {"whatsapp", 0.20}, {"api", 0.07},
}

var (
	tagSet  = [...]string{"vip", "billing", "complaint", "sales", "returns"}
	flagSet = [...]string{"urgent", "follow-up", "escalated", "spam"}
)

const (
	never  = int64(math.MaxInt64)
	minute = int64(time.Minute)
	hour   = int64(time.Hour)
	day    = int64(24 * time.Hour)
)

// rec is one chat of the population. A generated chat (gen) derives its
// status, updated_at and assignee from its schedule and the clock; a fixed
// chat (Add/Replace/SetStatus) carries them as given.
type rec struct {
	created int64 // unix ns, already truncated to digits
	seq     uint64
	digits  int8 // fractional digits on the wire
	gen     bool

	id, alias          string
	channel, chLower   string
	assetID, assetName string
	customer, dest     string
	flag               string
	tags               []string
	extraKey, extraVal string // an unknown field (subject, thread_id) the client must ignore

	// generated lifecycle: queued until picked, onhold in [holdStart,
	// holdEnd), closed from closed on. picked == closed means abandoned.
	picked, holdStart, holdEnd, closed int64
	agent                              string

	// fixed state
	status, assignee string
	updated          int64
	raw              []byte

	// wire is the chat's rendered JSON without updated_at, status and
	// assignee, cut where they go; built lazily by renderStatic.
	wire []byte
	cut  [2]int32
}

// state is a pure function of now: the tenant evolves without a ticker.
func (r *rec) state(now int64) (status string, updated int64, assignee string) {
	if !r.gen {
		return r.status, r.updated, r.assignee
	}
	switch {
	case now < r.picked:
		return "queued", r.created, ""
	case now >= r.closed:
		if r.picked == r.closed {
			return "closed", r.closed, "" // abandoned while queued
		}
		return "closed", r.closed, r.agent
	case r.holdEnd > 0 && now >= r.holdEnd:
		return "picked", r.holdEnd, r.agent
	case r.holdStart > 0 && now >= r.holdStart:
		return "onhold", r.holdStart, r.agent
	default:
		return "picked", r.picked, r.agent
	}
}

func (r *rec) chat(now int64) Chat {
	st, upd, asg := r.state(now)
	c := Chat{
		ID: r.id, AliasID: r.alias,
		CreatedAt: time.Unix(0, r.created).UTC(), UpdatedAt: time.Unix(0, upd).UTC(),
		Status: st, Channel: r.channel, AssetID: r.assetID, AssetName: r.assetName,
		CustomerID: r.customer, DestinationID: r.dest, Assignee: asg, Flag: r.flag,
	}
	if r.tags != nil {
		c.Tags = append([]string{}, r.tags...)
	}
	if r.raw != nil {
		c.Raw = append([]byte(nil), r.raw...)
	}
	return c
}

type asset struct {
	channel   int
	id, name  string
	cumWeight float64
}

// generator derives every chat from (seed, key) alone, so history and lazily
// generated arrivals are the same whatever order or step the clock takes.
type generator struct {
	seed    uint64
	agents  []string
	assets  []asset
	meanGap float64          // ns between chats (between candidates with a profile)
	flatGap float64          // ns between history chats: the day's mean rate
	profile []float64        // per hour of the day, relative to the peak (≤ 1); nil: flat
	zone    *time.Location   // whose hours the profile follows
	waits   map[string]int64 // mean queue wait by channel, ns; nil: the default mix
	arrRng  *rand.Rand
	pcg     *rand.PCG
	rng     *rand.Rand
}

func newGenerator(cfg Config) generator {
	g := generator{seed: uint64(cfg.Seed), zone: time.UTC}
	if cfg.Zone != nil {
		g.zone = cfg.Zone
	}
	g.pcg = rand.NewPCG(0, 0)
	g.rng = rand.New(g.pcg)
	g.arrRng = rand.New(rand.NewPCG(g.seed, 0xa771a1))
	perDay := cfg.ArrivalsPerDay
	if perDay <= 0 {
		perDay = 3000 // history density when the tenant gets no new chats
	}
	g.meanGap = float64(day) / perDay
	if cfg.QueueWaits != nil {
		g.waits = map[string]int64{}
		for ch, d := range cfg.QueueWaits {
			g.waits[ch] = int64(d)
		}
	}
	g.flatGap = g.meanGap
	if len(cfg.Profile) == 24 {
		// Thinning: candidates come at the peak rate, and each is kept
		// with its hour's share of the peak.
		var sum, peak float64
		for _, w := range cfg.Profile {
			sum, peak = sum+w, max(peak, w)
		}
		if sum > 0 {
			g.profile = make([]float64, 24)
			for h, w := range cfg.Profile {
				g.profile[h] = w / peak
			}
			g.meanGap = float64(day) / (perDay * peak * 24 / sum)
		}
	}
	for i := 1; i <= cfg.Agents; i++ {
		g.agents = append(g.agents, fmt.Sprintf("agent%03d@example.test", i))
	}
	ar := rand.New(rand.NewPCG(g.seed, 0xa55e7))
	perChannel := make([]int, len(channels))
	for i := 0; i < cfg.Assets; i++ {
		ch := i % len(channels)
		perChannel[ch]++
		g.assets = append(g.assets, makeAsset(ar, ch, perChannel[ch]))
	}
	// A chat picks an asset with its channel's weight shared among the
	// channel's assets.
	cum := 0.0
	for i := range g.assets {
		ch := g.assets[i].channel
		cum += channels[ch].weight / float64(perChannel[ch])
		g.assets[i].cumWeight = cum
	}
	return g
}

func digits(r *rand.Rand, first string, n int) string {
	b := []byte(first)
	for len(b) < n {
		b = append(b, byte('0'+r.IntN(10)))
	}
	return string(b)
}

// makeAsset gives each channel the kind of id the spec lists: numbers for
// SMS long codes and Facebook/Twitter ids (some Twitter ids exceed 2^53, as
// real snowflake ids do), addresses and service keys for the rest.
func makeAsset(r *rand.Rand, ch, n int) asset {
	a := asset{channel: ch}
	switch channels[ch].name {
	case "sms":
		a.id, a.name = digits(r, "49151", 13), fmt.Sprintf("SMS Support DE %d", n)
	case "facebook":
		a.id, a.name = digits(r, "10", 15), fmt.Sprintf("Facebook Page %d", n)
	case "twitter":
		if n%2 == 1 {
			a.id = digits(r, "1", 19)
		} else {
			a.id = digits(r, "7", 9)
		}
		a.name = fmt.Sprintf("@brand_care_%d", n)
	case "livechat":
		a.id, a.name = fmt.Sprintf("%016x%08x", r.Uint64(), r.Uint32()), fmt.Sprintf("Website chat %d", n)
	case "email":
		a.id, a.name = fmt.Sprintf("support%d@brand.example", n), fmt.Sprintf("Support mailbox %d", n)
	case "abc":
		a.id, a.name = uuid(r), fmt.Sprintf("Apple Business Chat %d", n)
	case "whatsapp":
		a.id, a.name = uuid(r), fmt.Sprintf("WhatsApp Business %d", n)
	case "api":
		a.id, a.name = fmt.Sprintf("svc_%016x", r.Uint64()), fmt.Sprintf("API integration %d", n)
	}
	return a
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// Keys of the three namespaces of generated chats.
func historyKey(i int) uint64         { return 1<<62 | uint64(i) }
func arrivalKey(i uint64) uint64      { return i }
func faultArrivalKey(i uint64) uint64 { return 2<<62 | i }

// accept tells whether a candidate arrival at ns is kept (always, without
// a profile).
func (g *generator) accept(ns int64) bool {
	if g.profile == nil {
		return true
	}
	return g.arrRng.Float64() < g.profile[time.Unix(0, ns).In(g.zone).Hour()]
}

func (g *generator) arrivalGap() int64 {
	return 1 + int64(g.arrRng.ExpFloat64()*g.meanGap)
}

// history generates n chats created before start, Poisson-spaced backwards
// at the arrival rate, sorted oldest first.
func (g *generator) history(n int, start int64) []*rec {
	hr := rand.New(rand.NewPCG(g.seed, 0x415709))
	recs := make([]*rec, n)
	t := start
	for i := 0; i < n; i++ {
		t -= 1 + int64(hr.ExpFloat64()*g.flatGap)
		recs[n-1-i] = g.chat(historyKey(i), t)
	}
	// Truncating to 2..7 digits can swap chats a few ms apart; restore order.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && recs[j].created < recs[j-1].created; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
	return recs
}

func (g *generator) exp(mean int64) int64 { return int64(g.rng.ExpFloat64() * float64(mean)) }

func (g *generator) uniform(lo, hi int64) int64 { return lo + g.rng.Int64N(hi-lo) }

// chat generates one chat and its whole lifecycle from (seed, key).
func (g *generator) chat(key uint64, created int64) *rec {
	g.pcg.Seed(g.seed, mix(g.seed, key))
	r := g.rng
	d := 2 + r.IntN(6)
	tr := func(ns int64) int64 { return truncDigits(ns, d) }
	c := &rec{gen: true, digits: int8(d), created: tr(created)}

	x := r.Float64() * g.assets[len(g.assets)-1].cumWeight
	ai := 0
	for ai < len(g.assets)-1 && g.assets[ai].cumWeight < x {
		ai++
	}
	a := g.assets[ai]
	c.channel = channels[a.channel].name
	c.chLower = c.channel
	if c.channel == "livechat" && r.IntN(20) == 0 {
		c.channel = "LiveChat" // the reference's own examples use this casing
	}
	c.assetID, c.assetName = a.id, a.name

	c.id = fmt.Sprintf("%08x%016x", uint32(c.created/int64(time.Second)), r.Uint64())
	c.alias = uuid(r)
	cust := r.IntN(20000)
	c.customer = fmt.Sprintf("cus_%06d", cust)
	switch c.chLower {
	case "sms", "whatsapp":
		c.dest = fmt.Sprintf("+4917%09d", cust*7919%1000000000)
	case "facebook":
		c.dest = fmt.Sprintf("3%015d", cust*104729)
	case "twitter":
		c.dest = fmt.Sprintf("%d", 900000000+cust)
	case "email":
		c.dest = fmt.Sprintf("customer%d@mail.example", cust)
		c.extraKey, c.extraVal = "subject", fmt.Sprintf("Order %d", 100000+r.IntN(900000))
	case "livechat":
		c.dest = fmt.Sprintf("visitor-%08x", uint32(mix(g.seed, uint64(cust))))
		c.extraKey, c.extraVal = "thread_id", fmt.Sprintf("th_%012x", r.Uint64()>>16)
	case "abc":
		c.dest = fmt.Sprintf("urn:mbid:%016x", mix(g.seed, uint64(cust)))
	default:
		c.dest = fmt.Sprintf("ext-%d", cust)
	}
	if n := len(g.agents); n > 0 {
		// Skewed: a few agents carry more chats, as in any team.
		c.agent = g.agents[int(float64(n)*r.Float64()*r.Float64()*1.999)%n]
	}
	if r.IntN(10) < 2 {
		c.flag = flagSet[r.IntN(len(flagSet))]
	}
	switch nt := r.IntN(8); {
	case nt < 2:
		c.tags = nil // upstream sends "tag": null for some chats
	case nt < 4:
		c.tags = []string{}
	default:
		k := 1 + r.IntN(3)
		perm := r.Perm(len(tagSet))
		c.tags = make([]string, k)
		for i := range k {
			c.tags[i] = tagSet[perm[i]]
		}
	}

	// Lifecycle: most chats wait a couple of minutes, a few much longer;
	// or, with QueueWaits, the channel's mean wait.
	var wait int64
	switch u := r.Float64(); {
	case g.waits != nil:
		wait = g.exp(g.waits[c.chLower])
	case u < 0.90:
		wait = g.exp(2 * minute)
	case u < 0.98:
		wait = 5*minute + g.exp(20*minute)
	default:
		wait = g.uniform(hour, 6*hour)
	}
	c.picked = tr(created + wait + int64(time.Second))
	if c.picked <= c.created {
		c.picked = c.created + int64(math.Pow10(9-d))
	}
	if r.IntN(25) == 0 { // abandoned: closed while still queued
		c.closed = c.picked
		return c
	}
	handle := minute + g.exp(12*minute)
	if r.IntN(100) < 18 {
		c.holdStart = tr(c.picked + g.exp(handle/2) + int64(time.Second))
		var hold int64
		if r.IntN(10) == 0 {
			hold = g.uniform(day, 5*day) // a few stay on hold for days
		} else {
			hold = 5*minute + g.exp(40*minute)
		}
		c.holdEnd = tr(c.holdStart + hold)
		c.closed = tr(c.holdEnd + minute + g.exp(8*minute))
	} else {
		c.closed = tr(c.picked + handle)
	}
	return c
}
