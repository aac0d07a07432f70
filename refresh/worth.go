package refresh

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
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

// headWorth is what reading the head now is worth: the new chats since the
// head was last read, and the known chats that stay on the first page; and
// the pages it is expected to take.
func (e *engine) headWorth(now time.Time) (worth, pages float64) {
	span := now.Sub(e.lastHead)
	arrived := e.model.arrivalRate() * span.Seconds()
	worth = e.model.newChatArea(span, weightQueued, weightOther)
	for i := 0; i < len(e.state.list) && float64(i)+arrived < apiclient.PageSize; i++ {
		worth += e.chatWorth(e.state.list[i], now, nil)
	}
	return headWeight * worth, 1 + math.Floor(arrived/apiclient.PageSize)
}

// chatWorth is what re-reading one chat now is worth; oldest, when given,
// holds the oldest queued chat of each channel.
func (e *engine) chatWorth(c *entry, now time.Time, oldest map[string]*entry) float64 {
	if !collector.IsOpen(&c.Chat) {
		return 0
	}
	w := weightOther
	if c.Status == apiclient.StatusQueued {
		w = weightQueued
		if oldest != nil && oldest[c.Channel] == c {
			w += weightOldest
		}
	}
	return w * e.model.changedArea(c, now)
}

// pageWorth is a page the engine could re-read, and its worth.
type pageWorth struct {
	page  int
	worth float64
}

// openPages prices the pages holding open chats, best first, as they will
// stand once shift new chats have pushed the list down.
func (e *engine) openPages(now time.Time, shift int) []pageWorth {
	s := e.state
	oldest := map[string]*entry{}
	for _, c := range s.queued {
		if o := oldest[c.Channel]; o == nil || compareEntries(c, o) > 0 {
			oldest[c.Channel] = c
		}
	}
	byPage := map[int]float64{}
	for _, c := range s.open {
		if w := e.chatWorth(c, now, oldest); w > 0 {
			byPage[e.opts.FirstPage+(s.index(c)+shift)/apiclient.PageSize] += w
		}
	}
	pages := make([]pageWorth, 0, len(byPage))
	for p, w := range byPage {
		pages = append(pages, pageWorth{p, w})
	}
	sortPages(pages)
	return pages
}

// sortPages orders pages best first; the page number breaks ties, so that
// the order does not depend on a map's.
func sortPages(pages []pageWorth) {
	slices.SortFunc(pages, func(a, b pageWorth) int {
		if c := cmp.Compare(b.worth, a.worth); c != 0 {
			return c
		}
		return cmp.Compare(a.page, b.page)
	})
}
