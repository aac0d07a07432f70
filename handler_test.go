package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// TestPullAnswersWithinScrapeTimeout: while the API is slow, a pull with a
// 2 s scrape timeout answers within 2 s; the walk goes on in the background
// and a later pull serves its result.
func TestPullAnswersWithinScrapeTimeout(t *testing.T) {
	tenant := simulator.New(simulator.Config{Token: "tok", TeamID: "1", Seed: 2, History: 55, QuotaPerDay: 1 << 30})
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	api := collector.NewAPIMetrics()
	refresher := collector.NewRefresher(collector.RefresherOptions{
		Fetcher:     &apiclient.Client{BaseURL: u, TeamID: "1", Token: apiclient.StaticToken("tok"), Observer: api},
		Walk:        apiclient.WalkOptions{FirstPage: 1, Concurrency: 2, MaxPages: 100},
		RateLimit:   api.RateLimit,
		Timeout:     time.Minute,
		MinInterval: time.Minute, // one walk: the pulls after it are served its result
	})
	registry := prometheus.NewRegistry()
	registry.MustRegister(api, refresher)
	// A 1 s offset leaves the pull a second to answer after it stops waiting.
	exporter := httptest.NewServer(newMetricsHandler(registry, refresher, time.Minute, time.Second, log.NewNopLogger()))
	defer exporter.Close()

	// Every page takes 1.5 s: the first walk (6 pages, 2 at a time) needs 4.5 s.
	tenant.SetFault(simulator.Fault{Kind: simulator.FaultSlow, Delay: 1500 * time.Millisecond})
	pull := func() (string, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, exporter.URL, nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		return string(body), time.Since(start)
	}
	body, took := pull()
	if took >= 2*time.Second {
		t.Errorf("the pull took %v with a 2 s scrape timeout", took)
	}
	if !strings.Contains(body, "\nimichat_up 0\n") || strings.Contains(body, "imichat_chats{") {
		t.Errorf("before a first complete walk the pull must answer imichat_up 0 and no chat gauges:\n%s", body)
	}
	// The walk goes on without a scrape waiting for it.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(body, "\nimichat_up 1\n") && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		body, took = pull()
		if took >= 2*time.Second {
			t.Errorf("a pull took %v with a 2 s scrape timeout", took)
		}
	}
	if !strings.Contains(body, "\nimichat_up 1\n") || !strings.Contains(body, "imichat_last_refresh_timestamp_seconds ") {
		t.Fatalf("the background walk never completed:\n%s", body)
	}
	if requests := tenant.Requests(); requests > 9 { // 6 pages and the slow start's speculation
		t.Errorf("%d requests for a 6-page list: pulls started walks of their own", requests)
	}
}
