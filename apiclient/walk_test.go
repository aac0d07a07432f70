package apiclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeList serves a list of n chats, newest first, 10 a page, from page 1.
type fakeList struct {
	mu       sync.Mutex
	ids      []string      // the list, newest first
	delay    time.Duration // per page
	errPages map[int]error
	// onFetch runs before a page is cut from the list (arrivals during a walk).
	onFetch func(page int, l *fakeList)

	calls, inFlight, maxInFlight atomic.Int64
	requested                    sync.Map // page -> true
}

func newFakeList(n int) *fakeList {
	l := &fakeList{}
	for i := n; i > 0; i-- {
		l.ids = append(l.ids, fmt.Sprintf("c%05d", i))
	}
	return l
}

func (l *fakeList) FetchPage(ctx context.Context, page int) (Page, error) {
	l.calls.Add(1)
	l.requested.Store(page, true)
	cur := l.inFlight.Add(1)
	defer l.inFlight.Add(-1)
	for {
		m := l.maxInFlight.Load()
		if cur <= m || l.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	if l.delay > 0 {
		select {
		case <-time.After(l.delay):
		case <-ctx.Done():
			return Page{}, &RequestError{Reason: ReasonCanceled, Err: ctx.Err()}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.onFetch != nil {
		l.onFetch(page, l)
	}
	if err := l.errPages[page]; err != nil {
		return Page{}, err
	}
	var p Page
	p.Number = page
	for i := (page - 1) * PageSize; i < page*PageSize && i < len(l.ids); i++ {
		if i >= 0 {
			p.Chats = append(p.Chats, Chat{ID: l.ids[i]})
		}
	}
	return p, nil
}

func ids(chats []Chat) []string {
	out := make([]string, len(chats))
	for i, c := range chats {
		out[i] = c.ID
	}
	return out
}

func TestWalkEndDetection(t *testing.T) {
	tests := []struct {
		chats, concurrency int
		wantLast           int
	}{
		{0, 1, 1},   // an empty first page ends the list
		{9, 1, 1},   // a short first page
		{10, 1, 2},  // a full page needs an empty page after it
		{25, 1, 3},  // a short third page
		{30, 4, 4},  // exact multiple, concurrent
		{95, 8, 10}, // concurrent, short last page
		{1000, 3, 101},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d chats at %d", tt.chats, tt.concurrency), func(t *testing.T) {
			l := newFakeList(tt.chats)
			res, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: tt.concurrency, MaxPages: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Chats) != tt.chats {
				t.Fatalf("%d chats; want %d", len(res.Chats), tt.chats)
			}
			if _, ok := l.requested.Load(tt.wantLast); !ok {
				t.Errorf("page %d, the last, was not requested", tt.wantLast)
			}
			if fmt.Sprint(ids(res.Chats)) != fmt.Sprint(l.ids) {
				t.Error("chats are not the list in order")
			}
			// Requests past the end are bounded by the pages in flight.
			if wasted := res.Pages - tt.wantLast; wasted < 0 || wasted > tt.concurrency-1 {
				t.Errorf("%d requests for %d pages: %d wasted, at most %d allowed", res.Pages, tt.wantLast, wasted, tt.concurrency-1)
			}
			if int(l.calls.Load()) != res.Pages {
				t.Errorf("reported %d requests, made %d", res.Pages, l.calls.Load())
			}
		})
	}
}

func TestWalkFirstPageOption(t *testing.T) {
	l := newFakeList(15)
	// Page 0 of this fake list is empty: starting there ends at once.
	res, err := Walk(context.Background(), l, WalkOptions{FirstPage: 0, Concurrency: 1})
	if _, asked := l.requested.Load(1); err != nil || asked || len(res.Chats) != 0 {
		t.Fatalf("first page 0: %+v, %v", res, err)
	}
	res, err = Walk(context.Background(), l, WalkOptions{FirstPage: 2, Concurrency: 1})
	if err != nil || len(res.Chats) != 5 || res.Chats[0].ID != "c00005" {
		t.Fatalf("first page 2: %v, %v", ids(res.Chats), err)
	}
}

func TestWalkDeduplicatesPushedDownChats(t *testing.T) {
	l := newFakeList(35)
	n := 35
	// Two chats arrive before page 2 and one before page 3 are read: the
	// chats at the page boundaries are pushed down and read twice.
	l.onFetch = func(page int, l *fakeList) {
		if page == 2 || page == 3 {
			arrivals := 3 - page + 1 // 2 before page 2, 1 before page 3
			for range arrivals {
				n++
				l.ids = append([]string{fmt.Sprintf("c%05d", n)}, l.ids...)
			}
		}
	}
	res, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 38 chats in the list by the end, 3 of them read twice and 3
	// arrivals above the pages already read.
	if len(res.Chats) != 35 {
		t.Errorf("%d chats, want 35", len(res.Chats))
	}
	seen := map[string]bool{}
	for _, c := range res.Chats {
		if seen[c.ID] {
			t.Fatalf("chat %s reported twice", c.ID)
		}
		seen[c.ID] = true
	}
	for i := 1; i <= 35; i++ {
		if id := fmt.Sprintf("c%05d", i); !seen[id] {
			t.Errorf("chat %s, present before the walk, is missing", id)
		}
	}
}

func TestWalkConcurrencyBound(t *testing.T) {
	for _, conc := range []int{1, 2, 5, 8} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			l := newFakeList(500)
			l.delay = 2 * time.Millisecond
			if _, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: conc}); err != nil {
				t.Fatal(err)
			}
			if got := l.maxInFlight.Load(); got != int64(conc) {
				t.Errorf("max in flight %d, want exactly %d", got, conc)
			}
		})
	}
}

func TestWalkMaxPages(t *testing.T) {
	l := newFakeList(1000)
	_, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 20})
	if !errors.Is(err, ErrTooManyPages) {
		t.Fatalf("err = %v, want ErrTooManyPages", err)
	}
	if calls := l.calls.Load(); calls != 20 {
		t.Errorf("%d requests, want exactly the 20 allowed", calls)
	}
	// A list that ends exactly at the limit is fine.
	l = newFakeList(195)
	if _, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 20}); err != nil {
		t.Errorf("list ending on the last allowed page: %v", err)
	}
}

func TestWalkErrors(t *testing.T) {
	boom := &APIError{StatusCode: 2004, HTTPStatus: 401}
	tests := []struct {
		name     string
		chats    int
		errPages map[int]error
		wantErr  bool
	}{
		{"error on the first page", 100, map[int]error{1: boom}, true},
		{"error in the middle", 100, map[int]error{5: boom}, true},
		{"error on the last page", 95, map[int]error{10: boom}, true},
		{"error past the end does not matter", 95, map[int]error{11: boom, 12: boom}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newFakeList(tt.chats)
			l.errPages = tt.errPages
			res, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 4})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				var apiErr *APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != 2004 {
					t.Errorf("error %v does not carry the API error", err)
				}
				if res.Chats != nil {
					t.Errorf("a failed walk returned %d chats", len(res.Chats))
				}
			}
		})
	}
}

func TestWalkStopsRequestingAfterError(t *testing.T) {
	l := newFakeList(10000)
	l.errPages = map[int]error{3: errors.New("boom")}
	_, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 4})
	if err == nil {
		t.Fatal("want an error")
	}
	// Pages already in flight when page 3 fails may complete (how many
	// depends on scheduling), but the walk does not go on through the
	// 1,000 pages of the list.
	if calls := l.calls.Load(); calls > 20 {
		t.Errorf("%d requests after an error on page 3", calls)
	}
}

func TestWalkObeysContextDeadline(t *testing.T) {
	l := newFakeList(100000)
	l.delay = 5 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Walk(ctx, l, WalkOptions{FirstPage: 1, Concurrency: 2})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a walk cut short by its deadline must fail")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("walk did not return after its deadline")
	}
}

func TestWalkUntil(t *testing.T) {
	l := newFakeList(1000)
	res, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 1,
		Until: func(p Page) bool { return p.Number == 3 }})
	if err != nil || len(res.Chats) != 30 || res.EndOfList {
		t.Fatalf("%d chats, end of list %v, %v", len(res.Chats), res.EndOfList, err)
	}
	if _, asked := l.requested.Load(4); asked {
		t.Error("page 4 requested after Until ended the walk at page 3")
	}
}

// TestWalkSlowStart: a short walk (an incremental refresh) at high
// concurrency makes no speculative request; a long one still reaches the
// full concurrency.
func TestWalkSlowStart(t *testing.T) {
	tests := []struct {
		chats, maxRequests int
	}{
		{5, 1},  // one page: exactly one request
		{15, 3}, // two pages: 1, then 2 in flight; the second ends it, the third is wasted
		{25, 6}, // three pages: 1, then 2, then up to 4 in flight (3 to 6)
	}
	for _, tt := range tests {
		l := newFakeList(tt.chats)
		l.delay = time.Millisecond
		if _, err := Walk(context.Background(), l, WalkOptions{FirstPage: 1, Concurrency: 8}); err != nil {
			t.Fatal(err)
		}
		if calls := l.calls.Load(); calls > int64(tt.maxRequests) {
			t.Errorf("%d chats at concurrency 8: %d requests, want at most %d", tt.chats, calls, tt.maxRequests)
		}
	}
}
