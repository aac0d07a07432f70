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

// TestLoadAndSoak pulls the exporter from 32 goroutines for 5 s while the
// simulator rotates through faults, slow and hanging pages included. No pull
// may outlast its scrape timeout, every pull answers 200 with imichat_up,
// and afterwards goroutines and heap are back at their baseline: first with
// the exporter idle (a long-running exporter does not accumulate), then with
// everything stopped.
func TestLoadAndSoak(t *testing.T) {
	const (
		pullers       = 32
		loadFor       = 5 * time.Second
		scrapeTimeout = 2 * time.Second
		// Margin over the scrape timeout for gathering and writing the
		// answer, with -race on 2 cores. The walk itself ends at the
		// timeout less --web.timeout-offset (0.5 s).
		margin = 500 * time.Millisecond
		// Goroutines allowed over the baseline: idle keep-alive
		// connections of the exporter to the upstream (3 goroutines
		// each, at most --imichat.concurrency of them) may differ.
		goroutineSlack = 12
		heapSlack      = 4 << 20
		team, token    = "3", "tok-load-1a2b3c4d5e6f"
	)
	goroutinesStart := runtime.NumGoroutine()
	heapStart := heapInuse()

	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 21, History: 95, ArrivalsPerDay: 2 * 86400, QuotaPerDay: 1e9})
	upstream := httptest.NewServer(tenant)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	exp := startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr, "--imichat.concurrency=4", "--imichat.timeout=1s"))
	waitFor(t, "http://"+addr+"/", 10*time.Second)

	transport := &http.Transport{MaxIdleConnsPerHost: pullers}
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport} // a bound for a broken exporter; the assertion is tighter
	metricsURL := "http://" + addr + "/metrics"
	type outcome struct {
		took time.Duration
		up   int // 1, 0, or -1 when imichat_up was missing
		err  error
	}
	pullOnce := func() outcome {
		req, _ := http.NewRequest(http.MethodGet, metricsURL, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return outcome{err: err}
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		o := outcome{took: time.Since(start), up: -1, err: err}
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

	// Steady state before the load: one pull has opened the connections a
	// walk needs, and the loader's own have been closed.
	if o := pullOnce(); o.err != nil || o.up != 1 {
		t.Fatalf("warm-up pull: %+v", o)
	}
	transport.CloseIdleConnections()
	goroutinesIdle := settleGoroutines(0, 200*time.Millisecond)
	heapIdle := heapInuse()
	tenant.ResetRequests()

	faults := []simulator.Fault{
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
	}
	stopFaults := make(chan struct{})
	var faultsDone sync.WaitGroup
	faultsDone.Add(1)
	go func() {
		defer faultsDone.Done()
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			tenant.SetFault(faults[i%len(faults)])
			select {
			case <-stopFaults:
				tenant.ClearFault()
				return
			case <-tick.C:
			}
		}
	}()

	var (
		pulls, ups, downs atomic.Int64
		maxTook           atomic.Int64
		mu                sync.Mutex
		failures          []string
	)
	end := time.Now().Add(loadFor)
	var wg sync.WaitGroup
	for range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				o := pullOnce()
				pulls.Add(1)
				for {
					m := maxTook.Load()
					if int64(o.took) <= m || maxTook.CompareAndSwap(m, int64(o.took)) {
						break
					}
				}
				var problem string
				switch {
				case o.err != nil:
					problem = o.err.Error()
				case o.up < 0:
					problem = "no imichat_up"
				case o.took > scrapeTimeout+margin:
					problem = "took " + o.took.String()
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
	close(stopFaults)
	faultsDone.Wait()
	requests := tenant.Requests()

	for _, f := range failures {
		t.Errorf("pull: %s", f)
	}
	if ups.Load() == 0 || downs.Load() == 0 {
		t.Errorf("%d pulls up, %d down: the faults did not rotate through both outcomes", ups.Load(), downs.Load())
	}

	// The exporter is idle again: it must not hold on to anything the
	// load made it start.
	transport.CloseIdleConnections()
	goroutinesAfterLoad := settleGoroutines(goroutinesIdle+goroutineSlack, 5*time.Second)
	heapAfterLoad := heapInuse()

	exp.stop()
	upstream.Close()
	goroutinesEnd := settleGoroutines(goroutinesStart+2, 5*time.Second)
	heapEnd := heapInuse()

	t.Logf("load: %d pullers for %v, scrape timeout %v: %d pulls (%d up, %d down), longest %v; %d upstream page requests",
		pullers, loadFor, scrapeTimeout, pulls.Load(), ups.Load(), downs.Load(), time.Duration(maxTook.Load()), requests)
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
		t.Logf("exporter log (tail):\n%s", tail(exp.logs.String(), 4000))
	}
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
