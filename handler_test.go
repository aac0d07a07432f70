package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// gatedExporter is an in-process exporter reading a simulated tenant through
// a pageGate.
type gatedExporter struct {
	tenant  *simulator.Tenant
	gate    *pageGate
	exp     *testExporter
	metrics string // the exporter's /metrics URL
}

func startGatedExporter(t testing.TB, history int, extra ...string) *gatedExporter {
	t.Helper()
	const team, token = "1", "tok-gated-9f8e7d6c"
	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 2, History: history, QuotaPerDay: 1 << 30})
	gate := newPageGate(tenant)
	upstream := httptest.NewServer(gate)
	t.Cleanup(upstream.Close)
	t.Cleanup(gate.Release) // before upstream.Close: a held request would keep it waiting
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	exp := startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr, extra...))
	waitFor(t, "http://"+addr+"/", 10*time.Second) // the landing page starts no refresh
	return &gatedExporter{tenant: tenant, gate: gate, exp: exp, metrics: "http://" + addr + "/metrics"}
}

// awaitArrival waits for a page request to reach the held gate: a refresh
// is in flight. The bound is for an exporter that starts none.
func (g *gatedExporter) awaitArrival(t testing.TB) string {
	t.Helper()
	select {
	case uri := <-g.gate.arrived:
		return uri
	case <-time.After(time.Minute):
		t.Fatal("no page request reached the gate: no refresh started")
		return ""
	}
}

// scrape GETs url with Prometheus's scrape timeout header (seconds; "" for
// none) and returns the status and the body.
func scrape(t testing.TB, client *http.Client, url, timeout string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if timeout != "" {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", timeout)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestPullAnswersWhileTheRefreshIsHeld: while the API does not answer, a
// pull answers once its own deadline has passed (the scrape timeout less
// --web.timeout-offset), with imichat_up 0 and no chat numbers; the refresh
// goes on in the background and a later pull serves its result. What is
// asserted is the order of events, never a duration: the pulls return while
// the first page is still held at the gate. The durations are in
// BenchmarkPullWhileTheRefreshIsHeld.
func TestPullAnswersWhileTheRefreshIsHeld(t *testing.T) {
	// A 1 s offset: the pull stops waiting 1 s into its 2 s scrape timeout.
	// One walk: the pulls after it are served its result.
	g := startGatedExporter(t, 55, "--imichat.min-refresh-interval=1m", "--web.timeout-offset=1s", "--imichat.concurrency=2")
	g.gate.Hold()
	client := &http.Client{Timeout: time.Minute} // a bound for a hung exporter only

	for i := range 2 {
		code, body := scrape(t, client, g.metrics, "2")
		// The gate still holds every page: this answer cannot come from
		// the walk.
		if code != http.StatusOK {
			t.Fatalf("pull %d while the refresh is held: HTTP %d", i, code)
		}
		if !strings.Contains(body, "\nimichat_up 0\n") || strings.Contains(body, "imichat_chats{") {
			t.Errorf("pull %d: before a first complete walk the pull must answer imichat_up 0 and no chat gauges:\n%s", i, body)
		}
	}
	// The refresh did start, and is waiting at the gate.
	select {
	case uri := <-g.gate.arrived:
		if !strings.Contains(uri, "page=") {
			t.Errorf("held request %q is not a page", uri)
		}
	default:
		t.Fatal("no page request reached the gate: the pulls started no refresh")
	}
	if n := g.tenant.Requests(); n != 0 {
		t.Fatalf("the tenant served %d requests through a closed gate", n)
	}

	// The refresh goes on without a pull waiting for it.
	g.gate.Release()
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); { // a bound for a broken exporter
		var code int
		code, body = scrape(t, client, g.metrics, "2")
		if code != http.StatusOK {
			t.Fatalf("HTTP %d", code)
		}
		if strings.Contains(body, "\nimichat_up 1\n") {
			break
		}
	}
	if !strings.Contains(body, "\nimichat_up 1\n") || !strings.Contains(body, "imichat_last_refresh_timestamp_seconds ") {
		t.Fatalf("the background walk never completed:\n%s", body)
	}
	if requests := g.tenant.Requests(); requests > 9 { // 6 pages and the slow start's speculation
		t.Errorf("%d requests for a 6-page list: pulls started walks of their own", requests)
	}
}

// BenchmarkPullWhileTheRefreshIsHeld measures how long a pull takes when the
// API does not answer: its scrape timeout (1 s) less the offset (0.5 s), plus
// gathering and writing the answer. ms-past-deadline is the latter part.
func BenchmarkPullWhileTheRefreshIsHeld(b *testing.B) {
	g := startGatedExporter(b, 55, "--imichat.min-refresh-interval=1h", "--web.timeout-offset=0.5s")
	g.gate.Hold()
	client := &http.Client{Timeout: time.Minute}
	const wait = 500 * time.Millisecond
	start := time.Now()
	for b.Loop() {
		if code, _ := scrape(b, client, g.metrics, "1"); code != http.StatusOK {
			b.Fatalf("HTTP %d", code)
		}
	}
	perPull := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(perPull-wait)/float64(time.Millisecond), "ms-past-deadline")
}

// TestLimitInFlight: with max scrapes in flight, one more is answered 503 at
// once — while the others are still held — and is not passed on; once they
// are done, scrapes are served again.
func TestLimitInFlight(t *testing.T) {
	const max = 3
	entered := make(chan struct{}, max+1)
	release := make(chan struct{})
	var served sync.WaitGroup
	h := limitInFlight(max, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Timeout: time.Minute}

	codes := make(chan int, max)
	for range max {
		served.Add(1)
		go func() {
			defer served.Done()
			code, _ := scrape(t, client, srv.URL, "")
			codes <- code
		}()
	}
	for range max {
		<-entered
	}
	code, body := scrape(t, client, srv.URL, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, fmt.Sprint(max)) {
		t.Errorf("scrape %d: HTTP %d %q, want 503 naming the limit", max+1, code, body)
	}
	select {
	case <-entered:
		t.Error("the scrape beyond the limit reached the handler")
	default:
	}
	close(release)
	served.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("a scrape within the limit got HTTP %d", c)
		}
	}
	if code, _ := scrape(t, client, srv.URL, ""); code != http.StatusOK {
		t.Errorf("after the limit freed up: HTTP %d", code)
	}

	// 0: no limit.
	if h := limitInFlight(0, http.NotFoundHandler()); h == nil {
		t.Error("no handler without a limit")
	}
}

// TestMaxRequestsFlag runs the exporter with --web.max-requests=1: while a
// scrape waits for a held refresh, a second is answered 503 at once; the
// first then gets its answer; promhttp_metric_handler_requests_total counts
// both and promhttp_metric_handler_requests_in_flight is exported.
func TestMaxRequestsFlag(t *testing.T) {
	g := startGatedExporter(t, 15, "--web.max-requests=1", "--imichat.min-refresh-interval=1h")
	g.gate.Hold()
	client := &http.Client{Timeout: time.Minute}

	first := make(chan string, 1)
	go func() {
		code, body := scrape(t, client, g.metrics, "60") // waits for the held refresh
		if code != http.StatusOK {
			body = fmt.Sprintf("HTTP %d", code)
		}
		first <- body
	}()
	g.awaitArrival(t) // the first scrape is in flight: its refresh waits at the gate

	if code, body := scrape(t, client, g.metrics, "60"); code != http.StatusServiceUnavailable {
		t.Errorf("a second scrape beside a held one: HTTP %d, want 503:\n%s", code, body)
	}
	select {
	case body := <-first:
		t.Fatalf("the first scrape answered before its refresh was released: %.200s", body)
	default:
	}
	g.gate.Release()
	body := <-first
	if !strings.Contains(body, "\nimichat_up 1\n") {
		t.Fatalf("the first scrape, after the refresh: %s", body)
	}

	_, body = scrape(t, client, g.metrics, "")
	for _, want := range []string{
		`promhttp_metric_handler_requests_total{code="200"} 1`,
		`promhttp_metric_handler_requests_total{code="503"} 1`,
		"promhttp_metric_handler_requests_in_flight 1",
	} {
		if !strings.Contains(body, "\n"+want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestAnswerWhenStopping: a request's context ends when the exporter starts
// to stop, and not before.
func TestAnswerWhenStopping(t *testing.T) {
	stopping, stop := context.WithCancel(context.Background())
	entered := make(chan struct{})
	h := answerWhenStopping(stopping, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
		io.WriteString(w, "answered: "+r.Context().Err().Error())
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	got := make(chan string, 1)
	go func() {
		_, body := scrape(t, http.DefaultClient, srv.URL, "")
		got <- body
	}()
	<-entered
	select {
	case body := <-got:
		t.Fatalf("answered before the exporter stopped: %q", body)
	default:
	}
	stop()
	if body := <-got; body != "answered: context canceled" {
		t.Errorf("got %q", body)
	}
}
