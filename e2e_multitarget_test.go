//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// e2ePromExample is the plain Prometheus configuration the README points
// to: the end-to-end test runs its multi-target job as shipped, with only
// the targets and the exporter's address replaced.
const e2ePromExample = "deploy/prometheus/prometheus.yml"

// e2eMultiTargetJob is the example's job that probes one exporter.
const e2eMultiTargetJob = "imichat"

// e2eProbeJob returns the example's multi-target job with the targets
// replaced and its __address__ rewritten to exporterAddr.
func e2eProbeJob(t *testing.T, targets []string, exporterAddr string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(e2ePromExample)
	if err != nil {
		t.Fatal(err)
	}
	var example struct {
		ScrapeConfigs []map[string]any `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &example); err != nil {
		t.Fatalf("%s: %v", e2ePromExample, err)
	}
	for _, job := range example.ScrapeConfigs {
		if job["job_name"] != e2eMultiTargetJob {
			continue
		}
		job["static_configs"] = []map[string]any{{"targets": targets}}
		rewritten := 0
		relabels, _ := job["relabel_configs"].([]any)
		for _, r := range relabels {
			rule, _ := r.(map[string]any)
			if rule["target_label"] == "__address__" {
				rule["replacement"] = exporterAddr
				rewritten++
			}
		}
		if rewritten != 1 {
			t.Fatalf("%s: job %s has %d rules setting __address__, want 1", e2ePromExample, e2eMultiTargetJob, rewritten)
		}
		job["scrape_interval"], job["scrape_timeout"] = "1s", "1s"
		return job
	}
	t.Fatalf("%s has no job %q", e2ePromExample, e2eMultiTargetJob)
	return nil
}

// TestEndToEndMultiTarget: a real Prometheus with the README's multi-target
// relabelling probes two simulated tenants (one with two teams) through
// one exporter, and stores each team's numbers under its tenant and team.
func TestEndToEndMultiTarget(t *testing.T) {
	promBin := e2eLookPath(t, "prometheus", "prometheus")
	f := startTwoTenants(t, 26, 13, 17)
	acme, globex, base := f.acme, f.globex, f.base
	dir := t.TempDir()
	exporterAddr := strings.TrimPrefix(base, "http://")

	promDir := filepath.Join(dir, "prometheus")
	if err := os.MkdirAll(filepath.Join(promDir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	// globex has one team: its target leaves the team out.
	probeJob := e2eProbeJob(t, []string{"acme/4711", "acme/4712", "globex"}, exporterAddr)
	promConfig, err := yaml.Marshal(map[string]any{
		"global": map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"scrape_configs": []any{
			probeJob,
			map[string]any{"job_name": "imichat_exporter", "static_configs": []any{map[string]any{"targets": []string{exporterAddr}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	prom := e2eStartPrometheus(t, promBin, promDir, string(promConfig))

	// Every target's chats, summed, under its tenant and team labels.
	want := map[string]float64{
		"acme/4711": float64(acme.org.Team("4711").Counts().Total),
		"acme/4712": float64(acme.org.Team("4712").Counts().Total),
		"globex/":   float64(globex.org.Team("1").Counts().Total),
	}
	query := fmt.Sprintf(`sum by (tenant, team, instance) (imichat_chats{job=%q}) and on (tenant, team, instance) imichat_up{job=%q} == 1`,
		e2eMultiTargetJob, e2eMultiTargetJob)
	var got map[string]float64
	var last string
	ok := e2ePoll(e2eFirstScrapesBound, func() bool {
		samples, err := prom.query(query)
		if err != nil {
			last = err.Error()
			return false
		}
		got = map[string]float64{}
		var seen []string
		for _, s := range samples {
			key := s.metric["tenant"] + "/" + s.metric["team"]
			got[key] = s.value
			seen = append(seen, fmt.Sprintf("%s instance=%s: %v", key, s.metric["instance"], s.value))
		}
		sort.Strings(seen)
		last = strings.Join(seen, "; ")
		return len(got) == len(want)
	})
	if !ok {
		t.Fatalf("Prometheus did not store every target's chats within %v; last: %s\n%s", e2eFirstScrapesBound, last, prom.diagnose(query, "up"))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: sum of imichat_chats = %v, truth %v", k, got[k], w)
		}
	}
	// The probe's instance is its target, and the exporter's own job
	// carries the reload status.
	samples, err := prom.query(`imichat_up{job="imichat", instance="acme/4712", tenant="acme", team="4712"}`)
	if err != nil || len(samples) != 1 {
		t.Errorf("imichat_up of acme/4712 by instance: %v %v", samples, err)
	}
	ok = e2ePoll(e2eFirstScrapesBound, func() bool {
		s, err := prom.query(`imichat_exporter_config_last_reload_successful{job="imichat_exporter"} == 1`)
		return err == nil && len(s) == 1
	})
	if !ok {
		t.Errorf("imichat_exporter_config_last_reload_successful not 1 in Prometheus")
	}
	// Every dashboard panel has data, with both jobs and every tenant and
	// team selected ("All").
	e2eServiceChats(acme.org.Team("4711"))
	e2eRequirePanelData(t, prom, e2eDashboardQueries(t, map[string]string{"job": "imichat|imichat_exporter"}),
		func(string) bool { return true })
}
