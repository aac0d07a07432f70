// Package probecheck applies a scrape job's relabelling to multi-target
// targets ("TENANT/TEAM" or "TENANT") the way Prometheus does, and checks
// what comes out: the /probe query, the tenant and team labels, the instance
// and the address of the exporter replica that owns the tenant.
//
// The relabelling itself is Prometheus's (github.com/prometheus/prometheus/
// model/relabel); what Prometheus does around it (the labels a static target
// starts with, the checks on the address, instance defaulting to the
// address, the query from __param_* labels) follows
// scrape.PopulateLabels and scrape.Target.URL, which this package does not
// import: they pull in most of Prometheus.
package probecheck

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"go.yaml.in/yaml/v2"
)

// Shard is the replica that owns tenant among n, computed here without
// Prometheus's code: the md5 of the tenant name, its last 8 bytes as a
// big-endian unsigned integer, modulo n. It is what Prometheus's hashmod
// gives for source_labels [tenant] and what the exporter's
// --config.shard must agree with.
func Shard(tenant string, n uint64) uint64 {
	sum := md5.Sum([]byte(tenant))
	return binary.BigEndian.Uint64(sum[8:]) % n
}

// ParseRelabelConfigs decodes a YAML list of relabel configs as Prometheus
// does (strictly, with its defaults) and validates each one with the legacy
// label name rules, which every Prometheus version accepts.
func ParseRelabelConfigs(data []byte) ([]*relabel.Config, error) {
	var cfgs []*relabel.Config
	if err := yaml.UnmarshalStrict(data, &cfgs); err != nil {
		return nil, err
	}
	for i, c := range cfgs {
		if c == nil {
			return nil, fmt.Errorf("relabel config %d is empty", i)
		}
		if err := c.Validate(model.LegacyValidation); err != nil {
			return nil, fmt.Errorf("relabel config %d: %w", i, err)
		}
	}
	return cfgs, nil
}

// Job is what a scrape job gives every static target before relabelling.
type Job struct {
	Name           string // the job_name, as Prometheus gets it
	Scheme         string // http or https
	MetricsPath    string
	ScrapeInterval string
	ScrapeTimeout  string
	Relabel        []*relabel.Config
}

// Result is a target after relabelling.
type Result struct {
	Labels labels.Labels // the target's labels, meta labels (__meta_*) removed
	URL    *url.URL      // what Prometheus scrapes
}

// Apply relabels the static target addr of job as Prometheus does. It fails
// where Prometheus would drop the target or refuse it.
func Apply(job Job, addr string) (Result, error) {
	lb := labels.NewBuilder(labels.FromStrings(
		model.AddressLabel, addr,
		model.JobLabel, job.Name,
		model.SchemeLabel, job.Scheme,
		model.MetricsPathLabel, job.MetricsPath,
		model.ScrapeIntervalLabel, job.ScrapeInterval,
		model.ScrapeTimeoutLabel, job.ScrapeTimeout,
	))
	if !relabel.ProcessBuilder(lb, job.Relabel...) {
		return Result{}, fmt.Errorf("target %q is dropped", addr)
	}
	address := lb.Get(model.AddressLabel)
	if address == "" {
		return Result{}, fmt.Errorf("target %q: no address", addr)
	}
	if strings.Contains(address, "/") {
		return Result{}, fmt.Errorf("target %q: %q is not a valid hostname", addr, address)
	}
	// Prometheus deletes the meta labels after relabelling; the other
	// labels starting with "__" (__tmp_*, __param_*, …) stay on the target
	// but reach no series.
	lb.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, model.MetaLabelPrefix) {
			lb.Del(l.Name)
		}
	})
	if lb.Get(model.InstanceLabel) == "" {
		lb.Set(model.InstanceLabel, address)
	}
	ls := lb.Labels()
	q := url.Values{}
	ls.Range(func(l labels.Label) {
		if name, ok := strings.CutPrefix(l.Name, model.ParamLabelPrefix); ok {
			q.Set(name, l.Value)
		}
	})
	return Result{
		Labels: ls,
		URL: &url.URL{
			Scheme:   ls.Get(model.SchemeLabel),
			Host:     address,
			Path:     ls.Get(model.MetricsPathLabel),
			RawQuery: q.Encode(),
		},
	}, nil
}

// Target is one multi-target target: a tenant and a team, or a tenant
// alone for its default team.
type Target struct {
	Tenant, Team string
}

// String is the target as written in the scrape config.
func (t Target) String() string {
	if t.Team == "" {
		return t.Tenant
	}
	return t.Tenant + "/" + t.Team
}

var (
	tenantName = regexp.MustCompile(`^[a-z0-9_-]+$`)
	teamID     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`) // as the exporter's config
)

// ParseTarget splits "TENANT/TEAM" or "TENANT".
func ParseTarget(s string) (Target, error) {
	tenant, team, hasTeam := strings.Cut(s, "/")
	if !tenantName.MatchString(tenant) {
		return Target{}, fmt.Errorf("target %q: tenant %q is not [a-z0-9_-]+", s, tenant)
	}
	if hasTeam && !teamID.MatchString(team) {
		return Target{}, fmt.Errorf("target %q: team %q is not [A-Za-z0-9_.-]{1,64}", s, team)
	}
	return Target{Tenant: tenant, Team: team}, nil
}

// Check applies job to target and asserts that Prometheus probes
// wantAddress (host:port) at GET /probe?target=TENANT[/TEAM], with the
// labels job, instance (the target as written), tenant and team (none when
// the target has no team), and no other.
func Check(t testing.TB, job Job, target Target, wantAddress string) {
	t.Helper()
	res, err := Apply(job, target.String())
	if err != nil {
		t.Errorf("job %s: %v", job.Name, err)
		return
	}
	ls := res.Labels
	wantQuery := url.Values{"target": {target.String()}}
	if got := res.URL.Host; got != wantAddress {
		t.Errorf("job %s, target %s: __address__ = %q, want %q", job.Name, target, got, wantAddress)
	}
	if _, _, err := net.SplitHostPort(res.URL.Host); err != nil {
		t.Errorf("job %s, target %s: __address__ %q is not host:port: %v", job.Name, target, res.URL.Host, err)
	}
	if got := res.URL.Path; got != "/probe" {
		t.Errorf("job %s, target %s: path %q, want /probe", job.Name, target, got)
	}
	if got := res.URL.Query(); got.Encode() != wantQuery.Encode() {
		t.Errorf("job %s, target %s: query %q, want %q", job.Name, target, got.Encode(), wantQuery.Encode())
	}
	if got := ls.Get("__param_target"); got != target.String() {
		t.Errorf("job %s, target %s: __param_target = %q, want %q", job.Name, target, got, target.String())
	}
	want := map[string]string{
		model.InstanceLabel: target.String(),
		"tenant":            target.Tenant,
	}
	if target.Team != "" {
		want["team"] = target.Team
	}
	got := map[string]string{}
	ls.Range(func(l labels.Label) {
		if !strings.HasPrefix(l.Name, model.ReservedLabelPrefix) && l.Name != model.JobLabel {
			got[l.Name] = l.Value
		}
	})
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("job %s, target %s: labels %v, want %v", job.Name, target, got, want)
	}
}

// HashmodModulus returns the modulus of the only hashmod rule of cfgs, its
// source labels and its target label.
func HashmodModulus(cfgs []*relabel.Config) (modulus uint64, source []string, target string, err error) {
	n := 0
	for _, c := range cfgs {
		if c.Action != relabel.HashMod {
			continue
		}
		n++
		modulus, target = c.Modulus, c.TargetLabel
		source = nil
		for _, s := range c.SourceLabels {
			source = append(source, string(s))
		}
	}
	if n != 1 {
		return 0, nil, "", fmt.Errorf("%d hashmod rules, want 1", n)
	}
	return modulus, source, target, nil
}

// SampleTenants is a spread of valid tenant names beyond the examples: with
// them every shard of a small modulus gets tenants.
func SampleTenants() []string {
	tenants := []string{"a", "0", "z9_-x", "acme", "globex", "initech", "umbrella", "hooli", "massive-dynamic", "vandelay_industries"}
	for i := range 64 {
		tenants = append(tenants, "tenant-"+strconv.Itoa(i))
	}
	sort.Strings(tenants)
	return tenants
}
