package refresh

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
	"github.com/imichat-exporter/imichat_exporter/simulator/centre"
)

// The scenarios of issue 16: days of an independent contact centre
// (simulator/centre: its own arrivals, agents on shifts with a concurrency
// limit, holds, customers who give up, reopened chats, a stall, a
// campaign, a slow channel, an unstaffed night, a busy tenant) replayed
// like the quota replay: the centre is simulated over three days from
// scenarioStart, the exporter starts cold 30 s into the second and the
// third, on which the scenario's events happen, is measured. Two
// Prometheus servers pull every 15 s, 7 s apart (pullSchedule), and
// evaluate the two queue alerts of alerts/imichat.rules.yml at every pull,
// on what the strategy served them, as Prometheus evaluates a rule with a
// `for:`; the truth is evaluated the same way at every pull of either
// server. Thresholds are fitted to each scenario's scale (scenarioCases).
//
// The strategies, each reading the centre through the API's wire format
// (centre.Server, apiclient.Client) where it reads at all:
//
//   - exporter: the Refresher with the product defaults (replayExporter's
//     options);
//   - raw: the same with RawCounts (--imichat.raw-counts);
//   - constant: the measured day's true mean queued count, and each
//     channel's true mean oldest queued wait, served all day;
//   - oracle: the quota replay's clairvoyant reader (replay_test.go) with
//     the exporter's request budget of that day;
//   - reference: reads the whole 24-hour window at every whole minute and
//     serves it until the next (a perfect poller, far beyond the quota:
//     max_day_requests gives the pages it would take).
//
// Definitions, per alert (the too-long alert is one alert per channel, as
// the rule's series are; its figures are summed over the channels):
//
//   - firing: an alert fires from the first evaluation at which its
//     condition has held at every evaluation for at least `for:` (as
//     Prometheus: at - activeAt >= for) until the first evaluation at
//     which the condition is false or the series is absent (a failed
//     pull, no queued chat). A strategy's alert fires while either
//     server's fires (Alertmanager sends the first and resolves after the
//     last).
//   - episode: a maximal span during which the truth's alert fires,
//     clipped to the measured day; every one that overlaps the day counts.
//   - detected: the strategy's alert fires at some instant in
//     [episode start, episode end + scenarioGrace).
//   - delay: of a detected episode, from its start to the first such
//     instant (0 when the strategy's alert was already firing).
//   - false-alarm minutes: within the measured day, the time the
//     strategy's alert fires while the truth's does not.
//   - missed minutes: within the measured day, the time the truth's alert
//     fires while the strategy's does not.
//
// Per scenario and strategy the episode counts and the minutes are totals
// over the seeds; the delays' mean and max are over every detected
// episode; err_mean and bias are the mean of |served − true| and of
// (served − true) queued count over every measured pull of every seed
// (pulls that failed are left out); max_day_requests is the most requests
// in any 24 hours of any seed, cold start included (oracle and reference:
// pages of the measured day).
var (
	scenarioSeeds = flag.Int("scenario.seeds", 5, "BenchmarkScenarios: seeds per scenario")
	scenarioOnly  = flag.String("scenario.only", "", "BenchmarkScenarios: the scenarios to run, comma-separated (default all)")
	scenarioEach  = flag.Bool("scenario.each", false, "BenchmarkScenarios: also a line per seed (scenario-seed <name> seed=<n> ...)")
	scenarioRun   = flag.String("scenario.strategies", "", "BenchmarkScenarios: the strategies to run, comma-separated (default all; oracle needs exporter)")
)

const (
	scenarioGrace = 5 * time.Minute
	queuedFor     = 30 * time.Second
	oldestFor     = time.Minute
)

// scenarioStart is the first simulated instant of every scenario.
var scenarioStart = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)

// scenarioCase is a scenario with the alerts' thresholds fitted to it.
type scenarioCase struct {
	centre.Scenario
	queuedThreshold float64       // ImichatTooManyChatsQueued: sum of queued > this, for 30s
	oldestThreshold time.Duration // ImichatChatQueuedTooLong: oldest queued wait > this, for 1m
	horizon         time.Duration // the oracle's: longer than the queue waits
}

var scenarioCases = func() []scenarioCase {
	fit := map[string]scenarioCase{
		"stall":       {queuedThreshold: 50, oldestThreshold: 10 * time.Minute},
		"campaign":    {queuedThreshold: 100, oldestThreshold: 10 * time.Minute},
		"channel_mix": {queuedThreshold: 200, oldestThreshold: 3 * time.Hour, horizon: 24 * time.Hour},
		"night":       {queuedThreshold: 100, oldestThreshold: 10 * time.Minute, horizon: 24 * time.Hour},
		"reopen":      {queuedThreshold: 15, oldestThreshold: 10 * time.Minute, horizon: 24 * time.Hour},
		"busy":        {queuedThreshold: 60, oldestThreshold: 2 * time.Minute},
	}
	var out []scenarioCase
	for _, s := range centre.Scenarios {
		c, ok := fit[s.Name]
		if !ok {
			panic("no thresholds for scenario " + s.Name)
		}
		c.Scenario = s
		out = append(out, c)
	}
	return out
}()

// scenarioView is what one pull got: the queued count and the oldest queued chat
// of each of the centre's channels (Unix ns, 0: none).
type scenarioView struct {
	ok     bool
	queued float64
	oldest []int64
}

// scenarioViewer answers a pull at now.
type scenarioViewer interface {
	pull(now time.Time) scenarioView
}

type scheduledPull struct {
	at     time.Time
	server int
}

// scenarioEnv is one scenario and seed: the centre, the pulls and the
// truth at each of them.
type scenarioEnv struct {
	sc                                scenarioCase
	seed                              int64
	c                                 *centre.Centre
	channels                          map[string]int
	coldStart, measureFrom, measureTo time.Time
	pulls                             []scheduledPull
	truth                             []scenarioView
	truthQueued                       []span   // the truth's alerts
	truthOldest                       [][]span // by channel
	// trace, when set, sees every pull of a run: what was served, and the
	// truth (for a look at a scenario's worst minutes).
	trace func(p scheduledPull, served, truth scenarioView)
}

func newScenarioEnv(sc scenarioCase, seed int64) *scenarioEnv {
	day := scenarioStart.Add(48 * time.Hour)
	env := &scenarioEnv{sc: sc, seed: seed, c: centre.New(sc.Build(seed, scenarioStart, 3, day)),
		channels: map[string]int{}, coldStart: scenarioStart.Add(24*time.Hour + 30*time.Second),
		measureFrom: day, measureTo: day.Add(24 * time.Hour)}
	for i, ch := range env.c.Channels() {
		env.channels[ch] = i
	}
	schedule := newPullSchedule(env.coldStart)
	for {
		server, at := schedule.pop(func(time.Time) time.Duration { return pullInterval })
		if !at.Before(env.measureTo) {
			break
		}
		env.pulls = append(env.pulls, scheduledPull{at: at, server: server})
	}
	cur := env.c.NewCursor()
	queued := &alertState{rule: alertRule{threshold: sc.queuedThreshold, hold: queuedFor}}
	oldest := make([]*alertState, len(env.channels))
	for i := range oldest {
		oldest[i] = &alertState{rule: alertRule{threshold: sc.oldestThreshold.Seconds(), hold: oldestFor}}
	}
	for _, p := range env.pulls {
		cur.Advance(p.at)
		v := scenarioView{ok: true, queued: float64(cur.Queued()), oldest: make([]int64, len(env.channels))}
		for ch := range v.oldest {
			if t, ok := cur.Oldest(ch); ok {
				v.oldest[ch] = t.UnixNano()
			}
		}
		env.truth = append(env.truth, v)
		env.eval(queued, oldest, p.at, v)
	}
	env.truthQueued = queued.timeline(env.measureTo)
	for _, a := range oldest {
		env.truthOldest = append(env.truthOldest, a.timeline(env.measureTo))
	}
	return env
}

// eval evaluates the two alerts on a view at a pull.
func (env *scenarioEnv) eval(queued *alertState, oldest []*alertState, at time.Time, v scenarioView) {
	queued.eval(at, v.queued, v.ok)
	for ch, a := range oldest {
		present := v.ok && v.oldest[ch] != 0
		wait := 0.0
		if present {
			wait = float64(at.UnixNano()-v.oldest[ch]) / 1e9
		}
		a.eval(at, wait, present)
	}
}

// scenarioOutcome is one strategy on one seed, or summed over seeds.
type scenarioOutcome struct {
	seeds          int
	queued, oldest alertScore
	errSum, bias   float64
	pulls          int
	requests       int64 // on the measured day
	maxDay         int64
}

func (o *scenarioOutcome) add(p scenarioOutcome) {
	o.seeds += p.seeds
	o.queued.add(p.queued)
	o.oldest.add(p.oldest)
	o.errSum += p.errSum
	o.bias += p.bias
	o.pulls += p.pulls
	o.requests += p.requests
	o.maxDay = max(o.maxDay, p.maxDay)
}

// run pulls v as the two servers do, evaluates their alerts on what it
// served and scores them against the truth's. requests (nil: none) counts
// what v asked of the API so far; clock is the one v's reads move on.
func (env *scenarioEnv) run(v scenarioViewer, clock *virtualClock, requests func() int64) scenarioOutcome {
	out := scenarioOutcome{seeds: 1}
	type server struct {
		queued *alertState
		oldest []*alertState
	}
	var servers [2]server
	for i := range servers {
		servers[i].queued = &alertState{rule: alertRule{threshold: env.sc.queuedThreshold, hold: queuedFor}}
		for range env.channels {
			servers[i].oldest = append(servers[i].oldest, &alertState{rule: alertRule{threshold: env.sc.oldestThreshold.Seconds(), hold: oldestFor}})
		}
	}
	perMinute := map[int64]int64{}
	for i, p := range env.pulls {
		clock.Advance(p.at.Sub(clock.Now()))
		var before int64
		if requests != nil {
			before = requests()
		}
		got := v.pull(clock.Now())
		if requests != nil {
			made := requests() - before
			perMinute[p.at.Unix()/60] += made
			if !p.at.Before(env.measureFrom) {
				out.requests += made
			}
		}
		if env.trace != nil {
			env.trace(p, got, env.truth[i])
		}
		s := servers[p.server]
		env.eval(s.queued, s.oldest, p.at, got)
		if got.ok && !p.at.Before(env.measureFrom) {
			d := got.queued - env.truth[i].queued
			out.errSum += math.Abs(d)
			out.bias += d
			out.pulls++
		}
	}
	out.maxDay = maxInWindow(perMinute, 24*60)
	out.queued = scoreAlert(env.truthQueued,
		spanUnion(servers[0].queued.timeline(env.measureTo), servers[1].queued.timeline(env.measureTo)),
		env.measureFrom, env.measureTo, scenarioGrace)
	for ch := range len(env.channels) {
		out.oldest.add(scoreAlert(env.truthOldest[ch],
			spanUnion(servers[0].oldest[ch].timeline(env.measureTo), servers[1].oldest[ch].timeline(env.measureTo)),
			env.measureFrom, env.measureTo, scenarioGrace))
	}
	return out
}

// snapshotViewer serves what a collector.Source serves.
type snapshotViewer struct {
	src      collector.Source
	channels map[string]int
}

func (s snapshotViewer) pull(time.Time) scenarioView {
	snap, err := s.src.Snapshot(context.Background())
	if err != nil || snap.Counts == nil {
		return scenarioView{}
	}
	v := scenarioView{ok: true, queued: float64(queuedOf(snap.Counts)), oldest: make([]int64, len(s.channels))}
	for ch, i := range s.channels {
		if t, ok := oldestOf(snap.Counts, apiclient.StatusQueued, ch); ok {
			v.oldest[i] = t.UnixNano()
		}
	}
	return v
}

// exporter runs the Refresher with the product defaults (raw: with raw
// counts) against the centre's API.
func (env *scenarioEnv) exporter(raw bool) scenarioOutcome {
	clock := &virtualClock{now: env.coldStart}
	srv := env.c.Server(centre.ServerConfig{Token: "tok", TeamID: "team", QuotaPerDay: replayQuota, Clock: clock.Now})
	api := collector.NewAPIMetrics()
	u, _ := url.Parse("http://centre.test")
	client := &apiclient.Client{BaseURL: u, TeamID: "team", Token: apiclient.StaticToken("tok"), Observer: api,
		Now: clock.Now, HTTPClient: &http.Client{Transport: simulator.NewTransport(srv)}}
	r := New(Options{
		Fetcher:     slowFetcher{client, clock},
		FirstPage:   1,
		Concurrency: 4,
		MinInterval: 15 * time.Second,
		QuotaShare:  replayQuotaShare,
		DailyBudget: replayQuota,
		RawCounts:   raw,
		RateLimit:   api.RateLimit,
		Now:         clock.Now,
	})
	defer r.Close()
	return env.run(snapshotViewer{r, env.channels}, clock, srv.Requests)
}

// constantViewer serves the same numbers at every pull.
type constantViewer struct {
	queued float64
	wait   []float64 // seconds, by channel; 0: no chat served
}

func (c constantViewer) pull(now time.Time) scenarioView {
	v := scenarioView{ok: true, queued: c.queued, oldest: make([]int64, len(c.wait))}
	for ch, w := range c.wait {
		if w > 0 {
			v.oldest[ch] = now.UnixNano() - int64(w*1e9)
		}
	}
	return v
}

// constant serves the measured day's true means: the queued count, and
// each channel's oldest queued wait (0 while none is queued).
func (env *scenarioEnv) constant() scenarioOutcome {
	c := constantViewer{wait: make([]float64, len(env.channels))}
	n := 0
	for i, p := range env.pulls {
		if p.at.Before(env.measureFrom) {
			continue
		}
		t := env.truth[i]
		n++
		c.queued += t.queued
		for ch, o := range t.oldest {
			if o != 0 {
				c.wait[ch] += float64(p.at.UnixNano()-o) / 1e9
			}
		}
	}
	c.queued /= float64(n)
	for ch := range c.wait {
		c.wait[ch] /= float64(n)
	}
	return env.run(c, &virtualClock{now: env.coldStart}, nil)
}

// referenceViewer reads the whole 24-hour window at every whole minute,
// at no cost in time, and serves it until the next minute. It starts
// reading referenceWarmUp before the measured day.
type referenceViewer struct {
	env    *scenarioEnv
	minute time.Time
	last   scenarioView
	pages  int64
}

const referenceWarmUp = 10 * time.Minute

func (r *referenceViewer) pull(now time.Time) scenarioView {
	if now.Before(r.env.measureFrom.Add(-referenceWarmUp)) {
		return scenarioView{}
	}
	m := now.Truncate(time.Minute)
	if !m.Equal(r.minute) {
		r.minute = m
		queued, oldest, pages := r.env.c.Snapshot(m, m.Add(-DefaultLookback))
		r.last = scenarioView{ok: true, queued: float64(queued), oldest: oldest}
		r.pages += int64(pages)
	}
	return r.last
}

func (env *scenarioEnv) reference() scenarioOutcome {
	r := &referenceViewer{env: env}
	return env.run(r, &virtualClock{now: env.coldStart}, func() int64 { return r.pages })
}

// centreWorld is the centre as the oracle reads it: the chats that matter
// to it (queued, or believed queued), with their places in the list.
type centreWorld struct {
	c     *centre.Centre
	clock *virtualClock
	o     *oracle
}

func (w centreWorld) Listing(since time.Time) []simulator.Listed {
	keep := func(id, status string) bool {
		if status == centre.Queued {
			return true
		}
		_, ok := w.o.believed[id]
		return ok
	}
	chats := w.c.Listing(w.clock.Now(), since, keep)
	out := make([]simulator.Listed, len(chats))
	for i, c := range chats {
		out[i] = simulator.Listed{ID: c.ID, Position: c.Position, Status: c.Status, CreatedAt: c.CreatedAt}
	}
	return out
}

// oracleViewer serves what the oracle believes, the oldest queued chat per
// channel included.
type oracleViewer struct {
	o   *oracle
	env *scenarioEnv
}

func (v oracleViewer) pull(now time.Time) scenarioView {
	s := v.o.pull(now)
	out := scenarioView{ok: s.ok, queued: float64(s.queued), oldest: make([]int64, len(v.env.channels))}
	for id, created := range v.o.believed {
		ch := v.env.channels[v.env.c.ChannelOf(id)]
		if t := created.UnixNano(); out.oldest[ch] == 0 || t < out.oldest[ch] {
			out.oldest[ch] = t
		}
	}
	return out
}

// oracle runs the quota replay's oracle with a budget of pages a day.
func (env *scenarioEnv) oracle(budget int64) scenarioOutcome {
	clock := &virtualClock{now: env.coldStart}
	o := &oracle{measureFrom: env.measureFrom, horizon: env.sc.horizon, rate: float64(budget) / secondsPerDay,
		believed: map[string]time.Time{}}
	o.env = centreWorld{c: env.c, clock: clock, o: o}
	return env.run(oracleViewer{o: o, env: env}, clock, func() int64 { return o.pages })
}

// scenarioStrategies are the strategies in the order of the lines.
var scenarioStrategies = []string{"exporter", "raw", "constant", "oracle", "reference"}

// strategiesToRun are the strategies -scenario.strategies names, in the
// order of the lines; all by default.
func strategiesToRun() []string {
	if *scenarioRun == "" {
		return scenarioStrategies
	}
	want := strings.Split(*scenarioRun, ",")
	return slices.DeleteFunc(slices.Clone(scenarioStrategies), func(s string) bool { return !slices.Contains(want, s) })
}

// runScenarioSeed runs every strategy on one scenario and seed. took is
// the wall time of each, and of building the centre and its truth
// ("centre"): printed, never asserted.
func runScenarioSeed(sc scenarioCase, seed int64) (out map[string]scenarioOutcome, env *scenarioEnv, took map[string]time.Duration) {
	took = map[string]time.Duration{}
	timed := func(name string, f func()) {
		start := time.Now()
		f()
		took[name] = time.Since(start)
	}
	timed("centre", func() { env = newScenarioEnv(sc, seed) })
	out = map[string]scenarioOutcome{}
	for _, s := range strategiesToRun() {
		timed(s, func() {
			switch s {
			case "exporter":
				out[s] = env.exporter(false)
			case "raw":
				out[s] = env.exporter(true)
			case "constant":
				out[s] = env.constant()
			case "oracle":
				out[s] = env.oracle(out["exporter"].requests)
			case "reference":
				out[s] = env.reference()
			}
		})
	}
	return out, env, took
}

// line is the pinned line of a scenario and strategy (README, "The quota
// replay").
func (o scenarioOutcome) line(sc scenarioCase, strategy string) string {
	minutes := func(s float64) string { return num(math.Round(s/60*10) / 10) }
	alert := func(prefix string, a alertScore) []string {
		return []string{
			prefix + "_true=" + strconv.Itoa(a.truth),
			prefix + "_detected=" + strconv.Itoa(a.detected),
			prefix + "_delay_mean_s=" + num(math.Round(mean(a.delays))),
			prefix + "_delay_max_s=" + num(math.Round(maxOrNaN(a.delays))),
			prefix + "_false_min=" + minutes(a.falseSec),
			prefix + "_missed_min=" + minutes(a.missedSec),
		}
	}
	requests := "-"
	if strategy != "constant" {
		requests = strconv.FormatInt(o.maxDay, 10)
	}
	f := []string{"scenario", sc.Name, "strategy=" + strategy, "seeds=" + strconv.Itoa(o.seeds),
		"queued_threshold=" + num(sc.queuedThreshold)}
	f = append(f, alert("queued", o.queued)...)
	f = append(f, "oldest_threshold_s="+num(sc.oldestThreshold.Seconds()))
	f = append(f, alert("oldest", o.oldest)...)
	bias := math.Round(o.bias/float64(o.pulls)*100) / 100
	if bias == 0 {
		bias = 0 // not "-0"
	}
	f = append(f, "err_mean="+num(o.errSum/float64(o.pulls)), "bias="+num(bias),
		"max_day_requests="+requests)
	return strings.Join(f, " ")
}

func maxOrNaN(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	return slices.Max(v)
}

// BenchmarkScenarios prints one line per scenario and strategy (make
// replay), after a comment line with the scenario's thresholds and truth,
// in the order of scenarioCases, each scenario's as soon as it and those
// before it are measured. Two workers run the seeds (each has its own
// centre and clocks), the busy tenant's first: the longest last would
// leave one core idle.
func BenchmarkScenarios(b *testing.B) {
	for b.Loop() {
		type job struct {
			sc   scenarioCase
			idx  int
			seed int64
		}
		var cases []scenarioCase
		for _, sc := range scenarioCases {
			if *scenarioOnly == "" || slices.Contains(strings.Split(*scenarioOnly, ","), sc.Name) {
				cases = append(cases, sc)
			}
		}
		var jobs []job
		for i, sc := range cases {
			for seed := int64(1); seed <= int64(*scenarioSeeds); seed++ {
				jobs = append(jobs, job{sc, i, seed})
			}
		}
		slices.SortStableFunc(jobs, func(a, b job) int {
			first := func(j job) int {
				if j.sc.Name == "busy" {
					return 0
				}
				return 1
			}
			return first(a) - first(b)
		})
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			queue     = make(chan job)
			done      = make([][]map[string]scenarioOutcome, len(cases))
			trueMeans = make([]float64, len(cases))
			took      = make([]map[string]time.Duration, len(cases))
			ready     = make([]string, len(cases))
			next      = 0
			start     = time.Now()
		)
		finish := func(j job, out map[string]scenarioOutcome, env *scenarioEnv, t map[string]time.Duration) {
			sc := j.sc
			trueMean, n := 0.0, 0
			for i, p := range env.pulls {
				if !p.at.Before(env.measureFrom) {
					trueMean += env.truth[i].queued
					n++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if *scenarioEach {
				for _, s := range strategiesToRun() {
					fmt.Println(strings.Replace(out[s].line(sc, s), "scenario "+sc.Name,
						fmt.Sprintf("scenario-seed %s seed=%d", sc.Name, j.seed), 1))
				}
			}
			done[j.idx] = append(done[j.idx], out)
			trueMeans[j.idx] += trueMean / float64(n) / float64(*scenarioSeeds)
			if took[j.idx] == nil {
				took[j.idx] = map[string]time.Duration{}
			}
			for k, d := range t {
				took[j.idx][k] += d
			}
			if len(done[j.idx]) < *scenarioSeeds {
				return
			}
			var perSeed []string
			for _, k := range append([]string{"centre"}, strategiesToRun()...) {
				perSeed = append(perSeed, fmt.Sprintf("%s %.1fs", k, (took[j.idx][k]/time.Duration(*scenarioSeeds)).Seconds()))
			}
			lines := []string{fmt.Sprintf("# scenario %s: queued > %s for %v; oldest queued wait > %v for %v; true mean queued %s; %d seeds, done %v after the start; wall time a seed: %s",
				sc.Name, num(sc.queuedThreshold), queuedFor, sc.oldestThreshold, oldestFor, num(trueMeans[j.idx]),
				*scenarioSeeds, time.Since(start).Round(time.Second), strings.Join(perSeed, ", "))}
			for _, s := range strategiesToRun() {
				var total scenarioOutcome
				for _, o := range done[j.idx] {
					total.add(o[s])
				}
				lines = append(lines, total.line(sc, s))
			}
			ready[j.idx] = strings.Join(lines, "\n")
			for next < len(cases) && ready[next] != "" {
				fmt.Println(ready[next])
				next++
			}
		}
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range queue {
					out, env, t := runScenarioSeed(j.sc, j.seed)
					finish(j, out, env, t)
				}
			}()
		}
		for _, j := range jobs {
			queue <- j
		}
		close(queue)
		wg.Wait()
	}
}

// span is a span [from, to) during which an alert fires.
type span struct{ from, to time.Time }

// alertRule is an alerting rule on one series: its value above threshold
// for at least hold (the rule's `for:`).
type alertRule struct {
	threshold float64
	hold      time.Duration
}

// alertState is one series' alert in one Prometheus server.
type alertState struct {
	rule     alertRule
	pending  bool
	activeAt time.Time
	firing   bool
	since    time.Time
	fired    []span
}

// eval is one evaluation of the rule at at, on the series' value (present:
// false when the series is absent).
func (a *alertState) eval(at time.Time, value float64, present bool) {
	if !present || !(value > a.rule.threshold) {
		if a.firing {
			a.fired = append(a.fired, span{a.since, at})
		}
		a.pending, a.firing = false, false
		return
	}
	if !a.pending {
		a.pending, a.activeAt = true, at
	}
	if !a.firing && at.Sub(a.activeAt) >= a.rule.hold {
		a.firing, a.since = true, at
	}
}

// timeline is the spans the alert fired, one still firing ending at end.
func (a *alertState) timeline(end time.Time) []span {
	out := slices.Clone(a.fired)
	if a.firing && a.since.Before(end) {
		out = append(out, span{a.since, end})
	}
	return out
}

// spanUnion merges two sorted lists of spans.
func spanUnion(a, b []span) []span {
	all := append(slices.Clone(a), b...)
	slices.SortFunc(all, func(x, y span) int { return x.from.Compare(y.from) })
	var out []span
	for _, iv := range all {
		if n := len(out); n > 0 && !iv.from.After(out[n-1].to) {
			if iv.to.After(out[n-1].to) {
				out[n-1].to = iv.to
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// clipSpans is the spans within [from, to).
func clipSpans(ivs []span, from, to time.Time) []span {
	var out []span
	for _, iv := range ivs {
		if iv.from.Before(from) {
			iv.from = from
		}
		if iv.to.After(to) {
			iv.to = to
		}
		if iv.from.Before(iv.to) {
			out = append(out, iv)
		}
	}
	return out
}

// spanSeconds is the total length of sorted, disjoint spans.
func spanSeconds(ivs []span) float64 {
	s := 0.0
	for _, iv := range ivs {
		s += iv.to.Sub(iv.from).Seconds()
	}
	return s
}

// overlapSeconds is the length of the intersection of two sorted lists of
// disjoint spans.
func overlapSeconds(a, b []span) float64 {
	s := 0.0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		from, to := a[i].from, a[i].to
		if b[j].from.After(from) {
			from = b[j].from
		}
		if b[j].to.Before(to) {
			to = b[j].to
		}
		if from.Before(to) {
			s += to.Sub(from).Seconds()
		}
		if a[i].to.Before(b[j].to) {
			i++
		} else {
			j++
		}
	}
	return s
}

// alertScore is how a strategy's alert did against the truth's.
type alertScore struct {
	truth, detected     int
	delays              []float64 // seconds, of the detected episodes
	falseSec, missedSec float64
}

func (a *alertScore) add(b alertScore) {
	a.truth += b.truth
	a.detected += b.detected
	a.delays = append(a.delays, b.delays...)
	a.falseSec += b.falseSec
	a.missedSec += b.missedSec
}

// scoreAlert scores the spans a strategy's alert fired (served) against
// the truth's over [from, to), by the definitions at the top of the file.
func scoreAlert(truth, served []span, from, to time.Time, grace time.Duration) alertScore {
	var s alertScore
	episodes := clipSpans(truth, from, to)
	for _, ep := range episodes {
		s.truth++
		end := ep.to.Add(grace)
		for _, iv := range served {
			if iv.to.After(ep.from) && iv.from.Before(end) {
				s.detected++
				s.delays = append(s.delays, max(iv.from.Sub(ep.from).Seconds(), 0))
				break
			}
		}
	}
	fired := clipSpans(served, from, to)
	both := overlapSeconds(episodes, fired)
	s.falseSec = spanSeconds(fired) - both
	s.missedSec = spanSeconds(episodes) - both
	return s
}

// The alert rule as Prometheus evaluates it: the condition held at every
// evaluation for `for:` before firing, reset by a false or absent value,
// resolved at the first evaluation that no longer holds.
func TestScenarioAlertRule(t *testing.T) {
	type sample struct {
		at      int // seconds
		value   float64
		present bool
	}
	on := func(at int, v float64) sample { return sample{at, v, true} }
	gone := func(at int) sample { return sample{at: at} }
	t0 := scenarioStart
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	cases := []struct {
		name    string
		rule    alertRule
		samples []sample
		end     int
		want    [][2]int // fired spans, seconds
	}{
		{"not held long enough", alertRule{50, 30 * time.Second},
			[]sample{on(0, 51), on(15, 60), on(30, 10), on(45, 51)}, 60, nil},
		{"fires once held for 30s, resolves when it drops", alertRule{50, 30 * time.Second},
			[]sample{on(0, 51), on(15, 51), on(30, 51), on(45, 51), on(60, 50), on(75, 51)}, 90, [][2]int{{30, 60}}},
		{"the threshold itself is not above it", alertRule{50, 0},
			[]sample{on(0, 50), on(15, 50)}, 30, nil},
		{"an absent series resets the pending alert", alertRule{600, time.Minute},
			[]sample{on(0, 700), on(30, 730), gone(45), on(60, 760), on(90, 790), on(120, 820)}, 150, [][2]int{{120, 150}}},
		{"an absent series resolves a firing one", alertRule{600, time.Minute},
			[]sample{on(0, 700), on(60, 760), gone(75), on(90, 790)}, 120, [][2]int{{60, 75}}},
		{"for: 0 fires at the first evaluation", alertRule{1, 0},
			[]sample{on(10, 2), on(20, 0), on(30, 2)}, 40, [][2]int{{10, 20}, {30, 40}}},
		{"uneven evaluations: the time held counts, not their number", alertRule{5, 30 * time.Second},
			[]sample{on(0, 6), on(7, 6), on(15, 6), on(22, 6), on(30, 6), on(37, 0)}, 60, [][2]int{{30, 37}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := &alertState{rule: c.rule}
			for _, s := range c.samples {
				a.eval(sec(s.at), s.value, s.present)
			}
			var got [][2]int
			for _, sp := range a.timeline(sec(c.end)) {
				got = append(got, [2]int{int(sp.from.Sub(t0).Seconds()), int(sp.to.Sub(t0).Seconds())})
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("fired %v, want %v", got, c.want)
			}
		})
	}
}

// Episodes, detection, delay, false and missed minutes, by the
// definitions at the top of the file, on hand-built spans: the day is
// [0, 3600) s, the grace 300 s.
func TestScenarioScore(t *testing.T) {
	t0 := scenarioStart
	spans := func(s ...[2]int) []span {
		var out []span
		for _, p := range s {
			out = append(out, span{t0.Add(time.Duration(p[0]) * time.Second), t0.Add(time.Duration(p[1]) * time.Second)})
		}
		return out
	}
	type want struct {
		truth, detected     int
		delays              []float64
		falseSec, missedSec float64
	}
	cases := []struct {
		name          string
		truth, served []span
		want          want
	}{
		{"exact", spans([2]int{100, 200}), spans([2]int{100, 200}), want{1, 1, []float64{0}, 0, 0}},
		{"late within the episode", spans([2]int{100, 400}), spans([2]int{160, 500}), want{1, 1, []float64{60}, 100, 60}},
		{"late within the grace", spans([2]int{100, 200}), spans([2]int{400, 450}), want{1, 1, []float64{300}, 50, 100}},
		{"after the grace: missed, and a false alarm", spans([2]int{100, 200}), spans([2]int{600, 700}), want{1, 0, nil, 100, 100}},
		{"firing before the episode: no delay", spans([2]int{100, 200}), spans([2]int{0, 300}), want{1, 1, []float64{0}, 200, 0}},
		{"one served span over two episodes", spans([2]int{100, 200}, [2]int{300, 400}), spans([2]int{150, 350}),
			want{2, 2, []float64{50, 0}, 100, 100}},
		{"never served", spans([2]int{100, 200}, [2]int{1000, 1600}), nil, want{2, 0, nil, 0, 700}},
		{"only false alarms", nil, spans([2]int{10, 70}, [2]int{100, 220}), want{0, 0, nil, 180, 0}},
		{"clipped to the day", spans([2]int{-100, 50}, [2]int{3500, 3700}, [2]int{4000, 4100}), spans([2]int{-50, 10}),
			want{2, 1, []float64{0}, 0, 140}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scoreAlert(c.truth, c.served, t0, t0.Add(time.Hour), 5*time.Minute)
			if got.truth != c.want.truth || got.detected != c.want.detected || !slices.Equal(got.delays, c.want.delays) ||
				got.falseSec != c.want.falseSec || got.missedSec != c.want.missedSec {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// The two servers' alerts: firing while either fires.
func TestScenarioSpanUnion(t *testing.T) {
	t0 := scenarioStart
	s := func(a, b int) span {
		return span{t0.Add(time.Duration(a) * time.Second), t0.Add(time.Duration(b) * time.Second)}
	}
	got := spanUnion([]span{s(0, 10), s(30, 40), s(100, 110)}, []span{s(5, 20), s(40, 50), s(200, 210)})
	want := []span{s(0, 20), s(30, 50), s(100, 110), s(200, 210)}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// The stall on one seed: the truth has its episodes, the reference (the
// whole window read once a minute) catches every one within a minute or
// two, and a constant catches none of the stall's. The exporter's figures
// are BenchmarkScenarios' to report (make replay), not this test's.
func TestScenarioReference(t *testing.T) {
	sc := scenarioCases[slices.IndexFunc(scenarioCases, func(c scenarioCase) bool { return c.Name == "stall" })]
	env := newScenarioEnv(sc, 1)
	ref, constant := env.reference(), env.constant()
	t.Log(ref.line(sc, "reference"))
	t.Log(constant.line(sc, "constant"))
	if ref.queued.truth < 1 || ref.oldest.truth < 1 {
		t.Fatalf("the stall made %d true episodes of too many queued, %d of queued too long", ref.queued.truth, ref.oldest.truth)
	}
	for _, a := range []struct {
		name  string
		score alertScore
	}{{"too many queued", ref.queued}, {"queued too long", ref.oldest}} {
		s := a.score
		if s.detected != s.truth {
			t.Errorf("%s: the reference caught %d of %d episodes", a.name, s.detected, s.truth)
		}
		if m := mean(s.delays); m > 180 {
			t.Errorf("%s: the reference's mean delay %.0f s", a.name, m)
		}
		if m := maxOrNaN(s.delays); m > 120 {
			t.Errorf("%s: the reference's worst delay %.0f s", a.name, m)
		}
		// A minute behind at each end of an episode at most.
		if limit := 120 * float64(s.truth); s.falseSec > limit || s.missedSec > limit {
			t.Errorf("%s: the reference's false alarms %.0f s, missed %.0f s", a.name, s.falseSec, s.missedSec)
		}
	}
	if e, c := ref.errSum/float64(ref.pulls), constant.errSum/float64(constant.pulls); e > 0.25*c {
		t.Errorf("the reference's mean error %.2f, the constant's %.2f", e, c)
	}
	if constant.queued.detected != 0 {
		t.Errorf("a constant of %.1f caught %d episodes above %v", constant.errSum, constant.queued.detected, sc.queuedThreshold)
	}
}

// TestScenarioStallCaught holds the exporter to issue 16's first incident:
// on the stall (seed 1: every agent stops picking for 45 minutes), every
// episode of both queue alerts that the truth raises, the exporter's
// served numbers raise too, with a mean delay under 3 minutes, closer to
// the truth than the day's mean served as a constant, within the share.
// Before the queue's pace was learned from the re-reads, it caught none.
func TestScenarioStallCaught(t *testing.T) {
	sc := scenarioCases[slices.IndexFunc(scenarioCases, func(c scenarioCase) bool { return c.Name == "stall" })]
	env := newScenarioEnv(sc, 1)
	exp, constant := env.exporter(false), env.constant()
	t.Log(exp.line(sc, "exporter"))
	for _, a := range []struct {
		name  string
		score alertScore
	}{{"too many queued", exp.queued}, {"queued too long", exp.oldest}} {
		s := a.score
		if s.truth < 1 || s.detected != s.truth {
			t.Errorf("%s: the exporter caught %d of %d episodes", a.name, s.detected, s.truth)
		}
		if m := mean(s.delays); m > 180 {
			t.Errorf("%s: the exporter's mean delay %.0f s", a.name, m)
		}
	}
	if e, c := exp.errSum/float64(exp.pulls), constant.errSum/float64(constant.pulls); e > c/2 {
		t.Errorf("the exporter's mean error %.2f, the constant's %.2f", e, c)
	}
	if exp.maxDay > replayQuota*replayQuotaShare {
		t.Errorf("the exporter made %d requests in 24 hours, over its share", exp.maxDay)
	}
}
