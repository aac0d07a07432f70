package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"
)

// plainFlags are exporter-toolkit's flags for one plain-http address.
func plainFlags(addr string) *web.FlagConfig {
	systemd, config := false, ""
	return &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &config}
}

// refused reports whether nothing accepts connections on addr any more.
func refused(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestServeWaitsForRequestsInFlight: once told to stop, serve closes the
// listener at once but returns only after the request in flight has been
// answered, completely.
func TestServeWaitsForRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, strings.Repeat("complete answer\n", 10000))
	})
	logs := &syncBuffer{}
	logger, webLogger := newLogger("info", "logfmt", logs)
	addr := freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, &http.Server{Handler: mux}, plainFlags(addr), logger, webLogger, time.Minute)
	}()
	waitFor(t, "http://"+addr+"/ready", 10*time.Second)

	type answer struct {
		code int
		body string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		got <- answer{resp.StatusCode, string(body), err}
	}()
	<-entered
	stop()
	for deadline := time.Now().Add(10 * time.Second); !refused(addr); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // a bound for a broken server
			t.Fatal("the listener still accepts connections after the stop")
		}
	}
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) while a request was in flight", err)
	case a := <-got:
		t.Fatalf("the request was answered before its handler finished: %+v", a)
	default:
	}
	close(release)
	a := <-got
	if a.err != nil || a.code != http.StatusOK || a.body != strings.Repeat("complete answer\n", 10000) {
		t.Errorf("the request in flight got HTTP %d, %d bytes, error %v; want its complete answer", a.code, len(a.body), a.err)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestServeGivesUpAfterTheGracePeriod: a request that outlasts the grace
// period has its connection closed, and serve returns.
func TestServeGivesUpAfterTheGracePeriod(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	logs := &syncBuffer{}
	logger, webLogger := newLogger("info", "logfmt", logs)
	addr := freeAddr(t)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serve(ctx, &http.Server{Handler: mux}, plainFlags(addr), logger, webLogger, time.Millisecond)
	}()
	waitFor(t, "http://"+addr+"/ready", 10*time.Second)
	clientErr := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	stop()
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := <-clientErr; err == nil {
		t.Error("the stuck request got an answer")
	}
	if !strings.Contains(logs.String(), "level=warn") || !strings.Contains(logs.String(), "still in flight") {
		t.Errorf("no warning about the requests cut off:\n%s", logs.String())
	}
}

// TestScrapeInFlightDuringShutdown: a scrape waiting for a refresh when the
// exporter is told to stop gets its complete answer at once, without waiting
// for the refresh (the first one: none has completed, so imichat_up is 0),
// and run returns.
func TestScrapeInFlightDuringShutdown(t *testing.T) {
	g := startGatedExporter(t, 25)
	client := &http.Client{Timeout: time.Minute} // a bound for a hung exporter only
	g.gate.Hold()
	type answer struct {
		code int
		body string
	}
	got := make(chan answer, 1)
	go func() {
		code, body := scrape(t, client, g.metrics, "60")
		got <- answer{code, body}
	}()
	g.awaitArrival(t) // the scrape waits for a refresh that waits at the gate
	select {
	case a := <-got:
		t.Fatalf("the scrape answered before the shutdown: HTTP %d", a.code)
	default:
	}
	g.exp.cancel()

	a := <-got
	if a.code != http.StatusOK {
		t.Fatalf("the scrape in flight during the shutdown got HTTP %d:\n%s", a.code, a.body)
	}
	r := pullResult{status: a.code, body: a.body}
	var err error
	if r.fams, err = parseExposition(a.body); err != nil {
		t.Fatalf("the scrape in flight during the shutdown got an incomplete answer: %v\n%s", err, a.body)
	}
	if r.up(t) != 0 {
		t.Errorf("imichat_up = %v before any refresh completed", r.up(t))
	}
	if _, ok := r.value("promhttp_metric_handler_requests_in_flight", nil); !ok {
		t.Error("the answer lacks the process-wide metrics")
	}
	select {
	case <-g.exp.done:
	case <-time.After(30 * time.Second): // a bound for a hung shutdown
		t.Fatal("run did not return after the shutdown")
	}
	if g.exp.err != nil {
		t.Errorf("run: %v", g.exp.err)
	}
	if n := g.tenant.Requests(); n != 0 {
		t.Errorf("the tenant served %d requests through a closed gate", n)
	}
}

// TestIdleConnectionsAreClosed: a connection that has had its answer (a
// 200, or a 401 from basic auth) and then sends nothing is closed by the
// server: the client reads EOF. The wait is bounded for a server that
// keeps it open; nothing is measured.
func TestIdleConnectionsAreClosed(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		webConfig string
		wantCode  int
	}{
		{"after an answer", "", http.StatusOK},
		{"after a 401", webConfig, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			logger, webLogger := newLogger("info", "logfmt", &syncBuffer{})
			addr := freeAddr(t)
			flags := plainFlags(addr)
			*flags.WebConfigFile = tt.webConfig
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() {
				served <- serve(ctx, newServer(mux, 50*time.Millisecond), flags, logger, webLogger, time.Second)
			}()
			defer func() { stop(); <-served }()

			var conn net.Conn
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if conn, err = net.Dial("tcp", addr); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the server never listened: %v", err)
				}
			}
			defer conn.Close()
			// A keep-alive request, answered in full.
			if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: exporter\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || resp.Close {
				t.Fatalf("HTTP %d, close %v; want %d on a connection kept alive", resp.StatusCode, resp.Close, tt.wantCode)
			}
			// Then nothing: the server must close the connection.
			conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound for a server that never closes it
			if n, err := br.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("the idle connection was not closed: read %d bytes, %v", n, err)
			}
		})
	}
}
