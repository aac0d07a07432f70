package dashboards

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/refresh"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

var (
	contractOnce  sync.Once
	contractNames []string
)

// multiTargetMetrics: the exporter's own metrics of multi-target mode (on
// /metrics, next to /probe?tenant=NAME&team=ID), which the walk below does not
// register. Once the collector that exports them is registered here, a name it
// gathers is counted once.
var multiTargetMetrics = []string{
	"imichat_exporter_config_last_reload_success_timestamp_seconds",
	"imichat_exporter_config_last_reload_successful",
}

// exportedMetricNames returns the names of every metric imichat_exporter
// exports, gathered from the real collectors after a walk of a simulated
// tenant: the dashboard and the rules may use nothing else.
func exportedMetricNames() []string {
	contractOnce.Do(func() {
		start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
		tenant := simulator.New(simulator.Config{Token: "t", TeamID: "1", Seed: 1, History: 500,
			Start: start, Clock: func() time.Time { return start }})
		apiMetrics := collector.NewAPIMetrics()
		u, _ := url.Parse("http://tenant.test")
		client := &apiclient.Client{BaseURL: u, TeamID: "1", Token: apiclient.StaticToken("t"), Observer: apiMetrics,
			HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)}}
		source := refresh.New(refresh.Options{Fetcher: client, RateLimit: apiMetrics.RateLimit,
			Now: func() time.Time { return start }})

		// A walk first, so that the API counters and rate-limit gauges
		// have seen responses (a registry collects concurrently).
		if _, err := source.Snapshot(context.Background()); err != nil {
			panic(err)
		}
		reg := prometheus.NewRegistry()
		// The collectors main.go registers, so that every metric the
		// exporter can export is known.
		reg.MustRegister(collector.NewChatCollector(context.Background(), source, nil),
			apiMetrics, versioncollector.NewCollector("imichat_exporter"), source,
			collector.NewLabelLimit(collector.DefaultMaxLabelValues))
		mfs, err := reg.Gather()
		if err != nil {
			panic(err)
		}
		for _, mf := range mfs {
			contractNames = append(contractNames, mf.GetName())
		}
		for _, n := range multiTargetMetrics {
			if !slices.Contains(contractNames, n) {
				contractNames = append(contractNames, n)
			}
		}
		sort.Strings(contractNames)
	})
	return contractNames
}
