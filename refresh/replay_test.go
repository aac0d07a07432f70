package refresh

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// The quota replay: two days of a tenant's life on a virtual clock, pulled
// every 15 s by two Prometheus servers 7 s apart; the first day is the cold
// start, the second is measured. It compares four strategies:
//
//   - naive: walk every page on every pull;
//   - constant: serve the measured day's true mean, knowing nothing in real
//     time (the bar any exporter must clear by far);
//   - exporter: this package's Refresher;
//   - oracle: a clairvoyant reader with the exporter's request budget that
//     knows which pages changed, reads only pages that lower its error now
//     and pays for every page (the floor of what the budget buys).
const (
	replayQuota      = 10000
	replayQuotaShare = 0.5
	pullInterval     = 15 * time.Second
	secondServerLag  = 7 * time.Second // the HA pair does not pull in step
	// pageLatency is the virtual time one page costs: an API answering in
	// about 300 ms, four pages in flight.
	pageLatency = 75 * time.Millisecond
)

// workload is one simulated tenant of the replay's matrix.
type workload struct {
	arrivals float64
	history  int
	office   bool
}

func (w workload) String() string {
	profile := "flat"
	if w.office {
		profile = "office"
	}
	return fmt.Sprintf("arrivals=%.0f history=%d profile=%s", w.arrivals, w.history, profile)
}

func (w workload) config() simulator.Config {
	cfg := simulator.Config{Seed: 11, History: w.history, ArrivalsPerDay: w.arrivals, QuotaPerDay: replayQuota}
	if w.office {
		cfg.Profile = simulator.OfficeHours
	}
	return cfg
}

// replayMatrix is the matrix: arrivals × history, and office hours.
var replayMatrix = func() []workload {
	var m []workload
	for _, a := range []float64{1000, 3000, 10000, 30000} {
		for _, h := range []int{50000, 200000} {
			m = append(m, workload{arrivals: a, history: h})
		}
	}
	return append(m, workload{arrivals: 10000, history: 50000, office: true})
}()

// outcome is what one strategy did over the measured day.
type outcome struct {
	requests    int64     // requests made during the measured day
	busiestHour float64   // the largest share of the daily quota used in any hour
	maxDay      int64     // the most requests in any 24 hours of the replay, cold start included
	firstUp     float64   // seconds from the cold start to the first imichat_up 1; NaN: never
	age         []float64 // per pull: seconds since the served numbers were read
	err         []float64 // per pull: |served queued − true queued|
	oldestErr   []float64 // per pull: |served − true| wait of the oldest queued chat, seconds
	hasAge      bool
	hasFirstUp  bool
	// service holds what one Prometheus server (the first) was served of
	// the service level at the first pull of each hour of the measured
	// day, and at its end: increase() over each hour.
	service []*collector.ServiceLevel
}

// served is what one pull got.
type served struct {
	ok     bool
	queued int
	oldest time.Time // zero: no queued chat
	at     time.Time // when the numbers were read
	// service is the service level served; nil from a source that does
	// not count it.
	service *collector.ServiceLevel
}

// strategy answers a pull at now.
type strategy interface {
	pull(now time.Time) served
}

// replayEnv is one run: a tenant on a virtual clock, and its timeline.
type replayEnv struct {
	*testTenant
	day0, coldStart, measureFrom, measureTo time.Time
}

func newReplayEnv(tb testing.TB, w workload) *replayEnv {
	tt := newTestTenant(tb, w.config())
	now := tt.clock.Now()
	day0 := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	// The history ends at the simulator's start: move it to just after a
	// quota reset, then start cold.
	tt.clock.Advance(day0.Add(24*time.Hour + 30*time.Second).Sub(now))
	day0 = day0.Add(24 * time.Hour)
	return &replayEnv{testTenant: tt, day0: day0, coldStart: tt.clock.Now(),
		measureFrom: day0.Add(24 * time.Hour), measureTo: day0.Add(48 * time.Hour)}
}

// waitOf is how long the oldest queued chat has waited at now (0: none).
func waitOf(oldest, now time.Time) float64 {
	if oldest.IsZero() {
		return 0
	}
	return now.Sub(oldest).Seconds()
}

// pullSchedule is two Prometheus servers pulling in turn, the second
// secondServerLag after the first.
type pullSchedule struct{ next [2]time.Time }

func newPullSchedule(start time.Time) *pullSchedule {
	return &pullSchedule{next: [2]time.Time{start, start.Add(secondServerLag)}}
}

// pop returns the server that pulls next and when, and schedules its
// following pull interval(at) later.
func (p *pullSchedule) pop(interval func(at time.Time) time.Duration) (server int, at time.Time) {
	if p.next[1].Before(p.next[0]) {
		server = 1
	}
	at = p.next[server]
	p.next[server] = at.Add(interval(at))
	return server, at
}

// run pulls the strategy as two Prometheus servers would, and measures.
func (env *replayEnv) run(s strategy) outcome {
	var (
		out        outcome
		lastServed [2]served
		perHour    = map[int]int64{}
		perMinute  = map[int64]int64{}
	)
	out.firstUp = math.NaN()
	pulls := newPullSchedule(env.coldStart)
	for {
		server, at := pulls.pop(func(time.Time) time.Duration { return pullInterval })
		if !at.Before(env.measureTo) {
			break
		}
		env.clock.Advance(at.Sub(env.clock.Now()))
		before := env.Requests()
		got := s.pull(env.clock.Now())
		answered := env.clock.Now() // pages cost virtual time
		made := env.Requests() - before
		perMinute[at.Unix()/60] += made
		if got.ok {
			lastServed[server] = got
			if math.IsNaN(out.firstUp) {
				out.firstUp = answered.Sub(env.coldStart).Seconds()
			}
		}
		if at.Before(env.measureFrom) {
			continue
		}
		if server == 0 && !at.Before(env.measureFrom.Add(time.Duration(len(out.service))*time.Hour)) {
			out.service = append(out.service, lastServed[0].service)
		}
		out.requests += made
		perHour[int(at.Sub(env.measureFrom)/time.Hour)] += made
		last := lastServed[server]
		if !last.ok {
			out.age = append(out.age, math.Inf(1))
			out.err = append(out.err, math.Inf(1))
			out.oldestErr = append(out.oldestErr, math.Inf(1))
			continue
		}
		queued, oldest := env.Queued()
		out.age = append(out.age, answered.Sub(last.at).Seconds())
		out.err = append(out.err, math.Abs(float64(last.queued-queued)))
		out.oldestErr = append(out.oldestErr, math.Abs(waitOf(last.oldest, answered)-waitOf(oldest, answered)))
	}
	out.service = append(out.service, lastServed[0].service)
	for _, n := range perHour {
		out.busiestHour = max(out.busiestHour, float64(n)/replayQuota)
	}
	out.maxDay = maxInWindow(perMinute, 24*60)
	slices.Sort(out.age)
	slices.Sort(out.err)
	slices.Sort(out.oldestErr)
	return out
}

// maxInWindow is the largest sum of perMinute over any window of the given
// number of minutes.
func maxInWindow(perMinute map[int64]int64, minutes int64) int64 {
	keys := make([]int64, 0, len(perMinute))
	for k := range perMinute {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var best, sum int64
	lo := 0
	for _, k := range keys {
		sum += perMinute[k]
		for keys[lo] <= k-minutes {
			sum -= perMinute[keys[lo]]
			lo++
		}
		best = max(best, sum)
	}
	return best
}

// sourceStrategy serves what a collector.Source serves.
type sourceStrategy struct{ src collector.Source }

func (s sourceStrategy) pull(time.Time) served {
	snap, err := s.src.Snapshot(context.Background())
	if err != nil || snap.Counts == nil {
		return served{}
	}
	return servedFrom(snap)
}

func servedFrom(snap collector.Snapshot) served {
	out := served{ok: true, queued: queuedOf(snap.Counts), at: snap.RefreshedAt, service: snap.Service}
	for _, ch := range collector.Channels {
		if t, ok := oldestOf(snap.Counts, "queued", ch); ok && (out.oldest.IsZero() || t.Before(out.oldest)) {
			out.oldest = t
		}
	}
	return out
}

// slowFetcher charges each page its latency in virtual time.
type slowFetcher struct {
	apiclient.Fetcher
	clock *virtualClock
}

func (f slowFetcher) FetchPage(ctx context.Context, n int) (apiclient.Page, error) {
	f.clock.Advance(pageLatency)
	return f.Fetcher.FetchPage(ctx, n)
}

// walkEverything is the naive source: it walks every page on every pull.
type walkEverything struct {
	fetcher apiclient.Fetcher
	clock   *virtualClock
}

func (w walkEverything) Snapshot(ctx context.Context) (collector.Snapshot, error) {
	start := w.clock.Now()
	res, err := apiclient.Walk(ctx, w.fetcher, apiclient.WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 100000})
	snap := collector.Snapshot{Pages: res.Pages, Duration: res.Duration, RefreshedAt: start}
	if err != nil {
		return snap, err
	}
	snap.Counts = collector.NewCounts()
	for i := range res.Chats {
		snap.Counts.Add(&res.Chats[i])
	}
	snap.Counts.SetOldest(func(yield func(*apiclient.Chat) bool) {
		for i := range res.Chats {
			if !yield(&res.Chats[i]) {
				return
			}
		}
	})
	return snap, nil
}

func replayNaive(env *replayEnv) outcome {
	return env.run(sourceStrategy{walkEverything{slowFetcher{env.client, env.clock}, env.clock}})
}

func replayExporter(env *replayEnv) outcome { return replayExporterAt(env, replayQuotaShare) }

// replayExporterAt is the exporter at another share of the quota.
func replayExporterAt(env *replayEnv, share float64) outcome {
	r := env.refresher(Options{
		Fetcher:     slowFetcher{env.client, env.clock},
		FirstPage:   1,
		Concurrency: 4,
		MinInterval: 15 * time.Second,
		QuotaShare:  share,
		DailyBudget: replayQuota,
	})
	out := env.run(sourceStrategy{r})
	out.hasAge, out.hasFirstUp = true, true
	return out
}

// truthRecorder records the truth at every measured pull and serves
// nothing: the constant strategy's first pass.
type truthRecorder struct {
	env            *replayEnv
	queued, oldest []float64
}

func (c *truthRecorder) pull(now time.Time) served {
	if !now.Before(c.env.measureFrom) {
		q, o := c.env.Queued()
		c.queued = append(c.queued, float64(q))
		c.oldest = append(c.oldest, waitOf(o, now))
	}
	return served{}
}

// replayConstant serves the measured day's true means: its error at a
// pull is |mean − truth|. It makes no request, so the pulls fall at the
// same moments as the recorder's.
func replayConstant(tb testing.TB, w workload) outcome {
	rec := &truthRecorder{env: newReplayEnv(tb, w)}
	rec.env.run(rec)
	var out outcome
	queuedMean, waitMean := mean(rec.queued), mean(rec.oldest)
	for i := range rec.queued {
		out.err = append(out.err, math.Abs(queuedMean-rec.queued[i]))
		out.oldestErr = append(out.oldestErr, math.Abs(waitMean-rec.oldest[i]))
	}
	slices.Sort(out.err)
	slices.Sort(out.oldestErr)
	return out
}

// oracle knows the truth, has the exporter's request budget, and reads a
// page only when that lowers the error of its queued count now.
type oracle struct {
	env         oracleWorld
	measureFrom time.Time // the pages it reads from then on are counted
	// horizon: it looks at the chats created this long ago or since, and
	// at those it believes queued (default 7 h, longer than any queue wait
	// of the simulator).
	horizon  time.Duration
	rate     float64 // pages per second
	tokens   float64
	last     time.Time
	believed map[string]time.Time // chats it read as queued: their creation
	pages    int64
}

// oracleWorld is the truth the oracle reads: the chats created since a
// time, as they stand now, with their places in the list (a
// *simulator.Tenant, or the scenarios' contact centre).
type oracleWorld interface {
	Listing(since time.Time) []simulator.Listed
}

// oracleHoard bounds the budget the oracle may save up.
const oracleHoard = time.Hour

func (o *oracle) pull(now time.Time) served {
	if !o.last.IsZero() {
		o.tokens = min(o.tokens+o.rate*now.Sub(o.last).Seconds(), o.rate*oracleHoard.Seconds())
	}
	o.last = now
	horizon := o.horizon
	if horizon <= 0 {
		horizon = 7 * time.Hour
	}
	since := now.Add(-horizon)
	for _, c := range o.believed {
		if c.Before(since) {
			since = c
		}
	}
	type pageTruth struct {
		queued, believed []string
	}
	pages := map[int]*pageTruth{}
	at := func(p int) *pageTruth {
		if pages[p] == nil {
			pages[p] = &pageTruth{}
		}
		return pages[p]
	}
	truth := 0
	created := map[string]time.Time{}
	for _, l := range o.env.Listing(since) {
		p := l.Position / apiclient.PageSize
		if l.Status == "queued" {
			at(p).queued = append(at(p).queued, l.ID)
			created[l.ID] = l.CreatedAt
			truth++
		}
		if _, ok := o.believed[l.ID]; ok {
			at(p).believed = append(at(p).believed, l.ID)
		}
	}
	errNow := len(o.believed) - truth
	for o.tokens >= 1 {
		best, bestGain := -1, 0
		for p, pt := range pages {
			delta := len(pt.queued) - len(pt.believed)
			gain := abs(errNow) - abs(errNow+delta)
			if gain > bestGain || (gain == bestGain && gain > 0 && p < best) {
				best, bestGain = p, gain
			}
		}
		if best < 0 {
			break
		}
		pt := pages[best]
		for _, id := range pt.believed {
			delete(o.believed, id)
		}
		for _, id := range pt.queued {
			o.believed[id] = created[id]
		}
		errNow += len(pt.queued) - len(pt.believed)
		pt.believed = pt.queued
		o.tokens--
		if !now.Before(o.measureFrom) {
			o.pages++
		}
	}
	out := served{ok: true, queued: len(o.believed), at: now}
	for _, c := range o.believed {
		if out.oldest.IsZero() || c.Before(out.oldest) {
			out.oldest = c
		}
	}
	return out
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func replayOracle(tb testing.TB, w workload, budget int64) outcome {
	env := newReplayEnv(tb, w)
	o := &oracle{env: env, measureFrom: env.measureFrom, rate: float64(budget) / secondsPerDay, believed: map[string]time.Time{}}
	out := env.run(o)
	out.requests = o.pages
	out.busiestHour = math.NaN()
	out.maxDay = 0
	return out
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(p*float64(len(sorted))))-1)]
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// num prints a figure as the replay's lines want it: at most two decimals,
// "-" when it does not apply or was never reached.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func (o outcome) line(w workload, strategy string) string {
	field := func(ok bool, v float64) string {
		if !ok {
			return "-"
		}
		return num(v)
	}
	requests := "-"
	if strategy != "constant" {
		requests = strconv.FormatInt(o.requests, 10)
	}
	busiest := "-"
	if strategy == "naive" || strategy == "exporter" {
		busiest = strconv.FormatFloat(o.busiestHour, 'f', 3, 64)
	}
	firstUp := "-"
	if o.hasFirstUp || strategy == "naive" {
		firstUp = num(math.Round(o.firstUp))
	}
	hasAge := o.hasAge || strategy == "naive"
	return strings.Join([]string{"replay", w.String(),
		"strategy=" + strategy,
		"requests=" + requests,
		"busiest_hour=" + busiest,
		"first_up_s=" + firstUp,
		"age_p50_s=" + field(hasAge, math.Round(percentile(o.age, 0.5))),
		"age_p99_s=" + field(hasAge, math.Round(percentile(o.age, 0.99))),
		"err_mean=" + num(mean(o.err)),
		"err_p99=" + num(percentile(o.err, 0.99)),
		"err_max=" + num(o.err[len(o.err)-1]),
		"oldest_err_p99_s=" + num(math.Round(percentile(o.oldestErr, 0.99))),
	}, " ")
}

// replayWorkload runs the four strategies on one workload.
func replayWorkload(tb testing.TB, w workload) (naive, constant, exporter, oracle outcome, service serviceErrors) {
	env := newReplayEnv(tb, w)
	exporter = replayExporter(env)
	service = measureService(env, exporter)
	naive = replayNaive(newReplayEnv(tb, w))
	constant = replayConstant(tb, w)
	oracle = replayOracle(tb, w, exporter.requests)
	return
}

// BenchmarkReplay prints one line per workload and strategy (make replay),
// each workload's four as soon as they are measured. Workloads run two at a
// time: each has its own tenant and clock.
func BenchmarkReplay(b *testing.B) {
	for b.Loop() {
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			sem = make(chan struct{}, 2)
		)
		// run measures in a goroutine of its own, two at a time, and
		// prints its lines together.
		run := func(measure func() []string) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				lines := measure()
				mu.Lock()
				defer mu.Unlock()
				fmt.Println(strings.Join(lines, "\n"))
			}()
		}
		for _, w := range replayMatrix {
			run(func() []string {
				naive, constant, exporter, oracle, service := replayWorkload(b, w)
				lines := []string{naive.line(w, "naive"), constant.line(w, "constant"),
					exporter.line(w, "exporter"), oracle.line(w, "oracle"), service.line(w)}
				if exporter.maxDay > replayQuota*replayQuotaShare {
					lines = append(lines, fmt.Sprintf("# %v: the exporter made %d requests in one 24-hour window", w, exporter.maxDay))
				}
				return lines
			})
		}
		// What a larger share of the quota buys the service level where
		// the default share does not follow it (docs/metrics.md).
		for _, w := range serviceShareWorkloads {
			for _, share := range serviceShares {
				run(func() []string {
					env := newReplayEnv(b, w)
					return []string{measureService(env, replayExporterAt(env, share)).lineAt(w, share)}
				})
			}
		}
		wg.Wait()
	}
}

// TestQuotaReplay holds the exporter to the quota replay on one workload of
// the matrix (make replay runs them all): within the share in every
// 24 hours, up within a minute of a cold start, and far closer to the truth
// than a constant.
func TestQuotaReplay(t *testing.T) {
	// The history hardly matters past the lookback: a short one keeps the
	// test quick under the race detector.
	w := workload{arrivals: 3000, history: 10000}
	env := newReplayEnv(t, w)
	exporter := replayExporter(env)
	constant := replayConstant(t, w)
	service := measureService(env, exporter)
	t.Log(exporter.line(w, "exporter"))
	t.Log(constant.line(w, "constant"))
	t.Log(service.line(w))
	// The service level (issue 19's bars are 2 points in the worst hour
	// at this rate; measured 1.54, with 0.45 in a mean hour and 0.02 over
	// the day): bars that one chat counted in the next hour cannot cross.
	if service.arrivalsDay > 5 || service.sl60Mean > 1 || service.sl60Day > 0.5 || service.asaDay > 5 {
		t.Errorf("service level against the truth: %s", service.line(w))
	}
	if share := replayQuota * replayQuotaShare; exporter.maxDay > int64(share) {
		t.Errorf("%d requests in one 24-hour window, more than the share of %.0f", exporter.maxDay, share)
	}
	if exporter.firstUp > 60 {
		t.Errorf("first imichat_up 1 after %.0f s of virtual time", exporter.firstUp)
	}
	// The bar is a quarter of the constant's mean error; the
	// closing note gives the figure this workload reaches and why. This
	// test holds the line below which a change is a regression.
	// (Measured: 1.11 and 4 against the constant's 2.59 and 8.66; the bars
	// leave room for the walks' goroutines finishing in another order.)
	if e, c := mean(exporter.err), mean(constant.err); e > 0.6*c {
		t.Errorf("mean error of the queued count %.2f, more than 0.6 × the constant's %.2f", e, c)
	}
	if e, c := percentile(exporter.err, 0.99), percentile(constant.err, 0.99); e > 0.75*c {
		t.Errorf("99th percentile error of the queued count %.0f, more than 0.75 × the constant's %.1f", e, c)
	}
}
