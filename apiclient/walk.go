package apiclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Fetcher fetches one page of the chat list. *Client is the real one.
type Fetcher interface {
	FetchPage(ctx context.Context, page int) (Page, error)
}

// WalkOptions bound a walk.
type WalkOptions struct {
	FirstPage   int // the API's first page number (the reference does not say; 1 by default)
	Concurrency int // pages in flight at once; < 1 means 1
	MaxPages    int // a walk needing more pages than this fails; < 1 means no bound
	// Until, when set, ends the walk early at the first page for which it
	// returns true, as if that page were the last (an incremental walk that
	// has reached what it already knows).
	Until func(Page) bool
}

// WalkResult is a complete walk: every page from the first to the one that
// ended the list was read without error.
type WalkResult struct {
	Chats     []Chat // de-duplicated by chat_id (a chat pushed down by arrivals is seen on two pages), newest first
	Pages     int    // requests made, including those wasted past the end
	EndOfList bool   // the page that ended the walk held fewer than PageSize chats: the list ends there
	Duration  time.Duration
}

// ErrTooManyPages is returned when the walk reaches MaxPages without finding
// the end of the list.
var ErrTooManyPages = errors.New("walk did not reach the end of the list within the page limit")

// Walk reads the chat list page by page, from opts.FirstPage, with at most
// opts.Concurrency pages in flight. The number of pages is not known in
// advance: pages are handed out in order, and the first page holding fewer
// than PageSize chats ends the list; requests already in flight past it are
// canceled. Like TCP's slow start, a walk begins with one page in flight and
// doubles that with every page that does not end it, so that a walk of one
// or two pages (an incremental refresh) wastes no request on speculation. An error on a page before the end fails the walk; an error past
// the end does not matter. The walk never returns a partial result.
func Walk(ctx context.Context, f Fetcher, opts WalkOptions) (WalkResult, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	concurrency := max(opts.Concurrency, 1)
	w := &walk{
		opts:      opts,
		window:    1,
		maxWindow: concurrency,
		next:      opts.FirstPage,
		endPage:   noPage,
		errPage:   noPage,
		lastPage:  noPage,
		pages:     map[int]Page{},
		inflight:  map[int]context.CancelFunc{},
	}
	if opts.MaxPages > 0 {
		w.lastPage = opts.FirstPage + opts.MaxPages - 1
	}
	w.cond = sync.NewCond(&w.mu)
	stopWaking := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.cond.Broadcast()
	})
	defer stopWaking()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.work(ctx, f)
		}()
	}
	wg.Wait()
	res, err := w.result(ctx)
	res.Duration = time.Since(start)
	return res, err
}

const noPage = int(^uint(0) >> 1) // max int: "not known yet"

// walk is the shared state of one walk's workers.
type walk struct {
	opts WalkOptions

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a page is recorded or ctx ends
	window    int        // pages allowed in flight now (slow start)
	maxWindow int
	next      int // the next page to hand out
	endPage   int // the lowest page known to end the walk
	endShort  bool
	errPage   int // the lowest page that failed
	err       error
	lastPage  int // the highest page MaxPages allows
	requested int
	pages     map[int]Page
	inflight  map[int]context.CancelFunc
}

func (w *walk) work(ctx context.Context, f Fetcher) {
	for {
		n, pageCtx, ok := w.take(ctx)
		if !ok {
			return
		}
		p, err := f.FetchPage(pageCtx, n)
		w.record(n, p, err)
	}
}

// take hands out the next page, unless the end, an error before it, the
// page limit or the context says no more pages are needed.
func (w *walk) take(ctx context.Context) (int, context.Context, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		n := w.next
		if ctx.Err() != nil || n > w.endPage || n >= w.errPage || n > w.lastPage {
			return 0, nil, false
		}
		if len(w.inflight) < w.window {
			break
		}
		w.cond.Wait()
	}
	n := w.next
	w.next++
	w.requested++
	pageCtx, cancel := context.WithCancel(ctx)
	w.inflight[n] = cancel
	return n, pageCtx, true
}

func (w *walk) record(n int, p Page, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.cond.Broadcast()
	if cancel, ok := w.inflight[n]; ok {
		cancel()
		delete(w.inflight, n)
	}
	if err != nil {
		if n < w.errPage && n <= w.endPage {
			w.errPage, w.err = n, err
			w.cancelPast(n)
		}
		return
	}
	w.pages[n] = p
	short := len(p.Chats) < PageSize
	if (short || (w.opts.Until != nil && w.opts.Until(p))) && n < w.endPage {
		w.endPage, w.endShort = n, short
		w.cancelPast(n)
		return
	}
	w.window = min(w.window*2, w.maxWindow)
}

// cancelPast abandons the requests in flight for pages after n: their
// answers can no longer change the result.
func (w *walk) cancelPast(n int) {
	for page, cancel := range w.inflight {
		if page > n {
			cancel()
			delete(w.inflight, page)
		}
	}
}

func (w *walk) result(ctx context.Context) (WalkResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res := WalkResult{Pages: w.requested}
	if w.err != nil && w.errPage <= w.endPage {
		return res, fmt.Errorf("page %d: %w", w.errPage, w.err)
	}
	if w.endPage == noPage {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("walk stopped after %d pages: %w", w.requested, err)
		}
		return res, fmt.Errorf("%w (%d pages from page %d)", ErrTooManyPages, w.opts.MaxPages, w.opts.FirstPage)
	}
	res.EndOfList = w.endShort
	capacity := (w.endPage - w.opts.FirstPage + 1) * PageSize
	seen := make(map[string]struct{}, capacity)
	res.Chats = make([]Chat, 0, capacity)
	for n := w.opts.FirstPage; n <= w.endPage; n++ {
		p, ok := w.pages[n]
		if !ok {
			// Cannot happen: every page up to the end was handed out,
			// and one that failed set errPage. Guard against a lie anyway.
			return res, fmt.Errorf("page %d: missing from a completed walk", n)
		}
		for _, c := range p.Chats {
			if c.ID != "" {
				if _, dup := seen[c.ID]; dup {
					continue
				}
				seen[c.ID] = struct{}{}
			}
			res.Chats = append(res.Chats, c)
		}
	}
	return res, nil
}
