//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEndToEndDemoDashboard: the demo a newcomer starts first, scraped by a
// real Prometheus, gives every panel of the dashboard data (those of
// multi-target mode's reloads aside), and neither queue alert is even
// pending: its tenant looks like a working contact centre, not an
// incident. (The quota projection may be pending during the cold start's
// burst: its 15 minutes of for: are there for that.)
func TestEndToEndDemoDashboard(t *testing.T) {
	promBin := e2eLookPath(t, "prometheus", "prometheus")
	exporterAddr := freeAddr(t)
	e2eStartExporter(t, []string{"--demo", "--web.listen-address=" + exporterAddr}, exporterAddr)

	promDir := filepath.Join(t.TempDir(), "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rulesPath, err := filepath.Abs(e2eRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	prom := e2eStartPrometheus(t, promBin, promDir, fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: %q
    static_configs:
      - targets: [%q]
`, rulesPath, e2eJob, exporterAddr))
	upQuery := fmt.Sprintf(`sum_over_time(imichat_up{job=%q}[1m])`, e2eJob)
	if !e2ePoll(e2eFirstScrapesBound, func() bool {
		s, err := prom.query(upQuery)
		return err == nil && len(s) == 1 && s[0].value >= 3
	}) {
		t.Fatalf("Prometheus did not scrape imichat_up 1 three times within %v: %s", e2eFirstScrapesBound, prom.diagnose(upQuery))
	}
	start := time.Now()
	panels := e2eRequirePanelData(t, prom, e2eDashboardQueries(t, nil), func(promql string) bool {
		return !strings.Contains(promql, "imichat_exporter_config_")
	})
	t.Logf("all %d panel queries have data on the demo after %v", len(panels), time.Since(start).Round(time.Millisecond))
	if alerts, err := prom.alerts(); err != nil {
		t.Fatalf("Prometheus /api/v1/alerts: %v", err)
	} else {
		for _, a := range alerts {
			if strings.HasPrefix(a, e2eAlertTooMany+"(") || strings.HasPrefix(a, e2eAlertTooLong+"(") {
				t.Errorf("the demo raises a queue alert: %v", alerts)
			}
		}
	}
}
