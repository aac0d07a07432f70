package simulator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// discardWriter is a reusable ResponseWriter, so the benchmark measures the
// tenant and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// benchTenant is the quota replay's shape (issue 3): a 50,000-chat history,
// 3,000 arrivals a day, and a quota that never runs out.
func benchTenant(b *testing.B) (*Tenant, *vclock) {
	b.Helper()
	return newTenant(Config{Seed: 1, History: 50000, ArrivalsPerDay: 3000, QuotaPerDay: 1 << 30})
}

// BenchmarkServePage serves pages spread over the whole list while the
// virtual clock moves 1 s per request (a day every 86,400 pages), so lazy
// arrivals and the binary search are part of the cost.
func BenchmarkServePage(b *testing.B) {
	tn, clk := benchTenant(b)
	reqs := make([]*http.Request, 5000)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/v3.1/chats?page="+strconv.Itoa(i+1), nil)
		reqs[i].Header.Set("access_token", testToken)
		reqs[i].Header.Set("teamid", testTeam)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clk.Add(time.Second)
		w.n = 0
		tn.ServeHTTP(w, reqs[i%len(reqs)])
		if w.status != 200 || w.n < 1000 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
	b.ReportMetric(float64(w.n), "bytes/page")
}

// BenchmarkServePageTransport is the same through http.Client and
// NewTransport, the path the replay benchmark will use.
func BenchmarkServePageTransport(b *testing.B) {
	tn, clk := benchTenant(b)
	cl := &http.Client{Transport: NewTransport(tn)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clk.Add(time.Second)
		req, _ := http.NewRequest("GET", "http://tenant.test/v3.1/chats?page="+strconv.Itoa(1+i%5000), nil)
		req.Header.Set("access_token", testToken)
		req.Header.Set("teamid", testTeam)
		resp, err := cl.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkNew50k is the cost of building the replay's tenant.
func BenchmarkNew50k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchTenant(b)
	}
}
