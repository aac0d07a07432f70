package centre

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"
)

var (
	testStart = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	testDay   = testStart.Add(48 * time.Hour)
)

func build(t testing.TB, name string, seed int64) *Centre {
	t.Helper()
	sc, ok := ScenarioNamed(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	return New(sc.Build(seed, testStart, 3, testDay))
}

// legal are the transitions a chat may make.
var legal = map[[2]uint8]bool{
	{stQueued, stPicked}: true, {stQueued, stClosed}: true,
	{stPicked, stOnHold}: true, {stPicked, stClosed}: true,
	{stOnHold, stPicked}: true,
	{stClosed, stQueued}: true, // reopened
}

// Every chat moves only by legal transitions, forward in time, reopens at
// most once, and the totals add up: every chat is in exactly one status,
// every arrival is picked or abandoned (or still queued), every pick ends
// in a close or is still open.
func TestCountsConserve(t *testing.T) {
	for _, name := range []string{"stall", "reopen", "night"} {
		c := build(t, name, 1)
		st := c.Stats()
		history := c.cfg.History
		if got := len(c.chats) - history; got != st.Arrived {
			t.Errorf("%s: %d chats besides the history, %d arrived", name, got, st.Arrived)
		}
		var queuedNow, openNow, closes, reopens, picks, holds int
		for i, ch := range c.chats {
			if i > 0 && ch.created < c.chats[i-1].created {
				t.Fatalf("%s: chat %d created before the one listed after it", name, i)
			}
			if ch.trans[0].status != stQueued || ch.trans[0].at != ch.created {
				t.Fatalf("%s: chat %d does not start queued at its creation", name, i)
			}
			reopened := 0
			for k := 1; k < len(ch.trans); k++ {
				a, b := ch.trans[k-1], ch.trans[k]
				if !legal[[2]uint8{a.status, b.status}] {
					t.Fatalf("%s: chat %d goes %s → %s", name, i, statusNames[a.status], statusNames[b.status])
				}
				if b.at < a.at {
					t.Fatalf("%s: chat %d goes back in time", name, i)
				}
				switch {
				case a.status == stClosed:
					reopened++
				case b.status == stClosed:
					closes++
				}
				if a.status == stQueued && b.status == stPicked {
					picks++
				}
				if b.status == stOnHold {
					holds++
				}
			}
			if reopened > 1 {
				t.Fatalf("%s: chat %d reopened %d times", name, i, reopened)
			}
			reopens += reopened
			switch ch.trans[len(ch.trans)-1].status {
			case stQueued:
				queuedNow++
			case stPicked, stOnHold:
				openNow++
			}
		}
		closes -= history // the history's chats were closed before Start
		picks -= history
		if st.Reopened != reopens || st.Picked != picks || st.Holds != holds {
			t.Errorf("%s: stats %+v; the chats show %d reopens, %d picks, %d holds", name, st, reopens, picks, holds)
		}
		if closes != st.Handled+st.Abandoned {
			t.Errorf("%s: %d closes, %d handled + %d abandoned", name, closes, st.Handled, st.Abandoned)
		}
		// Arrivals and reopens enter the queue; picks and abandons leave it.
		if in, out := st.Arrived+st.Reopened, st.Picked+st.Abandoned+queuedNow; in != out {
			t.Errorf("%s: %d entered the queue, %d left it or are still in it", name, in, out)
		}
		if st.Picked != st.Handled+openNow {
			t.Errorf("%s: %d picks, %d handled, %d still open", name, st.Picked, st.Handled, openNow)
		}
		// The list, the cursor and a window read agree at any instant.
		cur := c.NewCursor()
		for at := testDay; at.Before(testDay.Add(24 * time.Hour)); at = at.Add(67 * time.Minute) {
			all := c.Listing(at, time.Time{}, nil)
			if len(all) != c.Chats(at) {
				t.Fatalf("%s: %d chats listed at %v, %d in the list", name, len(all), at, c.Chats(at))
			}
			byStatus := map[string]int{}
			oldest := make([]time.Time, len(c.channels))
			for k, l := range all {
				if l.Position != k {
					t.Fatalf("%s: chat at position %d listed %d-th", name, l.Position, k)
				}
				byStatus[l.Status]++
				if ch := slices.Index(c.channels, l.Channel); l.Status == Queued {
					oldest[ch] = l.CreatedAt // newest first: the last is the oldest
				}
			}
			if n := byStatus[Queued] + byStatus[Picked] + byStatus[OnHold] + byStatus[Closed]; n != len(all) {
				t.Fatalf("%s: statuses %v of %d chats", name, byStatus, len(all))
			}
			cur.Advance(at)
			queued, windowOldest, _ := c.Snapshot(at, time.Time{})
			if cur.Queued() != byStatus[Queued] || queued != byStatus[Queued] {
				t.Fatalf("%s at %v: %d queued listed, cursor %d, window %d", name, at, byStatus[Queued], cur.Queued(), queued)
			}
			for ch := range c.channels {
				got, ok := cur.Oldest(ch)
				if ok != !oldest[ch].IsZero() || !got.Equal(oldest[ch]) || windowOldest[ch] != oldestNs(oldest[ch]) {
					t.Fatalf("%s at %v, %s: oldest queued %v (cursor %v, window %d)", name, at, c.channels[ch], oldest[ch], got, windowOldest[ch])
				}
			}
		}
	}
}

func oldestNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// No agent ever holds more chats than its team's concurrency, and agents
// pick only on shift.
func TestAgentsWithinConcurrency(t *testing.T) {
	for _, name := range []string{"campaign", "reopen", "channel_mix"} {
		c := build(t, name, 2)
		type step struct {
			at    int64
			delta int
		}
		perAgent := make([][]step, len(c.agents))
		for i, ch := range c.chats[c.cfg.History:] {
			for k := 1; k < len(ch.trans); k++ {
				a, b := ch.trans[k-1], ch.trans[k]
				if a.status == stQueued && b.status == stPicked {
					perAgent[b.agent] = append(perAgent[b.agent], step{b.at, +1})
					sh := c.shifts[b.agent].shift
					tod := time.Duration((b.at - testStart.UnixNano()) % int64(24*time.Hour))
					if tod < sh.From || tod >= sh.To {
						t.Fatalf("%s: chat %d picked at %v by %s, off shift", name, i, time.Duration(tod), c.agents[b.agent])
					}
					team := c.cfg.Teams[c.shifts[b.agent].team]
					if team.Channels != nil && !slices.Contains(team.Channels, c.channels[ch.channel]) {
						t.Fatalf("%s: a %s chat picked by team %s", name, c.channels[ch.channel], team.Name)
					}
				}
				if b.status == stClosed && a.status != stQueued {
					perAgent[a.agent] = append(perAgent[a.agent], step{b.at, -1})
				}
				if (a.status == stPicked || a.status == stOnHold) && b.agent != a.agent && b.status != stClosed {
					t.Fatalf("%s: chat %d changed agent", name, i)
				}
			}
		}
		peak := 0
		for ag, steps := range perAgent {
			// At one instant, the closes first: a slot freed is reused.
			slices.SortFunc(steps, func(x, y step) int {
				if x.at != y.at {
					return int(x.at - y.at)
				}
				return x.delta - y.delta
			})
			load := 0
			conc := max(c.cfg.Teams[c.shifts[ag].team].Concurrency, 1)
			for _, s := range steps {
				load += s.delta
				if load > conc {
					t.Fatalf("%s: %s holds %d chats, its concurrency is %d", name, c.agents[ag], load, conc)
				}
				peak = max(peak, load)
			}
		}
		if peak == 0 {
			t.Errorf("%s: no agent ever held a chat", name)
		}
	}
}

// During the stall nobody picks, and the queue grows; after it, the
// agents drain it.
func TestStallStopsPicks(t *testing.T) {
	c := build(t, "stall", 3)
	from, to := c.cfg.Stalls[0].From.UnixNano(), c.cfg.Stalls[0].To.UnixNano()
	picksAfter := 0
	for _, ch := range c.chats {
		for k := 1; k < len(ch.trans); k++ {
			if ch.trans[k-1].status == stQueued && ch.trans[k].status == stPicked {
				if at := ch.trans[k].at; at >= from && at < to {
					t.Fatalf("a chat picked at %v, in the stall", time.Unix(0, at).UTC())
				} else if at >= to && at < to+int64(time.Minute) {
					picksAfter++
				}
			}
		}
	}
	cur := c.NewCursor()
	cur.Advance(time.Unix(0, from))
	before := cur.Queued()
	cur.Advance(time.Unix(0, to).Add(-time.Millisecond))
	during := cur.Queued()
	cur.Advance(time.Unix(0, to).Add(20 * time.Minute))
	after := cur.Queued()
	t.Logf("queued: %d at the stall, %d at its end, %d 20 minutes later; %d picks in the minute after", before, during, after, picksAfter)
	if during < before+40 || after > during/4 || picksAfter < 20 {
		t.Errorf("queued %d at the stall, %d at its end, %d 20 minutes later; %d picks in the minute after", before, during, after, picksAfter)
	}
}

type wirePage struct {
	StatusCode int `json:"status_code"`
	Response   []struct {
		ChatID    string `json:"chat_id"`
		CreatedAt string `json:"created_at"`
		UpdatedAt string `json:"updated_at"`
		Status    string `json:"status"`
		Channel   string `json:"channel"`
		Assignee  string `json:"assignee"`
	} `json:"response"`
}

// fetch reads a page from the server at now.
func fetch(t *testing.T, s *Server, page int) (wirePage, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, ChatsPath+"?page="+strconv.Itoa(page), nil)
	req.Header.Set("access_token", "tok")
	req.Header.Set("teamid", "team")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var p wirePage
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("page %d: %v: %s", page, err, rec.Body.String())
	}
	return p, rec.Header()
}

// A reopened chat goes back to queued with its created_at, at its place
// in the list: as the API serves it, just before and just after.
func TestReopenKeepsCreatedAndPlace(t *testing.T) {
	c := build(t, "reopen", 1)
	checked := 0
	for i, ch := range c.chats {
		for k := 1; k < len(ch.trans) && checked < 20; k++ {
			if ch.trans[k-1].status != stClosed || ch.trans[k].status != stQueued ||
				(k+1 < len(ch.trans) && ch.trans[k+1].at == ch.trans[k].at) { // picked at once
				continue
			}
			checked++
			at := ch.trans[k].at
			var seen []string
			for _, ns := range []int64{at - int64(time.Millisecond), at} {
				now := time.Unix(0, ns).UTC()
				s := c.Server(ServerConfig{Token: "tok", TeamID: "team", Clock: func() time.Time { return now }})
				pos := c.visible(ns) - 1 - i
				p, _ := fetch(t, s, pos/PageSize+1)
				got := p.Response[pos%PageSize]
				if got.ChatID != ch.id {
					t.Fatalf("chat %s not at its place %d at %v: %s there", ch.id, pos, now, got.ChatID)
				}
				if created := time.Unix(0, ch.created).UTC().Format(timeLayout); got.CreatedAt != created {
					t.Fatalf("reopened chat served created_at %s, created %s", got.CreatedAt, created)
				}
				// Its neighbours in the list are the chats created just before
				// and after it, whatever its status.
				if pos%PageSize > 0 && p.Response[pos%PageSize-1].ChatID != c.chats[i+1].id {
					t.Fatalf("the chat before it in the list is not the next one created")
				}
				seen = append(seen, got.Status)
				if ns == at && got.UpdatedAt != now.Format(timeLayout) {
					t.Fatalf("reopened at %v, updated_at %s", now, got.UpdatedAt)
				}
			}
			if seen[0] != Closed || seen[1] != Queued {
				t.Fatalf("around its reopening the chat was served %v", seen)
			}
		}
	}
	if checked == 0 || c.Stats().Reopened == 0 {
		t.Fatal("no chat reopened")
	}
}

// The server pages newest first, ten a page, counts the quota and answers
// the header errors.
func TestServerWire(t *testing.T) {
	c := build(t, "stall", 1)
	now := testDay.Add(12 * time.Hour)
	s := c.Server(ServerConfig{Token: "tok", TeamID: "team", QuotaPerDay: 3, Clock: func() time.Time { return now }})
	p1, h := fetch(t, s, 1)
	p2, _ := fetch(t, s, 2)
	if p1.StatusCode != 4305 || len(p1.Response) != PageSize || len(p2.Response) != PageSize {
		t.Fatalf("pages of %d and %d chats, code %d", len(p1.Response), len(p2.Response), p1.StatusCode)
	}
	all := append(p1.Response, p2.Response...)
	for k := 1; k < len(all); k++ {
		if all[k].CreatedAt > all[k-1].CreatedAt {
			t.Fatalf("not newest first: %s after %s", all[k].CreatedAt, all[k-1].CreatedAt)
		}
	}
	if want := c.chats[c.visible(now.UnixNano())-1].id; all[0].ChatID != want {
		t.Fatalf("first chat %s, the newest is %s", all[0].ChatID, want)
	}
	if h.Get("Rate-Limit-Limit") != "3" || h.Get("Rate-Limit-Remaining") != "2" {
		t.Errorf("rate-limit headers %v", h)
	}
	fetch(t, s, 3)
	req := httptest.NewRequest(http.MethodGet, ChatsPath, nil)
	req.Header.Set("access_token", "tok")
	req.Header.Set("teamid", "team")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusTooManyRequests {
		t.Errorf("the 4th request of a quota of 3 answered %d", rec.Code)
	}
	s = c.Server(ServerConfig{Token: "tok", TeamID: "team", Clock: func() time.Time { return now }})
	req.Header.Set("access_token", "other")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !json.Valid(rec.Body.Bytes()) {
		t.Errorf("a wrong token answered %d %s", rec.Code, rec.Body.String())
	}
	if s.Requests() != 1 {
		t.Errorf("%d requests counted", s.Requests())
	}
}

func fingerprint(c *Centre) string {
	h := fnv.New64a()
	for _, ch := range c.chats {
		fmt.Fprint(h, ch.id, ch.created, ch.channel)
		for _, tr := range ch.trans {
			fmt.Fprint(h, tr.at, tr.status, tr.agent)
		}
	}
	return fmt.Sprintf("%x", h.Sum64())
}

// The same seed gives the same centre; another seed another one.
func TestDeterministic(t *testing.T) {
	a, b, other := build(t, "campaign", 4), build(t, "campaign", 4), build(t, "campaign", 5)
	if fa, fb := fingerprint(a), fingerprint(b); fa != fb {
		t.Errorf("seed 4 twice: %s and %s", fa, fb)
	}
	if fingerprint(a) == fingerprint(other) {
		t.Error("seeds 4 and 5 gave the same centre")
	}
}
