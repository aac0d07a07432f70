package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// heapInuse is the heap in use after two collections (the second empties
// sync.Pool victim caches, the simulator's page buffers among them).
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// settleGoroutines waits, at most d, for the number of goroutines to fall to
// limit (connections and handlers wind down asynchronously) and returns the
// last count.
func settleGoroutines(limit int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// faultPerRefresh installs the next fault of a list whenever a refresh
// starts (its request for the first page), so that the load goes through
// every fault, each seen by whole refreshes, however fast or slow the
// machine is.
type faultPerRefresh struct {
	tenant    *simulator.Tenant
	faults    []simulator.Fault
	on        atomic.Bool
	refreshes atomic.Int64
}

func (f *faultPerRefresh) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.on.Load() {
		if page := r.URL.Query().Get("page"); page == "" || page == "1" {
			n := f.refreshes.Add(1)
			f.tenant.SetFault(f.faults[(n-1)%int64(len(f.faults))])
		}
	}
	f.tenant.ServeHTTP(w, r)
}

// TestLoadAndSoak pulls the exporter from 32 goroutines while the simulator
// goes through faults, slow and hanging pages included, one fault per
// refresh, until it has gone through the list and back to no fault. Every
// pull answers 200 with imichat_up (a pull during a hanging page can only
// answer because its deadline passed: that it answers is the check), both
// outcomes occur, and afterwards goroutines and heap are back at their
// baseline: first with the exporter idle (a long-running exporter does not
// accumulate), then with everything stopped. Nothing here depends on how
// fast the machine is; BenchmarkPullUnderFaults has the durations.
func TestLoadAndSoak(t *testing.T) {
	const (
		pullers = 32
		// Goroutines allowed over the baseline: idle keep-alive
		// connections of the exporter to the upstream (3 goroutines
		// each, at most --imichat.concurrency of them) may differ.
		goroutineSlack = 12
		heapSlack      = 4 << 20
	)
	goroutinesStart := runtime.NumGoroutine()
	heapStart := heapInuse()

	l := startLoad(t, pullers)
	faults := l.faults
	goroutinesIdle, heapIdle := l.idleGoroutines, l.idleHeap

	var (
		pulls, ups, downs atomic.Int64
		mu                sync.Mutex
		failures          []string
	)
	// The refreshes go through the faults once and back to the first (no
	// fault); the bound is for a broken exporter only.
	target := int64(len(faults) + 1)
	bound := time.Now().Add(2 * time.Minute)
	l.rotate.on.Store(true)
	var wg sync.WaitGroup
	for range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l.rotate.refreshes.Load() <= target && time.Now().Before(bound) {
				o := l.pullOnce()
				pulls.Add(1)
				var problem string
				switch {
				case o.err != nil:
					problem = o.err.Error()
				case o.up < 0:
					problem = "no imichat_up"
				}
				if o.up == 1 {
					ups.Add(1)
				} else if o.up == 0 {
					downs.Add(1)
				}
				if problem != "" {
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, problem)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	l.rotate.on.Store(false)
	l.tenant.ClearFault()
	requests := l.tenant.Requests()

	for _, f := range failures {
		t.Errorf("pull: %s", f)
	}
	if n := l.rotate.refreshes.Load(); n <= target {
		t.Errorf("only %d refreshes in 2 minutes of load", n)
	}
	if ups.Load() == 0 || downs.Load() == 0 {
		t.Errorf("%d pulls up, %d down: the faults did not rotate through both outcomes", ups.Load(), downs.Load())
	}

	// The exporter is idle again: it must not hold on to anything the
	// load made it start.
	l.transport.CloseIdleConnections()
	goroutinesAfterLoad := settleGoroutines(goroutinesIdle+goroutineSlack, 5*time.Second)
	heapAfterLoad := heapInuse()

	l.exp.stop()
	l.upstream.Close()
	goroutinesEnd := settleGoroutines(goroutinesStart+2, 5*time.Second)
	heapEnd := heapInuse()

	t.Logf("load: %d pullers through %d refreshes: %d pulls (%d up, %d down); %d upstream page requests",
		pullers, l.rotate.refreshes.Load(), pulls.Load(), ups.Load(), downs.Load(), requests)
	t.Logf("goroutines: %d before start, %d idle before load, %d idle after load, %d after stop",
		goroutinesStart, goroutinesIdle, goroutinesAfterLoad, goroutinesEnd)
	t.Logf("heap in use: %.1f MiB before start, %.1f MiB idle before load, %.1f MiB idle after load, %.1f MiB after stop",
		mib(heapStart), mib(heapIdle), mib(heapAfterLoad), mib(heapEnd))

	if goroutinesAfterLoad > goroutinesIdle+goroutineSlack {
		t.Errorf("goroutines: %d idle after the load, %d before it", goroutinesAfterLoad, goroutinesIdle)
	}
	if goroutinesEnd > goroutinesStart+2 {
		t.Errorf("goroutines: %d after stopping, %d before starting", goroutinesEnd, goroutinesStart)
	}
	if heapAfterLoad > heapIdle+heapSlack {
		t.Errorf("heap: %.1f MiB idle after the load, %.1f MiB before it", mib(heapAfterLoad), mib(heapIdle))
	}
	if heapEnd > heapStart+heapSlack {
		t.Errorf("heap: %.1f MiB after stopping, %.1f MiB before starting", mib(heapEnd), mib(heapStart))
	}
	if t.Failed() {
		var buf strings.Builder
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Logf("goroutines:\n%s", buf.String())
		t.Logf("exporter log (tail):\n%s", tail(l.exp.logs.String(), 4000))
	}
}

// load is an in-process exporter reading a simulated tenant whose faults
// change with every refresh once rotate is on, and a client to pull it.
type load struct {
	tenant         *simulator.Tenant
	upstream       *httptest.Server
	exp            *testExporter
	rotate         *faultPerRefresh
	faults         []simulator.Fault
	transport      *http.Transport
	pullOnce       func() outcome
	idleGoroutines int
	idleHeap       uint64
}

// outcome is one pull.
type outcome struct {
	up  int // 1, 0, or -1 when imichat_up was missing
	err error
}

// startLoad starts the exporter with a 2 s walk timeout and a 2 s scrape
// timeout, warms it up (a first pull has opened the connections a walk
// needs, the loader's own are closed) and measures the idle baseline.
func startLoad(t testing.TB, pullers int) *load {
	t.Helper()
	const team, token = "3", "tok-load-1a2b3c4d5e6f"
	l := &load{faults: []simulator.Fault{
		{},
		{Kind: simulator.FaultStatusCode, StatusCode: 2004},
		{Kind: simulator.FaultSlow, Delay: 300 * time.Millisecond, Pages: []int{2}},
		{Kind: simulator.FaultHang, Pages: []int{3}},
		{Kind: simulator.FaultHTMLGateway, HTTPStatus: 503},
		{Kind: simulator.FaultResetMidBody, Pages: []int{2}},
		{Kind: simulator.FaultOversized, Size: 3 << 19, Pages: []int{1}},
		{Kind: simulator.FaultTruncated, Pages: []int{4}},
		{ArrivalsAfterPage: 1},
		{Kind: simulator.FaultResponseObject},
		{Kind: simulator.FaultNotJSON, Pages: []int{5}},
	}}
	l.tenant = simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 21, History: 95, ArrivalsPerDay: 2 * 86400, QuotaPerDay: 1e9})
	l.rotate = &faultPerRefresh{tenant: l.tenant, faults: l.faults}
	l.upstream = httptest.NewServer(l.rotate)
	t.Cleanup(l.upstream.Close)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	l.exp = startExporter(t, exporterArgs(l.upstream.URL, team, tokenFile, addr, "--imichat.concurrency=4", "--imichat.timeout=2s"))
	waitFor(t, "http://"+addr+"/", 10*time.Second)

	l.transport = &http.Transport{MaxIdleConnsPerHost: pullers}
	client := &http.Client{Timeout: time.Minute, Transport: l.transport} // a bound for a hung exporter only
	metricsURL := "http://" + addr + "/metrics"
	l.pullOnce = func() outcome {
		req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
		resp, err := client.Do(req)
		if err != nil {
			return outcome{err: err}
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		o := outcome{up: -1, err: err}
		if resp.StatusCode != http.StatusOK {
			o.err = &httpStatusError{resp.StatusCode}
		}
		switch {
		case bytes.Contains(body, []byte("\nimichat_up 1\n")):
			o.up = 1
		case bytes.Contains(body, []byte("\nimichat_up 0\n")):
			o.up = 0
		}
		return o
	}
	if o := l.pullOnce(); o.err != nil || o.up != 1 {
		t.Fatalf("warm-up pull: %+v", o)
	}
	l.transport.CloseIdleConnections()
	l.idleGoroutines = settleGoroutines(0, 200*time.Millisecond)
	l.idleHeap = heapInuse()
	l.tenant.ResetRequests()
	return l
}

// BenchmarkPullUnderFaults measures pulls (2 s scrape timeout, 0.5 s
// offset) from 32 goroutines while every refresh meets the next fault of
// TestLoadAndSoak's list: ns/op is the mean time per pull across pullers,
// ms-per-pull-max the longest pull.
func BenchmarkPullUnderFaults(b *testing.B) {
	const pullers = 32
	l := startLoad(b, pullers)
	l.rotate.on.Store(true)
	var longest atomic.Int64
	b.SetParallelism((pullers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			if o := l.pullOnce(); o.err != nil {
				b.Error(o.err)
			}
			took := int64(time.Since(start))
			for m := longest.Load(); took > m && !longest.CompareAndSwap(m, took); m = longest.Load() {
			}
		}
	})
	b.StopTimer()
	l.rotate.on.Store(false)
	b.ReportMetric(float64(longest.Load())/float64(time.Millisecond), "ms-per-pull-max")
}

type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return "HTTP " + http.StatusText(e.code) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
