package refresh

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
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
			q := r.eng.model.byStatus["queued"]
			for range c.exits {
				q.observe(0, c.exitAfter, true)
			}
			for range c.stays {
				q.observe(0, 3*3600, false)
			}
			r.eng.model.ageTo(now)
			r.eng.state = newChatState()
			readAt := now.Add(-c.readAgo)
			var chats []apiclient.Chat
			for i := range 4 {
				chats = append(chats, queued(fmt.Sprint("q", i), readAt.Add(-time.Duration(i+1)*5*time.Second)))
			}
			r.eng.state.replace(chats, readAt, true, true)
			counts := r.eng.state.current().Clone()
			r.eng.nowcast(counts, now)
			if got := chatsOf(counts, "queued", "sms"); got != c.wantQueued {
				t.Errorf("queued %d, want %d", got, c.wantQueued)
			}
			if got := chatsOf(counts, "queued", "sms") + chatsOf(counts, "picked", "sms"); got != 4 || counts.Total != 4 {
				t.Errorf("queued + picked %d, total %d: chats lost or made up", got, counts.Total)
			}
			oldest, ok := oldestOf(counts, "queued", "sms")
			switch {
			case c.wantOldestAgo == 0 && ok:
				t.Errorf("oldest queued %v, want none", oldest)
			case c.wantOldestAgo != 0 && (!ok || !oldest.Equal(now.Add(-c.wantOldestAgo))):
				t.Errorf("oldest queued %v (present %v), want %v", oldest, ok, now.Add(-c.wantOldestAgo))
			}
		})
	}
}

// TestNowcastFollowsAQueueThatStopsMoving: a day of a normal queue teaches
// the engine that chats are picked within minutes; then nobody picks any
// more and every new chat stays queued. The served queued count must
// follow the growing queue, not hide it as chats "most probably picked".
func TestNowcastFollowsAQueueThatStopsMoving(t *testing.T) {
	env := newReplayEnv(t, workload{arrivals: 3000, history: 10000})
	r := env.refresher(Options{Fetcher: slowFetcher{env.client, env.clock}, FirstPage: 1, Concurrency: 4,
		MinInterval: 15 * time.Second, QuotaShare: replayQuotaShare, DailyBudget: replayQuota})
	pull := func() int {
		snap, err := r.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return queuedOf(snap.Counts)
	}
	for at := env.coldStart; at.Before(env.measureFrom); at = at.Add(30 * time.Second) {
		env.clock.Advance(at.Sub(env.clock.Now()))
		pull()
	}
	if q := r.eng.model.byStatus["queued"]; q.evidence() < minQueueExits {
		t.Fatalf("only %.0f queue exits seen in a day", q.evidence())
	}
	// The incident: a stuck chat every 30 s for an hour, on top of the
	// normal flow (whose chats still get picked).
	var served, stuck []int
	for i := range 120 {
		env.clock.Advance(30 * time.Second)
		env.Add(simulator.Chat{ID: fmt.Sprintf("stuck%03d", i), Status: "queued", Channel: "sms", CreatedAt: env.clock.Now()})
		served = append(served, pull())
		stuck = append(stuck, i+1)
	}
	truth, trueOldest := env.Queued()
	last := served[len(served)-1]
	t.Logf("after an hour: served %d, true %d (%d stuck); at 15, 30, 45 min: %d %d %d", last, truth, stuck[len(stuck)-1], served[29], served[59], served[89])
	// Measured: 132 of 133 (the raw count: 133); at 15, 30 and 45 minutes
	// 41, 73, 103 (raw 43, 73, 105). With one life table for the day and
	// no check of its exits against the re-reads, it was 118 (39, 67, 96):
	// the bar is 95%.
	if float64(last) < 0.95*float64(truth) {
		t.Errorf("served queued %d after an hour of a stuck queue, true %d", last, truth)
	}
	// The oldest queued chat: the alert on the longest wait must fire.
	snap, _ := r.Snapshot(context.Background())
	var oldest time.Time
	for _, ch := range []string{"sms", "livechat", "whatsapp", "email", "facebook", "twitter", "abc", "api"} {
		if o, ok := oldestOf(snap.Counts, "queued", ch); ok && (oldest.IsZero() || o.Before(oldest)) {
			oldest = o
		}
	}
	now := env.clock.Now()
	if wait, trueWait := now.Sub(oldest), now.Sub(trueOldest); oldest.IsZero() || wait < trueWait*9/10 {
		t.Errorf("oldest queued chat served waiting %v, truly %v", wait, trueWait)
	}
	// And it grew all along: over each quarter of the hour it rose.
	for q := 1; q < 4; q++ {
		if served[q*30-1] >= served[(q+1)*30-1] {
			t.Errorf("served queued %d at %d min, %d at %d min: it does not follow the growing queue",
				served[q*30-1], q*15, served[(q+1)*30-1], (q+1)*15)
		}
	}
}

// TestEstimateMovesBetweenRefreshes: the pulls between two refreshes serve
// the estimate brought up to their own time, not the last refresh's
// numbers frozen: chats read queued go on leaving the queue
// (imichat_chats_queued_estimated_gone), and chats arrive unread and join
// it (imichat_chats_queued_estimated_arrived).
func TestEstimateMovesBetweenRefreshes(t *testing.T) {
	env := newReplayEnv(t, workload{arrivals: 3000, history: 10000})
	r := env.refresher(Options{Fetcher: slowFetcher{env.client, env.clock}, FirstPage: 1, Concurrency: 4,
		MinInterval: 10 * time.Minute, QuotaShare: replayQuotaShare, DailyBudget: replayQuota})
	pull := func() collector.Snapshot {
		snap, err := r.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	var last collector.Snapshot
	for at := env.coldStart; at.Before(env.measureFrom); at = at.Add(30 * time.Second) {
		env.clock.Advance(at.Sub(env.clock.Now()))
		last = pull()
	}
	// Up to the next refresh, then the pulls it holds back.
	for {
		env.clock.Advance(30 * time.Second)
		if s := pull(); !s.RefreshedAt.Equal(last.RefreshedAt) {
			last = s
			break
		}
	}
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	gone := func(s collector.Snapshot) int { return sum(s.Counts.EstimatedGone) }
	arrived := func(s collector.Snapshot) int { return sum(s.Counts.EstimatedArrived) }
	// asRead is the queued count of the chats read: served, less what
	// it counts on an estimate of the arrivals, plus what it counts gone.
	asRead := func(s collector.Snapshot) int { return queuedOf(s.Counts) - arrived(s) + gone(s) }
	first, firstGone := queuedOf(last.Counts), gone(last)
	var held collector.Snapshot
	for range 15 {
		env.clock.Advance(30 * time.Second)
		held = pull()
		if !held.RefreshedAt.Equal(last.RefreshedAt) {
			t.Fatalf("refreshed at %v within the minimum interval of the refresh at %v", held.RefreshedAt, last.RefreshedAt)
		}
	}
	t.Logf("queued %d, %d counted gone at the refresh; 7.5 minutes later without a read: %d, %d gone, %d arrived unread",
		first, firstGone, queuedOf(held.Counts), gone(held), arrived(held))
	if gone(held) <= firstGone {
		t.Errorf("7.5 minutes without a read: %d counted gone (was %d); want more", gone(held), firstGone)
	}
	// At 3,000 a day some 15 chats arrived; those still queued count.
	if arrived(held) < 1 || arrived(last) != 0 {
		t.Errorf("%d chats counted as arrived unread 7.5 minutes after the head was read (%d at the read); want some (none)", arrived(held), arrived(last))
	}
	if asRead(held) != asRead(last) {
		t.Errorf("queued %d - arrived %d + gone %d is not the count as last read, %d", queuedOf(held.Counts), arrived(held), gone(held), asRead(last))
	}
}

// TestNowcastAgesAReopenedChatFromItsReopening: a chat reopened into the
// queue waits from its reopening (its updated_at), not from its creation
// days before, where the life table knows nothing and a day-old wait
// looks like one that will go on.
func TestNowcastAgesAReopenedChatFromItsReopening(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, reopened := range []bool{false, true} {
		r := New(Options{})
		defer r.Close()
		q := r.eng.model.byStatus["queued"]
		for range 200 {
			q.observe(0, 30, true) // queue exits within a minute
		}
		r.eng.model.ageTo(now)
		r.eng.state = newChatState()
		readAt := now.Add(-10 * time.Minute)
		var chats []apiclient.Chat
		for i := range 4 {
			entered := readAt.Add(-time.Duration(i+1) * 5 * time.Second)
			created := entered
			if reopened {
				created = entered.Add(-48 * time.Hour)
			}
			chats = append(chats, apiclient.Chat{ID: fmt.Sprint("q", i), Status: "queued", Channel: "sms", CreatedAt: created, UpdatedAt: entered})
		}
		r.eng.state.replace(chats, readAt, true, true)
		counts := r.eng.state.current().Clone()
		r.eng.nowcast(counts, now)
		if got := chatsOf(counts, "queued", "sms"); got != 0 {
			t.Errorf("reopened %v: %d of 4 chats queued 5 to 20 s at a read 10 minutes ago served as still queued, want 0", reopened, got)
		}
	}
}

// TestRefreshesReadWhatTheyArePlannedFor: through a day and an hour of a
// queue that stops moving, a refresh planned for an open page reads one,
// but for a few the head's read has made not worth it (the head, read first, must leave it a page: otherwise the refreshes
// read the head alone, pull after pull, and spend the pace on nothing),
// and a refresh forced by the numbers' age re-reads the page of the chat
// served as the oldest queued, on which the too-long alert rests.
func TestRefreshesReadWhatTheyArePlannedFor(t *testing.T) {
	env := newReplayEnv(t, workload{arrivals: 3000, history: 10000})
	var (
		why                          string
		bestOpen                     int
		openPlans, openPlansReadNone int
		ageRefreshes, ageReadNoOpen  int
	)
	logger := log.LoggerFunc(func(kv ...any) error {
		fields := map[any]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			fields[kv[i]] = kv[i+1]
		}
		switch fields["msg"] {
		case "refresh plan":
			why, _ = fields["why"].(string)
			bestOpen, _ = fields["best_open_page"].(int)
			if _, held := fields["held_back"]; held {
				why = ""
			}
		case "refresh read":
			open, _ := fields["open"].(int)
			head, _ := fields["head"].(int)
			switch why {
			case whyOpen:
				if bestOpen <= head {
					break // the head read it, and so priced it again at nothing
				}
				openPlans++
				if open == 0 {
					openPlansReadNone++
				}
			case whyMaxAge:
				ageRefreshes++
				if open == 0 {
					ageReadNoOpen++
				}
			}
			why = ""
		}
		return nil
	})
	r := env.refresher(Options{Fetcher: slowFetcher{env.client, env.clock}, FirstPage: 1, Concurrency: 4,
		MinInterval: 15 * time.Second, QuotaShare: replayQuotaShare, DailyBudget: replayQuota, Logger: logger})
	defer r.Close()
	pull := func() {
		if _, err := r.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for at := env.coldStart; at.Before(env.measureFrom); at = at.Add(30 * time.Second) {
		env.clock.Advance(at.Sub(env.clock.Now()))
		pull()
	}
	for i := range 120 {
		env.clock.Advance(30 * time.Second)
		env.Add(simulator.Chat{ID: fmt.Sprintf("stuck%03d", i), Status: "queued", Channel: "sms", CreatedAt: env.clock.Now()})
		pull()
	}
	t.Logf("%d refreshes planned for an open page, %d of them read none; %d forced by age, %d of them re-read no open page",
		openPlans, openPlansReadNone, ageRefreshes, ageReadNoOpen)
	if openPlans == 0 || ageRefreshes == 0 {
		t.Fatalf("%d open plans, %d refreshes forced by age: the test sees neither kind", openPlans, ageRefreshes)
	}
	// Measured: 5 of 287 (the head read more pages than expected, or
	// re-priced the page below the price); when the plan ignored what the
	// head takes, 58 of 341. The bar: 1 in 20.
	if openPlansReadNone*20 > openPlans {
		t.Errorf("%d of %d refreshes planned for an open page read none", openPlansReadNone, openPlans)
	}
	if ageReadNoOpen > 0 {
		t.Errorf("%d of %d refreshes forced by the numbers' age re-read no open page", ageReadNoOpen, ageRefreshes)
	}
}

// TestUnseenArrivalsShareByChannel: the chats arrived since the head was
// read join each channel's queue as the last hour's chats were shared,
// a chat at the top without created_at (it takes its neighbours' place)
// included, not ending the count.
func TestUnseenArrivalsShareByChannel(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	r := New(Options{})
	defer r.Close()
	e := r.eng
	e.state = newChatState()
	readAt := now.Add(-10 * time.Minute)
	var chats []apiclient.Chat
	for i := range 40 { // newest first: 3 of 4 sms, 1 of 4 email, a minute apart
		ch := "sms"
		if i%4 == 3 {
			ch = "email"
		}
		chats = append(chats, apiclient.Chat{ID: fmt.Sprint("c", i), Status: "closed", Channel: ch,
			CreatedAt: readAt.Add(-time.Duration(i) * time.Minute)})
	}
	chats[0].CreatedAt = time.Time{} // the newest lacks created_at
	e.state.replace(chats, readAt, true, true)
	e.lastHead = readAt
	e.model.sawArrivals(60, time.Hour, readAt) // one a minute
	e.model.ageTo(now)
	got := e.unseenQueued(now)
	// The prior life table keeps most of ten minutes' ten arrivals queued.
	sms, email := got["sms"], got["email"]
	t.Logf("unseen queued: sms %.2f, email %.2f", sms, email)
	if sms <= 0 || email <= 0 || math.Abs(sms/email-3) > 0.01 {
		t.Errorf("unseen queued sms %.2f, email %.2f: want shares of 3 to 1", sms, email)
	}
	if total := sms + email; total > 10 || total < 1 {
		t.Errorf("%.2f unseen chats counted queued of 10 arrived", total)
	}
}
