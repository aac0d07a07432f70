package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func statusOf(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Body.String()
}

// TestHealthAndReady: /-/healthy answers 200 always, /-/ready 503 until the
// configuration is loaded, then 200.
func TestHealthAndReady(t *testing.T) {
	mux := http.NewServeMux()
	var ready atomic.Bool
	handleHealth(mux, &ready)
	if code, _ := statusOf(t, mux, "/-/healthy"); code != http.StatusOK {
		t.Errorf("/-/healthy before ready: HTTP %d, want 200", code)
	}
	if code, _ := statusOf(t, mux, "/-/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/-/ready before the configuration is loaded: HTTP %d, want 503", code)
	}
	ready.Store(true)
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if code, body := statusOf(t, mux, p); code != http.StatusOK {
			t.Errorf("%s: HTTP %d %s, want 200", p, code, body)
		}
	}
}

// TestHealthAndReadyServed: both modes serve the two pages.
func TestHealthAndReadyServed(t *testing.T) {
	f := startTwoTenants(t, 3, 3, 3)
	addr := freeAddr(t)
	startExporter(t, []string{"--demo", "--web.listen-address=" + addr})
	waitFor(t, "http://"+addr+"/metrics", 10*time.Second)
	for _, base := range []string{f.base, "http://" + addr} {
		for _, p := range []string{"/-/healthy", "/-/ready"} {
			if body := get(t, base+p); !strings.Contains(body, "imichat_exporter is") {
				t.Errorf("%s%s: %q", base, p, body)
			}
		}
	}
}
