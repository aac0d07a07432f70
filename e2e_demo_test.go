//go:build e2e

package main

import (
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
// e2eDemoFirstAnswerBound bounds the wait for the first answered chat on
// the demo: queue waits of about a minute, and the exporter's reads.
const e2eDemoFirstAnswerBound = 4 * time.Minute

func TestEndToEndDemoDashboard(t *testing.T) {
	promBin := e2eLookPath(t, "prometheus", "prometheus")
	exporterAddr := freeAddr(t)
	e2eStartExporter(t, []string{"--demo", "--web.listen-address=" + exporterAddr}, exporterAddr)

	promDir := filepath.Join(t.TempDir(), "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	prom := e2eStartPrometheus(t, promBin, promDir, e2eScrapeConfig(t, exporterAddr, ""))
	e2eAwaitGoodScrapes(t, prom)
	// The service-level panels need a chat the exporter saw answered after
	// it started: the demo's day starts at 10:00, a chat arrives every few
	// seconds and waits about a minute.
	answered := `sum(imichat_chat_queue_wait_seconds_count) > 0`
	if !e2ePoll(e2eDemoFirstAnswerBound, func() bool {
		s, err := prom.query(answered)
		return err == nil && len(s) > 0
	}) {
		t.Fatalf("the demo answered no chat that the exporter saw within %v\n%s", e2eDemoFirstAnswerBound, prom.diagnose(answered, "imichat_chats_left_queue_total"))
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
