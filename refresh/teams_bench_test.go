package refresh

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// What an exporter of many teams costs: BenchmarkTeams covers the window of
// 100 teams of 20,000 chats a day each, then measures the heap their states
// hold and the CPU of one team's steady-state refresh and of one decision
// to hold a refresh back.
//
// 10 tenants of 10 teams rather than 100 tenants of one: a team's refresh
// and decision take its tenant's lock and walk its tenant's teams (the pace
// counts what their buckets hold, the weights their needs), so a tenant of
// several teams is the costlier shape, and the one the shared quota is for.
const (
	benchTenants        = 10
	benchTeamsPerTenant = 10
	benchArrivals       = 20000 // chats a day: 20,000 in a 24-hour window
)

// capturingFetcher keeps a copy of the last answer of every page it
// fetched, with strings of its own, so that what the state holds is not
// kept alive by the copy nor the copy by the state: once the setup has read
// the window with the clock standing still, the copy is the list.
type capturingFetcher struct {
	apiclient.Fetcher
	mu    sync.Mutex
	pages map[int][]apiclient.Chat
}

func (f *capturingFetcher) FetchPage(ctx context.Context, n int) (apiclient.Page, error) {
	p, err := f.Fetcher.FetchPage(ctx, n)
	if err == nil {
		chats := cloneChats(p.Chats)
		f.mu.Lock()
		f.pages[n] = chats
		f.mu.Unlock()
	}
	return p, err
}

func cloneChats(cs []apiclient.Chat) []apiclient.Chat {
	out := make([]apiclient.Chat, len(cs))
	for i, c := range cs {
		c.ID, c.Status, c.Channel = strings.Clone(c.ID), strings.Clone(c.Status), strings.Clone(c.Channel)
		c.Asset.ID, c.Asset.Name = strings.Clone(c.Asset.ID), strings.Clone(c.Asset.Name)
		c.Assignee, c.Flag = strings.Clone(c.Assignee), strings.Clone(c.Flag)
		if c.Tags != nil {
			tags := make([]string, len(c.Tags))
			for j, tag := range c.Tags {
				tags[j] = strings.Clone(tag)
			}
			c.Tags = tags
		}
		out[i] = c
	}
	return out
}

// memFetcher serves the pages a capturingFetcher kept: no I/O and no
// decoding, so that a refresh's CPU is the engine's. A page past the list
// is empty, as the API's are.
type memFetcher struct {
	pages   map[int][]apiclient.Chat
	fetched *atomic.Int64
}

func (f memFetcher) FetchPage(_ context.Context, n int) (apiclient.Page, error) {
	f.fetched.Add(1)
	return apiclient.Page{Number: n, Chats: slices.Clone(f.pages[n])}, nil
}

// benchTeam is one team of BenchmarkTeams, its window covered.
type benchTeam struct {
	r     *Refresher
	clock *virtualClock // its tenant's
	pages map[int][]apiclient.Chat
}

// benchTeamsEnv holds the teams; the sub-benchmarks reach them through it,
// so that dropping them here frees them whatever keeps the closures.
type benchTeamsEnv struct {
	teams   []benchTeam
	fetched atomic.Int64
}

// coverTenant builds one tenant's Org, covers each team's window with an
// ample quota and the clock standing still, then puts the teams on what
// they are measured with: a fetcher from memory, no rate-limit headers, and
// a quota of the documented 10,000 requests a day, half of it theirs,
// shared by the tenant's teams.
func (env *benchTeamsEnv) coverTenant(b *testing.B, tenant int) {
	var cfgs []simulator.Config
	for i := range benchTeamsPerTenant {
		// 21,000 chats at 20,000 a day: the 24-hour window is full.
		cfgs = append(cfgs, simulator.Config{TeamID: fmt.Sprintf("t%dteam%d", tenant, i), Seed: int64(1000*tenant + i),
			History: 21000, ArrivalsPerDay: benchArrivals})
	}
	o := newTestOrg(b, 1<<30, cfgs)
	setup := NewQuota(1, 1<<30)
	var rs []*Refresher
	var captures []*capturingFetcher
	for i := range cfgs {
		capture := &capturingFetcher{Fetcher: o.teams[i].client, pages: map[int][]apiclient.Chat{}}
		r := o.refresher(i, Options{Fetcher: capture, FirstPage: 1, Concurrency: 4, MaxPages: 1000, Quota: setup})
		for range 20 {
			if _, err := r.Snapshot(context.Background()); err != nil {
				b.Fatal(err)
			}
			if r.eng.state.complete {
				break
			}
		}
		if !r.eng.state.complete || len(r.eng.state.list) < benchArrivals*95/100 {
			b.Fatalf("team %s: window complete %v with %d chats", cfgs[i].TeamID, r.eng.state.complete, len(r.eng.state.list))
		}
		rs = append(rs, r)
		captures = append(captures, capture)
	}
	q := NewQuota(teamsShare, teamsQuota)
	for i, r := range rs {
		r.eng.pacer.leave()
		r.eng.pacer = q.join()
		r.opts.Quota = q
		r.opts.Fetcher = memFetcher{pages: captures[i].pages, fetched: &env.fetched}
		r.opts.RateLimit = func() apiclient.RateLimit { return apiclient.RateLimit{} }
		env.teams = append(env.teams, benchTeam{r: r, clock: o.clock, pages: captures[i].pages})
	}
}

func BenchmarkTeams(b *testing.B) {
	env := &benchTeamsEnv{}
	for tenant := range benchTenants {
		env.coverTenant(b, tenant)
	}
	n := len(env.teams)
	chats := 0
	for _, t := range env.teams {
		chats += len(t.r.eng.state.list)
	}
	withStates := heapInUse()

	// A steady-state refresh: each team in turn, 15 s of its tenant's
	// clock after its last (the clock moves 1.5 s a refresh, and a tenant
	// has ten teams).
	b.Run("refresh", func(b *testing.B) {
		env.fetched.Store(0)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t := env.teams[i%n]
			t.clock.Advance(pullInterval / benchTeamsPerTenant)
			now := t.clock.Now()
			t.r.run(make(chan struct{}), now, t.r.eng.parts(now, t.r.eng.accrue(now), whyHead))
			if t.r.last.err != nil {
				b.Fatal(t.r.last.err)
			}
		}
		b.ReportMetric(float64(env.fetched.Load())/float64(b.N), "pages/op")
	})

	// A decision that holds back, as at a pull between refreshes: the
	// numbers are fresh, the bucket has tokens, nothing is deepening or
	// due for the sweep, so it weighs the head and every page of open
	// chats, then compares the best with the price. The clock stands
	// still: the decision is the same at every op, whatever it decides.
	open := 0
	for _, t := range env.teams {
		r := t.r
		r.eng.pacer.grant(0.01) // a few tokens: the decision goes on to the prices
		r.eng.allow.sweep, r.eng.failures = 0, 0
		now := t.clock.Now()
		r.eng.lastServed = now.Add(-maxAge / 2)
		r.eng.accrue(now)
		ok := r.eng.state.complete && r.eng.affordable() >= 1 && r.eng.allow.sweep < 1
		if !ok {
			b.Fatal("the decision would stop before it prices the open pages")
		}
		open += len(r.eng.state.open)
	}
	b.Run("holdback", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t := env.teams[i%n]
			t.r.eng.plan(t.clock.Now())
		}
		b.ReportMetric(float64(open)/float64(n), "open_chats/team")
	})

	// The heap the states hold: in use with them, less in use without
	// them (the pages the fetchers serve stay in both).
	var pages []map[int][]apiclient.Chat
	for _, t := range env.teams {
		pages = append(pages, t.pages)
	}
	env.teams = nil
	withoutStates := heapInUse()
	runtime.KeepAlive(pages)
	states := float64(withStates) - float64(withoutStates)
	b.Run("heap", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(states/(1<<20), "MiB")
		b.ReportMetric(states/float64(chats), "B/chat")
		b.ReportMetric(float64(chats)/float64(n), "chats/team")
		b.ReportMetric((1<<30)/(states/float64(n)), "teams/GiB")
	})
}
