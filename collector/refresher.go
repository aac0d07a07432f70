package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// RefresherOptions configure a Refresher. Zero values take the defaults
// documented on each field.
type RefresherOptions struct {
	Fetcher apiclient.Fetcher
	// Walk bounds full walks: first page, concurrency, page limit.
	Walk apiclient.WalkOptions
	// RateLimit returns the last rate-limit headers seen (APIMetrics.RateLimit).
	RateLimit func() apiclient.RateLimit

	// MinInterval: a result younger than this is served as is.
	MinInterval time.Duration
	// FullWalkInterval: the whole list is re-read once per interval (a
	// rolling re-walk), to catch what cheap refreshes cannot see. The pacer
	// may stretch it when the quota does not allow it. Default 24h.
	FullWalkInterval time.Duration
	// OpenRefreshInterval: open chats below the head of the list are
	// re-read when their data is older than this, quota permitting.
	// Default 10m.
	OpenRefreshInterval time.Duration
	// QuotaShare is the largest part of the API quota the exporter uses.
	// Default 0.5.
	QuotaShare float64
	// DailyBudget is the quota assumed when the API sends no rate-limit
	// headers. Default 10,000, the documented quota.
	DailyBudget int64
	// Timeout bounds one refresh, which goes on in the background when a
	// scrape stops waiting for it. Default 10m.
	Timeout time.Duration
	// MaxBurst bounds the requests one refresh may spend below the head,
	// however much quota went unspent before it. Default 100.
	MaxBurst int

	Now    func() time.Time
	Logger log.Logger
}

func (o *RefresherOptions) setDefaults() {
	if o.FullWalkInterval <= 0 {
		o.FullWalkInterval = 24 * time.Hour
	}
	if o.OpenRefreshInterval <= 0 {
		o.OpenRefreshInterval = 10 * time.Minute
	}
	if o.QuotaShare <= 0 || o.QuotaShare > 1 {
		o.QuotaShare = 0.5
	}
	if o.DailyBudget <= 0 {
		o.DailyBudget = 10000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.MaxBurst <= 0 {
		o.MaxBurst = 100
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
}

// Reasons a refresh is held back: label values of a public metric.
const (
	SkipMinInterval = "min_interval"
	SkipQuota       = "quota"
)

// Refresher is a Source that spends the API quota sparingly. Concurrent
// scrapes share one refresh; a recent result is served as is; refreshes are
// paced to the quota; and a refresh re-reads only what can have changed:
//
//   - head: the pages from the first one down to the newest chat already
//     known, which holds every new chat and the young queued ones;
//   - open: the pages holding open chats further down whose data is older
//     than OpenRefreshInterval, queued before picked before on hold;
//   - sweep: a rolling re-walk of the whole list, a few pages per refresh,
//     that completes once per FullWalkInterval and catches what the others
//     cannot see (a closed chat reopened, a chat deleted).
//
// A scrape waits for a refresh only until its own deadline; the refresh goes
// on in the background, bounded by Timeout.
type Refresher struct {
	opts RefresherOptions

	mu        sync.Mutex
	running   chan struct{} // closed when the refresh in flight ends; nil when none
	state     *chatState    // owned by the refresh in flight
	served    *Snapshot     // the last complete result
	lastErr   error         // the last refresh's error, nil on success
	lastPages int
	lastTook  time.Duration
	lastTry   time.Time
	// lastHeadPages is what the last head refresh cost: the least a
	// refresh is expected to cost.
	lastHeadPages int
	pacer         *pacer
	sweep         sweepCursor

	skipped *prometheus.CounterVec
	pages   *prometheus.CounterVec
}

// sweepCursor is where the rolling re-walk goes on: below the chats created
// at or after next. A zero next means the top of the list.
type sweepCursor struct {
	next time.Time
	due  float64 // pages the sweep is behind schedule
	last time.Time
}

// NewRefresher returns a refresher; register it to export its counters.
func NewRefresher(opts RefresherOptions) *Refresher {
	opts.setDefaults()
	r := &Refresher{
		opts:  opts,
		pacer: newPacer(opts.QuotaShare, opts.DailyBudget, opts.MaxBurst),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refresh_skipped_total",
			Help: "Refreshes of the chat list held back, by reason: min_interval (a result younger than --imichat.min-refresh-interval was served), quota (the quota pacing could not afford one; the last complete result was served).",
		}, []string{"reason"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refresh_pages_total",
			Help: "Pages requested by refreshes, by part: full (a walk of the whole list), head (the newest chats), open (pages holding open chats further down), sweep (the rolling re-walk).",
		}, []string{"part"}),
	}
	for _, reason := range []string{SkipMinInterval, SkipQuota} {
		r.skipped.WithLabelValues(reason)
	}
	for _, part := range []string{"full", "head", "open", "sweep"} {
		r.pages.WithLabelValues(part)
	}
	return r
}

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

// ErrNoResultYet is returned until the first complete read of the list.
var ErrNoResultYet = errors.New("no complete read of the chat list yet: the first walk is still running")

// Snapshot returns the freshest complete result the quota allows, waiting
// for a refresh at most until ctx is done.
func (r *Refresher) Snapshot(ctx context.Context) (Snapshot, error) {
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
		return Snapshot{Pages: r.lastPages, Duration: r.lastTook}, r.lastErr
	}
	if r.served == nil {
		return Snapshot{}, ErrNoResultYet
	}
	return *r.served, nil
}

// holdBack says why no refresh should start now, or "" to start one.
func (r *Refresher) holdBack(now time.Time) string {
	if r.served == nil && r.lastErr == nil {
		return "" // nothing to serve yet
	}
	if now.Sub(r.lastTry) < r.opts.MinInterval {
		return SkipMinInterval
	}
	budget, _ := r.pacer.fill(now, r.opts.RateLimit())
	if r.pacer.head < 1 || budget < float64(max(r.lastHeadPages, 1)) {
		return SkipQuota
	}
	return ""
}

// refresh runs in the background, one at a time.
func (r *Refresher) refresh(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	start := r.opts.Now()
	wallStart := time.Now()

	r.mu.Lock()
	state := r.state
	// Below the head, spend what the bucket holds, and never past the
	// period's budget.
	restTokens := int(min(r.pacer.rest, r.pacer.budget-float64(max(r.lastHeadPages, 1))))
	r.mu.Unlock()

	var (
		t      tally
		err    error
		forced bool // a full walk made whatever the buckets held
	)
	switch {
	case state == nil:
		state, err = r.fullWalk(ctx, start, &t)
		forced = true
	case restTokens >= state.pages():
		// A list the quota can afford to read whole is read whole: that
		// is exact, and no dearer than reading its parts.
		state, err = r.fullWalk(ctx, start, &t)
	default:
		err = r.incremental(ctx, state, start, restTokens, &t)
		if errors.Is(err, errHeadTooDeep) {
			level.Info(r.opts.Logger).Log("msg", "the head refresh found no known chat within the page limit; walking the whole list", "max_pages", r.opts.Walk.MaxPages)
			state, err = r.fullWalk(ctx, start, &t)
			forced = true
		}
	}
	took := time.Since(wallStart)

	r.mu.Lock()
	defer r.mu.Unlock()
	defer close(done)
	defer func() { r.running = nil }()
	for part, n := range t.pages {
		r.pages.WithLabelValues(part).Add(float64(n))
	}
	r.pacer.fill(r.opts.Now(), r.opts.RateLimit())
	if forced {
		r.pacer.record(t.total())
	} else {
		// A full walk made in place of a head refresh charges its first
		// page to the head, like the head refresh it stands for.
		headPages := t.pages["head"] + min(t.pages["full"], 1)
		r.pacer.charge(headPages, t.total()-headPages)
	}
	r.lastPages, r.lastTook, r.lastErr = t.total(), took, err
	if n := t.pages["head"]; n > 0 {
		r.lastHeadPages = n
	}
	if err != nil {
		return
	}
	r.state = state
	r.served = &Snapshot{Counts: state.counts.Clone(), Pages: t.total(), Duration: took, RefreshedAt: start}
}

// tally counts the pages a refresh requested, by part.
type tally struct{ pages map[string]int }

func (t *tally) add(part string, n int) {
	if t.pages == nil {
		t.pages = map[string]int{}
	}
	t.pages[part] += n
}

func (t *tally) total() int {
	n := 0
	for _, v := range t.pages {
		n += v
	}
	return n
}

func (r *Refresher) fullWalk(ctx context.Context, now time.Time, t *tally) (*chatState, error) {
	res, err := apiclient.Walk(ctx, r.opts.Fetcher, r.opts.Walk)
	t.add("full", res.Pages)
	if err != nil {
		return nil, err
	}
	r.sweep = sweepCursor{last: now}
	return newChatStateFrom(res.Chats, now), nil
}

var errHeadTooDeep = errors.New("head refresh did not reach a known chat")

// queuedRefreshInterval is how stale a queued chat below the head may get
// before its page is re-read, whatever OpenRefreshInterval says: the queued
// count is what people are paged on. Measured on the quota replay, reading
// deeper on every head refresh instead costs more in age than it gains in
// accuracy.
const queuedRefreshInterval = time.Minute

// incremental refreshes the head, then spends up to restTokens requests on
// open chats and the sweep.
func (r *Refresher) incremental(ctx context.Context, s *chatState, now time.Time, restTokens int, t *tally) error {
	newest := s.newest()
	head := r.opts.Walk
	head.Until = func(p apiclient.Page) bool {
		// Known territory: this page reaches the newest chat of the state.
		return newest != nil && len(p.Chats) > 0 && !p.Chats[len(p.Chats)-1].CreatedAt.After(newest.CreatedAt)
	}
	res, err := apiclient.Walk(ctx, r.opts.Fetcher, head)
	t.add("head", res.Pages)
	if errors.Is(err, apiclient.ErrTooManyPages) {
		return errHeadTooDeep
	}
	if err != nil {
		return fmt.Errorf("head: %w", err)
	}
	s.replace(res.Chats, now, true, res.EndOfList)

	budget := restTokens
	if budget > 0 {
		n, err := r.refreshOpen(ctx, s, now, budget)
		t.add("open", n)
		if err != nil {
			return fmt.Errorf("open chats: %w", err)
		}
		budget -= n
	}
	n, err := r.sweepOn(ctx, s, now, budget)
	t.add("sweep", n)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// refreshOpen re-reads, one page each, the pages holding open chats whose
// data is older than OpenRefreshInterval: queued first, then picked, then
// on hold, the stalest first. It returns the requests made.
func (r *Refresher) refreshOpen(ctx context.Context, s *chatState, now time.Time, budget int) (int, error) {
	var stale []*entry
	for _, e := range s.open {
		interval := r.opts.OpenRefreshInterval
		if e.Status == "queued" {
			interval = min(interval, queuedRefreshInterval)
		}
		if now.Sub(e.readAt) >= interval {
			stale = append(stale, e)
		}
	}
	if len(stale) == 0 {
		return 0, nil
	}
	rank := map[string]int{"queued": 0, "picked": 1, "onhold": 2}
	slices.SortFunc(stale, func(a, b *entry) int {
		if d := rank[a.Status] - rank[b.Status]; d != 0 {
			return d
		}
		return a.readAt.Compare(b.readAt)
	})
	requested := 0
	for _, e := range stale {
		if requested >= budget {
			break
		}
		if s.byID[e.ID] != e || !e.readAt.Before(now) {
			continue // re-read with an earlier page of this refresh
		}
		page := r.opts.Walk.FirstPage + s.index(e)/apiclient.PageSize
		p, err := r.opts.Fetcher.FetchPage(ctx, page)
		requested++
		if err != nil {
			return requested, fmt.Errorf("page %d: %w", page, err)
		}
		s.replace(p.Chats, now, false, len(p.Chats) < apiclient.PageSize)
	}
	return requested, nil
}

// sweepOn advances the rolling re-walk by the pages it is due, at most
// budget. It returns the requests made.
func (r *Refresher) sweepOn(ctx context.Context, s *chatState, now time.Time, budget int) (int, error) {
	sw := &r.sweep
	totalPages := float64(s.pages())
	if !sw.last.IsZero() {
		sw.due += totalPages * now.Sub(sw.last).Seconds() / r.opts.FullWalkInterval.Seconds()
	}
	sw.last = now
	sw.due = min(sw.due, totalPages)
	n := min(int(sw.due), budget)
	if n < 1 {
		return 0, nil
	}
	// Resume at the page holding the first chat older than the cursor.
	start := 0
	if !sw.next.IsZero() {
		start = s.firstOlderThan(sw.next)
	}
	page := r.opts.Walk.FirstPage + start/apiclient.PageSize
	opts := r.opts.Walk
	opts.FirstPage, opts.MaxPages = page, n
	opts.Until = func(p apiclient.Page) bool { return p.Number >= page+n-1 }
	res, err := apiclient.Walk(ctx, r.opts.Fetcher, opts)
	if err != nil {
		return res.Pages, err
	}
	sw.due -= float64(res.Pages)
	s.replace(res.Chats, now, page == r.opts.Walk.FirstPage, res.EndOfList)
	if res.EndOfList || len(res.Chats) == 0 {
		sw.next = time.Time{}
	} else {
		sw.next = res.Chats[len(res.Chats)-1].CreatedAt
	}
	return res.Pages, nil
}
