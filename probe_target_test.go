package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// TestProbeTargetForms: target=TENANT/TEAM and target=TENANT, the forms
// of the standard relabelling, read the same team as tenant=&team=; a
// target without a team reads the tenant's first listed team, however
// many it has.
func TestProbeTargetForms(t *testing.T) {
	f := startTwoTenants(t, 17, 11, 13)
	client := &http.Client{}
	cases := []struct {
		query string
		truth *simulator.Tenant
	}{
		{"target=acme/4711", f.acme.org.Team("4711")},
		{"target=acme/4712", f.acme.org.Team("4712")},
		{"target=acme", f.acme.org.Team("4711")}, // the first listed
		{"tenant=acme", f.acme.org.Team("4711")},
		{"target=globex/1", f.globex.org.Team("1")},
		{"target=globex&module=default", f.globex.org.Team("1")}, // module= is ignored
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			r := pull(t, client, f.base+"/probe?"+c.query, "10")
			if r.up(t) != 1 {
				t.Fatalf("imichat_up = 0:\n%s", r.body)
			}
			checkTruth(t, r, c.truth.Counts())
		})
	}
}

// labelNames is, per metric family of a pull, the names of the labels its
// series carry.
func labelNames(r pullResult) map[string]string {
	out := map[string]string{}
	for name, mf := range r.fams {
		var names []string
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(names, lp.GetName()) {
					names = append(names, lp.GetName())
				}
			}
		}
		slices.Sort(names)
		out[name] = strings.Join(names, ",")
	}
	return out
}

// TestReloadAddingATeamKeepsTargets: globex has one team; every form of
// its target answers. A reload adds a second team: every one of those
// targets still answers 200, from the same team, whose state is kept, with
// series of the same label names.
func TestReloadAddingATeamKeepsTargets(t *testing.T) {
	dir := t.TempDir()
	globex := startOrg(t, dir, "globex", map[string]int{"1": 21, "2": 8})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("globex", globex, "", "1"))
	base, _ := startMultiTarget(t, configFile, "--web.enable-lifecycle")
	client := &http.Client{}
	targets := []string{"tenant=globex", "target=globex", "tenant=globex&team=1", "target=globex/1"}
	before := map[string]pullResult{}
	for _, q := range targets {
		before[q] = pull(t, client, base+"/probe?"+q, "10")
	}

	writeConfig(t, configFile, tenantEntry("globex", globex, "", "1", "2"))
	if status, body := reloadViaHTTP(t, base); status != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", status, body)
	}
	for _, q := range targets {
		r := pull(t, client, base+"/probe?"+q, "10") // fails unless 200
		if r.up(t) != 1 {
			t.Errorf("%s after the reload: imichat_up = 0", q)
		}
		checkTruth(t, r, globex.org.Team("1").Counts())
		if got, was := counter(t, r, "imichat_api_responses_total", ok4305), counter(t, before[q], "imichat_api_responses_total", ok4305); got <= was {
			t.Errorf("%s: %v answers counted after the reload, %v before: the team started over", q, got, was)
		}
		got, want := labelNames(r), labelNames(before[q])
		for name, labels := range want {
			if g, ok := got[name]; ok && g != labels {
				t.Errorf("%s: %s has the labels {%s} after the reload, {%s} before", q, name, g, labels)
			}
		}
	}
	r := pull(t, client, base+"/probe?"+url.Values{"target": {"globex/2"}}.Encode(), "10")
	checkTruth(t, r, globex.org.Team("2").Counts())
}
