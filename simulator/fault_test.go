package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server runs tn behind a real TCP listener and counts handlers still
// running, so tests can prove that hangs and slow pages end.
func server(t *testing.T, tn *Tenant) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var active atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		tn.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &active
}

type fetched struct {
	resp    *http.Response
	err     error
	body    []byte
	readErr error
}

// timedOut tells an error of the client's own timeout from any other: a
// page that never answers ends by the client giving up, not by the server.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func fetch(c *http.Client, url string, p int, token string) fetched {
	req, _ := http.NewRequest("GET", url+"/v3.1/chats?page="+strconv.Itoa(p), nil)
	req.Header.Set("access_token", token)
	req.Header.Set("teamid", testTeam)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	f := fetched{resp: resp, err: err}
	if err == nil {
		f.body, f.readErr = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	return f
}

func waitIdle(t *testing.T, active *atomic.Int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers still running: leaked", active.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func envOf(t *testing.T, b []byte) envelope {
	t.Helper()
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an envelope: %q", b)
	}
	return e
}

func TestFaultsOverHTTP(t *testing.T) {
	tn, _ := newTenant(Config{History: 40})
	srv, active := server(t, tn)
	goodPage := fetch(srv.Client(), srv.URL, 1, testToken).body

	cases := []struct {
		name    string
		fault   Fault
		timeout time.Duration
		check   func(t *testing.T, f fetched)
	}{
		{"status code from the table", Fault{Kind: FaultStatusCode, StatusCode: 2007}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); f.resp.StatusCode != 500 || e.StatusCode != 2007 || e.Description == "" {
				t.Fatalf("%d %+v", f.resp.StatusCode, e)
			}
		}},
		{"expired token code", Fault{Kind: FaultStatusCode, StatusCode: 2004}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); f.resp.StatusCode != 401 || e.StatusCode != 2004 {
				t.Fatalf("%d %+v", f.resp.StatusCode, e)
			}
		}},
		{"unknown code", Fault{Kind: FaultStatusCode, StatusCode: 9999}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); f.resp.StatusCode != 500 || e.StatusCode != 9999 || e.Description == "" {
				t.Fatalf("%d %+v", f.resp.StatusCode, e)
			}
		}},
		{"code with explicit HTTP status", Fault{Kind: FaultStatusCode, StatusCode: 3454, HTTPStatus: 503}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); f.resp.StatusCode != 503 || e.StatusCode != 3454 {
				t.Fatalf("%d %+v", f.resp.StatusCode, e)
			}
		}},
		{"html gateway", Fault{Kind: FaultHTMLGateway}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 502 || !strings.HasPrefix(f.resp.Header.Get("Content-Type"), "text/html") ||
				json.Valid(f.body) || !bytes.Contains(f.body, []byte("502 Bad Gateway")) {
				t.Fatalf("%d %q %q", f.resp.StatusCode, f.resp.Header.Get("Content-Type"), f.body)
			}
		}},
		{"html gateway 504", Fault{Kind: FaultHTMLGateway, HTTPStatus: 504}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 504 || !bytes.Contains(f.body, []byte("504 Gateway Timeout")) {
				t.Fatalf("%d %q", f.resp.StatusCode, f.body)
			}
		}},
		{"not json", Fault{Kind: FaultNotJSON}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 200 || string(f.body) != "this is not json" {
				t.Fatalf("%d %q", f.resp.StatusCode, f.body)
			}
		}},
		{"truncated", Fault{Kind: FaultTruncated}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 200 || f.readErr != nil || json.Valid(f.body) ||
				int64(len(f.body)) != f.resp.ContentLength || !bytes.Equal(f.body, goodPage[:len(goodPage)/2]) {
				t.Fatalf("%d cl=%d len=%d err=%v", f.resp.StatusCode, f.resp.ContentLength, len(f.body), f.readErr)
			}
		}},
		{"oversized", Fault{Kind: FaultOversized, Size: 1 << 20}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 200 || len(f.body) != 1<<20 || !json.Valid(f.body) ||
				!bytes.HasPrefix(f.body, []byte(okPrefix+`{"chat_id":`)) || f.resp.ContentLength != -1 {
				t.Fatalf("%d len=%d cl=%d valid=%v", f.resp.StatusCode, len(f.body), f.resp.ContentLength, json.Valid(f.body))
			}
		}},
		{"oversized default 8 MiB", Fault{Kind: FaultOversized}, 0, func(t *testing.T, f fetched) {
			if len(f.body) != 8<<20 || !json.Valid(f.body) {
				t.Fatalf("len=%d", len(f.body))
			}
		}},
		{"hang until the client gives up", Fault{Kind: FaultHang}, 200 * time.Millisecond, func(t *testing.T, f fetched) {
			if !timedOut(f.err) {
				t.Fatalf("err=%v, want the client's timeout", f.err)
			}
		}},
		{"reset mid body", Fault{Kind: FaultResetMidBody}, 0, func(t *testing.T, f fetched) {
			if f.err != nil {
				t.Fatalf("headers should arrive: %v", f.err)
			}
			if f.readErr == nil || int64(len(f.body)) >= f.resp.ContentLength || f.resp.Header.Get("Rate-Limit-Limit") == "" {
				t.Fatalf("read %d of %d bytes, err %v", len(f.body), f.resp.ContentLength, f.readErr)
			}
		}},
		{"response null", Fault{Kind: FaultResponseNull}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); e.StatusCode != 4305 || string(e.Response) != "null" {
				t.Fatalf("%+v", e)
			}
		}},
		{"response object", Fault{Kind: FaultResponseObject}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); e.StatusCode != 4305 || string(e.Response) != "{}" {
				t.Fatalf("%+v", e)
			}
		}},
		{"response string", Fault{Kind: FaultResponseString}, 0, func(t *testing.T, f fetched) {
			if e := envOf(t, f.body); e.StatusCode != 4305 || string(e.Response) != `"oops"` {
				t.Fatalf("%+v", e)
			}
		}},
		// A slow page is the good page, late: whole when the client waits
		// longer than the delay, a timeout when it does not.
		{"slow page arrives", Fault{Kind: FaultSlow, Delay: 300 * time.Millisecond}, time.Minute, func(t *testing.T, f fetched) {
			if f.err != nil || !bytes.Equal(f.body, goodPage) {
				t.Fatalf("err=%v", f.err)
			}
		}},
		{"slow page abandoned", Fault{Kind: FaultSlow, Delay: time.Minute}, 100 * time.Millisecond, func(t *testing.T, f fetched) {
			if !timedOut(f.err) {
				t.Fatalf("err=%v, want the client's timeout", f.err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn.SetFault(c.fault)
			defer tn.ClearFault()
			cl := &http.Client{Timeout: c.timeout}
			f := fetch(cl, srv.URL, 1, testToken)
			if f.err == nil && c.fault.Kind != FaultHang && f.resp.Header.Get("Rate-Limit-Remaining") == "" {
				t.Error("rate-limit headers missing")
			}
			if f.err == nil && f.resp.Header.Get("trxid") == "" {
				t.Error("trxid missing")
			}
			c.check(t, f)
			waitIdle(t, active)
		})
	}
}

func TestFaultAppliesToListedPagesOnly(t *testing.T) {
	tn, _ := newTenant(Config{History: 40})
	tn.SetFault(Fault{Kind: FaultNotJSON, Pages: []int{2, 4}})
	want := map[int]bool{1: true, 2: false, 3: true, 4: false, 5: true}
	for p := 1; p <= 5; p++ {
		r := page(t, tn, p)
		if got := r.env.StatusCode == 4305; got != want[p] {
			t.Errorf("page %d: ok=%v, want %v (%q)", p, got, want[p], r.body)
		}
	}
	tn.ClearFault()
	if r := page(t, tn, 2); r.env.StatusCode != 4305 {
		t.Fatal("ClearFault did not clear")
	}
}

func TestArrivalsAfterPagePushChatsDown(t *testing.T) {
	cases := []struct {
		name  string
		setup func(*Tenant)
		fault Fault
	}{
		{"known population", func(tn *Tenant) { tn.Replace(knownPopulation()...) }, Fault{ArrivalsAfterPage: 1}},
		{"generated population, 3 a page", func(*Tenant) {}, Fault{ArrivalsAfterPage: 3}},
		{"with another fault on other pages", func(*Tenant) {}, Fault{Kind: FaultHTMLGateway, Pages: []int{1, 2}, ArrivalsAfterPage: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn, _ := newTenant(Config{Seed: 9, History: 200, ArrivalsPerDay: 100})
			c.setup(tn)
			before := tn.Counts().Total
			tn.SetFault(c.fault)
			n := c.fault.ArrivalsAfterPage
			if c.fault.Kind == FaultHTMLGateway {
				// Arrivals follow the fault's pages: pages 1 and 2 fail but add chats.
				for p := 1; p <= 2; p++ {
					if r := page(t, tn, p); r.http != 502 {
						t.Fatalf("page %d: %d", p, r.http)
					}
				}
				if got := tn.Counts().Total; got != before+2*n {
					t.Fatalf("total %d, want %d", got, before+2*n)
				}
				if r := page(t, tn, 3); r.http != 200 || tn.Counts().Total != before+2*n {
					t.Fatal("page 3 is not listed: no fault, no arrivals")
				}
				return
			}
			p1 := page(t, tn, 1).chats
			p2 := page(t, tn, 2).chats
			if len(p1) != PageSize || len(p2) != PageSize {
				t.Fatalf("pages of %d and %d", len(p1), len(p2))
			}
			// n new chats on top push the last n of page 1 onto page 2.
			if !reflect.DeepEqual(ids(p1[PageSize-n:]), ids(p2[:n])) {
				t.Fatalf("page 1 ends %v, page 2 starts %v", ids(p1[PageSize-n:]), ids(p2[:n]))
			}
			if got := tn.Counts().Total; got != before+2*n {
				t.Fatalf("total %d, want %d", got, before+2*n)
			}
			top := tn.Chats()[0]
			if top.Status != "queued" || top.Assignee != "" || top.CreatedAt.Before(tn.Chats()[n].CreatedAt) {
				t.Fatalf("arrival %+v", top)
			}
		})
	}
}

func TestTokenRotationMidWalk(t *testing.T) {
	tn, _ := newTenant(Config{History: 100})
	tn.SetFault(Fault{RotateTokenAfterPage: 2, RotatedToken: "rotated"})
	steps := []struct {
		page  int
		token string
		code  int
	}{
		{1, testToken, 4305},
		{2, testToken, 4305}, // rotated after this page
		{3, testToken, 2003},
		{3, "rotated", 4305},
		{2, "rotated", 4305}, // one-shot: no second rotation
		{4, "rotated", 4305},
	}
	for i, s := range steps {
		r := do(t, tn, "GET", "/v3.1/chats?page="+strconv.Itoa(s.page), map[string]string{"access_token": s.token, "teamid": testTeam})
		if r.env.StatusCode != s.code {
			t.Fatalf("step %d: %d, want %d", i, r.env.StatusCode, s.code)
		}
	}
	// One-shot: a token set by hand survives serving page 2 again.
	tn.SetToken("manual")
	for _, p := range []int{2, 3} {
		if r := do(t, tn, "GET", "/v3.1/chats?page="+strconv.Itoa(p), map[string]string{"access_token": "manual", "teamid": testTeam}); r.env.StatusCode != 4305 {
			t.Fatalf("page %d with the manual token: %d", p, r.env.StatusCode)
		}
	}
	tn.SetToken("rotated")
	// Expiry, then a new token issued.
	tn.ExpireToken()
	for _, s := range []struct {
		token string
		code  int
		http  int
	}{{"rotated", 2004, 401}, {testToken, 2003, 400}} {
		r := do(t, tn, "GET", "/v3.1/chats", map[string]string{"access_token": s.token, "teamid": testTeam})
		if r.env.StatusCode != s.code || r.http != s.http {
			t.Fatalf("%s: %d/%d, want %d/%d", s.token, r.env.StatusCode, r.http, s.code, s.http)
		}
	}
	tn.SetToken("fresh")
	if r := do(t, tn, "GET", "/v3.1/chats", map[string]string{"access_token": "fresh", "teamid": testTeam}); r.env.StatusCode != 4305 {
		t.Fatalf("fresh token: %d", r.env.StatusCode)
	}
	if r := do(t, tn, "GET", "/v3.1/chats", map[string]string{"access_token": "rotated", "teamid": testTeam}); r.env.StatusCode != 2004 {
		t.Fatalf("expired token after rotation: %d", r.env.StatusCode)
	}
}

func TestTransport(t *testing.T) {
	tn, _ := newTenant(Config{History: 40})
	var active atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		active.Add(1)
		defer active.Add(-1)
		tn.ServeHTTP(w, r)
	})
	cl := &http.Client{Transport: NewTransport(h)}
	want := page(t, tn, 1).body

	t.Run("page", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://tenant.test/v3.1/chats?page=1", nil)
		// Lower-case keys set directly, as some clients do: the wire canonicalises.
		req.Header["access_token"] = []string{testToken}
		req.Header["teamid"] = []string{testTeam}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.ContentLength != int64(len(body)) || resp.Header.Get("trxid") == "" {
			t.Fatalf("%d cl=%d %q", resp.StatusCode, resp.ContentLength, body)
		}
	})
	cases := []struct {
		name    string
		fault   Fault
		timeout time.Duration
		check   func(t *testing.T, f fetched)
	}{
		{"hang", Fault{Kind: FaultHang}, 100 * time.Millisecond, func(t *testing.T, f fetched) {
			if !timedOut(f.err) {
				t.Fatalf("err=%v, want the client's timeout", f.err)
			}
		}},
		{"reset mid body", Fault{Kind: FaultResetMidBody}, 0, func(t *testing.T, f fetched) {
			if f.err != nil || !errors.Is(f.readErr, io.ErrUnexpectedEOF) || len(f.body) != len(want)/2 {
				t.Fatalf("err=%v readErr=%v len=%d", f.err, f.readErr, len(f.body))
			}
		}},
		{"truncated", Fault{Kind: FaultTruncated}, 0, func(t *testing.T, f fetched) {
			if f.readErr != nil || json.Valid(f.body) || int64(len(f.body)) != f.resp.ContentLength {
				t.Fatalf("readErr=%v len=%d cl=%d", f.readErr, len(f.body), f.resp.ContentLength)
			}
		}},
		{"status code", Fault{Kind: FaultStatusCode, StatusCode: 2004}, 0, func(t *testing.T, f fetched) {
			if f.resp.StatusCode != 401 || envOf(t, f.body).StatusCode != 2004 {
				t.Fatalf("%d %q", f.resp.StatusCode, f.body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn.SetFault(c.fault)
			defer tn.ClearFault()
			c.check(t, fetch(&http.Client{Transport: cl.Transport, Timeout: c.timeout}, "http://tenant.test", 1, testToken))
			waitIdle(t, &active)
		})
	}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://tenant.test/v3.1/chats", nil)
		if _, err := cl.Do(req); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
}
