// Package metricset gathers, for the tests that hold the dashboard, the
// alerts and the docs to the metric contract, every family the exporter's
// single-tenant registry exports: the collectors main registers, after a
// refresh of a simulated tenant so that the API counters and rate-limit
// gauges have seen answers. Only tests import it.
package metricset

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/refresh"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// SingleTenantNames returns the names of the families a single-tenant
// exporter exports, the process and Go collectors' aside.
func SingleTenantNames() ([]string, error) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tenant := simulator.New(simulator.Config{Token: "t", TeamID: "1", Seed: 1, History: 500,
		Start: start, Clock: func() time.Time { return start }})
	apiMetrics := collector.NewAPIMetrics()
	u, _ := url.Parse("http://tenant.test")
	client := &apiclient.Client{BaseURL: u, TeamID: "1", Token: apiclient.StaticToken("t"), Observer: apiMetrics,
		HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)}}
	source := refresh.New(refresh.Options{Fetcher: client, RateLimit: apiMetrics.RateLimit,
		Now: func() time.Time { return start }})
	defer source.Close()
	if _, err := source.Snapshot(context.Background()); err != nil {
		return nil, fmt.Errorf("refreshing the simulated tenant: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewChatCollector(context.Background(), source, nil),
		apiMetrics, versioncollector.NewCollector("imichat_exporter"), source,
		collector.NewLabelLimit(collector.DefaultMaxLabelValues))
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering: %w", err)
	}
	names := make([]string, 0, len(mfs))
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names, nil
}
