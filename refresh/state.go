package refresh

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// entry is a chat of the state with the time it was last read.
type entry struct {
	apiclient.Chat
	readAt time.Time
	// key is the chat's place in time: its created_at, or for a chat
	// without a usable one, its neighbour's in the read (see sortKeys).
	key time.Time
}

// compareEntries orders the list as the API does: newest first, by
// created_at; chat_id breaks ties so that the order is total.
func compareEntries(a, b *entry) int {
	if c := b.key.Compare(a.key); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// sortKeys gives each chat of a read of consecutive pages its place in
// time. The list is ordered by created_at, so a chat whose created_at is
// missing or unparseable stands where its neighbours do: it takes the
// creation time of the chat before it in the read, or after it when it
// comes first, or at when no chat of the read has one. It is counted, kept
// in its place, and leaves the window with its neighbours; its own
// created_at stays unknown (no oldest-chat gauge takes it).
func sortKeys(chats []apiclient.Chat, at time.Time) []time.Time {
	keys := make([]time.Time, len(chats))
	var last time.Time
	for i := range chats {
		if !chats[i].CreatedAt.IsZero() {
			last = chats[i].CreatedAt
		}
		keys[i] = last
	}
	next := at
	for i := len(chats) - 1; i >= 0; i-- {
		if !chats[i].CreatedAt.IsZero() {
			next = chats[i].CreatedAt
		}
		if keys[i].IsZero() {
			keys[i] = next
		}
	}
	return keys
}

// oldestDated is the creation time of the oldest chat of a page that has
// one, and whether there is one.
func oldestDated(chats []apiclient.Chat) (time.Time, bool) {
	for i := len(chats) - 1; i >= 0; i-- {
		if !chats[i].CreatedAt.IsZero() {
			return chats[i].CreatedAt, true
		}
	}
	return time.Time{}, false
}

// observation is what one read taught about one chat: its previous entry
// (nil when first seen) and what the page said now.
type observation struct {
	old   *entry
	fresh *apiclient.Chat
	at    time.Time
}

// chatState is the exporter's picture of the top of the chat list, down to
// the lookback, assembled from reads of different parts of it at different
// times. It keeps the exported Counts up to date chat by chat, so that a
// refresh that re-reads a few pages costs work in proportion to those pages,
// not to the list.
//
// The state rests on one property of the API: the list is ordered by
// created_at, newest first. A read of consecutive pages therefore tells the
// whole truth about the range of creation times it spans: a chat of the state
// inside that range but absent from the read no longer exists.
//
// The state is one contiguous run from the top of the list down to covered:
// every chat created at or after covered is in it, as last read.
type chatState struct {
	list   []*entry // newest first (compareEntries)
	byID   map[string]*entry
	open   map[string]*entry // chats whose status may still change
	queued map[string]*entry // of those, the queued ones: every pull estimates them
	counts *collector.Counts // read with current()
	// oldestStale: counts' oldest open chats need recounting.
	oldestStale bool

	// covered is the creation time down to which the state is complete;
	// zero before the first read. complete says that it reaches the
	// lookback (or the end of the list): nothing older is wanted.
	covered  time.Time
	complete bool

	// observe, when set, is told what every read showed of every chat.
	observe func(observation)
}

func newChatState() *chatState {
	return &chatState{byID: map[string]*entry{}, open: map[string]*entry{}, queued: map[string]*entry{}, counts: collector.NewCounts()}
}

// newest returns the newest chat, or nil for an empty list.
func (s *chatState) newest() *entry {
	if len(s.list) == 0 {
		return nil
	}
	return s.list[0]
}

// firstOlderThan returns the position of the first chat created before t
// (len(list) when there is none).
func (s *chatState) firstOlderThan(t time.Time) int {
	return sort.Search(len(s.list), func(i int) bool { return s.list[i].key.Before(t) })
}

// index returns the position of e in the list: its page is
// firstPage + index/PageSize while the list has not moved since.
func (s *chatState) index(e *entry) int {
	i, _ := slices.BinarySearchFunc(s.list, e, compareEntries)
	return i
}

// replace makes fresh, read at readAt, the truth for the creation-time
// range it spans: from its oldest to its newest chat, extended to the top of
// the list when toTop (the read began at the first page) and to the bottom
// when toEnd (the read reached the last page). Chats of the state inside the
// range that fresh lacks are gone; chats on the range's edges are kept when
// fresh lacks them, since they may stand on an adjacent page that was not
// read.
func (s *chatState) replace(fresh []apiclient.Chat, readAt time.Time, toTop, toEnd bool) {
	if len(fresh) == 0 && !(toTop && toEnd) {
		return // an empty read spans no range
	}
	keys := sortKeys(fresh, readAt)
	freshIDs := make(map[string]bool, len(fresh))
	var hi, lo time.Time
	for i := range fresh {
		freshIDs[fresh[i].ID] = true
		if i == 0 || keys[i].After(hi) {
			hi = keys[i]
		}
		if i == 0 || keys[i].Before(lo) {
			lo = keys[i]
		}
	}
	inRange := func(t time.Time) bool {
		return (toTop || !t.After(hi)) && (toEnd || !t.Before(lo))
	}
	// A fresh chat the state knows outside the range (its created_at
	// changed) leaves its old place first.
	moved := false
	for i := range fresh {
		if old, ok := s.byID[fresh[i].ID]; ok && !inRange(old.key) {
			s.forget(old)
			moved = true
		}
	}
	if moved {
		s.list = slices.DeleteFunc(s.list, func(e *entry) bool { return s.byID[e.ID] != e })
	}
	// [start, end) is the part of the list whose creation time is in range.
	start, end := 0, len(s.list)
	if !toTop {
		start = sort.Search(len(s.list), func(i int) bool { return !s.list[i].key.After(hi) })
	}
	if !toEnd {
		end = s.firstOlderThan(lo)
	}
	previous := make(map[string]*entry, end-start)
	middle := make([]*entry, 0, len(fresh)+4)
	for _, e := range s.list[start:end] {
		onEdge := (!toTop && e.key.Equal(hi)) || (!toEnd && e.key.Equal(lo))
		if onEdge && !freshIDs[e.ID] {
			middle = append(middle, e)
			continue
		}
		previous[e.ID] = e
		s.forget(e)
	}
	for i := range fresh {
		if s.byID[fresh[i].ID] != nil {
			continue // the same chat twice in one read
		}
		e := &entry{Chat: fresh[i], readAt: readAt, key: keys[i]}
		if s.observe != nil {
			s.observe(observation{old: previous[e.ID], fresh: &e.Chat, at: readAt})
		}
		s.remember(e)
		middle = append(middle, e)
	}
	slices.SortFunc(middle, compareEntries)
	s.list = slices.Replace(s.list, start, end, middle...)
	s.invalidateOldest()
}

// extend records that a read reached down to oldest: the state is
// complete from the top down to it (the reads were consecutive). atEnd
// says the read found the end of the list.
func (s *chatState) extend(oldest time.Time, atEnd bool) {
	if atEnd {
		s.complete = true
	}
	if s.covered.IsZero() || oldest.Before(s.covered) {
		s.covered = oldest
	}
}

// prune drops the chats created before cutoff, the lookback: they are
// outside the exporter's view from now on.
func (s *chatState) prune(cutoff time.Time) {
	if !s.covered.IsZero() && !s.covered.After(cutoff) {
		s.complete = true
	}
	if s.complete {
		s.covered = cutoff // the whole window, however young the tenant
	}
	i := s.firstOlderThan(cutoff)
	if i == len(s.list) {
		return
	}
	for _, e := range s.list[i:] {
		s.forget(e)
	}
	clear(s.list[i:])
	s.list = s.list[:i]
	s.invalidateOldest()
}

// invalidateOldest marks the oldest open chats for recounting: a refresh
// reads and prunes several times, and recounting over every open chat each
// time was most of a steady refresh's CPU.
func (s *chatState) invalidateOldest() { s.oldestStale = true }

// current returns the counts, with the oldest open chats recounted from
// the index of open ones if anything changed since.
func (s *chatState) current() *collector.Counts {
	if s.oldestStale {
		s.counts.SetOldest(func(yield func(*apiclient.Chat) bool) {
			for _, e := range s.open {
				if !yield(&e.Chat) {
					return
				}
			}
		})
		s.oldestStale = false
	}
	return s.counts
}

func (s *chatState) remember(e *entry) {
	s.byID[e.ID] = e
	if collector.IsOpen(&e.Chat) {
		s.open[e.ID] = e
	}
	if e.Status == apiclient.StatusQueued {
		s.queued[e.ID] = e
	}
	s.counts.Add(&e.Chat)
}

func (s *chatState) forget(e *entry) {
	if s.byID[e.ID] != e {
		return
	}
	delete(s.byID, e.ID)
	delete(s.open, e.ID)
	delete(s.queued, e.ID)
	s.counts.Remove(&e.Chat)
}
