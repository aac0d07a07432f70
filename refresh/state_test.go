package refresh

import (
	"fmt"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// TestUndatedChatKeepsItsPlace: a chat whose created_at is missing stands
// where its neighbours do. A read holding it spans the creation times of
// its dated chats only, so the older chats the state knows stay, it is
// counted, and it leaves the window with its neighbours.
func TestUndatedChatKeepsItsPlace(t *testing.T) {
	now := testStart
	chat := func(id string, ago time.Duration) apiclient.Chat {
		c := apiclient.Chat{ID: id, Status: "closed"}
		if ago >= 0 {
			c.CreatedAt = now.Add(-ago)
		}
		return c
	}
	var older []apiclient.Chat
	for i := range 20 {
		older = append(older, chat(fmt.Sprint("old", i), time.Hour+time.Duration(i)*time.Minute))
	}
	s := newChatState()
	s.replace(older, now, false, true)

	head := []apiclient.Chat{chat("new1", time.Minute), chat("undated", -1), chat("new2", 3*time.Minute)}
	s.replace(head, now, true, false)
	if got := s.counts.Total; got != 23 {
		t.Fatalf("%d chats after the head read, want 23: the undated chat widened the read's range", got)
	}
	if i := s.index(s.byID["undated"]); i > 1 {
		t.Errorf("the undated chat stands at %d, want beside new1 (0 or 1)", i)
	}
	if _, ok := oldestOf(s.current(), "closed", ""); ok {
		t.Error("an oldest-created time was made up for the undated chat")
	}
	// It is not pruned for its missing date, and leaves the window with
	// the chat before it.
	s.prune(now.Add(-90 * time.Second))
	if s.byID["undated"] == nil || s.byID["new2"] != nil {
		t.Errorf("lookback between new1 and new2: undated kept %v, new2 kept %v", s.byID["undated"] != nil, s.byID["new2"] != nil)
	}
	s.prune(now.Add(-30 * time.Second))
	if s.byID["undated"] != nil || s.byID["new1"] != nil {
		t.Errorf("lookback past new1: undated kept %v, new1 kept %v", s.byID["undated"] != nil, s.byID["new1"] != nil)
	}
}

func TestSortKeys(t *testing.T) {
	t0 := testStart
	at := t0.Add(time.Hour)
	c := func(ago int) apiclient.Chat {
		if ago < 0 {
			return apiclient.Chat{}
		}
		return apiclient.Chat{CreatedAt: t0.Add(-time.Duration(ago) * time.Second)}
	}
	for _, tc := range []struct {
		chats []apiclient.Chat
		want  []int // seconds before t0; -1: at
	}{
		{[]apiclient.Chat{c(1), c(-1), c(3)}, []int{1, 1, 3}},
		{[]apiclient.Chat{c(-1), c(2), c(-1)}, []int{2, 2, 2}},
		{[]apiclient.Chat{c(-1), c(-1)}, []int{-1, -1}},
	} {
		keys := sortKeys(tc.chats, at)
		for i, k := range keys {
			want := at
			if tc.want[i] >= 0 {
				want = t0.Add(-time.Duration(tc.want[i]) * time.Second)
			}
			if !k.Equal(want) {
				t.Errorf("%v: key %d = %v, want %v", tc.want, i, k, want)
			}
		}
	}
}
