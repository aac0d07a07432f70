package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testToken = "secret-token"
	testTeam  = "4711"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// vclock is a virtual clock tests move by hand; safe for concurrent use.
type vclock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *vclock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *vclock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
func (c *vclock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

func newTenant(cfg Config) (*Tenant, *vclock) {
	clk := &vclock{now: t0}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.TeamID == "" {
		cfg.TeamID = testTeam
	}
	if cfg.Clock == nil {
		cfg.Clock = clk.Now
	}
	return New(cfg), clk
}

type envelope struct {
	StatusCode  int             `json:"status_code"`
	Description string          `json:"description"`
	Response    json.RawMessage `json:"response"`
}

type wireChat struct {
	ChatID    string `json:"chat_id"`
	AliasID   string `json:"alias_id"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Status    string `json:"status"`
	Channel   string `json:"channel"`
	Asset     struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
	} `json:"asset"`
	CustomerID    string          `json:"customer_id"`
	DestinationID string          `json:"destination_id"`
	Assignee      *string         `json:"assignee"`
	Flag          *string         `json:"flag"`
	Tag           json.RawMessage `json:"tag"`
	OtherDetails  json.RawMessage `json:"other_details"`
	TeamID        json.RawMessage `json:"team_id"`
	TeamName      string          `json:"team_name"`
}

type result struct {
	http   int
	header http.Header
	body   []byte
	env    envelope
	chats  []wireChat
}

// do sends one request straight to the handler.
func do(t testing.TB, h http.Handler, method, target string, hdr map[string]string) result {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	res := result{http: w.Code, header: w.Header(), body: w.Body.Bytes()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		// A body that is no envelope (faults) leaves env zero.
		if json.Unmarshal(res.body, &res.env) == nil && res.env.StatusCode == 4305 {
			// Left nil when it does not decode (Raw chats); tests that
			// need chats check their length.
			json.Unmarshal(res.env.Response, &res.chats)
		}
	}
	return res
}

func auth() map[string]string {
	return map[string]string{"access_token": testToken, "teamid": testTeam}
}

func page(t testing.TB, h http.Handler, p int) result {
	t.Helper()
	return do(t, h, "GET", "/v3.1/chats?page="+strconv.Itoa(p), auth())
}

func ids(cs []wireChat) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ChatID
	}
	return out
}

func TestHeaderChecksAndStatusCodes(t *testing.T) {
	tn, _ := newTenant(Config{History: 30})
	tn.SetToken("expiring")
	tn.ExpireToken()
	tn.SetToken(testToken)
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		code   int
		http   int
	}{
		{"ok", "GET", auth(), 4305, 200},
		{"post", "POST", auth(), 2099, 405},
		{"delete without headers", "DELETE", nil, 2099, 405},
		{"no headers", "GET", nil, 2002, 400},
		{"no token", "GET", map[string]string{"teamid": testTeam}, 2002, 400},
		{"empty token", "GET", map[string]string{"access_token": "", "teamid": testTeam}, 2002, 400},
		{"no team", "GET", map[string]string{"access_token": testToken}, 2002, 400},
		{"missing header beats wrong token", "GET", map[string]string{"access_token": "nope"}, 2002, 400},
		{"wrong token", "GET", map[string]string{"access_token": "nope", "teamid": testTeam}, 2003, 400},
		{"wrong token beats wrong team", "GET", map[string]string{"access_token": "nope", "teamid": "1"}, 2003, 400},
		{"expired token", "GET", map[string]string{"access_token": "expiring", "teamid": testTeam}, 2004, 401},
		{"wrong team", "GET", map[string]string{"access_token": testToken, "teamid": "1"}, 2010, 404},
		{"lower-case header names as sent upstream", "GET", map[string]string{"ACCESS_TOKEN": testToken, "TeamId": testTeam}, 4305, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, tn, c.method, "/v3.1/chats?page=1", c.hdr)
			if r.http != c.http || r.env.StatusCode != c.code {
				t.Fatalf("got HTTP %d status_code %d, want %d %d (%s)", r.http, r.env.StatusCode, c.http, c.code, r.body)
			}
			if r.env.Description == "" {
				t.Error("empty description")
			}
			if c.code != 4305 && string(r.env.Response) == "" {
				t.Error("error envelope without response field")
			}
			if c.code == 2099 && r.header.Get("Allow") != "GET" {
				t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
		})
	}
	if got := tn.Requests(); got != int64(len(cases)) {
		t.Errorf("Requests() = %d, want %d", got, len(cases))
	}
	tn.ResetRequests()
	if tn.Requests() != 0 {
		t.Error("ResetRequests did not reset")
	}
	if r := do(t, tn, "GET", "/v3.1/other", auth()); r.http != 404 || tn.Requests() != 0 {
		t.Errorf("other path: HTTP %d, Requests %d", r.http, tn.Requests())
	}
}

func TestPageParameter(t *testing.T) {
	tn, _ := newTenant(Config{History: 25})
	first := ids(page(t, tn, 1).chats)
	cases := []struct {
		query string
		code  int
		http  int
		want  []string // nil: don't compare
	}{
		{"", 4305, 200, first},
		{"?page=", 4305, 200, first},
		{"?page=0", 4305, 200, first},
		{"?page=1", 4305, 200, first},
		{"?foo=bar&page=%31", 4305, 200, first},
		{"?page=3", 4305, 200, nil},
		{"?page=4", 4305, 200, []string{}},
		{"?page=99999999999", 4305, 200, []string{}},
		{"?page=-1", 3454, 500, nil},
		{"?page=abc", 3454, 500, nil},
		{"?page=1.5", 3454, 500, nil},
		{"?page=99999999999999999999999", 3454, 500, nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			r := do(t, tn, "GET", "/v3.1/chats"+c.query, auth())
			if r.http != c.http || r.env.StatusCode != c.code {
				t.Fatalf("got %d/%d, want %d/%d: %s", r.http, r.env.StatusCode, c.http, c.code, r.body)
			}
			if c.want != nil && !reflect.DeepEqual(ids(r.chats), c.want) {
				t.Fatalf("chats %v, want %v", ids(r.chats), c.want)
			}
			if c.code == 4305 && string(r.env.Response) != "[]" && len(r.chats) == 0 {
				t.Fatalf("empty page must be [], got %s", r.env.Response)
			}
		})
	}
}

// knownPopulation is 25 fixed chats, one minute apart, newest = index 24.
func knownPopulation() []Chat {
	var cs []Chat
	chans := []string{"sms", "email", "LiveChat", "twitter", "api"}
	for i := range 25 {
		c := Chat{
			ID: fmt.Sprintf("chat-%02d", i), AliasID: fmt.Sprintf("alias-%02d", i),
			CreatedAt: t0.Add(-time.Duration(25-i) * time.Minute),
			Status:    []string{"queued", "picked", "onhold", "closed"}[i%4],
			Channel:   chans[i%len(chans)],
			AssetID:   []string{"4915112345678", "support@brand.example", "app1", "1234567890123456789", "0123"}[i%len(chans)],
			AssetName: "asset", CustomerID: "c", DestinationID: "d", Flag: "",
		}
		if i%3 == 0 {
			c.Tags = []string{"vip", "billing"}
		} else if i%3 == 1 {
			c.Tags = []string{}
		}
		if c.Status != "queued" {
			c.Assignee = "agent001@example.test"
		}
		cs = append(cs, c)
	}
	return cs
}

func TestPaginationNewestFirst(t *testing.T) {
	tn, _ := newTenant(Config{History: 500, ArrivalsPerDay: 1000})
	tn.Replace(knownPopulation()...)
	var got []string
	sizes := []int{}
	for p := 1; ; p++ {
		r := page(t, tn, p)
		if r.env.StatusCode != 4305 {
			t.Fatalf("page %d: %s", p, r.body)
		}
		sizes = append(sizes, len(r.chats))
		got = append(got, ids(r.chats)...)
		if len(r.chats) < PageSize {
			break
		}
	}
	if !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
		t.Fatalf("page sizes %v, want [10 10 5]", sizes)
	}
	if r := page(t, tn, 4); string(r.env.Response) != "[]" {
		t.Fatalf("page past the end: %s", r.env.Response)
	}
	var want []string
	for i := 24; i >= 0; i-- {
		want = append(want, fmt.Sprintf("chat-%02d", i))
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

func TestWireFieldsOfFixedChats(t *testing.T) {
	tn, _ := newTenant(Config{})
	pop := knownPopulation()
	tn.Replace(pop...)
	r := page(t, tn, 1)
	if len(r.chats) != PageSize {
		t.Fatalf("%d chats on page 1", len(r.chats))
	}
	// asset.id by channel (index i%5) and tag by i%3, as knownPopulation builds them.
	wantAsset := []string{`4915112345678`, `"support@brand.example"`, `"app1"`, `1234567890123456789`, `"0123"`}
	wantTag := []string{`["vip","billing"]`, `[]`, `null`}
	for _, w := range r.chats {
		i, _ := strconv.Atoi(strings.TrimPrefix(w.ChatID, "chat-"))
		t.Run(w.ChatID, func(t *testing.T) {
			c := pop[i]
			if w.Channel != c.Channel || w.Status != c.Status || w.AliasID != c.AliasID || *w.Assignee != c.Assignee {
				t.Errorf("got %+v, want %+v", w, c)
			}
			if string(w.Asset.ID) != wantAsset[i%5] {
				t.Errorf("asset.id %s, want %s (channel %s)", w.Asset.ID, wantAsset[i%5], c.Channel)
			}
			if string(w.Tag) != wantTag[i%3] {
				t.Errorf("tag %s, want %s", w.Tag, wantTag[i%3])
			}
			if string(w.OtherDetails) != "{}" || string(w.TeamID) != testTeam || w.TeamName == "" {
				t.Errorf("other_details %s team_id %s team_name %q", w.OtherDetails, w.TeamID, w.TeamName)
			}
			if w.Flag == nil {
				t.Error("flag must always be present")
			}
			cr, err := time.Parse(time.RFC3339Nano, w.CreatedAt)
			if err != nil || !cr.Equal(c.CreatedAt) || !tsRE.MatchString(w.CreatedAt) {
				t.Errorf("created_at %q, want %v with 2-7 digits", w.CreatedAt, c.CreatedAt)
			}
		})
	}
}

var tsRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.(\d{2,7})Z$`)

func walk(t testing.TB, h http.Handler) []wireChat {
	t.Helper()
	var all []wireChat
	for p := 1; ; p++ {
		r := page(t, h, p)
		if r.env.StatusCode != 4305 {
			t.Fatalf("page %d: %d %s", p, r.http, r.body)
		}
		all = append(all, r.chats...)
		if len(r.chats) < PageSize {
			return all
		}
	}
}

func TestGeneratedPopulationWireFormat(t *testing.T) {
	tn, _ := newTenant(Config{Seed: 3, History: 3000, ArrivalsPerDay: 3000})
	all := walk(t, tn)
	if len(all) != 3000 {
		t.Fatalf("walked %d chats, want 3000", len(all))
	}
	digits := map[int]int{}
	channels := map[string]int{}
	statuses := map[string]int{}
	agents := map[string]bool{}
	assets := map[string]bool{}
	var nullTags, emptyTags, numericAssets, liveChatCased int
	for _, c := range all {
		for _, ts := range []string{c.CreatedAt, c.UpdatedAt} {
			m := tsRE.FindStringSubmatch(ts)
			if m == nil {
				t.Fatalf("%s: timestamp %q", c.ChatID, ts)
			}
			digits[len(m[1])]++
		}
		cr, _ := time.Parse(time.RFC3339Nano, c.CreatedAt)
		up, _ := time.Parse(time.RFC3339Nano, c.UpdatedAt)
		if up.Before(cr) || cr.After(t0) {
			t.Fatalf("%s: created %s updated %s", c.ChatID, c.CreatedAt, c.UpdatedAt)
		}
		channels[strings.ToLower(c.Channel)]++
		statuses[c.Status]++
		if c.Channel == "LiveChat" {
			liveChatCased++
		}
		if (c.Status == "queued") != (*c.Assignee == "") && c.Status != "closed" {
			t.Fatalf("%s: status %s with assignee %q", c.ChatID, c.Status, *c.Assignee)
		}
		if *c.Assignee != "" {
			agents[*c.Assignee] = true
		}
		assets[string(c.Asset.ID)] = true
		switch string(c.Tag) {
		case "null":
			nullTags++
		case "[]":
			emptyTags++
		}
		if c.Asset.ID[0] != '"' {
			numericAssets++
		}
	}
	for d := 2; d <= 7; d++ {
		if digits[d] == 0 {
			t.Errorf("no timestamp with %d fractional digits", d)
		}
	}
	for _, ch := range []string{"sms", "facebook", "twitter", "livechat", "email", "abc", "whatsapp", "api"} {
		if channels[ch] == 0 {
			t.Errorf("no chat on channel %s", ch)
		}
	}
	for _, st := range []string{"queued", "picked", "onhold", "closed"} {
		if statuses[st] == 0 {
			t.Errorf("no chat %s: %v", st, statuses)
		}
	}
	if statuses["closed"] < len(all)*9/10 {
		t.Errorf("history should be mostly closed: %v", statuses)
	}
	if len(agents) < 30 || len(assets) < 30 {
		t.Errorf("%d agents, %d assets", len(agents), len(assets))
	}
	if nullTags == 0 || emptyTags == 0 || numericAssets == 0 || liveChatCased == 0 {
		t.Errorf("null tags %d, empty tags %d, numeric assets %d, LiveChat %d", nullTags, emptyTags, numericAssets, liveChatCased)
	}
}

// TestWalkMatchesTruth: what a client reads is what Chats and Counts say.
func TestWalkMatchesTruth(t *testing.T) {
	tn, clk := newTenant(Config{Seed: 11, History: 2000, ArrivalsPerDay: 5000})
	clk.Add(90 * time.Minute)
	all := walk(t, tn)
	truth := tn.Chats()
	if len(all) != len(truth) {
		t.Fatalf("walked %d, truth %d", len(all), len(truth))
	}
	counts := map[[2]string]int{}
	for i, c := range all {
		tr := truth[i]
		if c.ChatID != tr.ID || c.Status != tr.Status || *c.Assignee != tr.Assignee || c.Channel != tr.Channel {
			t.Fatalf("chat %d: wire %+v, truth %+v", i, c, tr)
		}
		cr, _ := time.Parse(time.RFC3339Nano, c.CreatedAt)
		up, _ := time.Parse(time.RFC3339Nano, c.UpdatedAt)
		if !cr.Equal(tr.CreatedAt) || !up.Equal(tr.UpdatedAt) {
			t.Fatalf("chat %s: times %s %s, truth %v %v", c.ChatID, c.CreatedAt, c.UpdatedAt, tr.CreatedAt, tr.UpdatedAt)
		}
		if i > 0 && tr.CreatedAt.After(truth[i-1].CreatedAt) {
			t.Fatalf("not newest first at %d", i)
		}
		counts[[2]string{c.Status, strings.ToLower(c.Channel)}]++
	}
	got := tn.Counts()
	if got.Total != len(all) || !reflect.DeepEqual(got.ByStatusChannel, counts) {
		t.Fatalf("Counts %v (total %d), walk %v", got.ByStatusChannel, got.Total, counts)
	}
	for k, ts := range got.OldestCreated {
		if k[0] == "closed" {
			t.Fatalf("OldestCreated has closed: %v", k)
		}
		for _, c := range truth {
			if c.Status == k[0] && strings.ToLower(c.Channel) == k[1] && c.CreatedAt.Before(ts) {
				t.Fatalf("%v: %s older than %v", k, c.ID, ts)
			}
		}
	}
}

func TestRateLimitHeaders(t *testing.T) {
	cases := []struct {
		name      string
		delta     bool
		now       time.Time
		wantReset int64
	}{
		{"epoch", false, t0, time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC).Unix()},
		{"delta", true, t0, 12 * 3600},
		{"delta just after midnight", true, time.Date(2024, 3, 2, 0, 0, 0, 1, time.UTC), 86400},
		{"epoch non-UTC clock", false, time.Date(2024, 3, 1, 23, 30, 0, 0, time.FixedZone("X", -5*3600)), time.Date(2024, 3, 3, 0, 0, 0, 0, time.UTC).Unix()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, clk := newTenant(Config{History: 5, QuotaPerDay: 100, ResetAsDelta: c.delta})
			clk.Set(c.now)
			trx := map[string]bool{}
			// Errors and faults carry the headers too.
			tn.SetFault(Fault{Kind: FaultHTMLGateway, Pages: []int{3}})
			for i, hdr := range []map[string]string{auth(), nil, {"access_token": "x", "teamid": testTeam}, auth()} {
				target := "/v3.1/chats?page=1"
				if i == 3 {
					target = "/v3.1/chats?page=3"
				}
				r := do(t, tn, "GET", target, hdr)
				h := r.header
				if h.Get("Rate-Limit-Limit") != "100" || h.Get("Rate-Limit-Remaining") != strconv.Itoa(99-i) {
					t.Fatalf("request %d: limit %q remaining %q", i, h.Get("Rate-Limit-Limit"), h.Get("Rate-Limit-Remaining"))
				}
				if h.Get("Rate-Limit-Reset") != strconv.FormatInt(c.wantReset, 10) {
					t.Fatalf("reset %q, want %d", h.Get("Rate-Limit-Reset"), c.wantReset)
				}
				id := h.Get("trxid")
				if id == "" || trx[id] {
					t.Fatalf("trxid %q missing or repeated", id)
				}
				trx[id] = true
			}
		})
	}
}

func TestQuotaExhaustionAndReset(t *testing.T) {
	tn, clk := newTenant(Config{History: 15, QuotaPerDay: 3})
	clk.Set(time.Date(2024, 3, 1, 23, 59, 0, 0, time.UTC))
	steps := []struct {
		advance   time.Duration
		http      int
		remaining string
	}{
		{0, 200, "2"},
		{0, 200, "1"},
		{time.Second, 200, "0"},
		{0, 429, "0"},
		{30 * time.Second, 429, "0"},
		{31 * time.Second, 200, "2"}, // 00:00:01: a new day, a new quota
		{0, 200, "1"},
	}
	for i, s := range steps {
		clk.Add(s.advance)
		r := do(t, tn, "GET", "/v3.1/chats?page=1", auth())
		if r.http != s.http || r.header.Get("Rate-Limit-Remaining") != s.remaining {
			t.Fatalf("step %d: HTTP %d remaining %q, want %d %q", i, r.http, r.header.Get("Rate-Limit-Remaining"), s.http, s.remaining)
		}
		if r.http == 429 {
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || json.Valid(r.body) {
				t.Fatalf("429 should be plain text, got %q %q", ct, r.body)
			}
		}
	}
	if tn.Requests() != int64(len(steps)) {
		t.Fatalf("Requests %d", tn.Requests())
	}
}

func TestEvolutionOnVirtualClock(t *testing.T) {
	tn, clk := newTenant(Config{Seed: 5, History: 2000, ArrivalsPerDay: 2880}) // 2 a minute
	before := tn.Chats()
	var queued Chat
	for _, c := range before {
		if c.Status == "queued" {
			queued = c
			break
		}
	}
	if queued.ID == "" {
		t.Fatal("no queued chat at start")
	}
	// One day later the queued chat has moved on, and ~2880 chats arrived.
	clk.Add(24 * time.Hour)
	after := tn.Chats()
	var later Chat
	for _, c := range after {
		if c.ID == queued.ID {
			later = c
		}
	}
	if later.Status == "queued" || later.Status == "" {
		t.Fatalf("chat %s still %q after a day", queued.ID, later.Status)
	}
	if !later.UpdatedAt.After(queued.UpdatedAt) {
		t.Errorf("updated_at did not move: %v -> %v", queued.UpdatedAt, later.UpdatedAt)
	}
	arrived := len(after) - len(before)
	if arrived < 2600 || arrived > 3200 {
		t.Fatalf("%d arrivals in a day, want ~2880", arrived)
	}
	// The newest chats are arrivals, queued or just picked.
	top := page(t, tn, 1).chats
	if top[0].ChatID != after[0].ID {
		t.Fatalf("page 1 starts with %s, truth %s", top[0].ChatID, after[0].ID)
	}
	// Status is a pure function of the clock: going back restores it.
	clk.Set(t0)
	for i, c := range tn.Chats() {
		if c.ID != before[i].ID || c.Status != before[i].Status {
			t.Fatalf("after rewinding, chat %d: %s %s, was %s %s", i, c.ID, c.Status, before[i].ID, before[i].Status)
		}
	}
	// Every transition happens: within 10 minutes some chat is picked, and
	// a chat seen queued is eventually picked or abandoned (closed).
	seen := map[string]bool{}
	for i := 0; i < 30; i++ {
		clk.Add(time.Minute)
		for _, c := range tn.Chats()[:20] {
			seen[c.Status] = true
		}
	}
	if !seen["queued"] || !seen["picked"] {
		t.Fatalf("statuses seen at the top over 30 min: %v", seen)
	}
}

func TestDeterminism(t *testing.T) {
	cfg := Config{Seed: 42, History: 500, ArrivalsPerDay: 5000}
	a, ca := newTenant(cfg)
	b, cb := newTenant(cfg)
	// a moves in small steps, b jumps: lazily generated arrivals must agree.
	for range 60 {
		ca.Add(time.Minute)
	}
	cb.Add(time.Hour)
	for p := 1; p <= 60; p++ {
		ra, rb := page(t, a, p), page(t, b, p)
		if !bytes.Equal(ra.body, rb.body) {
			t.Fatalf("page %d differs for the same seed", p)
		}
	}
	other := cfg
	other.Seed = 43
	c, cc := newTenant(other)
	cc.Add(time.Hour)
	if bytes.Equal(page(t, a, 1).body, page(t, c, 1).body) {
		t.Fatal("different seeds gave the same page")
	}
	if !reflect.DeepEqual(a.Chats(), b.Chats()) || !reflect.DeepEqual(a.Counts(), b.Counts()) {
		t.Fatal("Chats/Counts differ for the same seed")
	}
}

func TestAddSetStatusDelete(t *testing.T) {
	tn, clk := newTenant(Config{})
	old := t0.Add(-48 * time.Hour)
	tn.Replace(
		Chat{ID: "a", CreatedAt: old, Status: "closed", Channel: "LiveChat", Assignee: "agent001@example.test"},
		Chat{ID: "b", CreatedAt: t0.Add(-time.Hour), Status: "queued", Channel: "sms"},
		Chat{ID: "c", CreatedAt: t0.Add(-2 * time.Hour), Status: "queued", Channel: "sms"},
		Chat{ID: "future", CreatedAt: t0.Add(time.Hour), Status: "queued", Channel: "sms"},
	)
	steps := []struct {
		name   string
		do     func() bool
		total  int
		counts map[[2]string]int
		oldest map[[2]string]time.Time
	}{
		{"initial", func() bool { return true }, 3,
			map[[2]string]int{{"closed", "livechat"}: 1, {"queued", "sms"}: 2},
			map[[2]string]time.Time{{"queued", "sms"}: t0.Add(-2 * time.Hour)}},
		{"reopen a closed chat", func() bool { return tn.SetStatus("a", "picked") }, 3,
			map[[2]string]int{{"picked", "livechat"}: 1, {"queued", "sms"}: 2},
			map[[2]string]time.Time{{"picked", "livechat"}: old, {"queued", "sms"}: t0.Add(-2 * time.Hour)}},
		{"delete the oldest queued", func() bool { return tn.Delete("c") }, 2,
			map[[2]string]int{{"picked", "livechat"}: 1, {"queued", "sms"}: 1},
			map[[2]string]time.Time{{"picked", "livechat"}: old, {"queued", "sms"}: t0.Add(-time.Hour)}},
		{"unknown ids", func() bool { return !tn.Delete("zz") && !tn.SetStatus("zz", "closed") }, 2,
			map[[2]string]int{{"picked", "livechat"}: 1, {"queued", "sms"}: 1},
			map[[2]string]time.Time{{"picked", "livechat"}: old, {"queued", "sms"}: t0.Add(-time.Hour)}},
		{"a future chat becomes visible", func() bool { clk.Add(2 * time.Hour); return true }, 3,
			map[[2]string]int{{"picked", "livechat"}: 1, {"queued", "sms"}: 2},
			map[[2]string]time.Time{{"picked", "livechat"}: old, {"queued", "sms"}: t0.Add(-time.Hour)}},
		{"add", func() bool { tn.Add(Chat{ID: "d", Status: "onhold", Channel: "email"}); return true }, 4,
			map[[2]string]int{{"picked", "livechat"}: 1, {"queued", "sms"}: 2, {"onhold", "email"}: 1},
			map[[2]string]time.Time{{"picked", "livechat"}: old, {"queued", "sms"}: t0.Add(-time.Hour), {"onhold", "email"}: t0.Add(2 * time.Hour)}},
	}
	for _, s := range steps {
		if !s.do() {
			t.Fatalf("%s: operation reported failure", s.name)
		}
		c := tn.Counts()
		if c.Total != s.total || !reflect.DeepEqual(c.ByStatusChannel, s.counts) {
			t.Fatalf("%s: counts %v total %d, want %v %d", s.name, c.ByStatusChannel, c.Total, s.counts, s.total)
		}
		if len(c.OldestCreated) != len(s.oldest) {
			t.Fatalf("%s: oldest %v, want %v", s.name, c.OldestCreated, s.oldest)
		}
		for k, v := range s.oldest {
			if !c.OldestCreated[k].Equal(v) {
				t.Fatalf("%s: oldest %v = %v, want %v", s.name, k, c.OldestCreated[k], v)
			}
		}
	}
	// The reopened chat shows its new status and a new updated_at on the wire.
	for _, w := range page(t, tn, 1).chats {
		if w.ChatID == "a" {
			up, _ := time.Parse(time.RFC3339Nano, w.UpdatedAt)
			if w.Status != "picked" || !up.Equal(t0) {
				t.Fatalf("reopened chat on the wire: %s %s", w.Status, w.UpdatedAt)
			}
		}
	}
}

func TestRawChatSentVerbatim(t *testing.T) {
	tn, _ := newTenant(Config{})
	raw := `{"chat_id":"raw","asset":"plain string","tag":[{"name":"vip"}],"created_at":"2024-03-01T11:00:00+00:00"}`
	tn.Replace(Chat{ID: "raw", CreatedAt: t0.Add(-time.Hour), Status: "queued", Channel: "sms", Raw: json.RawMessage(raw)})
	r := page(t, tn, 1)
	if string(r.env.Response) != "["+raw+"]" {
		t.Fatalf("response %s", r.env.Response)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "nl\n\r\t", "\x00\x1f", "ünïcödé ✓", "bad\xffutf8", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: decodes to %q, encoding/json gives %q", s, back, wantBack)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	tn, clk := newTenant(Config{History: 300, ArrivalsPerDay: 20000})
	srv := httptest.NewServer(tn)
	defer srv.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				req, _ := http.NewRequest("GET", srv.URL+"/v3.1/chats?page="+strconv.Itoa(1+(g+i)%5), nil)
				req.Header.Set("access_token", testToken)
				req.Header.Set("teamid", testTeam)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch i % 4 {
				case 0:
					clk.Add(time.Minute)
				case 1:
					tn.Counts()
				case 2:
					tn.Add(Chat{Status: "queued", Channel: "api"})
				case 3:
					tn.SetFault(Fault{ArrivalsAfterPage: 1})
				}
			}
		}()
	}
	wg.Wait()
	if tn.Requests() != 160 {
		t.Fatalf("Requests %d, want 160", tn.Requests())
	}
	ch := tn.Chats()
	if !sort.SliceIsSorted(ch, func(i, j int) bool { return ch[i].CreatedAt.After(ch[j].CreatedAt) }) {
		t.Fatal("Chats not newest first")
	}
}

// TestCountQueuedMatchesCounts: the fast queued count agrees with the full
// scan, on a generated population and after a chat was made fixed.
func TestCountQueuedMatchesCounts(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tenant := New(Config{Token: "t", TeamID: "1", Seed: 4, History: 5000, ArrivalsPerDay: 3000, Start: now, Clock: clock})
	queued := func() int {
		n := 0
		for k, v := range tenant.Counts().ByStatusChannel {
			if k[0] == "queued" {
				n += v
			}
		}
		return n
	}
	for step := range 48 {
		now = now.Add(30 * time.Minute)
		if got, want := tenant.CountQueued(), queued(); got != want {
			t.Fatalf("step %d: CountQueued %d, Counts %d", step, got, want)
		}
	}
	oldest := tenant.Chats()[len(tenant.Chats())-1]
	tenant.SetStatus(oldest.ID, "queued")
	if got, want := tenant.CountQueued(), queued(); got != want || want == 0 {
		t.Fatalf("after reopening the oldest chat: CountQueued %d, Counts %d", got, want)
	}
}

// The profile follows the contact centre's hours: in a zone 7 hours ahead
// of UTC, an office open only from 10:00 to 11:00 receives its chats from
// 03:00 to 04:00 UTC. QueueExits gives every arrival's passage.
func TestProfileFollowsTheZone(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	now := start
	profile := make([]float64, 24)
	profile[10] = 1
	tenant := New(Config{Token: "t", TeamID: "1", Seed: 3, ArrivalsPerDay: 2400, Profile: profile,
		Zone: time.FixedZone("+07", 7*3600), Start: start, Clock: func() time.Time { return now }})
	now = start.Add(24 * time.Hour)
	exits := tenant.QueueExits(start, now)
	if len(exits) < 1000 {
		t.Fatalf("%d arrivals in a day of 2,400", len(exits))
	}
	for _, x := range exits {
		if h := x.Created.Hour(); h != 3 {
			t.Fatalf("a chat arrived at %v UTC, want 03:xx (10:xx at +07)", x.Created)
		}
		if x.Left.Before(x.Created) || x.Closed.Before(x.Left) || x.Abandoned != x.Left.Equal(x.Closed) {
			t.Fatalf("passage out of order: %+v", x)
		}
	}
}
