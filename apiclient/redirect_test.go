package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// bystander is a server that a redirect points to and that must never hear
// from the client. It records every request it gets anyway.
type bystander struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string // the access_token header of each request received
}

func (b *bystander) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.tokens...)
}

// newBystander starts a plain-HTTP server on addr ("127.0.0.2:0", say)
// that answers like the API would.
func newBystander(t *testing.T, addr string) *bystander {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	b := &bystander{}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.tokens = append(b.tokens, r.Header.Get("access_token"))
		b.mu.Unlock()
		fmt.Fprint(w, `{"status_code":4305,"response":[]}`)
	}))
	b.Listener.Close()
	b.Listener = ln
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// redirectTo answers every request with a redirect to target, keeping the
// request's path and query.
func redirectTo(status int, target func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target()+r.URL.RequestURI(), status)
	})
}

// wantRedirectRefused checks that err is a refused redirect of the given
// HTTP status, counted as ReasonRedirect and nothing else.
func wantRedirectRefused(t *testing.T, err error, status int, rec *recorder, text string) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) || re.Reason != ReasonRedirect || re.HTTPStatus != status {
		t.Fatalf("err = %v (%T), want a %q RequestError with HTTP %d", err, err, ReasonRedirect, status)
	}
	if !strings.Contains(err.Error(), text) {
		t.Errorf("error %q does not say %q", err, text)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("token in error: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errors) != 1 || rec.errors[0] != ReasonRedirect {
		t.Errorf("observed request errors %v, want [%s]", rec.errors, ReasonRedirect)
	}
	if len(rec.responses) != 0 {
		t.Errorf("observed responses %v: a refused redirect is no usable response", rec.responses)
	}
}

// TestRedirectToAnotherOriginIsRefused: the tenant's URL (127.0.0.1)
// redirects to another address (127.0.0.2) or another port. Go's client
// would re-send the access_token header there; the bystander must get
// nothing at all, and the failure has its own reason.
func TestRedirectToAnotherOriginIsRefused(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, addr := range []string{"127.0.0.2:0", "127.0.0.1:0"} {
			t.Run(fmt.Sprint(status, " to ", addr), func(t *testing.T) {
				other := newBystander(t, addr)
				c, rec := newTestClient(t, redirectTo(status, func() string { return other.URL }))
				_, err := c.FetchPage(context.Background(), 1)
				if got := other.received(); len(got) != 0 {
					t.Errorf("the other origin received %d requests, tokens %q", len(got), got)
				}
				wantRedirectRefused(t, err, status, rec, "only to the configured origin")
			})
		}
	}
}

// TestRedirectErrorNamesOriginsOnly: the error of a refused redirect names
// the origins, never the rest of the Location (here 100 KB of path and a
// query).
func TestRedirectErrorNamesOriginsOnly(t *testing.T) {
	other := newBystander(t, "127.0.0.2:0")
	long := "/" + strings.Repeat("p", 100<<10)
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", other.URL+long+"?secret=s3cr3t-in-query")
		w.WriteHeader(http.StatusFound)
	}))
	_, err := c.FetchPage(context.Background(), 1)
	wantRedirectRefused(t, err, http.StatusFound, rec, "to http://"+strings.TrimPrefix(other.URL, "http://"))
	if msg := err.Error(); len(msg) > 512 || strings.Contains(msg, "ppp") || strings.Contains(msg, "s3cr3t") {
		t.Errorf("the error (%d bytes) holds more than the origins: %.300s", len(msg), msg)
	}
}

// TestRedirectWithinTheOriginIsFollowed: a redirect to another path of the
// same scheme, host and port keeps the token and succeeds, and so does one
// that spells the origin differently (upper case, explicit port).
func TestRedirectWithinTheOriginIsFollowed(t *testing.T) {
	var tokens []string
	var mu sync.Mutex
	var srvURL string
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokens = append(tokens, r.URL.Path+" "+r.Header.Get("access_token"))
		mu.Unlock()
		switch r.URL.Path {
		case "/v3.1/chats":
			http.Redirect(w, r, "/moved/v3.1/chats?"+r.URL.RawQuery, http.StatusFound)
		case "/moved/v3.1/chats":
			u, _ := url.Parse(srvURL)
			http.Redirect(w, r, "HTTP://"+strings.ToUpper(u.Host)+"/final?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
		default:
			fmt.Fprint(w, `{"status_code":4305,"response":[{"chat_id":"a"}]}`)
		}
	}))
	srvURL = c.BaseURL.String()
	p, err := c.FetchPage(context.Background(), 1)
	if err != nil || len(p.Chats) != 1 {
		t.Fatalf("%+v, %v", p, err)
	}
	want := []string{"/v3.1/chats " + testToken, "/moved/v3.1/chats " + testToken, "/final " + testToken}
	if fmt.Sprint(tokens) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", tokens, want)
	}
	if len(rec.errors) != 0 {
		t.Errorf("request errors %v", rec.errors)
	}
}

// TestRedirectLoopIsRefused: a redirect loop within the origin ends as a
// redirect error, not a network one.
func TestRedirectLoopIsRefused(t *testing.T) {
	var n atomic.Int64
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
	}))
	_, err := c.FetchPage(context.Background(), 1)
	wantRedirectRefused(t, err, http.StatusFound, rec, "stopped after 10 redirects")
	if n.Load() != maxRedirects {
		t.Errorf("%d requests, want %d", n.Load(), maxRedirects)
	}
}

// TestRedirectDowngradeIsRefused: an https tenant URL redirecting to plain
// http on the same host is refused before anything is sent in clear text,
// both to another port there and to the https server's own port.
func TestRedirectDowngradeIsRefused(t *testing.T) {
	other := newBystander(t, "127.0.0.1:0")
	var target atomic.Value
	var conns atomic.Int64
	tlsSrv := httptest.NewUnstartedServer(redirectTo(http.StatusFound, func() string { return target.Load().(string) }))
	tlsSrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	u, _ := url.Parse(tlsSrv.URL)

	for name, to := range map[string]string{
		"another port": other.URL,
		"same port":    "http://" + u.Host,
	} {
		t.Run(name, func(t *testing.T) {
			target.Store(to)
			before := conns.Load()
			rec := &recorder{}
			// The test server's client trusts its certificate; a fresh
			// connection per request makes every connection count.
			tr := tlsSrv.Client().Transport.(*http.Transport).Clone()
			tr.DisableKeepAlives = true
			hc := &http.Client{Transport: tr}
			c := &Client{BaseURL: u, TeamID: "team-1", Token: StaticToken(testToken), Observer: rec, HTTPClient: hc}
			_, err := c.FetchPage(context.Background(), 1)
			if got := other.received(); len(got) != 0 {
				t.Errorf("the plain-http server received %d requests, tokens %q", len(got), got)
			}
			// A plain request to the TLS port would be a connection of
			// its own.
			if n := conns.Load() - before; n != 1 {
				t.Errorf("%d connections to the https server, want 1", n)
			}
			wantRedirectRefused(t, err, http.StatusFound, rec, "downgrades https to http")
			if hc.CheckRedirect != nil {
				t.Error("the caller's http.Client was modified")
			}
		})
	}
}

// TestRedirectPolicyKeepsTheCallersOwn: a CheckRedirect set by the caller
// is still consulted for the redirects the client allows.
func TestRedirectPolicyKeepsTheCallersOwn(t *testing.T) {
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3.1/chats" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		fmt.Fprint(w, `{"status_code":4305,"response":[]}`)
	}))
	var asked int
	c.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		asked++
		return errors.New("caller says no")
	}}
	_, err := c.FetchPage(context.Background(), 1)
	if err == nil || !strings.Contains(err.Error(), "caller says no") || asked != 1 {
		t.Fatalf("err = %v, caller's policy asked %d times", err, asked)
	}
	// The caller's refusal is not a cross-origin redirect.
	if len(rec.errors) != 1 || rec.errors[0] != ReasonNetwork {
		t.Errorf("observed %v", rec.errors)
	}
}
