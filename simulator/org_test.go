package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// orgTeams are three teams of different shapes: a numeric and a non-numeric
// teamid, one with arrivals, one empty.
func orgTeams() []Config {
	return []Config{
		{TeamID: "101", Seed: 1, History: 25},
		{TeamID: "202", Seed: 2, History: 13, ArrivalsPerDay: 480, Profile: OfficeHours},
		{TeamID: "acme-support", Seed: 3},
	}
}

// newOrg builds an Org on a virtual clock at t0 with the test token.
func newOrg(quota int, teams []Config) (*Org, *vclock) {
	clk := &vclock{now: t0}
	return NewOrg(OrgConfig{Token: testToken, QuotaPerDay: quota, Clock: clk.Now, Teams: teams}), clk
}

func teamAuth(team string) map[string]string {
	return map[string]string{"access_token": testToken, "teamid": team}
}

func orgWalk(t *testing.T, h http.Handler, team string) []wireChat {
	t.Helper()
	var all []wireChat
	for p := 1; ; p++ {
		r := do(t, h, "GET", "/v3.1/chats?page="+strconv.Itoa(p), teamAuth(team))
		if r.env.StatusCode != 4305 {
			t.Fatalf("team %s page %d: %d %s", team, p, r.http, r.body)
		}
		all = append(all, r.chats...)
		if len(r.chats) < PageSize {
			return all
		}
	}
}

func chatIDs(cs []Chat) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func TestOrgRoutesByTeamID(t *testing.T) {
	org, clk := newOrg(0, orgTeams())
	// Standalone tenants of the same configs: a team in an Org is the
	// same population as the Tenant New builds from its Config.
	alone := map[string]*Tenant{}
	for _, tc := range orgTeams() {
		tc.Token, tc.Clock = testToken, clk.Now
		alone[tc.TeamID] = New(tc)
	}
	clk.Add(9 * time.Hour) // arrivals for team 202
	if got, want := org.TeamIDs(), []string{"101", "202", "acme-support"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("TeamIDs %v, want %v", got, want)
	}
	if org.Team("999") != nil || org.Team("") != nil {
		t.Fatal("Team of an unknown id is not nil")
	}
	seen := map[string]string{}
	for _, tc := range orgTeams() {
		t.Run(tc.TeamID, func(t *testing.T) {
			got := orgWalk(t, org, tc.TeamID)
			truth := org.Team(tc.TeamID).Chats()
			if !reflect.DeepEqual(ids(got), chatIDs(truth)) {
				t.Fatalf("walk %v\ntruth %v", ids(got), chatIDs(truth))
			}
			if len(got) < tc.History || (tc.ArrivalsPerDay > 0 && len(got) == tc.History) {
				t.Fatalf("%d chats for History %d, ArrivalsPerDay %v", len(got), tc.History, tc.ArrivalsPerDay)
			}
			for p := 1; p <= (len(got)+PageSize-1)/PageSize; p++ {
				target := "/v3.1/chats?page=" + strconv.Itoa(p)
				a, b := do(t, org, "GET", target, teamAuth(tc.TeamID)), do(t, alone[tc.TeamID], "GET", target, teamAuth(tc.TeamID))
				if !bytes.Equal(a.body, b.body) {
					t.Fatalf("page %d differs from the standalone tenant's:\n%s\n%s", p, a.body, b.body)
				}
			}
			for _, c := range got {
				if c.TeamName != "Team "+tc.TeamID {
					t.Fatalf("chat %s: team_name %q", c.ChatID, c.TeamName)
				}
				if other, dup := seen[c.ChatID]; dup {
					t.Fatalf("chat %s listed for team %s and %s", c.ChatID, other, tc.TeamID)
				}
				seen[c.ChatID] = tc.TeamID
			}
		})
	}
	// Acting on one team's truth leaves the others alone.
	org.Team("acme-support").Add(Chat{ID: "fixed-1", Status: "queued", Channel: "sms"})
	if n, _ := org.Team("acme-support").Queued(); n != 1 {
		t.Fatalf("acme-support queued %d, want 1", n)
	}
	if got := ids(orgWalk(t, org, "acme-support")); !reflect.DeepEqual(got, []string{"fixed-1"}) {
		t.Fatalf("acme-support lists %v", got)
	}
	for _, id := range []string{"101", "202"} {
		for _, c := range orgWalk(t, org, id) {
			if c.ChatID == "fixed-1" {
				t.Fatalf("team %s lists another team's chat", id)
			}
		}
	}
}

func TestOrgUnknownTeamAnswersAsWrongTeam(t *testing.T) {
	const quota = 50
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		code   int
		http   int
	}{
		{"unknown team", "GET", teamAuth("999"), 2010, 404},
		{"another tenant's team", "GET", teamAuth("4711"), 2010, 404},
		{"missing teamid", "GET", map[string]string{"access_token": testToken}, 2002, 400},
		{"empty teamid", "GET", map[string]string{"access_token": testToken, "teamid": ""}, 2002, 400},
		{"no headers", "GET", nil, 2002, 400},
		{"no token, unknown team", "GET", map[string]string{"teamid": "999"}, 2002, 400},
		{"wrong token beats unknown team", "GET", map[string]string{"access_token": "nope", "teamid": "999"}, 2003, 400},
		{"expired token beats unknown team", "GET", map[string]string{"access_token": "expiring", "teamid": "999"}, 2004, 401},
		{"post, unknown team", "POST", teamAuth("999"), 2099, 405},
		{"post, no headers", "POST", nil, 2099, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			org, clk := newOrg(quota, orgTeams())
			// The reference: a one-team Tenant of the same token and quota
			// asked for a team it does not have.
			ref := New(Config{Token: testToken, TeamID: "101", Seed: 1, History: 25, QuotaPerDay: quota, Clock: clk.Now})
			for _, tok := range []interface {
				SetToken(string)
				ExpireToken()
			}{org, ref} {
				tok.SetToken("expiring")
				tok.ExpireToken()
				tok.SetToken(testToken)
			}
			got := do(t, org, c.method, "/v3.1/chats?page=1", c.hdr)
			want := do(t, ref, c.method, "/v3.1/chats?page=1", c.hdr)
			if got.http != c.http || got.env.StatusCode != c.code {
				t.Fatalf("HTTP %d status_code %d, want %d %d (%s)", got.http, got.env.StatusCode, c.http, c.code, got.body)
			}
			if got.http != want.http || !bytes.Equal(got.body, want.body) {
				t.Fatalf("org answers %d %s\ntenant answers %d %s", got.http, got.body, want.http, want.body)
			}
			for _, h := range []string{"Content-Type", "Content-Length", "Allow", "Rate-Limit-Limit", "Rate-Limit-Remaining", "Rate-Limit-Reset"} {
				if got.header.Get(h) != want.header.Get(h) {
					t.Errorf("%s: org %q, tenant %q", h, got.header.Get(h), want.header.Get(h))
				}
			}
			if got.header.Get("trxid") == "" {
				t.Error("no trxid")
			}
			// Counted by the Org and against the quota, by no team.
			if org.Requests() != 1 || org.QuotaRemaining() != quota-1 {
				t.Errorf("Org Requests %d QuotaRemaining %d, want 1 %d", org.Requests(), org.QuotaRemaining(), quota-1)
			}
			for _, id := range org.TeamIDs() {
				if n := org.Team(id).Requests(); n != 0 {
					t.Errorf("team %s Requests %d", id, n)
				}
			}
		})
	}
	t.Run("other path", func(t *testing.T) {
		org, _ := newOrg(quota, orgTeams())
		r := do(t, org, "GET", "/v3.1/other", teamAuth("101"))
		if r.http != 404 || r.header.Get("Rate-Limit-Remaining") != strconv.Itoa(quota) || r.header.Get("trxid") == "" {
			t.Fatalf("HTTP %d remaining %q trxid %q", r.http, r.header.Get("Rate-Limit-Remaining"), r.header.Get("trxid"))
		}
		if org.Requests() != 0 || org.Team("101").Requests() != 0 || org.QuotaRemaining() != quota {
			t.Fatalf("other path counted: %d %d %d", org.Requests(), org.Team("101").Requests(), org.QuotaRemaining())
		}
	})
	t.Run("no teams", func(t *testing.T) {
		org, _ := newOrg(quota, nil)
		if r := do(t, org, "GET", "/v3.1/chats", teamAuth("101")); r.http != 404 || r.env.StatusCode != 2010 {
			t.Fatalf("HTTP %d %s", r.http, r.body)
		}
	})
}

func TestOrgSharedQuota(t *testing.T) {
	midnight := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		team      string
		advance   time.Duration
		http      int
		remaining int
	}{
		{"101", 0, 200, 3},
		{"202", 0, 200, 2},
		{"999", 0, 404, 1}, // an unknown team's request spends the tenant's quota too
		{"acme-support", 0, 200, 0},
		{"101", 0, 429, 0}, // used up: every team gets the exhausted answer
		{"202", 30 * time.Second, 429, 0},
		{"999", 0, 429, 0},
		{"acme-support", 29 * time.Second, 429, 0}, // 23:59:59
		{"202", time.Second, 200, 3},               // 00:00:00 UTC: a new day for every team
		{"101", 0, 200, 2},
		{"999", 0, 404, 1},
		{"acme-support", 0, 200, 0},
		{"202", 0, 429, 0},
	}
	for _, mode := range []struct {
		name  string
		delta bool
	}{{"epoch reset", false}, {"delta reset", true}} {
		t.Run(mode.name, func(t *testing.T) {
			clk := &vclock{now: midnight.Add(-time.Minute)}
			org := NewOrg(OrgConfig{Token: testToken, QuotaPerDay: 4, ResetAsDelta: mode.delta, Clock: clk.Now, Teams: orgTeams()})
			for i, s := range steps {
				clk.Add(s.advance)
				r := do(t, org, "GET", "/v3.1/chats?page=1", teamAuth(s.team))
				h := r.header
				if r.http != s.http || h.Get("Rate-Limit-Remaining") != strconv.Itoa(s.remaining) || h.Get("Rate-Limit-Limit") != "4" {
					t.Fatalf("step %d (team %s): HTTP %d limit %q remaining %q, want %d 4 %d (%s)",
						i, s.team, r.http, h.Get("Rate-Limit-Limit"), h.Get("Rate-Limit-Remaining"), s.http, s.remaining, r.body)
				}
				now := clk.Now()
				next := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC)
				wantReset := next.Unix()
				if mode.delta {
					wantReset = int64(next.Sub(now) / time.Second)
				}
				if h.Get("Rate-Limit-Reset") != strconv.FormatInt(wantReset, 10) {
					t.Fatalf("step %d: Rate-Limit-Reset %q, want %d", i, h.Get("Rate-Limit-Reset"), wantReset)
				}
				if r.http == 429 {
					if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || json.Valid(r.body) {
						t.Fatalf("step %d: exhausted answer %q %q, want the Tenant's plain text", i, ct, r.body)
					}
				}
				if org.QuotaRemaining() != s.remaining {
					t.Fatalf("step %d: QuotaRemaining %d, want %d", i, org.QuotaRemaining(), s.remaining)
				}
			}
			want := map[string]int64{"101": 3, "202": 4, "acme-support": 3}
			for id, n := range want {
				if got := org.Team(id).Requests(); got != n {
					t.Errorf("team %s Requests %d, want %d", id, got, n)
				}
			}
			if org.Requests() != int64(len(steps)) {
				t.Errorf("Org Requests %d, want %d", org.Requests(), len(steps))
			}
		})
	}
}

// TestOrgQuotaDayNeverMovesBack: a request stamped before midnight that is
// counted after it (teams read the clock under their own locks) spends the
// new day's quota instead of resetting it again.
func TestOrgQuotaDayNeverMovesBack(t *testing.T) {
	midnight := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)
	clk := &vclock{now: midnight.Add(-time.Second)}
	org := NewOrg(OrgConfig{Token: testToken, QuotaPerDay: 10, Clock: clk.Now, Teams: orgTeams()})
	steps := []struct {
		at        time.Time
		remaining string
		reset     int64
	}{
		{midnight.Add(-time.Second), "9", midnight.Unix()},
		{midnight, "9", midnight.Add(24 * time.Hour).Unix()},
		{midnight.Add(-time.Second), "8", midnight.Add(24 * time.Hour).Unix()},
		{midnight.Add(time.Second), "7", midnight.Add(24 * time.Hour).Unix()},
	}
	for i, s := range steps {
		clk.Set(s.at)
		r := do(t, org, "GET", "/v3.1/chats", teamAuth("101"))
		if r.header.Get("Rate-Limit-Remaining") != s.remaining || r.header.Get("Rate-Limit-Reset") != strconv.FormatInt(s.reset, 10) {
			t.Fatalf("step %d: remaining %q reset %q, want %q %d", i, r.header.Get("Rate-Limit-Remaining"), r.header.Get("Rate-Limit-Reset"), s.remaining, s.reset)
		}
	}
}

func TestOrgTokenSharedByTeams(t *testing.T) {
	org, _ := newOrg(0, orgTeams())
	teams := append(org.TeamIDs(), "999")
	steps := []struct {
		name string
		act  func(t *testing.T)
		want map[string]int // token -> status_code on every known team (an unknown team answers 2010 for a valid token)
	}{
		{"initial", func(*testing.T) {}, map[string]int{testToken: 4305, "other": 2003}},
		{"org expires", func(*testing.T) { org.ExpireToken() }, map[string]int{testToken: 2004}},
		{"org issues a new token", func(*testing.T) { org.SetToken("fresh") }, map[string]int{"fresh": 4305, testToken: 2004}},
		{"one team rotates it for all", func(*testing.T) { org.Team("202").SetToken("t2") }, map[string]int{"t2": 4305, "fresh": 2003}},
		{"one team expires it for all", func(*testing.T) { org.Team("101").ExpireToken() }, map[string]int{"t2": 2004}},
		{"reissued", func(*testing.T) { org.SetToken("t2") }, map[string]int{"t2": 4305}},
		{"a fault's rotation on one team rotates it for all", func(t *testing.T) {
			org.Team("101").SetFault(Fault{RotateTokenAfterPage: 1, RotatedToken: "t3"})
			if r := do(t, org, "GET", "/v3.1/chats?page=1", map[string]string{"access_token": "t2", "teamid": "101"}); r.env.StatusCode != 4305 {
				t.Fatalf("rotating page: %d %s", r.http, r.body)
			}
		}, map[string]int{"t3": 4305, "t2": 2003}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.act(t)
			for tok, code := range s.want {
				for _, team := range teams {
					want := code
					if team == "999" && code == 4305 {
						want = 2010
					}
					r := do(t, org, "GET", "/v3.1/chats?page=1", map[string]string{"access_token": tok, "teamid": team})
					if r.env.StatusCode != want {
						t.Errorf("token %q team %s: %d %s, want %d", tok, team, r.http, r.body, want)
					}
				}
			}
		})
	}
}

func TestOrgRequestCounts(t *testing.T) {
	org, _ := newOrg(0, orgTeams())
	reqs := []struct {
		method, path string
		hdr          map[string]string
	}{
		{"GET", "/v3.1/chats", teamAuth("101")},
		{"GET", "/v3.1/chats?page=2", teamAuth("101")},
		{"GET", "/v3.1/chats?page=x", teamAuth("101")}, // a 3454 is a request too
		{"POST", "/v3.1/chats", teamAuth("202")},       // so is a 2099
		{"GET", "/v3.1/chats", map[string]string{"access_token": "nope", "teamid": "202"}},
		{"GET", "/v3.1/chats", teamAuth("acme-support")},
		{"GET", "/v3.1/chats", teamAuth("999")},                    // no team's, the Org's
		{"GET", "/v3.1/chats", map[string]string{"teamid": "101"}}, // a known team, a missing token: the team's
		{"GET", "/v3.1/chats", nil},                                // no team's
		{"GET", "/v3.1/other", teamAuth("101")},                    // not counted at all
	}
	for _, q := range reqs {
		do(t, org, q.method, q.path, q.hdr)
	}
	want := map[string]int64{"101": 4, "202": 2, "acme-support": 1}
	check := func(total int64, want map[string]int64) {
		t.Helper()
		if org.Requests() != total {
			t.Errorf("Org Requests %d, want %d", org.Requests(), total)
		}
		for id, n := range want {
			if got := org.Team(id).Requests(); got != n {
				t.Errorf("team %s Requests %d, want %d", id, got, n)
			}
		}
	}
	check(9, want)
	org.Team("101").ResetRequests()
	check(9, map[string]int64{"101": 0, "202": 2, "acme-support": 1})
	org.ResetRequests()
	check(0, map[string]int64{"101": 0, "202": 0, "acme-support": 0})
}

// TestOrgOverTheWire: Listen and NewTransport serve an Org as they serve a
// Tenant, and the shared quota shows across teams on the wire.
func TestOrgOverTheWire(t *testing.T) {
	org, _ := newOrg(100, orgTeams())
	url, stop, err := Listen(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	clients := []struct {
		name string
		base string
		cl   *http.Client
	}{
		{"transport", "http://tenant.test", &http.Client{Transport: NewTransport(org)}},
		{"listen", url, &http.Client{}},
	}
	remaining := 100
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			for _, team := range []string{"101", "202", "acme-support", "999"} {
				req, _ := http.NewRequest("GET", c.base+"/v3.1/chats?page=1", nil)
				req.Header["access_token"] = []string{testToken} // lower case, as sent upstream
				req.Header["teamid"] = []string{team}
				resp, err := c.cl.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				remaining--
				if got := resp.Header.Get("Rate-Limit-Remaining"); got != strconv.Itoa(remaining) {
					t.Fatalf("team %s: remaining %q, want %d", team, got, remaining)
				}
				var env envelope
				if err := json.Unmarshal(body, &env); err != nil {
					t.Fatalf("team %s: %v %q", team, err, body)
				}
				if team == "999" {
					if resp.StatusCode != 404 || env.StatusCode != 2010 {
						t.Fatalf("unknown team: %d %s", resp.StatusCode, body)
					}
					continue
				}
				var chats []wireChat
				json.Unmarshal(env.Response, &chats)
				truth := chatIDs(org.Team(team).Chats())
				if len(truth) > PageSize {
					truth = truth[:PageSize]
				}
				if resp.StatusCode != 200 || !reflect.DeepEqual(ids(chats), truth) {
					t.Fatalf("team %s: %d %v, want %v", team, resp.StatusCode, ids(chats), truth)
				}
			}
		})
	}
}

// TestOrgConcurrent: every concurrent request, whatever its team, takes its
// own slot of the one quota (run with -race).
func TestOrgConcurrent(t *testing.T) {
	const workers, each, quota = 8, 40, 1000
	org, clk := newOrg(quota, orgTeams())
	teams := append(org.TeamIDs(), "999")
	var mu sync.Mutex
	var seen []int
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				team := teams[(w+i)%len(teams)]
				r := do(t, org, "GET", "/v3.1/chats?page="+strconv.Itoa(1+i%3), teamAuth(team))
				n, err := strconv.Atoi(r.header.Get("Rate-Limit-Remaining"))
				if err != nil {
					t.Errorf("team %s: %v", team, err)
					return
				}
				mu.Lock()
				seen = append(seen, n)
				mu.Unlock()
				if tn := org.Team(team); tn != nil && i%10 == 0 {
					tn.Counts() // truth read alongside serving
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the token and the clock move meanwhile
		defer wg.Done()
		for range 20 {
			org.SetToken(testToken)
			clk.Add(time.Second)
		}
	}()
	wg.Wait()
	const total = workers * each
	sort.Sort(sort.Reverse(sort.IntSlice(seen)))
	for i, n := range seen {
		if n != quota-1-i {
			t.Fatalf("remaining values not one slot each: %d at %d", n, i)
		}
	}
	var sum int64
	for _, id := range org.TeamIDs() {
		sum += org.Team(id).Requests()
	}
	if org.Requests() != total || sum != total*3/4 || org.QuotaRemaining() != quota-total {
		t.Fatalf("Org Requests %d, teams %d, QuotaRemaining %d; want %d %d %d", org.Requests(), sum, org.QuotaRemaining(), total, total*3/4, quota-total)
	}
}

func TestOrgDeterminism(t *testing.T) {
	run := func() (bodies []string, trx []string) {
		org, clk := newOrg(0, orgTeams())
		for i, team := range []string{"101", "202", "999", "acme-support", "202", "101"} {
			clk.Add(time.Duration(i) * time.Hour)
			r := do(t, org, "GET", "/v3.1/chats?page=1", teamAuth(team))
			bodies = append(bodies, string(r.body))
			trx = append(trx, r.header.Get("trxid"))
		}
		return bodies, trx
	}
	b1, t1 := run()
	b2, t2 := run()
	if !reflect.DeepEqual(b1, b2) || !reflect.DeepEqual(t1, t2) {
		t.Fatal("two Orgs of the same config answer differently")
	}
	seen := map[string]bool{}
	for _, id := range t1 {
		if id == "" || seen[id] {
			t.Fatalf("trxid %q missing or repeated in %v", id, t1)
		}
		seen[id] = true
	}
}

func TestNewOrgConfig(t *testing.T) {
	panics := []struct {
		name string
		cfg  OrgConfig
	}{
		{"no token", OrgConfig{Teams: []Config{{TeamID: "1"}}}},
		{"no team id", OrgConfig{Token: "t", Teams: []Config{{TeamID: "1"}, {}}}},
		{"repeated team id", OrgConfig{Token: "t", Teams: []Config{{TeamID: "1"}, {TeamID: "2"}, {TeamID: "1"}}}},
	}
	for _, c := range panics {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			NewOrg(c.cfg)
		})
	}
	t.Run("defaults and the org's settings win", func(t *testing.T) {
		clk := &vclock{now: t0}
		org := NewOrg(OrgConfig{Token: "t", Clock: clk.Now, Teams: []Config{
			{TeamID: "1", Token: "ignored", QuotaPerDay: 3, ResetAsDelta: true, Clock: func() time.Time { return t0.Add(-48 * time.Hour) }},
		}})
		r := do(t, org, "GET", "/v3.1/chats", map[string]string{"access_token": "t", "teamid": "1"})
		if r.env.StatusCode != 4305 || r.header.Get("Rate-Limit-Limit") != "10000" || r.header.Get("Rate-Limit-Remaining") != "9999" ||
			r.header.Get("Rate-Limit-Reset") != strconv.FormatInt(time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC).Unix(), 10) {
			t.Fatalf("%d %v %s", r.http, r.header, r.body)
		}
	})
}
