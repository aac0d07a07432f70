package refresh

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// Options configure a Refresher. Zero values take the defaults documented
// on each field.
type Options struct {
	Fetcher apiclient.Fetcher
	// FirstPage is the API's first page number (1 by default).
	FirstPage int
	// Concurrency is the pages in flight at once in a run of consecutive
	// pages. Default 1.
	Concurrency int
	// MaxPages bounds the pages one refresh reads, so that a cold start
	// serves what it has read after each refresh instead of after hours.
	// Default 100.
	MaxPages int
	// RateLimit returns the last rate-limit headers seen (APIMetrics.RateLimit).
	RateLimit func() apiclient.RateLimit

	// MinInterval: a result younger than this is served as is, so that an
	// HA pair of Prometheus servers costs one refresh, not two.
	MinInterval time.Duration
	// Lookback: chats created longer ago are outside the exporter's view.
	// Default 24h.
	Lookback time.Duration
	// SweepInterval is how long one pass of the rolling re-read of the
	// whole window should take (it catches a reopened or deleted chat);
	// the quota may stretch it. Default 24h.
	SweepInterval time.Duration
	// MaxAge: served numbers older than this are refreshed whatever the
	// scheduler expects to find, quota permitting: it bounds how late an
	// expired token is noticed on a quiet tenant. Default 2m.
	MaxAge time.Duration
	// QuotaShare is the largest part of the API quota the exporter uses
	// in any 24 hours. Default 0.5.
	QuotaShare float64
	// DailyBudget is the quota assumed when the API sends no rate-limit
	// headers. Default 10,000, the documented quota.
	DailyBudget int64
	// RawCounts serves every chat as last read. By default a chat last
	// read queued that has most probably left the queue since counts as
	// picked (see nowcast.go).
	RawCounts bool
	// Quota is the tenant's quota when several teams share it: their
	// refreshers draw on it together. nil: one of the refresher's own,
	// from QuotaShare and DailyBudget.
	Quota *Quota
	// Timeout bounds one refresh, which goes on in the background when a
	// scrape stops waiting for it. Default 5m.
	Timeout time.Duration

	Now    func() time.Time
	Logger log.Logger
}

// The defaults of the settings a user may change: the flags and the
// configuration file take theirs from here.
const (
	DefaultMaxPages      = 100
	DefaultLookback      = 24 * time.Hour
	DefaultSweepInterval = 24 * time.Hour
	DefaultQuotaShare    = 0.5
	// DefaultDailyBudget is the documented quota of a tenant.
	DefaultDailyBudget = 10000
	DefaultTimeout     = 5 * time.Minute
)

func (o *Options) setDefaults() {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.MaxPages < 1 {
		o.MaxPages = DefaultMaxPages
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultLookback
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 2 * time.Minute
	}
	if o.QuotaShare <= 0 || o.QuotaShare > 1 {
		o.QuotaShare = DefaultQuotaShare
	}
	if o.DailyBudget <= 0 {
		o.DailyBudget = DefaultDailyBudget
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.RateLimit == nil {
		o.RateLimit = func() apiclient.RateLimit { return apiclient.RateLimit{} }
	}
	if o.Quota == nil {
		o.Quota = NewQuota(o.QuotaShare, o.DailyBudget)
	}
}

// Reasons a refresh is held back: label values of a public metric.
const (
	SkipMinInterval = "min_interval"
	SkipQuota       = "quota"
	SkipBackoff     = "backoff"
)

// Parts of a refresh: label values of imichat_refresh_pages_total.
const (
	PartHead   = "head"
	PartDeepen = "deepen"
	PartOpen   = "open"
	PartSweep  = "sweep"
)

const (
	// coldStartShare is the part of a day's share that a cold start may
	// spend at once to cover the window; the pace after it is slower by as
	// much until it leaves the 24-hour window.
	coldStartShare = 0.3
	// deepenShare is the part of the pace that deepens an incomplete
	// window once the cold start's grant is spent. The rest keeps the
	// numbers people are paged on right.
	deepenShare = 0.25
	// sweepMaxShare bounds the rolling re-read's part of the pace.
	sweepMaxShare = 0.1
	// maxBackoff bounds the wait between retries after failed refreshes:
	// a rotated token is picked up within it.
	maxBackoff = time.Minute
	// Bounds of the price of a page, in chat-seconds: the expected error of
	// the served numbers (a queued chat counts 1) accumulated since the page
	// was last read.
	// The floor is all but zero: a tenant whose quota affords every page
	// gets every page that may have changed.
	// It starts at the floor: the pacer bounds what is spent, and the
	// price rises as soon as the bucket runs low.
	minPrice, maxPrice = 1e-9, 1e7
	// priceGain is how fast the price follows the bucket's level, per
	// minute: a full bucket divides it by e^0.15 a minute.
	priceGain = 0.3
)

// Refresher is a collector.Source that spends the API quota where it
// corrects the served numbers most. Concurrent scrapes share one refresh, a
// recent result is served as is, and every refresh reads, within the pages
// the quota allows:
//
//   - head: the pages from the first one down to the newest chat already
//     known, where every new chat appears;
//   - deepen: on a cold start, the next pages down, until the window
//     reaches the lookback (the first day covered in a burst, the rest at a
//     part of the pace);
//   - open: the pages whose open chats have most probably changed status
//     since they were read, priced by what the exporter has learned of how
//     long chats stay queued, picked and on hold, and read while they are
//     worth the price of a page;
//   - sweep: a rolling re-read of the window that catches what the others
//     cannot see (a closed chat reopened, a chat deleted).
//
// The price of a page rises when the quota's bucket runs low and falls when
// it fills: the exporter spends its share on the pages worth most.
//
// A scrape waits for a refresh only until its own deadline; the refresh goes
// on in the background, bounded by Timeout.
type Refresher struct {
	opts Options

	mu       sync.Mutex
	running  chan struct{} // closed when the refresh in flight ends; nil when none
	served   *collector.Snapshot
	lastErr  error
	lastTook time.Duration
	lastTry  time.Time
	failures int // consecutive failed refreshes

	// Owned by the refresh in flight, or by Snapshot under mu when none
	// is in flight.
	state    *chatState
	model    *model
	pacer    *pacer
	lastHead time.Time // when the head was last read
	// What the last head read covered: the positions from the top, and
	// whether it reached the end of the list.
	headReach  int
	headAtEnd  bool
	price      float64
	deepTokens float64 // pages the deepening may read
	granted    bool    // the cold start's grant is given
	sweepDue   float64 // pages the sweep is behind
	sweepNext  time.Time
	lastPages  int

	skipped *prometheus.CounterVec
	pages   *prometheus.CounterVec
}

// New returns a refresher; register it to export its counters.
func New(opts Options) *Refresher {
	opts.setDefaults()
	r := &Refresher{
		opts:  opts,
		model: newModel(),
		pacer: opts.Quota.join(),
		price: minPrice,
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imichat", Name: "refresh_skipped_total",
			Help: "Refreshes of the chat list held back, by reason: min_interval (a result younger than --imichat.min-refresh-interval was served), quota (the quota's pace left nothing worth a page to read), backoff (waiting after failed refreshes).",
		}, []string{"reason"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imichat", Name: "refresh_pages_total",
			Help: "Pages requested by refreshes, by part: head (the newest chats), deepen (covering the window down to the lookback), open (pages of open chats that have probably changed), sweep (the rolling re-read of the window).",
		}, []string{"part"}),
	}
	for _, reason := range []string{SkipMinInterval, SkipQuota, SkipBackoff} {
		r.skipped.WithLabelValues(reason)
	}
	for _, part := range []string{PartHead, PartDeepen, PartOpen, PartSweep} {
		r.pages.WithLabelValues(part)
	}
	return r
}

// Close gives the refresher's part of its tenant's quota back to the
// tenant's other teams; a refresh in flight ends on its own. Use it when a
// team is no longer exported.
func (r *Refresher) Close() { r.pacer.leave() }

// Describe implements prometheus.Collector.
func (r *Refresher) Describe(ch chan<- *prometheus.Desc) {
	r.skipped.Describe(ch)
	r.pages.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Refresher) Collect(ch chan<- prometheus.Metric) {
	r.skipped.Collect(ch)
	r.pages.Collect(ch)
}

// ErrNoResultYet is returned until the first refresh has read the head.
var ErrNoResultYet = errors.New("no read of the chat list yet: the first refresh is still running")

// Snapshot returns the freshest result the quota allows, waiting for a
// refresh at most until ctx is done.
func (r *Refresher) Snapshot(ctx context.Context) (collector.Snapshot, error) {
	r.mu.Lock()
	now := r.opts.Now()
	if r.running == nil {
		switch reason := r.holdBack(now); reason {
		case "":
			r.running = make(chan struct{})
			r.lastTry = now
			go r.refresh(r.running)
		default:
			r.skipped.WithLabelValues(reason).Inc()
		}
	}
	running := r.running
	r.mu.Unlock()

	if running != nil {
		select {
		case <-running:
		case <-ctx.Done():
			// Prometheus gives up soon: answer with what there is.
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastErr != nil {
		return collector.Snapshot{Pages: r.lastPages, Duration: r.lastTook}, r.lastErr
	}
	if r.served == nil {
		return collector.Snapshot{}, ErrNoResultYet
	}
	return *r.served, nil
}

// holdBack says why no refresh should start now, or "" to start one. It
// runs under mu with no refresh in flight.
func (r *Refresher) holdBack(now time.Time) string {
	if r.state == nil {
		return "" // nothing read yet
	}
	sinceTry := now.Sub(r.lastTry)
	if r.failures > 0 {
		if sinceTry < min(r.opts.MinInterval<<min(r.failures-1, 16), maxBackoff) {
			return SkipBackoff
		}
	} else if sinceTry < r.opts.MinInterval && !r.deepening() {
		return SkipMinInterval
	}
	r.fill(now)
	affordable := r.affordable()
	if affordable < 1 {
		return SkipQuota
	}
	// A retry, or numbers older than MaxAge: read whatever the pages are
	// worth, on the team's own part of the quota.
	if (r.failures > 0 || r.served != nil && now.Sub(r.served.RefreshedAt) >= r.opts.MaxAge) &&
		r.pacer.ownAffordable(now, r.opts.RateLimit()) >= 1 {
		return ""
	}
	headValue, headCost := r.headValue(now)
	// Deepening and the sweep ride on a head read: worth a refresh when
	// the bucket pays for both.
	if extra := float64(affordable) - headCost; extra >= 1 && (r.deepening() || r.sweepDue >= 1) {
		return ""
	}
	best := 0.0
	if pages := r.openPages(now, int(math.Round(r.model.arrivalRate()*now.Sub(r.lastHead).Seconds()))); len(pages) > 0 {
		best = pages[0].value
	}
	if headValue/headCost >= r.price || (best >= r.price && (headValue+best)/(headCost+1) >= r.price) {
		return ""
	}
	return SkipQuota
}

// deepening says the window is not yet complete and may deepen now.
func (r *Refresher) deepening() bool {
	return !r.state.complete && r.deepTokens >= 1
}

// fill brings the pacer, the deepening's and the sweep's allowances and
// the price of a page up to now.
func (r *Refresher) fill(now time.Time) {
	if !r.granted {
		// The cold start's burst, paid for by a slower pace afterwards;
		// granted at the first refresh, when the tenant's teams have all
		// joined its quota, so that they share it evenly.
		r.deepTokens += r.pacer.grant(coldStartShare)
		r.granted = true
	}
	rate, since := r.pacer.fill(now, r.opts.RateLimit(), r.model.arrivalRate())
	r.price = r.pacer.price()
	r.model.settle(now)
	if since <= 0 {
		return
	}
	dt := since.Seconds()
	if !r.state.complete {
		r.deepTokens += deepenShare * rate * dt
	}
	windowPages := float64(len(r.state.list))/apiclient.PageSize + 1
	sweepRate := min(windowPages/r.opts.SweepInterval.Seconds(), sweepMaxShare*rate)
	r.sweepDue = min(r.sweepDue+sweepRate*dt, windowPages)
}

// Value weights: the queued count is what people are paged on.
const (
	weightQueued = 1.0
	weightOther  = 0.01
	// headWeight discounts the head: an error there is corrected by the
	// next head read anyway, while one further down lasts until its page
	// is chosen. Measured on the quota replay: 1 gave a mean error of 1.30
	// at 3,000 chats a day, 0.5 gave 1.25, 2 gave 1.36.
	headWeight = 0.5
	// weightOldest is added for the oldest queued chat of a channel: a
	// phantom there holds a "queued too long" alert up.
	weightOldest = 1.0
)

// The worth of a read is the error of the served numbers that it is
// expected to correct, accumulated since the page was last read, in
// chat-seconds: a chat that probably changed a minute ago is worth more
// than one that probably changed a second ago, and a page is read once what
// it has accumulated reaches the price of a page. For an error that grows
// steadily (the new chats at the head) this reads it at the period that
// minimises the mean error for the quota spent; an error that stays (a
// queued chat picked since it was read) is read before long; a chat that
// probably has not changed is left alone, however stale.

// headValue is what reading the head now is worth: the new chats since the
// head was last read, and the known chats that stay on the first page; and
// its expected cost in pages.
func (r *Refresher) headValue(now time.Time) (value, cost float64) {
	span := now.Sub(r.lastHead)
	arrived := r.model.arrivalRate() * span.Seconds()
	value = r.model.newChatArea(span, weightQueued, weightOther)
	for i := 0; i < len(r.state.list) && float64(i)+arrived < apiclient.PageSize; i++ {
		value += r.chatValue(r.state.list[i], now, nil)
	}
	return headWeight * value, 1 + math.Floor(arrived/apiclient.PageSize)
}

// chatValue is what re-reading one chat now is worth.
func (r *Refresher) chatValue(e *entry, now time.Time, oldest map[string]*entry) float64 {
	if !collector.IsOpen(&e.Chat) {
		return 0
	}
	w := weightOther
	if e.Status == "queued" {
		w = weightQueued
		if oldest != nil && oldest[e.Channel] == e {
			w += weightOldest
		}
	}
	return w * r.model.changedArea(e, now)
}

// pageValue is a page the scheduler could re-read, and its worth.
type pageValue struct {
	page  int
	value float64
}

// openPages prices the pages holding open chats, best first, as they will
// stand once shift new chats have pushed the list down.
func (r *Refresher) openPages(now time.Time, shift int) []pageValue {
	s := r.state
	oldest := map[string]*entry{}
	for _, e := range s.open {
		if e.Status == "queued" {
			if o := oldest[e.Channel]; o == nil || compareEntries(e, o) > 0 {
				oldest[e.Channel] = e
			}
		}
	}
	byPage := map[int]float64{}
	for _, e := range s.open {
		if v := r.chatValue(e, now, oldest); v > 0 {
			byPage[r.opts.FirstPage+(s.index(e)+shift)/apiclient.PageSize] += v
		}
	}
	pages := make([]pageValue, 0, len(byPage))
	for p, v := range byPage {
		pages = append(pages, pageValue{p, v})
	}
	sortPages(pages)
	return pages
}

// sortPages orders pages best first; the page number breaks ties, so that
// the order does not depend on a map's.
func sortPages(pages []pageValue) {
	slices.SortFunc(pages, func(a, b pageValue) int {
		if c := cmp.Compare(b.value, a.value); c != 0 {
			return c
		}
		return cmp.Compare(a.page, b.page)
	})
}

// refresh runs in the background, one at a time.
func (r *Refresher) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	wallStart := time.Now()
	start := r.opts.Now()

	t := tally{}
	err := r.step(ctx, start, t)
	took := time.Since(wallStart)

	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(done)
	defer func() { r.running = nil }()
	for part, n := range t {
		r.pages.WithLabelValues(part).Add(float64(n))
	}
	if errors.Is(err, errOutOfQuota) {
		r.skipped.WithLabelValues(SkipQuota).Inc()
		return
	}
	r.lastPages, r.lastTook, r.lastErr = t.total(), took, err
	if err != nil {
		r.failures++
		level.Error(r.opts.Logger).Log("msg", "refreshing the chat list failed", "pages", t.total(), "failures", r.failures, "err", err)
		return
	}
	r.failures = 0
	s := r.state
	counts := s.current().Clone()
	if !r.opts.RawCounts {
		r.nowcast(counts, start)
	}
	r.served = &collector.Snapshot{
		Counts: counts, Pages: t.total(), Duration: took,
		RefreshedAt: start, Coverage: s.covered,
	}
}

// tally counts the pages a refresh requested, by part.
type tally map[string]int

func (t tally) total() int {
	n := 0
	for _, v := range t {
		n += v
	}
	return n
}

// errOutOfQuota ends a refresh that finds no request left to read the
// head with (the tenant's other teams spent the last ones between the
// decision to refresh and the first page, or a new team's tenant has spent
// its share): the last result, if any, stays served, and the refresh
// counts as held back.
var errOutOfQuota = errors.New("the tenant's quota was spent by its other teams")

// step is one refresh: head, deepen, open pages, sweep, within the pages
// the pacer allows. Each run of pages reserves its pages of the tenant's
// quota first, so that the teams of a tenant refreshing at once cannot
// together spend more than it has.
func (r *Refresher) step(ctx context.Context, now time.Time, t tally) error {
	if r.state == nil {
		r.state = newChatState()
		r.state.observe = r.model.learn
	}
	r.fill(now)
	cutoff := now.Add(-r.opts.Lookback)
	r.state.prune(cutoff)
	defer func() { r.state.prune(r.opts.Now().Add(-r.opts.Lookback)) }()
	pagesLeft := r.opts.MaxPages
	// run reads at most want pages with read, within the quota.
	run := func(part string, want int, read func(budget int) (int, error)) error {
		budget := r.reserve(want)
		if budget < 1 && part == PartHead {
			return errOutOfQuota
		}
		if budget < 1 {
			return nil
		}
		n, err := read(budget)
		r.pacer.settle(r.opts.Now(), budget, n)
		t[part] += n
		pagesLeft -= n
		return err
	}

	headPages := pagesLeft
	if r.state.covered.IsZero() {
		headPages = min(headPages, max(r.pacer.fairHardLimit(r.opts.Now(), r.opts.RateLimit()), 1))
	}
	err := run(PartHead, headPages, func(budget int) (int, error) {
		return r.readHead(ctx, now, cutoff, budget)
	})
	if err != nil {
		if errors.Is(err, errOutOfQuota) {
			return err
		}
		return fmt.Errorf("head: %w", err)
	}
	r.state.prune(cutoff) // a cold head may have reached the lookback

	if !r.state.complete {
		err := run(PartDeepen, min(pagesLeft, int(r.deepTokens), r.affordable()), func(budget int) (int, error) {
			n, err := r.deepen(ctx, cutoff, budget)
			r.deepTokens = max(r.deepTokens-float64(n), 0)
			return n, err
		})
		if err != nil {
			return fmt.Errorf("deepen: %w", err)
		}
	}

	if pagesLeft > 0 && r.affordable() >= 1 {
		for _, pv := range r.openPages(now, 0) {
			if pv.value < r.price || pagesLeft < 1 || r.affordable() < 1 {
				break
			}
			err := run(PartOpen, 1, func(int) (int, error) {
				p, err := r.opts.Fetcher.FetchPage(ctx, pv.page)
				if err != nil {
					return 1, fmt.Errorf("page %d: %w", pv.page, err)
				}
				r.state.replace(p.Chats, now, pv.page == r.opts.FirstPage, len(p.Chats) < apiclient.PageSize)
				return 1, nil
			})
			if err != nil {
				return fmt.Errorf("open chats: %w", err)
			}
		}
	}

	err = run(PartSweep, min(int(r.sweepDue), pagesLeft, r.affordable()), func(budget int) (int, error) {
		n, err := r.sweep(ctx, now, cutoff, budget)
		r.sweepDue = max(r.sweepDue-float64(n), 0)
		if r.headAtEnd {
			r.sweepDue = 0 // the head read the whole window
		}
		return n, err
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// readHead reads from the first page down to the newest chat already
// known (or, on a cold start, as far as maxPages and the lookback allow).
// When the known chats lie deeper than maxPages (after a long outage), the
// state starts over from what was read: the window deepens again, and the
// coverage says how far it reaches meanwhile.
func (r *Refresher) readHead(ctx context.Context, now, cutoff time.Time, maxPages int) (int, error) {
	s := r.state
	newest := s.newest()
	cold := s.covered.IsZero()
	stop, concurrency := cutoff, r.opts.Concurrency
	if !cold {
		concurrency = 1 // a head is a page or two: no speculation
		if newest != nil && !newest.key.Before(stop) {
			stop = newest.key.Add(time.Nanosecond) // known territory
		}
	}
	res, err := r.readRun(ctx, r.opts.FirstPage, maxPages, concurrency, stop)
	if err != nil {
		return res.Pages, err
	}
	fresh := res.Chats
	keys := sortKeys(fresh, now)
	var oldestRead time.Time
	if len(fresh) > 0 {
		oldestRead = keys[len(keys)-1]
	}
	reached := res.EndOfList || len(fresh) == 0 || (newest != nil && !oldestRead.After(newest.key))
	if !cold && !reached {
		level.Info(r.opts.Logger).Log("msg", "the newest known chat lies deeper than one refresh reads; covering the window again from the top", "max_pages", maxPages)
		s = newChatState()
		s.observe = r.model.learn
		r.state = s
		cold = true
	}
	if !cold && newest != nil {
		arrived := 0
		for i := range fresh {
			if keys[i].After(newest.key) {
				arrived++
			}
		}
		r.model.sawArrivals(arrived, now.Sub(r.lastHead), now)
	}
	s.replace(fresh, now, true, res.EndOfList)
	if cold {
		if len(fresh) == 0 {
			s.extend(now, true)
		} else {
			s.extend(oldestRead, res.EndOfList)
		}
	} else if res.EndOfList {
		s.complete = true
	}
	r.lastHead = now
	r.headReach, r.headAtEnd = len(fresh), res.EndOfList
	if len(fresh) > 0 {
		r.headReach = s.index(s.byID[fresh[len(fresh)-1].ID]) + 1
	}
	return res.Pages, nil
}

// quotaOut tells, from the rate-limit headers of the answers so far,
// that the API's quota has no request left for us: a run of pages ends
// there.
func (r *Refresher) quotaOut() bool {
	rl := r.opts.RateLimit()
	return rl.HasRemaining && rl.Remaining < 1
}

// affordable is what the pacer allows now, with the latest headers.
func (r *Refresher) affordable() int {
	return r.pacer.affordable(r.opts.Now(), r.opts.RateLimit())
}

// reserve takes up to n pages of the tenant's quota for a run about to
// start; the run's end settles it with what it used.
func (r *Refresher) reserve(n int) int {
	return r.pacer.reserve(r.opts.Now(), r.opts.RateLimit(), n)
}

// readRun reads consecutive pages from first: at most maxPages, and no
// further than the page that reaches past cutoff (the lookback, or the
// newest chat known for a head), the end of the list, or the end of the
// quota.
func (r *Refresher) readRun(ctx context.Context, first, maxPages, concurrency int, cutoff time.Time) (apiclient.WalkResult, error) {
	last := first + maxPages - 1
	return apiclient.Walk(ctx, r.opts.Fetcher, apiclient.WalkOptions{
		FirstPage: first, Concurrency: concurrency, MaxPages: maxPages,
		Until: func(p apiclient.Page) bool {
			oldest, dated := oldestDated(p.Chats)
			return p.Number >= last || len(p.Chats) == 0 || (dated && oldest.Before(cutoff)) || r.quotaOut()
		}})
}

// deepen reads the pages below the window's coverage, towards the lookback.
// It relies on the head having just been read: the state's positions are
// the list's.
func (r *Refresher) deepen(ctx context.Context, cutoff time.Time, maxPages int) (int, error) {
	s := r.state
	// Start on the page of the oldest chat covered: the run overlaps the
	// state by a chat at least, which proves no chat fell between.
	first := r.opts.FirstPage + max(len(s.list)-1, 0)/apiclient.PageSize
	res, err := r.readRun(ctx, first, maxPages, r.opts.Concurrency, cutoff)
	if err != nil {
		return res.Pages, err
	}
	now := r.opts.Now()
	if len(res.Chats) == 0 {
		if res.EndOfList {
			s.extend(s.covered, true)
		}
		return res.Pages, nil
	}
	// The run must overlap what is covered, or a chat between the two may
	// have been missed (the list moved up): then it extends nothing.
	keys := sortKeys(res.Chats, now)
	if keys[0].Before(s.covered) {
		return res.Pages, nil
	}
	s.replace(res.Chats, now, false, res.EndOfList)
	s.extend(keys[len(keys)-1], res.EndOfList)
	return res.Pages, nil
}

// sweep re-reads maxPages consecutive pages from where it left off, and
// starts again from the top once past the lookback.
func (r *Refresher) sweep(ctx context.Context, now, cutoff time.Time, maxPages int) (int, error) {
	s := r.state
	first := r.opts.FirstPage
	if r.sweepNext.IsZero() {
		// From the top: below what the head has just read.
		if r.headAtEnd {
			return 0, nil
		}
		first += r.headReach / apiclient.PageSize
	} else {
		// From the page of the last chat swept, so that the runs overlap.
		first += max(s.firstOlderThan(r.sweepNext)-1, 0) / apiclient.PageSize
	}
	res, err := r.readRun(ctx, first, maxPages, r.opts.Concurrency, cutoff)
	if err != nil {
		return res.Pages, err
	}
	s.replace(res.Chats, now, first == r.opts.FirstPage, res.EndOfList)
	if len(res.Chats) == 0 {
		r.sweepNext = time.Time{}
		return res.Pages, nil
	}
	if oldest := sortKeys(res.Chats, now)[len(res.Chats)-1]; res.EndOfList || oldest.Before(cutoff) {
		r.sweepNext = time.Time{}
	} else {
		r.sweepNext = oldest
	}
	return res.Pages, nil
}

// Quota is the quota the refresher draws on.
func (r *Refresher) Quota() *Quota { return r.opts.Quota }
