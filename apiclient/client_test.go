package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
)

const testToken = "tok-3f9c2a7d-secret"

// recorder is an Observer that remembers what it was told.
type recorder struct {
	mu        sync.Mutex
	responses []string // "status_code/http"
	errors    []ErrorReason
	limits    []RateLimit
}

func (r *recorder) ObserveResponse(code string, httpStatus int, rl RateLimit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.responses = append(r.responses, fmt.Sprintf("%s/%d", code, httpStatus))
	r.limits = append(r.limits, rl)
}

func (r *recorder) ObserveRequestError(reason ErrorReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, reason)
}

func newTestClient(t *testing.T, h http.Handler) (*Client, *recorder) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	rec := &recorder{}
	return &Client{BaseURL: u, TeamID: "team-1", Token: StaticToken(testToken), Observer: rec}, rec
}

func TestFetchPageSendsDocumentedRequest(t *testing.T) {
	var got *http.Request
	c, _ := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		fmt.Fprint(w, `{"status_code":4305,"response":[]}`)
	}))
	if _, err := c.FetchPage(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodGet || got.URL.Path != "/v3.1/chats" || got.URL.Query().Get("page") != "7" {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	for h, want := range map[string]string{"access_token": testToken, "teamid": "team-1", "Content-Type": "application/json"} {
		if v := got.Header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
}

// envelopeHandler answers every request with one status.
func envelopeHandler(statusCode, httpStatus int, description string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("trxid", "trx-42")
		w.WriteHeader(httpStatus)
		fmt.Fprintf(w, `{"status_code":%d,"description":%q,"response":null}`, statusCode, description)
	})
}

func TestFetchPageErrorForEachStatusCode(t *testing.T) {
	tests := []struct {
		code, http int
		desc       string
	}{
		{2002, 400, "Mandatory header missing"},
		{2003, 400, "Invalid access token"},
		{2004, 401, "Access token expired"},
		{2007, 500, "Internal server error"},
		{2010, 404, "Could not find details of team based on the teamid passed in the header"},
		{2099, 405, "Method not allowed"},
		{3454, 500, "Chat list could not be retrieved"},
		{9999, 418, "something new"},     // undocumented code
		{4305, 500, "list retrieved?"},   // success code with a failing HTTP status
		{2004, 200, "expired, HTTP 200"}, // error code with HTTP 200
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code, "/", tt.http), func(t *testing.T) {
			c, rec := newTestClient(t, envelopeHandler(tt.code, tt.http, tt.desc))
			_, err := c.FetchPage(context.Background(), 1)
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.StatusCode != tt.code || apiErr.HTTPStatus != tt.http || apiErr.Description != tt.desc {
				t.Errorf("got %+v", apiErr)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(tt.code)) {
				t.Errorf("error text %q lacks the status code", err)
			}
			if want := fmt.Sprintf("%d/%d", tt.code, tt.http); len(rec.responses) != 1 || rec.responses[0] != want {
				t.Errorf("observed %v, want [%s]", rec.responses, want)
			}
			if len(rec.errors) != 0 {
				t.Errorf("an API error is a usable response, observed request errors %v", rec.errors)
			}
		})
	}
}

func TestFetchPageRequestErrors(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		timeout    time.Duration
		maxBody    int64
		wantReason ErrorReason
		wantStatus string // observed response, "" when none
	}{
		{
			name: "html gateway page",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				fmt.Fprint(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
			},
			wantReason: ReasonDecode, wantStatus: "/502",
		},
		{
			name: "not json",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "this is not json")
			},
			wantReason: ReasonDecode, wantStatus: "/200",
		},
		{
			name: "bad list",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"status_code":4305,"response":"oops"}`)
			},
			wantReason: ReasonDecode, wantStatus: "4305/200",
		},
		{
			name: "too large",
			handler: func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"status_code":4305,"response":[{"chat_id":"%s"}]}`, strings.Repeat("x", 2048))
			},
			maxBody: 1024, wantReason: ReasonTooLarge, wantStatus: "/200",
		},
		{
			name: "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			timeout: 50 * time.Millisecond, wantReason: ReasonTimeout,
		},
		{
			name: "connection closed mid-body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1000")
				fmt.Fprint(w, `{"status_code":4305,"response":[`)
				w.(http.Flusher).Flush()
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
			},
			wantReason: ReasonNetwork, wantStatus: "/200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec := newTestClient(t, tt.handler)
			c.maxBodyBytes = tt.maxBody
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := c.FetchPage(ctx, 1)
			var reqErr *RequestError
			if !errors.As(err, &reqErr) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			if reqErr.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q (%v)", reqErr.Reason, tt.wantReason, err)
			}
			if len(rec.errors) != 1 || rec.errors[0] != tt.wantReason {
				t.Errorf("observed errors %v, want [%s]", rec.errors, tt.wantReason)
			}
			var wantResponses []string
			if tt.wantStatus != "" {
				wantResponses = []string{tt.wantStatus}
			}
			if fmt.Sprint(rec.responses) != fmt.Sprint(wantResponses) {
				t.Errorf("observed responses %v, want %v", rec.responses, wantResponses)
			}
		})
	}
}

func TestFetchPageCanceledIsNotObserved(t *testing.T) {
	c, rec := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := c.FetchPage(ctx, 1)
	var reqErr *RequestError
	if !errors.As(err, &reqErr) || reqErr.Reason != ReasonCanceled {
		t.Fatalf("err = %v, want a canceled RequestError", err)
	}
	if len(rec.errors) != 0 || len(rec.responses) != 0 {
		t.Errorf("a request its caller abandoned was observed: %v %v", rec.errors, rec.responses)
	}
}

func TestTokenNeverInErrorsOrLogs(t *testing.T) {
	// A hostile or buggy upstream echoes the token back in every place it can.
	handlers := map[string]http.HandlerFunc{
		"description": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"status_code":2003,"description":"invalid token %s"}`, r.Header.Get("access_token"))
		},
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			fmt.Fprintf(w, `<html>bad gateway for %s</html>`, r.Header.Get("access_token"))
		},
		"json syntax": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"status_code":4305,"response":[{"chat_id":%s}]}`, r.Header.Get("access_token"))
		},
		"trxid": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("trxid", r.Header.Get("access_token"))
			w.WriteHeader(401)
			fmt.Fprint(w, `{"status_code":2004,"description":"expired"}`)
		},
	}
	for name, h := range handlers {
		t.Run(name, func(t *testing.T) {
			c, _ := newTestClient(t, h)
			var logged strings.Builder
			c.Logger = log.NewLogfmtLogger(log.NewSyncWriter(&logged))
			_, err := c.FetchPage(context.Background(), 1)
			if err == nil {
				t.Fatal("want an error")
			}
			if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), testToken) {
				t.Errorf("token in error: %v", err)
			}
			// The trxid, logged with a failure, is upstream data like
			// the description.
			if !strings.Contains(logged.String(), "trxid=") || strings.Contains(logged.String(), testToken) {
				t.Errorf("log: %s", logged.String())
			}
		})
	}
}

func TestFileTokenRereadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ft := &FileToken{Path: path}
	if tok, err := ft.Token(); err != nil || tok != "first" {
		t.Fatalf("got %q, %v", tok, err)
	}
	if err := os.WriteFile(path, []byte("second-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := ft.Token(); err != nil || tok != "second-token" {
		t.Fatalf("after rotation got %q, %v", tok, err)
	}
	if err := os.WriteFile(path, []byte("  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ft.Token(); err == nil {
		t.Error("an empty token file must be an error")
	}
	os.Remove(path)
	if _, err := ft.Token(); err == nil {
		t.Error("a missing token file must be an error")
	}
}
