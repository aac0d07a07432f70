package refresh

import (
	"context"
	"errors"
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

// Refresher is a collector.Source that spends the API quota where it
// corrects the served numbers most (see the package comment). Concurrent
// scrapes share one turn: the engine plans it, and either holds the pull
// back (the last result is served) or refreshes. A scrape waits for the
// turn only until its own deadline; a refresh goes on in the background,
// bounded by Timeout.
type Refresher struct {
	opts Options
	// eng belongs to the turn in flight; turns run one at a time.
	eng *engine

	mu      sync.Mutex    // guards what scrapes read, below
	running chan struct{} // closed when the turn in flight ends; nil when none
	last    result
	heldBy  string // why the last turn held back (a Skip reason); "" when it refreshed

	skipped *prometheus.CounterVec
	pages   *prometheus.CounterVec
}

// result is what the last refresh gave scrapes to serve.
type result struct {
	served *collector.Snapshot // the last successful refresh's; nil before
	err    error               // the last refresh's error; nil when it succeeded
	// Of the last refresh, for a failed one's Snapshot.
	pages int
	took  time.Duration
}

// New returns a refresher; register it to export its counters.
func New(opts Options) *Refresher {
	opts.setDefaults()
	r := &Refresher{
		opts: opts,
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imichat", Name: "refresh_skipped_total",
			Help: "Refreshes of the chat list held back, by reason: min_interval (a result younger than --imichat.min-refresh-interval was served), quota (the quota's pace left nothing worth a page to read), backoff (waiting after failed refreshes).",
		}, []string{"reason"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "imichat", Name: "refresh_pages_total",
			Help: "Pages requested by refreshes, by part: head (the newest chats), deepen (covering the window down to the lookback), open (pages of open chats that have probably changed), sweep (the rolling re-read of the window).",
		}, []string{"part"}),
	}
	r.eng = newEngine(&r.opts)
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
func (r *Refresher) Close() { r.eng.pacer.leave() }

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

// ErrHeldByQuota is returned instead of ErrNoResultYet when the team's last
// turn was held back by its tenant's quota (other teams, another name of
// the tenant or an earlier run of the exporter spent its share).
var ErrHeldByQuota = errors.New("no read of the chat list yet: held back by the tenant's API quota (see imichat_refresh_skipped_total{reason=\"quota\"})")

// Snapshot returns the freshest result the quota allows, waiting for the
// turn it joins or starts at most until ctx is done.
func (r *Refresher) Snapshot(ctx context.Context) (collector.Snapshot, error) {
	r.mu.Lock()
	if r.running == nil {
		r.running = make(chan struct{})
		go r.turn(r.running)
	}
	running := r.running
	r.mu.Unlock()

	select {
	case <-running:
	case <-ctx.Done():
		// Prometheus gives up soon: answer with what there is.
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.err != nil {
		return collector.Snapshot{Pages: r.last.pages, Duration: r.last.took}, r.last.err
	}
	if r.last.served == nil {
		if r.heldBy == SkipQuota {
			return collector.Snapshot{}, ErrHeldByQuota
		}
		return collector.Snapshot{}, ErrNoResultYet
	}
	return *r.last.served, nil
}

// turn runs in the background, one at a time: it owns the engine until
// it ends, and publishes what scrapes are to serve.
func (r *Refresher) turn(done chan struct{}) {
	e := r.eng
	now := r.opts.Now()
	p := e.plan(now)
	level.Debug(r.opts.Logger).Log(p.keyvals()...)
	if p.hold != "" {
		r.skipped.WithLabelValues(p.hold).Inc()
		r.end(done, r.estimate(now), p.hold)
		return
	}
	r.run(done, now, p)
}

// estimate is the last result brought up to now without a read: the
// chats that have most probably left the queue since were read go on
// leaving it between refreshes. nil when there is nothing to bring up to
// date (no result yet, the last refresh failed, or raw counts).
func (r *Refresher) estimate(now time.Time) *result {
	e := r.eng
	if e.lastServed.IsZero() || e.failures > 0 || r.opts.RawCounts {
		return nil
	}
	r.mu.Lock()
	last := r.last
	r.mu.Unlock()
	if last.served == nil || last.err != nil {
		return nil
	}
	snap := *last.served
	snap.Counts = e.served(now)
	last.served = &snap
	return &last
}

// run refreshes at now by plan p, and ends the turn.
func (r *Refresher) run(done chan struct{}, now time.Time, p plan) {
	e := r.eng
	e.lastTry = now
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeout)
	defer cancel()
	wallStart := time.Now()
	t := tally{}
	err := e.refresh(ctx, now, p, t)
	took := time.Since(wallStart)
	for part, n := range t {
		r.pages.WithLabelValues(part).Add(float64(n))
	}
	level.Debug(r.opts.Logger).Log("msg", "refresh read", "head", t[PartHead], "deepen", t[PartDeepen], "open", t[PartOpen], "sweep", t[PartSweep], "err", err)
	if errors.Is(err, errOutOfQuota) {
		r.skipped.WithLabelValues(SkipQuota).Inc()
		r.end(done, r.estimate(now), SkipQuota)
		return
	}
	next := result{pages: t.total(), took: took, err: err}
	if err != nil {
		e.failures++
		level.Error(r.opts.Logger).Log("msg", "refreshing the chat list failed", "pages", t.total(), "failures", e.failures, "err", err)
		r.end(done, &next, "")
		return
	}
	e.failures = 0
	e.lastServed = now
	next.served = &collector.Snapshot{
		Counts: e.served(now), Pages: t.total(), Duration: took,
		RefreshedAt: now, Coverage: e.state.covered, Service: e.service.level.Clone(),
	}
	r.end(done, &next, "")
}

// end ends a turn, publishing next unless it is nil (a held-back pull: the
// last result stays served; a failed refresh keeps the last numbers for
// nothing, its error is served); heldBy is why it held back, if it did.
func (r *Refresher) end(done chan struct{}, next *result, heldBy string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heldBy = heldBy
	if next != nil {
		served := r.last.served
		r.last = *next
		if r.last.served == nil {
			r.last.served = served
		}
	}
	r.running = nil
	close(done)
}
