package dashboards

import (
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/imichat-exporter/imichat_exporter/internal/metricset"
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

// histogramFamilies: the exporter's classic histograms (issue 19). The
// registry gathers a histogram under its family's name; Prometheus stores
// and a query selects its series NAME_bucket, NAME_sum and NAME_count
// (the bare name is a native histogram, which a Prometheus that scrapes
// only classic histograms does not have). metricset gives names, not
// types: a histogram missing here fails the contract test by its _bucket.
var histogramFamilies = []string{
	"imichat_chat_queue_wait_seconds",
	"imichat_chat_handle_seconds",
}

// seriesNames: the names Prometheus stores for the gathered families.
func seriesNames(families []string) []string {
	var out []string
	for _, n := range families {
		if !slices.Contains(histogramFamilies, n) {
			out = append(out, n)
			continue
		}
		out = append(out, n+"_bucket", n+"_sum", n+"_count")
	}
	return out
}

// exportedMetricNames returns the names of every metric imichat_exporter
// exports, gathered from the real collectors after a walk of a simulated
// tenant: the dashboard and the rules may use nothing else.
func exportedMetricNames() []string {
	contractOnce.Do(func() {
		names, err := metricset.SingleTenantNames()
		if err != nil {
			panic(err)
		}
		contractNames = seriesNames(names)
		for _, n := range multiTargetMetrics {
			if !slices.Contains(contractNames, n) {
				contractNames = append(contractNames, n)
			}
		}
		sort.Strings(contractNames)
	})
	return contractNames
}

func TestSeriesNamesOfHistograms(t *testing.T) {
	got := seriesNames([]string{"imichat_up", "imichat_chat_queue_wait_seconds"})
	want := []string{"imichat_up", "imichat_chat_queue_wait_seconds_bucket", "imichat_chat_queue_wait_seconds_sum", "imichat_chat_queue_wait_seconds_count"}
	if !slices.Equal(got, want) {
		t.Errorf("seriesNames: %v, want %v", got, want)
	}
}
