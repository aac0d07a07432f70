package dashboards

import (
	"slices"
	"sort"
	"sync"

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

// exportedMetricNames returns the names of every metric imichat_exporter
// exports, gathered from the real collectors after a walk of a simulated
// tenant: the dashboard and the rules may use nothing else.
func exportedMetricNames() []string {
	contractOnce.Do(func() {
		names, err := metricset.SingleTenantNames()
		if err != nil {
			panic(err)
		}
		contractNames = names
		for _, n := range multiTargetMetrics {
			if !slices.Contains(contractNames, n) {
				contractNames = append(contractNames, n)
			}
		}
		sort.Strings(contractNames)
	})
	return contractNames
}
