// Tests of prometheus.yml: promtool accepts it, and its relabelling, applied
// by Prometheus's own code to the example targets and to more tenants, probes
// each tenant and team on the right exporter with the right labels.
package prometheus

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"

	"github.com/imichat-exporter/imichat_exporter/deploy/prometheus/probecheck"
)

const configFile = "prometheus.yml"

// TestPromtoolCheckConfig: the file is a valid Prometheus configuration.
// promtool is required, never skipped: CI installs it (Debian's prometheus
// package), as for the alerting rules' checks.
func TestPromtoolCheckConfig(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install it, on Debian `apt-get install -y --no-install-recommends prometheus`", err)
	}
	out, err := exec.Command(promtool, "check", "config", configFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", configFile, err, out)
	}
	t.Logf("%s", out)
}

// config is the part of prometheus.yml the relabelling needs. promtool
// checks the rest, strictly.
type config struct {
	Global struct {
		ScrapeInterval model.Duration `yaml:"scrape_interval"`
		ScrapeTimeout  model.Duration `yaml:"scrape_timeout"`
	} `yaml:"global"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName        string           `yaml:"job_name"`
	Scheme         string           `yaml:"scheme"`
	MetricsPath    string           `yaml:"metrics_path"`
	ScrapeInterval model.Duration   `yaml:"scrape_interval"`
	ScrapeTimeout  model.Duration   `yaml:"scrape_timeout"`
	Params         map[string][]any `yaml:"params"`
	StaticConfigs  []struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels"`
	} `yaml:"static_configs"`
	RelabelConfigs []*relabel.Config `yaml:"relabel_configs"`
}

func load(t *testing.T) map[string]scrapeConfig {
	t.Helper()
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg config
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", configFile, err)
	}
	jobs := map[string]scrapeConfig{}
	for _, sc := range cfg.ScrapeConfigs {
		for i, rc := range sc.RelabelConfigs {
			if err := rc.Validate(model.LegacyValidation); err != nil {
				t.Fatalf("job %s, relabel config %d: %v", sc.JobName, i, err)
			}
		}
		if sc.Scheme == "" {
			sc.Scheme = "http"
		}
		if sc.MetricsPath == "" {
			sc.MetricsPath = "/metrics"
		}
		if sc.ScrapeInterval == 0 {
			sc.ScrapeInterval = cfg.Global.ScrapeInterval
		}
		if sc.ScrapeTimeout == 0 {
			sc.ScrapeTimeout = cfg.Global.ScrapeTimeout
		}
		jobs[sc.JobName] = sc
	}
	return jobs
}

func (sc scrapeConfig) job() probecheck.Job {
	return probecheck.Job{
		Name:           sc.JobName,
		Scheme:         sc.Scheme,
		MetricsPath:    sc.MetricsPath,
		ScrapeInterval: sc.ScrapeInterval.String(),
		ScrapeTimeout:  sc.ScrapeTimeout.String(),
		Relabel:        sc.RelabelConfigs,
	}
}

// targets are the job's targets, parsed; each appears once.
func (sc scrapeConfig) targets(t *testing.T) []probecheck.Target {
	t.Helper()
	var targets []probecheck.Target
	for _, st := range sc.StaticConfigs {
		if len(st.Labels) > 0 {
			t.Errorf("job %s: static labels %v: tenant and team come from the target", sc.JobName, st.Labels)
		}
		for _, raw := range st.Targets {
			target, err := probecheck.ParseTarget(raw)
			if err != nil {
				t.Errorf("job %s: %v", sc.JobName, err)
				continue
			}
			if slices.Contains(targets, target) {
				t.Errorf("job %s: target %s twice", sc.JobName, raw)
			}
			targets = append(targets, target)
		}
	}
	if len(targets) == 0 {
		t.Fatalf("job %s: no targets", sc.JobName)
	}
	return targets
}

// sample is the job's own targets, then more tenants with and without a
// team.
func sample(t *testing.T, sc scrapeConfig) []probecheck.Target {
	targets := sc.targets(t)
	for _, tenant := range probecheck.SampleTenants() {
		targets = append(targets, probecheck.Target{Tenant: tenant, Team: "4711"}, probecheck.Target{Tenant: tenant})
	}
	return targets
}

func TestUnshardedJob(t *testing.T) {
	sc, ok := load(t)["imichat"]
	if !ok {
		t.Fatal("no job imichat")
	}
	if len(sc.Params) > 0 {
		t.Error("job imichat: params: the target comes from each target's __param_target label")
	}
	if _, _, _, err := probecheck.HashmodModulus(sc.RelabelConfigs); err == nil {
		t.Error("job imichat has a hashmod: it is the one without sharding")
	}
	for _, target := range sample(t, sc) {
		probecheck.Check(t, sc.job(), target, "127.0.0.1:9878")
	}
}

const (
	statefulSet = "imichat-exporter"
	service     = "imichat-exporter"
	namespace   = "monitoring"
	port        = 9878
)

func replica(i uint64) string {
	return fmt.Sprintf("%s-%d.%s.%s.svc:%d", statefulSet, i, service, namespace, port)
}

func TestShardedJob(t *testing.T) {
	jobs := load(t)
	sc, ok := jobs["imichat_sharded"]
	if !ok {
		t.Fatal("no job imichat_sharded")
	}
	n, source, _, err := probecheck.HashmodModulus(sc.RelabelConfigs)
	if err != nil {
		t.Fatalf("job %s: %v", sc.JobName, err)
	}
	if !slices.Equal(source, []string{"tenant"}) {
		t.Errorf("job %s: hashmod over %v, want [tenant] alone (the exporter hashes the tenant name)", sc.JobName, source)
	}
	if n != 3 {
		t.Errorf("job %s: modulus %d; the example is for 3 replicas (deploy/kubernetes)", sc.JobName, n)
	}
	hit := map[uint64]bool{}
	for _, target := range sample(t, sc) {
		shard := probecheck.Shard(target.Tenant, n)
		hit[shard] = true
		probecheck.Check(t, sc.job(), target, replica(shard))
	}
	if uint64(len(hit)) != n {
		t.Errorf("the tenants reach %d of %d replicas", len(hit), n)
	}
	// Both variants probe the same targets.
	if got, want := sc.targets(t), jobs["imichat"].targets(t); !slices.Equal(got, want) {
		t.Errorf("job %s targets %v, job imichat %v", sc.JobName, got, want)
	}

	// The exporters' own metrics: every replica once.
	self, ok := jobs["imichat_exporter_sharded"]
	if !ok {
		t.Fatal("no job imichat_exporter_sharded")
	}
	var want, got []string
	for i := range n {
		want = append(want, replica(i))
	}
	for _, st := range self.StaticConfigs {
		got = append(got, st.Targets...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("job %s: targets %v, want %v", self.JobName, got, want)
	}
	if self.MetricsPath != "/metrics" {
		t.Errorf("job %s: metrics_path %s", self.JobName, self.MetricsPath)
	}
}

func TestSelfJob(t *testing.T) {
	sc, ok := load(t)["imichat_exporter"]
	if !ok {
		t.Fatal("no job imichat_exporter")
	}
	if sc.MetricsPath != "/metrics" || len(sc.RelabelConfigs) > 0 {
		t.Errorf("job %s: scrape /metrics as is", sc.JobName)
	}
	var got []string
	for _, st := range sc.StaticConfigs {
		got = append(got, st.Targets...)
	}
	if !slices.Equal(got, []string{"127.0.0.1:9878"}) {
		t.Errorf("job %s: targets %v", sc.JobName, got)
	}
}

// TestMalformedTarget: a target that is not TENANT[/TEAM] gets no tenant, so
// the exporter answers its probe with an error and the target shows up down.
func TestMalformedTarget(t *testing.T) {
	for _, sc := range load(t) {
		if sc.MetricsPath != "/probe" {
			continue
		}
		for _, bad := range []string{"Acme/4711", "acme/47/11", "acme/"} {
			res, err := probecheck.Apply(sc.job(), bad)
			if err != nil {
				t.Errorf("job %s: %v", sc.JobName, err)
				continue
			}
			if got := res.Labels.Get("tenant"); got != "" {
				t.Errorf("job %s, target %q: tenant %q, want none (the exporter answers 400)", sc.JobName, bad, got)
			}
		}
	}
}
