package probecheck

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/relabel"
)

// knownShards were worked out outside Go (Python's hashlib: md5, the last 8
// bytes big-endian, modulo), so that a hashmod computed wrongly the same way
// in Shard and in Prometheus would still be caught.
var knownShards = []struct {
	tenant  string
	modulus uint64
	shard   uint64
}{
	{"acme", 3, 0}, {"umbrella", 3, 1}, {"initech", 3, 2}, {"globex", 3, 0},
	{"acme", 2, 0}, {"globex", 2, 1}, {"acme", 4, 2}, {"initech", 4, 0},
	{"acme", 5, 4}, {"umbrella", 5, 0}, {"z9_-x", 4, 3}, {"a", 5, 2},
}

func TestShardAgainstValuesWorkedOutElsewhere(t *testing.T) {
	for _, k := range knownShards {
		if got := Shard(k.tenant, k.modulus); got != k.shard {
			t.Errorf("Shard(%q, %d) = %d, want %d", k.tenant, k.modulus, got, k.shard)
		}
	}
}

// TestPrometheusHashmodIsShard: Prometheus's hashmod sends each tenant where
// Shard says, for every modulus from 1 to 7.
func TestPrometheusHashmodIsShard(t *testing.T) {
	for n := uint64(1); n <= 7; n++ {
		cfgs, err := ParseRelabelConfigs([]byte(fmt.Sprintf(`
- {source_labels: [__address__], target_label: __param_tenant}
- {source_labels: [__param_tenant], target_label: __tmp_shard, modulus: %d, action: hashmod}
- {source_labels: [__tmp_shard], target_label: __address__, replacement: "replica-$1:9878"}
`, n)))
		if err != nil {
			t.Fatal(err)
		}
		job := Job{Name: "j", Scheme: "http", MetricsPath: "/probe", ScrapeInterval: "1m", ScrapeTimeout: "10s", Relabel: cfgs}
		for _, tenant := range SampleTenants() {
			res, err := Apply(job, tenant)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("replica-%d:9878", Shard(tenant, n)); res.URL.Host != want {
				t.Errorf("tenant %s, modulus %d: Prometheus sends it to %s, Shard to %s", tenant, n, res.URL.Host, want)
			}
		}
	}
}

func TestApply(t *testing.T) {
	job := Job{Name: "j", Scheme: "http", MetricsPath: "/probe", ScrapeInterval: "1m", ScrapeTimeout: "10s"}
	// Without relabelling the target's slash makes it no address.
	if _, err := Apply(job, "acme/1"); err == nil {
		t.Error(`Apply("acme/1") without relabelling: no error`)
	}
	res, err := Apply(job, "host:1")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Labels.Get("instance"); got != "host:1" {
		t.Errorf("instance %q, want the address", got)
	}
	if got := res.URL.String(); got != "http://host:1/probe" {
		t.Errorf("URL %s", got)
	}
	job.Relabel = []*relabel.Config{mustParse(t, "- {source_labels: [__address__], regex: 'x.*', action: drop}")[0]}
	if _, err := Apply(job, "x:1"); err == nil {
		t.Error("a dropped target: no error")
	}
}

func TestParseTarget(t *testing.T) {
	for s, want := range map[string]Target{
		"acme/4711":   {"acme", "4711"},
		"acme":        {"acme", ""},
		"a-b_c/X.y-1": {"a-b_c", "X.y-1"},
	} {
		if got, err := ParseTarget(s); err != nil || got != want || got.String() != s {
			t.Errorf("ParseTarget(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "Acme/1", "acme/", "acme/1/2", "/1", "acme.com/1", "acme/x y"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q): no error", s)
		}
	}
}

func mustParse(t *testing.T, s string) []*relabel.Config {
	t.Helper()
	cfgs, err := ParseRelabelConfigs([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return cfgs
}
