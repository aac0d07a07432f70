package refresh

import (
	"fmt"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

func TestNowcastMovesWhatHasMostProbablyLeftTheQueue(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	queued := func(id string, created time.Time) apiclient.Chat {
		return apiclient.Chat{ID: id, Status: "queued", Channel: "sms", CreatedAt: created, UpdatedAt: created}
	}
	cases := []struct {
		name string
		// exits and their queue time in seconds; stays: chats seen still
		// queued after that long
		exits, stays  int
		exitAfter     float64
		readAgo       time.Duration
		wantQueued    int
		wantOldestAgo time.Duration // 0: no oldest queued chat
	}{
		{"queue exits within a minute, read 10 minutes ago", 200, 0, 30, 10 * time.Minute, 0, 0},
		{"read just now: exact", 200, 0, 30, 0, 4, 20 * time.Second},
		{"too few exits seen: the raw count", 5, 0, 30, 10 * time.Minute, 4, 10*time.Minute + 20*time.Second},
		{"chats stay queued for hours", 200, 2000, 7200, 10 * time.Minute, 4, 10*time.Minute + 20*time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New(Options{})
			defer r.Close()
			q := r.model.byStatus["queued"]
			for range c.exits {
				q.observe(0, c.exitAfter, true)
			}
			for range c.stays {
				q.observe(0, 3*3600, false)
			}
			q.refreshCum()
			r.state = newChatState()
			readAt := now.Add(-c.readAgo)
			var chats []apiclient.Chat
			for i := range 4 {
				chats = append(chats, queued(fmt.Sprint("q", i), readAt.Add(-time.Duration(i+1)*5*time.Second)))
			}
			r.state.replace(chats, readAt, true, true)
			counts := r.state.current().Clone()
			r.nowcast(counts, now)
			if got := counts.Chats("queued", "sms"); got != c.wantQueued {
				t.Errorf("queued %d, want %d", got, c.wantQueued)
			}
			if got := counts.Chats("queued", "sms") + counts.Chats("picked", "sms"); got != 4 || counts.Total != 4 {
				t.Errorf("queued + picked %d, total %d: chats lost or made up", got, counts.Total)
			}
			oldest, ok := counts.Oldest("queued", "sms")
			switch {
			case c.wantOldestAgo == 0 && ok:
				t.Errorf("oldest queued %v, want none", oldest)
			case c.wantOldestAgo != 0 && (!ok || !oldest.Equal(now.Add(-c.wantOldestAgo))):
				t.Errorf("oldest queued %v (present %v), want %v", oldest, ok, now.Add(-c.wantOldestAgo))
			}
		})
	}
}
