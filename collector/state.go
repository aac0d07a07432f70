package collector

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// entry is a chat of the state with the time it was last read.
type entry struct {
	apiclient.Chat
	readAt time.Time
}

// compareEntries orders the list as the API does: newest first, by
// created_at; chat_id breaks ties so that the order is total.
func compareEntries(a, b *entry) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// chatState is the exporter's picture of the whole chat list, assembled
// from reads of different parts of it at different times. It keeps the
// exported Counts up to date chat by chat, so that a refresh that re-reads
// a few pages costs work in proportion to those pages, not to the list.
//
// The state rests on one property of the API: the list is ordered by
// created_at, newest first. A page read therefore tells the whole truth
// about the range of creation times it spans: a chat of the state inside
// that range but absent from the page no longer exists.
type chatState struct {
	list   []*entry // newest first (compareEntries)
	byID   map[string]*entry
	open   map[string]*entry // chats whose status may still change
	counts *Counts
}

func newChatState() *chatState {
	return &chatState{byID: map[string]*entry{}, open: map[string]*entry{}, counts: NewCounts()}
}

// newChatStateFrom builds the state from a complete walk.
func newChatStateFrom(chats []apiclient.Chat, readAt time.Time) *chatState {
	s := newChatState()
	s.replace(chats, readAt, true, true)
	return s
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
	return sort.Search(len(s.list), func(i int) bool { return s.list[i].CreatedAt.Before(t) })
}

// pages is the number of pages a full walk of the list reads, the last
// (short or empty) one included.
func (s *chatState) pages() int { return len(s.list)/apiclient.PageSize + 1 }

// index returns the position of e in the list (its page is
// firstPage + index/PageSize while the list has not moved since).
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
	freshIDs := make(map[string]bool, len(fresh))
	var hi, lo time.Time
	for i := range fresh {
		freshIDs[fresh[i].ID] = true
		if i == 0 || fresh[i].CreatedAt.After(hi) {
			hi = fresh[i].CreatedAt
		}
		if i == 0 || fresh[i].CreatedAt.Before(lo) {
			lo = fresh[i].CreatedAt
		}
	}
	inRange := func(t time.Time) bool {
		return (toTop || !t.After(hi)) && (toEnd || !t.Before(lo))
	}
	// A fresh chat the state knows outside the range (its created_at
	// changed) leaves its old place first.
	moved := false
	for i := range fresh {
		if old, ok := s.byID[fresh[i].ID]; ok && !inRange(old.CreatedAt) {
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
		start = sort.Search(len(s.list), func(i int) bool { return !s.list[i].CreatedAt.After(hi) })
	}
	if !toEnd {
		end = s.firstOlderThan(lo)
	}
	middle := make([]*entry, 0, len(fresh)+4)
	for _, e := range s.list[start:end] {
		onEdge := (!toTop && e.CreatedAt.Equal(hi)) || (!toEnd && e.CreatedAt.Equal(lo))
		if onEdge && !freshIDs[e.ID] {
			middle = append(middle, e)
			continue
		}
		s.forget(e)
	}
	for i := range fresh {
		if s.byID[fresh[i].ID] != nil {
			continue // the same chat twice in one read
		}
		e := &entry{Chat: fresh[i], readAt: readAt}
		s.remember(e)
		middle = append(middle, e)
	}
	slices.SortFunc(middle, compareEntries)
	s.list = slices.Replace(s.list, start, end, middle...)
	s.counts.SetOldest(func(yield func(*apiclient.Chat) bool) {
		for _, e := range s.open {
			if !yield(&e.Chat) {
				return
			}
		}
	})
}

func (s *chatState) remember(e *entry) {
	s.byID[e.ID] = e
	if IsOpen(&e.Chat) {
		s.open[e.ID] = e
	}
	s.counts.Add(&e.Chat)
}

func (s *chatState) forget(e *entry) {
	if s.byID[e.ID] != e {
		return
	}
	delete(s.byID, e.ID)
	delete(s.open, e.ID)
	s.counts.Remove(&e.Chat)
}
