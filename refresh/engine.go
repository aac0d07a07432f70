package refresh

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-kit/log/level"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// engine is what one team's refreshes know and decide: the merged state of
// the chat list, what has been learned of the tenant, the team's account
// with its tenant's quota and the allowances of the parts. It belongs to
// the turn in flight (Refresher.turn): turns run one at a time, so nothing
// in it is locked.
type engine struct {
	opts  *Options
	state *chatState // nil until the first turn
	model *model
	pacer *pacer
	// service counts what the reads show of the queue's service; it
	// outlives a state that starts over.
	service *serviceLog

	// The head's last read: when, how far down it reached (positions from
	// the top), and whether it reached the end of the list.
	lastHead  time.Time
	headReach int
	headAtEnd bool
	// sweepNext is the creation time the sweep goes on from; zero: from
	// the top.
	sweepNext time.Time
	allow     allowances
	granted   bool // the cold start's grant is given

	lastTry    time.Time // when the last refresh started
	failures   int       // consecutive failed refreshes
	lastServed time.Time // when the numbers served were read; zero: none yet
}

// allowances are the pages the parts that ride on a head read may read:
// each fills at its part of the pace and is spent by its reads.
type allowances struct {
	deepen float64 // towards the lookback, while the window is incomplete
	sweep  float64 // the rolling re-read; at most the window's pages
}

func newEngine(opts *Options) *engine {
	m := newModel()
	return &engine{opts: opts, model: m, pacer: opts.Quota.join(), service: newServiceLog(m)}
}

// Why a refresh starts: the plan's reason, logged.
const (
	whyFirst   = "first"     // nothing read yet
	whyRetry   = "retry"     // the last refresh failed
	whyMaxAge  = "max_age"   // the numbers served are older than maxAge
	whyDeepen  = "deepen"    // the window is incomplete and the bucket pays for it
	whySweep   = "sweep"     // the sweep is due and the bucket pays for it
	whyHead    = "head"      // the new chats are worth a head read
	whyOpen    = "open"      // an open chat's page is worth a read
	whyNothing = "held_back" // nothing is: the pull is held back
)

// plan is what a turn does: hold the pull back (hold names why), or
// refresh. A refresh reads its parts in order (head, deepen, open, sweep)
// within the pages the quota allows when each starts:
//
//   - head: from the first page down to the newest chat known (a cold
//     start: as far as the tenant's fair part of the hard limit, at most
//     headPages);
//   - deepen: up to deepen pages below the window's coverage;
//   - open: the pages of open chats worth at least price, best first,
//     priced again after the head read since new chats move them down;
//   - sweep: up to sweep pages of the rolling re-read, from where it left
//     off.
type plan struct {
	hold string // a Skip* reason; "" to refresh
	why  string // what decided it (the why* constants)

	price         float64 // of a page, in chat-seconds, when the plan was made
	headWorth     float64 // what a head read is expected to correct
	headExpected  float64 // pages the head is expected to take
	bestOpen      pageWorth
	headPages     int // most pages the head may read
	deepen, sweep int // most pages these parts may read
}

// keyvals describes the plan for a log line.
func (p plan) keyvals() []any {
	kv := []any{"msg", "refresh plan", "why", p.why}
	if p.hold != "" {
		kv = append(kv, "held_back", p.hold)
	}
	return append(kv, "price", p.price, "head_worth", p.headWorth, "head_pages_expected", p.headExpected,
		"best_open_page", p.bestOpen.page, "best_open_worth", p.bestOpen.worth,
		"head_pages_max", p.headPages, "deepen_pages", p.deepen, "sweep_pages", p.sweep)
}

// plan decides what the turn at now does. It is the one place that
// decides whether a pull is worth requests: a refresh is due after a
// failure (once its backoff has passed) or when the numbers served are
// older than maxAge (on the team's own part of the quota), and otherwise
// when the bucket pays for the deepening or the sweep, or the head or the
// best open page is worth the price of a page.
func (e *engine) plan(now time.Time) plan {
	if e.state == nil {
		e.state = newChatState()
		e.state.observe = e.observe
		return e.parts(now, e.accrue(now), whyFirst)
	}
	sinceTry := now.Sub(e.lastTry)
	if e.failures > 0 {
		if sinceTry < min(e.opts.MinInterval<<min(e.failures-1, 16), maxBackoff) {
			return plan{hold: SkipBackoff, why: whyNothing}
		}
	} else if sinceTry < e.opts.MinInterval && !e.deepening() {
		return plan{hold: SkipMinInterval, why: whyNothing}
	}
	price := e.accrue(now)
	// A retry, or numbers older than maxAge: read whatever the pages are
	// worth, on the team's own part of the quota (a lone team's numbers
	// even in debt).
	if e.failures > 0 || !e.lastServed.IsZero() && now.Sub(e.lastServed) >= maxAge {
		if e.pacer.ownAffordable(now, e.opts.RateLimit(), e.failures == 0) >= 1 {
			why := whyMaxAge
			if e.failures > 0 {
				why = whyRetry
			}
			return e.parts(now, price, why)
		}
	}
	affordable := e.affordable()
	if affordable < 1 {
		return plan{hold: SkipQuota, why: whyNothing, price: price}
	}
	p := e.parts(now, price, whyNothing)
	p.headWorth, p.headExpected = e.headWorth(now)
	// Deepening and the sweep ride on a head read: worth a refresh when
	// the bucket pays for both.
	if extra := float64(affordable) - p.headExpected; extra >= 1 && (e.deepening() || e.allow.sweep >= 1) {
		p.why = whySweep
		if e.deepening() {
			p.why = whyDeepen
		}
		return p
	}
	// The open pages as they will stand once the new chats expected since
	// the last head read have pushed the list down.
	shift := int(math.Round(e.model.arrivalRate() * now.Sub(e.lastHead).Seconds()))
	if pages := e.openPages(now, shift); len(pages) > 0 {
		p.bestOpen = pages[0]
	}
	best := p.bestOpen.worth
	switch {
	case p.headWorth/p.headExpected >= price:
		p.why = whyHead
	case best >= price && (p.headWorth+best)/(p.headExpected+1) >= price &&
		float64(affordable) >= p.headExpected+1:
		// The head is read first: an open page needs a page beyond it, or
		// the refresh would read the head alone, pull after pull, and
		// spend the pace on what was not worth it.
		p.why = whyOpen
	default:
		p.hold = SkipQuota
	}
	return p
}

// parts fills in the pages each part of a refresh at now may read.
func (e *engine) parts(now time.Time, price float64, why string) plan {
	p := plan{why: why, price: price, headPages: e.opts.MaxPages,
		deepen: int(e.allow.deepen), sweep: int(e.allow.sweep)}
	if e.state.covered.IsZero() {
		// A cold start reads no more than its even part of what the
		// tenant may spend now, so that the first team to start does
		// not take what the others need for their first reads.
		p.headPages = min(p.headPages, max(e.pacer.fairHardLimit(now, e.opts.RateLimit()), 1))
	}
	return p
}

// deepening says the window is not yet complete and may deepen now.
func (e *engine) deepening() bool {
	return !e.state.complete && e.allow.deepen >= 1
}

// accrue brings the pacer, the allowances and the price of a page up to
// now, and returns the price.
func (e *engine) accrue(now time.Time) (price float64) {
	if !e.granted {
		// The cold start's burst, paid for by a slower pace afterwards;
		// granted at the first refresh, when the tenant's teams have all
		// joined its quota, so that they share it evenly.
		e.allow.deepen += e.pacer.grant(coldStartShare)
		e.granted = true
	}
	rate, since := e.pacer.refill(now, e.opts.RateLimit(), e.model.arrivalRate())
	price = e.pacer.price()
	e.model.ageTo(now)
	if since <= 0 {
		return price
	}
	dt := since.Seconds()
	if !e.state.complete {
		e.allow.deepen += deepenShare * rate * dt
	}
	windowPages := float64(len(e.state.list))/apiclient.PageSize + 1
	sweepRate := min(windowPages/e.opts.SweepInterval.Seconds(), sweepMaxShare*rate)
	e.allow.sweep = min(e.allow.sweep+sweepRate*dt, windowPages)
	return price
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

// refresh reads the plan's parts, within the pages the pacer allows. Each
// run of pages reserves its pages of the tenant's quota first, so that the
// teams of a tenant refreshing at once cannot together spend more than it
// has.
func (e *engine) refresh(ctx context.Context, now time.Time, p plan, t tally) error {
	cutoff := now.Add(-e.opts.Lookback)
	e.state.prune(cutoff)
	e.service.prune(cutoff)
	e.service.start(now)
	defer func() { e.state.prune(e.opts.Now().Add(-e.opts.Lookback)) }()
	pagesLeft := e.opts.MaxPages
	// read reads at most want pages with readPages, within the quota.
	read := func(part string, want int, readPages func(budget int) (int, error)) error {
		budget := e.reserve(want)
		if budget < 1 && part == PartHead {
			return errOutOfQuota
		}
		if budget < 1 {
			return nil
		}
		n, err := readPages(budget)
		e.pacer.release(e.opts.Now(), budget, n)
		t[part] += n
		pagesLeft -= n
		return err
	}

	err := read(PartHead, min(pagesLeft, p.headPages), func(budget int) (int, error) {
		return e.readHead(ctx, now, cutoff, budget)
	})
	if err != nil {
		if errors.Is(err, errOutOfQuota) {
			return err
		}
		return fmt.Errorf("head: %w", err)
	}
	e.state.prune(cutoff) // a cold head may have reached the lookback

	if !e.state.complete {
		err := read(PartDeepen, min(pagesLeft, p.deepen, e.affordable()), func(budget int) (int, error) {
			n, err := e.deepen(ctx, cutoff, budget)
			e.allow.deepen = max(e.allow.deepen-float64(n), 0)
			return n, err
		})
		if err != nil {
			return fmt.Errorf("deepen: %w", err)
		}
	}

	// A refresh that keeps the numbers fresh re-reads the page of the
	// chat served as the oldest queued, whatever the price: the
	// too-long alert rests on it, and when a stuck queue starts moving it
	// is the first to leave (agents pick the longest waiting).
	if p.why == whyMaxAge && pagesLeft > 0 {
		if oldest := e.servedOldestQueued(now); oldest != nil {
			page := e.opts.FirstPage + e.state.index(oldest)/apiclient.PageSize
			err := read(PartOpen, 1, func(int) (int, error) {
				return 1, e.readOpenPage(ctx, now, page)
			})
			if err != nil {
				return fmt.Errorf("oldest queued chat: %w", err)
			}
		}
	}

	if pagesLeft > 0 && e.affordable() >= 1 {
		for _, pw := range e.openPages(now, 0) {
			if pw.worth < p.price || pagesLeft < 1 || e.affordable() < 1 {
				break
			}
			err := read(PartOpen, 1, func(int) (int, error) {
				return 1, e.readOpenPage(ctx, now, pw.page)
			})
			if err != nil {
				return fmt.Errorf("open chats: %w", err)
			}
		}
	}

	err = read(PartSweep, min(p.sweep, pagesLeft, e.affordable()), func(budget int) (int, error) {
		n, err := e.sweep(ctx, now, cutoff, budget)
		e.allow.sweep = max(e.allow.sweep-float64(n), 0)
		if e.headAtEnd {
			e.allow.sweep = 0 // the head read the whole window
		}
		return n, err
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return nil
}

// observe takes what one read showed of one chat: the model learns from
// it, the service log counts it.
func (e *engine) observe(o observation) {
	e.model.learn(o)
	e.service.see(o)
}

// readOpenPage re-reads one page of open chats.
func (e *engine) readOpenPage(ctx context.Context, now time.Time, n int) error {
	page, err := e.opts.Fetcher.FetchPage(ctx, n)
	if err != nil {
		return fmt.Errorf("page %d: %w", n, err)
	}
	e.state.replace(page.Chats, now, n == e.opts.FirstPage, len(page.Chats) < apiclient.PageSize)
	return nil
}

// served is the numbers a successful refresh at now serves: the state's
// counts, with the chats that have most probably left the queue since
// they were read moved out of it unless raw counts are asked for.
func (e *engine) served(now time.Time) *collector.Counts {
	counts := e.state.current().Clone()
	if !e.opts.RawCounts {
		e.nowcast(counts, now)
	}
	return counts
}

// readHead reads from the first page down to the newest chat already
// known (or, on a cold start, as far as maxPages and the lookback allow).
// When the known chats lie deeper than maxPages (after a long outage), the
// state starts over from what was read: the window deepens again, and the
// coverage says how far it reaches meanwhile.
func (e *engine) readHead(ctx context.Context, now, cutoff time.Time, maxPages int) (int, error) {
	s := e.state
	newest := s.newest()
	cold := s.covered.IsZero()
	stop, concurrency := cutoff, e.opts.Concurrency
	if !cold {
		concurrency = 1 // a head is a page or two: no speculation
		if newest != nil && !newest.key.Before(stop) {
			stop = newest.key.Add(time.Nanosecond) // known territory
		}
	}
	res, err := e.readRun(ctx, e.opts.FirstPage, maxPages, concurrency, stop)
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
		level.Info(e.opts.Logger).Log("msg", "the newest known chat lies deeper than one refresh reads; covering the window again from the top", "max_pages", maxPages)
		s = newChatState()
		s.observe = e.observe
		e.state = s
		cold = true
	}
	if !cold && newest != nil {
		arrived := 0
		for i := range fresh {
			if keys[i].After(newest.key) {
				arrived++
			}
		}
		e.model.sawArrivals(arrived, now.Sub(e.lastHead), now)
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
	e.lastHead = now
	e.headReach, e.headAtEnd = len(fresh), res.EndOfList
	if len(fresh) > 0 {
		e.headReach = s.index(s.byID[fresh[len(fresh)-1].ID]) + 1
	}
	return res.Pages, nil
}

// quotaOut tells, from the rate-limit headers of the answers so far,
// that the API's quota has no request left for us: a run of pages ends
// there.
func (e *engine) quotaOut() bool {
	rl := e.opts.RateLimit()
	return rl.HasRemaining && rl.Remaining < 1
}

// affordable is what the pacer allows now, with the latest headers.
func (e *engine) affordable() int {
	return e.pacer.affordable(e.opts.Now(), e.opts.RateLimit())
}

// reserve takes up to n pages of the tenant's quota for a run about to
// start; the run's end releases what it did not use.
func (e *engine) reserve(n int) int {
	return e.pacer.reserve(e.opts.Now(), e.opts.RateLimit(), n)
}

// readRun reads consecutive pages from first: at most maxPages, and no
// further than the page that reaches past cutoff (the lookback, or the
// newest chat known for a head), the end of the list, or the end of the
// quota.
func (e *engine) readRun(ctx context.Context, first, maxPages, concurrency int, cutoff time.Time) (apiclient.WalkResult, error) {
	last := first + maxPages - 1
	return apiclient.Walk(ctx, e.opts.Fetcher, apiclient.WalkOptions{
		FirstPage: first, Concurrency: concurrency, MaxPages: maxPages,
		Until: func(p apiclient.Page) bool {
			oldest, dated := oldestDated(p.Chats)
			return p.Number >= last || len(p.Chats) == 0 || (dated && oldest.Before(cutoff)) || e.quotaOut()
		}})
}

// deepen reads the pages below the window's coverage, towards the lookback.
// It relies on the head having just been read: the state's positions are
// the list's.
func (e *engine) deepen(ctx context.Context, cutoff time.Time, maxPages int) (int, error) {
	s := e.state
	// Start on the page of the oldest chat covered: the run overlaps the
	// state by a chat at least, which proves no chat fell between.
	first := e.opts.FirstPage + max(len(s.list)-1, 0)/apiclient.PageSize
	res, err := e.readRun(ctx, first, maxPages, e.opts.Concurrency, cutoff)
	if err != nil {
		return res.Pages, err
	}
	now := e.opts.Now()
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
func (e *engine) sweep(ctx context.Context, now, cutoff time.Time, maxPages int) (int, error) {
	s := e.state
	first := e.opts.FirstPage
	if e.sweepNext.IsZero() {
		// From the top: below what the head has just read.
		if e.headAtEnd {
			return 0, nil
		}
		first += e.headReach / apiclient.PageSize
	} else {
		// From the page of the last chat swept, so that the runs overlap.
		first += max(s.firstOlderThan(e.sweepNext)-1, 0) / apiclient.PageSize
	}
	res, err := e.readRun(ctx, first, maxPages, e.opts.Concurrency, cutoff)
	if err != nil {
		return res.Pages, err
	}
	s.replace(res.Chats, now, first == e.opts.FirstPage, res.EndOfList)
	if len(res.Chats) == 0 {
		e.sweepNext = time.Time{}
		return res.Pages, nil
	}
	if oldest := sortKeys(res.Chats, now)[len(res.Chats)-1]; res.EndOfList || oldest.Before(cutoff) {
		e.sweepNext = time.Time{}
	} else {
		e.sweepNext = oldest
	}
	return res.Pages, nil
}
