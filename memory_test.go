package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// procStatusKiB reads a field (VmRSS, VmHWM: the peak RSS) of
// /proc/PID/status, in KiB.
func procStatusKiB(t testing.TB, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// scrapeStorm sends n scrapes at once, as Prometheus sends them (gzip, the
// OpenMetrics Accept header), each on a connection of its own, and counts
// the answers by status.
func scrapeStorm(t testing.TB, url string, n int) map[int]int {
	t.Helper()
	transport := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: 2 * time.Minute, Transport: transport} // a bound for a hung exporter only
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		errs  []string
		wg    sync.WaitGroup
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
			req.Header.Set("Accept-Encoding", "gzip")
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "10")
			<-start
			resp, err := client.Do(req)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
				return
			}
			codes[resp.StatusCode]++
		}()
	}
	close(start)
	wg.Wait()
	for i, e := range errs {
		if i == 5 {
			t.Errorf("… %d errors in all", len(errs))
			break
		}
		t.Errorf("scrape: %s", e)
	}
	return codes
}

// peakRSSUnderScrapeStorms runs the binary on its demo tenant with extra
// flags, sends it rounds of n concurrent scrapes and returns its peak RSS
// (VmHWM) and RSS before the storms, in MiB, and the answers by status.
func peakRSSUnderScrapeStorms(t testing.TB, rounds, n int, extra ...string) (peak, before float64, codes map[int]int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	addr := freeAddr(t)
	p := startBinary(t, append([]string{"--demo", "--web.listen-address=" + addr}, extra...)...)
	waitFor(t, "http://"+addr+"/", 20*time.Second)
	if body := get(t, "http://"+addr+"/metrics"); !strings.Contains(body, "\nimichat_up 1\n") {
		t.Fatalf("warm-up scrape:\n%s", body)
	}
	pid := p.cmd.Process.Pid
	before = float64(procStatusKiB(t, pid, "VmRSS")) / 1024
	codes = map[int]int{}
	for range rounds {
		for code, k := range scrapeStorm(t, "http://"+addr+"/metrics", n) {
			codes[code] += k
		}
	}
	peak = float64(procStatusKiB(t, pid, "VmHWM")) / 1024
	return peak, before, codes
}

// TestMemoryUnder500ConcurrentScrapes: three rounds of 500 scrapes at once
// keep the exporter (a separate process, built as users build it) under
// 100 MiB of RSS at its peak: --web.max-requests (40 by default) serves 40 at
// once and answers the others 503 at once. The answers are 200 or 503, and
// promhttp_metric_handler_requests_total counts them.
func TestMemoryUnder500ConcurrentScrapes(t *testing.T) {
	const (
		rounds, n = 3, 500
		limitMiB  = 100
	)
	peak, before, codes := peakRSSUnderScrapeStorms(t, rounds, n)
	t.Logf("RSS %.1f MiB before, peak %.1f MiB over %d rounds of %d concurrent scrapes; answers by status: %v", before, peak, rounds, n, codes)
	if peak >= limitMiB {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", peak, limitMiB)
	}
	if codes[http.StatusOK] == 0 {
		t.Error("no scrape was served")
	}
	for code := range codes {
		if code != http.StatusOK && code != http.StatusServiceUnavailable {
			t.Errorf("%d answers HTTP %d", codes[code], code)
		}
	}
	if got := codes[http.StatusOK] + codes[http.StatusServiceUnavailable]; got != rounds*n {
		t.Errorf("%d answers, want %d", got, rounds*n)
	}
}

var requestsTotalRE = regexp.MustCompile(`(?m)^promhttp_metric_handler_requests_total\{code="(\d+)"\} (\d+)$`)

// TestRequestsTotalCountsStorm: promhttp_metric_handler_requests_total
// agrees with what the clients saw, 503s included.
func TestRequestsTotalCountsStorm(t *testing.T) {
	addr := freeAddr(t)
	startExporter(t, []string{"--demo", "--web.listen-address=" + addr, "--web.max-requests=2"})
	waitFor(t, "http://"+addr+"/", 10*time.Second)
	codes := scrapeStorm(t, "http://"+addr+"/metrics", 50)
	body := get(t, "http://"+addr+"/metrics")
	counted := map[int]int{}
	for _, m := range requestsTotalRE.FindAllStringSubmatch(body, -1) {
		code, _ := strconv.Atoi(m[1])
		counted[code], _ = strconv.Atoi(m[2])
	}
	for _, code := range []int{http.StatusOK, http.StatusServiceUnavailable} {
		if counted[code] != codes[code] {
			t.Errorf("promhttp_metric_handler_requests_total{code=\"%d\"} = %d, the clients got %d", code, counted[code], codes[code])
		}
	}
	t.Logf("answers by status: %v", codes)
}

// BenchmarkScrapeStormPeakRSS reports the exporter's peak RSS under rounds of
// 500 concurrent scrapes, with the default limit and without one.
func BenchmarkScrapeStormPeakRSS(b *testing.B) {
	for _, limit := range []string{"40", "0"} {
		b.Run("max-requests="+limit, func(b *testing.B) {
			var peak, before float64
			var codes map[int]int
			for b.Loop() {
				peak, before, codes = peakRSSUnderScrapeStorms(b, 3, 500, "--web.max-requests="+limit)
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			b.ReportMetric(before, "idle-RSS-MiB")
			b.ReportMetric(float64(codes[http.StatusServiceUnavailable])/3, "503s/round")
		})
	}
}
