package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

func newSimTenant(history int) *simulator.Tenant {
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return simulator.New(simulator.Config{
		Token: "bench-token", TeamID: "1", Seed: 3, History: history,
		Start: start, Clock: func() time.Time { return start }, QuotaPerDay: 1 << 30,
	})
}

// inProcessClient talks to the tenant through its in-process transport: the
// benchmarks measure the exporter's work, not the loopback stack.
func inProcessClient(tenant *simulator.Tenant) *Client {
	u, _ := url.Parse("http://tenant.test")
	return &Client{
		BaseURL: u, TeamID: "1", Token: StaticToken("bench-token"),
		HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)},
	}
}

// pageBody returns the raw body of page 1 as the simulator serves it.
func pageBody(b *testing.B, tenant *simulator.Tenant) []byte {
	req := httptest.NewRequest(http.MethodGet, "/v3.1/chats?page=1", nil)
	req.Header.Set("access_token", "bench-token")
	req.Header.Set("teamid", "1")
	rec := httptest.NewRecorder()
	tenant.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return body
}

func BenchmarkDecodePage(b *testing.B) {
	body := pageBody(b, newSimTenant(100))
	if p, err := decodePage(body); err != nil || len(p.chats) != PageSize {
		b.Fatalf("%d chats, %v", len(p.chats), err)
	}
	b.SetBytes(int64(len(body)))
	pc := startPerChat(b, PageSize)
	for b.Loop() {
		if _, err := decodePage(body); err != nil {
			b.Fatal(err)
		}
	}
	pc.report()
}

func BenchmarkWalk(b *testing.B) {
	const history = 5000
	tenant := newSimTenant(history)
	client := inProcessClient(tenant)
	opts := WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 10000}
	pc := startPerChat(b, history)
	for b.Loop() {
		res, err := Walk(context.Background(), client, opts)
		if err != nil || len(res.Chats) != history {
			b.Fatalf("%d chats, %v", len(res.Chats), err)
		}
	}
	pc.report()
}

// perChat measures a benchmark loop's cost per chat: ns, bytes and
// allocations, reported next to the per-operation figures.
type perChat struct {
	b      *testing.B
	chats  int
	before runtime.MemStats
}

func startPerChat(b *testing.B, chatsPerOp int) *perChat {
	p := &perChat{b: b, chats: chatsPerOp}
	b.ReportAllocs()
	runtime.GC()
	runtime.ReadMemStats(&p.before)
	return p
}

func (p *perChat) report() {
	p.b.StopTimer()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := float64(p.b.N) * float64(p.chats)
	p.b.ReportMetric(float64(p.b.Elapsed().Nanoseconds())/n, "ns/chat")
	p.b.ReportMetric(float64(after.TotalAlloc-p.before.TotalAlloc)/n, "B/chat")
	p.b.ReportMetric(float64(after.Mallocs-p.before.Mallocs)/n, "allocs/chat")
}

// BenchmarkWalkLatency walks 1,000 pages that take 20 ms each at
// concurrency 8, and reports the walk's time as a ratio to the ideal
// (pages × 20 ms ÷ 8) and the requests wasted past the last page.
func BenchmarkWalkLatency(b *testing.B) {
	const (
		pages       = 1000
		latency     = 20 * time.Millisecond
		concurrency = 8
	)
	start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tenant := simulator.New(simulator.Config{
		Token: "bench-token", TeamID: "1", Seed: 3, History: pages*PageSize - 5, // the last page is short
		Start: start, Clock: func() time.Time { return start }, QuotaPerDay: 1 << 30, Latency: latency,
	})
	client := inProcessClient(tenant)
	opts := WalkOptions{FirstPage: 1, Concurrency: concurrency, MaxPages: 10 * pages}
	ideal := time.Duration(pages) * latency / concurrency
	var elapsed time.Duration
	var wasted int
	for b.Loop() {
		t0 := time.Now()
		res, err := Walk(context.Background(), client, opts)
		elapsed += time.Since(t0)
		if err != nil || len(res.Chats) != pages*PageSize-5 {
			b.Fatalf("%d chats, %v", len(res.Chats), err)
		}
		wasted += res.Pages - pages
	}
	b.ReportMetric(float64(elapsed)/float64(b.N)/float64(ideal), "x-ideal")
	b.ReportMetric(float64(wasted)/float64(b.N), "wasted-requests")
}
