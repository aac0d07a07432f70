package refresh

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// The teams of one tenant share its quota: an Org on a virtual clock, one
// client per team over the one token, the rate-limit headers shared as the
// exporter shares them (collector.RateLimits), and every request the API
// serves counted in the virtual minute it is served in.

// orgTeam is one team of a test Org: its truth and its client.
type orgTeam struct {
	truth  *simulator.Tenant
	client *apiclient.Client
	api    *collector.APIMetrics
}

// testOrg is a simulated tenant with several teams on a virtual clock.
type testOrg struct {
	*simulator.Org
	clock *virtualClock
	teams []orgTeam

	mu        sync.Mutex
	perMinute map[int64]int64 // requests the API served, by virtual minute
}

// newTestOrg builds the Org of the configs (each with its TeamID) at
// testStart, with a quota of quotaPerDay shared by every team.
func newTestOrg(tb testing.TB, quotaPerDay int, cfgs []simulator.Config) *testOrg {
	tb.Helper()
	clock := &virtualClock{now: testStart}
	for i := range cfgs {
		cfgs[i].Start = testStart
	}
	o := &testOrg{clock: clock, perMinute: map[int64]int64{},
		Org: simulator.NewOrg(simulator.OrgConfig{Token: "tok", QuotaPerDay: quotaPerDay, Clock: clock.Now, Teams: cfgs})}
	counting := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		o.mu.Lock()
		o.perMinute[clock.Now().Unix()/60]++
		o.mu.Unlock()
		o.ServeHTTP(w, req)
	})
	limits := &collector.RateLimits{} // the tenant's headers, as its teams share them
	u, _ := url.Parse("http://tenant.test")
	for _, cfg := range cfgs {
		api := collector.NewAPIMetricsSharing(limits)
		o.teams = append(o.teams, orgTeam{truth: o.Team(cfg.TeamID), api: api,
			client: &apiclient.Client{BaseURL: u, TeamID: cfg.TeamID, Token: apiclient.StaticToken("tok"), Observer: api,
				Now: clock.Now, HTTPClient: &http.Client{Transport: simulator.NewTransport(counting)}}})
	}
	return o
}

// refresher returns a Refresher of team i on the Org's clock.
func (o *testOrg) refresher(i int, opts Options) *Refresher {
	if opts.Fetcher == nil {
		opts.Fetcher = o.teams[i].client
	}
	opts.RateLimit = o.teams[i].api.RateLimit
	opts.Now = o.clock.Now
	return New(opts)
}

// maxDay is the most requests the API served in any 24 hours.
func (o *testOrg) maxDay() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maxInWindow(o.perMinute, 24*60)
}

// The share replay: the quota replay's timeline (a cold start just after a
// quota reset, a day, then measured hours) for the teams of one tenant,
// pulled by two Prometheus servers 7 s apart, one target per team.
const (
	teamsQuota = 10000
	teamsShare = 0.5
	// teamsPull is the pull interval while measuring, teamsColdPull
	// before. Longer than the quota replay's 15 s: a pull the scheduler
	// weighs costs about as much CPU as a refresh (it prices every open
	// page), and three teams for a day and a half, twice, under the race
	// detector must fit in a CI run.
	teamsPull     = 30 * time.Second
	teamsColdPull = 2 * time.Minute
)

// teamsWorkload is one team of the share replay.
type teamsWorkload struct {
	name     string
	arrivals float64 // new chats a day
}

// The teams: a busy one, a medium one and an idle one.
var teamsWorkloads = []teamsWorkload{{"busy", 3000}, {"medium", 1000}, {"idle", 20}}

func teamsConfigs() []simulator.Config {
	var cfgs []simulator.Config
	for i, w := range teamsWorkloads {
		// A day and a half of history: more than the lookback at the
		// cold start, little more to generate.
		cfgs = append(cfgs, simulator.Config{TeamID: w.name, Seed: int64(41 + i), ArrivalsPerDay: w.arrivals,
			History: int(math.Ceil(1.5 * w.arrivals))})
	}
	return cfgs
}

// teamOutcome is what one team's target served over a share replay.
type teamOutcome struct {
	requests  int64     // requests of the team during the measured period
	err       []float64 // per measured pull: |served queued − true queued|
	truth     []float64 // per measured pull: the true queued count
	down      int       // pulls of the whole replay that served no numbers (imichat_up 0)
	refreshes int       // refreshes whose numbers a measured pull served
}

// constantErr is the constant strategy's error at each measured pull: the
// period's true mean served all along, against the truths the exporter's
// numbers were held to (the quota replay's constant has a run of its own;
// here the truth is a function of the clock, the same either way).
func (t teamOutcome) constantErr() []float64 {
	m := mean(t.truth)
	out := make([]float64, len(t.truth))
	for i, q := range t.truth {
		out[i] = math.Abs(m - q)
	}
	slices.Sort(out)
	return out
}

// shareReplay is one run of the share replay.
type shareReplay struct {
	org                               *testOrg
	coldStart, measureFrom, measureTo time.Time
}

// newShareReplay builds the Org and its timeline: the cold start just after
// a quota reset, a day to settle, then the measured hours.
func newShareReplay(tb testing.TB, measured time.Duration) *shareReplay {
	o := newTestOrg(tb, teamsQuota, teamsConfigs())
	now := o.clock.Now()
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).Add(24 * time.Hour)
	o.clock.Advance(day0.Add(30 * time.Second).Sub(now))
	return &shareReplay{org: o, coldStart: o.clock.Now(), measureFrom: day0.Add(24 * time.Hour),
		measureTo: day0.Add(24*time.Hour + measured)}
}

// refreshers returns the teams' refreshers, each drawing on quota(i).
func (s *shareReplay) refreshers(quota func(i int) *Quota) []*Refresher {
	var rs []*Refresher
	for i := range s.org.teams {
		rs = append(rs, s.org.refresher(i, Options{
			Fetcher:     slowFetcher{s.org.teams[i].client, s.org.clock},
			FirstPage:   1,
			Concurrency: 4,
			MinInterval: 15 * time.Second,
			Quota:       quota(i),
		}))
	}
	return rs
}

// run pulls every team's target as two Prometheus servers would: each
// server scrapes the teams one after the other, every teamsPull.
func (s *shareReplay) run(rs []*Refresher) []teamOutcome {
	o := s.org
	out := make([]teamOutcome, len(rs))
	var lastServed [2][]served
	lastServed[0], lastServed[1] = make([]served, len(rs)), make([]served, len(rs))
	lastRefresh := make([]time.Time, len(rs))
	pulls := newPullSchedule(s.coldStart)
	interval := func(at time.Time) time.Duration {
		if at.Before(s.measureFrom) {
			return teamsColdPull
		}
		return teamsPull
	}
	for {
		server, at := pulls.pop(interval)
		if !at.Before(s.measureTo) {
			break
		}
		o.clock.Advance(at.Sub(o.clock.Now()))
		for i, r := range rs {
			team := &o.teams[i]
			before := team.truth.Requests()
			snap, err := r.Snapshot(context.Background())
			made := team.truth.Requests() - before
			res := &out[i]
			if err != nil || snap.Counts == nil {
				res.down++
			} else {
				lastServed[server][i] = servedFrom(snap)
			}
			if at.Before(s.measureFrom) {
				continue
			}
			res.requests += made
			last := lastServed[server][i]
			if !last.ok {
				res.err = append(res.err, math.Inf(1))
				continue
			}
			if !last.at.Equal(lastRefresh[i]) {
				res.refreshes++
				lastRefresh[i] = last.at
			}
			queued, _ := team.truth.Queued()
			res.truth = append(res.truth, float64(queued))
			res.err = append(res.err, math.Abs(float64(last.queued-queued)))
		}
	}
	for i := range out {
		slices.Sort(out[i].err)
	}
	return out
}

func (t teamOutcome) line(run string, w teamsWorkload, measured time.Duration) string {
	c := t.constantErr()
	every := "-"
	if t.refreshes > 0 {
		every = num(measured.Seconds() / float64(t.refreshes))
	}
	return strings.Join([]string{"teams", "run=" + run, "team=" + w.name,
		fmt.Sprintf("arrivals=%.0f", w.arrivals),
		fmt.Sprintf("requests=%d", t.requests),
		"refresh_every_s=" + every,
		fmt.Sprintf("down_pulls=%d", t.down),
		"err_mean=" + num(mean(t.err)),
		"err_p99=" + num(percentile(t.err, 0.99)),
		"constant_err_mean=" + num(mean(c)),
		"constant_err_p99=" + num(percentile(c, 0.99)),
	}, " ")
}

// TestTeamsShareTheTenantQuota: a busy, a medium and an idle team of one
// tenant share a quota of 10,000 requests a day, half of it the exporter's.
// A cold start, a day to settle, then twelve measured hours:
//
//   - the tenant's requests in any 24 hours, cold start included, stay
//     within the share;
//   - the pages go where the chats are: busy > medium > idle;
//   - the idle team is still read, by the floor, and always up;
//   - every team's queued count beats the constant: the mean error by the
//     quota replay's bar (at most 0.6 × the constant's), the 99th
//     percentile at all (below the constant's; the replay's 0.75 × is a
//     bar for one team of 3,000 chats a day, and a percentile of a few
//     chats moves by a whole chat between runs of 12 hours);
//   - against the same teams each on a private third of the share, the
//     busy team gets more than its third, and a better count for it.
func TestTeamsShareTheTenantQuota(t *testing.T) {
	const measured = 12 * time.Hour // of the second day; the window check spans 36 h
	var shared, split []teamOutcome
	var sharedMaxDay, splitMaxDay int64
	var wg sync.WaitGroup
	wg.Add(2)
	// The two runs have an Org and a clock each: they run side by side.
	go func() {
		defer wg.Done()
		s := newShareReplay(t, measured)
		q := NewQuota(teamsShare, teamsQuota)
		shared = s.run(s.refreshers(func(int) *Quota { return q }))
		sharedMaxDay = s.org.maxDay()
	}()
	go func() {
		defer wg.Done()
		// Alone: each team on a private third of the share, as three
		// exporters each configured with a third would be. The Org's
		// headers show the whole quota: a third of the share of it is
		// what each may spend, and together they stay within the share.
		s := newShareReplay(t, measured)
		split = s.run(s.refreshers(func(int) *Quota {
			return NewQuota(teamsShare/float64(len(teamsWorkloads)), teamsQuota)
		}))
		splitMaxDay = s.org.maxDay()
	}()
	wg.Wait()

	for i, w := range teamsWorkloads {
		t.Log(shared[i].line("shared", w, measured))
		t.Log(split[i].line("alone_third", w, measured))
	}
	share := teamsShare * teamsQuota
	t.Logf("teams max_day_requests shared=%d alone_thirds=%d share=%.0f", sharedMaxDay, splitMaxDay, share)

	if sharedMaxDay > int64(share) {
		t.Errorf("the tenant made %d requests in one 24-hour window, more than the share of %.0f", sharedMaxDay, share)
	}
	busy, medium, idle := shared[0], shared[1], shared[2]
	if !(busy.requests > medium.requests && medium.requests > idle.requests) {
		t.Errorf("pages over the measured period: busy %d, medium %d, idle %d; the pages should follow the chats",
			busy.requests, medium.requests, idle.requests)
	}
	// The floor: a fifth of the tenant's pace split evenly, 0.2 × 5,000 / 3
	// ≈ 333 pages a day for each of three teams whatever it needs, a page
	// every 4.3 minutes; the idle team needs one page a refresh. The bar
	// is twice that period, 8.6 minutes: the pace sits below the share
	// while the buckets hold tokens, and the refreshes fall on pulls.
	floorPerDay := floorShare * share / float64(len(teamsWorkloads))
	idleEvery := 2 * time.Duration(float64(24*time.Hour)/floorPerDay)
	if idle.refreshes == 0 || measured/time.Duration(idle.refreshes) > idleEvery {
		t.Errorf("the idle team's numbers were refreshed %d times in %v, less often than every %v on average",
			idle.refreshes, measured, idleEvery.Round(time.Second))
	}
	for i, w := range teamsWorkloads {
		if shared[i].down > 0 {
			t.Errorf("team %s: %d pulls served imichat_up 0", w.name, shared[i].down)
		}
	}

	// The quota replay's bar on the mean (TestQuotaReplay): at most 0.6 ×
	// the constant's; the 99th percentile below the constant's. The idle
	// team's truth is 0 nearly always, and so is the constant: any reader
	// is off by one chat for the minutes between a chat's arrival and the
	// next read, at the floor's page every 4.3 minutes. Its bars are
	// absolute: a mean error of a tenth of a chat, a 99th percentile of one.
	for i, w := range teamsWorkloads {
		e, c := shared[i].err, shared[i].constantErr()
		meanBar, p99Bar := 0.6*mean(c), percentile(c, 0.99)
		if w.arrivals < 100 {
			meanBar, p99Bar = 0.1, 1
		}
		if mean(e) > meanBar {
			t.Errorf("team %s: mean error of the queued count %.3f, more than %.3f (the constant's %.3f)", w.name, mean(e), meanBar, mean(c))
		}
		if p := percentile(e, 0.99); p > p99Bar || (w.arrivals >= 100 && p == p99Bar) {
			t.Errorf("team %s: 99th percentile error of the queued count %.2f, not below %.2f (the constant's %.2f)",
				w.name, p, p99Bar, percentile(c, 0.99))
		}
	}

	// The point of sharing: the busy team spends more than a third of
	// the share, all that a private third would give it, and its count
	// is the better for it.
	if third := share / 3 * measured.Hours() / 24; float64(busy.requests) <= third {
		t.Errorf("the busy team made %d requests in %v, no more than a third of the share (%.0f)", busy.requests, measured, third)
	}
	if e, alone := mean(busy.err), mean(split[0].err); e >= alone {
		t.Errorf("the busy team's mean error %.2f sharing the quota, %.2f on a private third", e, alone)
	}
}

// TestTeamsConcurrentRefreshesStayWithinQuota: the teams of a tenant
// refresh at once, for real (goroutines, pages that take a millisecond of
// real time), hammered by concurrent pulls, while the tenant's quota is
// tiny: no more requests reach the API than the share allows. Each team's
// first read of the wave wants ~85 pages (an hour of 20,000 chats a day),
// six teams ~500, more than twice the limit: only the reservation of each
// run's pages before it starts keeps teams whose runs are in flight at
// once from spending the same requests. Two shapes: the share is the
// whole quota (the API's own count would stop an overspend a few requests
// past it), and half of it (nothing but the exporter stops it).
func TestTeamsConcurrentRefreshesStayWithinQuota(t *testing.T) {
	for _, c := range []struct {
		quota int
		share float64
	}{{200, 1}, {400, 0.5}} {
		t.Run(fmt.Sprintf("quota=%d/share=%v", c.quota, c.share), func(t *testing.T) {
			const (
				teams   = 6
				pullers = 4  // concurrent pulls of each team
				pulls   = 50 // by each puller, a millisecond of real time apart
			)
			var cfgs []simulator.Config
			for i := range teams + 1 { // and one that is removed mid-way
				cfgs = append(cfgs, simulator.Config{TeamID: fmt.Sprintf("team%d", i), Seed: int64(70 + i),
					History: 5, ArrivalsPerDay: 20000, Latency: time.Millisecond})
			}
			o := newTestOrg(t, c.quota, cfgs)
			q := NewQuota(c.share, int64(c.quota))
			var rs []*Refresher
			for i := range cfgs {
				rs = append(rs, o.refresher(i, Options{FirstPage: 1, Concurrency: 2, Quota: q}))
			}
			limit := int64(c.share * float64(c.quota))
			ctx := context.Background()

			// Every team's first read, at once: a page each, well within
			// the limit (a team with nothing read reads its first page
			// whatever the quota says).
			var wg sync.WaitGroup
			errs := make(chan error, len(rs)+teams*pullers*pulls)
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := r.Snapshot(ctx); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()

			// An hour later, every team at once.
			o.clock.Advance(time.Hour)
			start := make(chan struct{})
			for i := range teams {
				for range pullers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for range pulls {
							if _, err := rs[i].Snapshot(ctx); err != nil {
								errs <- fmt.Errorf("team%d: %w", i, err)
							}
							o.clock.Advance(2 * time.Second)
							time.Sleep(time.Millisecond) // the pulls outlast the first runs
						}
					}()
				}
			}
			wg.Add(1)
			go func() { // a team removed while the others refresh
				defer wg.Done()
				<-start
				rs[teams].Close()
			}()
			close(start)
			wg.Wait() // every pull waits for its refresh: none is in flight
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 5 {
					t.Error(err)
				}
			}
			if failed > 5 {
				t.Errorf("and %d more failed pulls", failed-5)
			}

			total := o.Requests()
			t.Logf("teams concurrent quota=%d share=%v limit=%d requests=%d", c.quota, c.share, limit, total)
			if total > limit {
				t.Errorf("the API served %d requests, more than the share of %d", total, limit)
			}
			if most := o.maxDay(); most != total {
				t.Errorf("%d requests in the busiest 24 hours, %d in all: the test spans less than a day", most, total)
			}
			if spent := spentInDay(q, o.clock.Now()); spent != total {
				t.Errorf("the quota counted %d requests, the API served %d", spent, total)
			}
			// The teams wanted more than the limit: it was the limit
			// that stopped them, not their buckets.
			if total < limit {
				t.Errorf("only %d requests of the %d allowed: the teams did not press against the limit", total, limit)
			}
		})
	}
}
