package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// Multi-target mode: tenants and teams from --config.file, each served on
// /probe, against simulated tenants with several teams each.

// testOrg is a simulated tenant on loopback with its token file.
type testOrg struct {
	org       *simulator.Org
	url       string
	tokenFile string
}

// teamPopulation is n fixed chats of every status and several channels;
// prefix keeps the ids of different teams apart.
func teamPopulation(prefix string, n int, now time.Time) []simulator.Chat {
	statuses := []string{"queued", "picked", "onhold", "closed", "closed"}
	channels := []string{"sms", "livechat", "whatsapp", "email", "facebook"}
	agents := []string{"", "alice@example.com", "bob@example.com", "", "carol@example.com"}
	chats := make([]simulator.Chat, n)
	for i := range chats {
		created := now.Add(-time.Duration(n-i) * time.Minute)
		chats[i] = simulator.Chat{
			ID: fmt.Sprintf("%s%020d", prefix, i), Status: statuses[i%len(statuses)], Channel: channels[(i/3)%len(channels)],
			AssetID: fmt.Sprintf("%d", 100+i%4), AssetName: fmt.Sprintf("asset %d", i%4), Assignee: agents[i%len(agents)],
			CreatedAt: created, UpdatedAt: created.Add(30 * time.Second),
			Tags: []string{[]string{"billing", "sales", "complaint"}[i%3]}, Flag: []string{"", "vip", "urgent", ""}[i%4],
		}
	}
	return chats
}

// startOrg serves a simulated tenant whose teams hold teams[id] chats each.
func startOrg(t *testing.T, dir, name string, teams map[string]int) *testOrg {
	t.Helper()
	return startOrgBehind(t, dir, name, teams, nil)
}

// startOrgBehind is startOrg with the tenant behind a handler of the
// test's (a gate), when wrap is not nil.
func startOrgBehind(t *testing.T, dir, name string, teams map[string]int, wrap func(http.Handler) http.Handler) *testOrg {
	t.Helper()
	token := "token-of-" + name
	cfg := simulator.OrgConfig{Token: token}
	for id := range teams {
		cfg.Teams = append(cfg.Teams, simulator.Config{TeamID: id})
	}
	org := simulator.NewOrg(cfg)
	now := time.Now()
	for id, n := range teams {
		org.Team(id).Add(teamPopulation(name+id, n, now)...)
	}
	var h http.Handler = org
	if wrap != nil {
		h = wrap(org)
	}
	u, stop, err := simulator.Listen(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	tokenFile := filepath.Join(dir, name+".token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testOrg{org: org, url: u, tokenFile: tokenFile}
}

// tenantEntry is one tenant of a configuration file.
func tenantEntry(name string, o *testOrg, extra string, teams ...string) string {
	return fmt.Sprintf("  %s:\n    url: %s\n    access_token_file: %s\n    teams: [%s]\n%s",
		name, o.url, o.tokenFile, `"`+strings.Join(teams, `", "`)+`"`, extra)
}

func writeConfig(t *testing.T, path string, entries ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("tenants:\n"+strings.Join(entries, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startMultiTarget runs the exporter in-process on the configuration file.
func startMultiTarget(t *testing.T, configFile string, extra ...string) (base string, e *testExporter) {
	t.Helper()
	addr := freeAddr(t)
	var args []string
	for _, f := range testExporterFlags {
		name, _, _ := strings.Cut(f, "=")
		if !slices.ContainsFunc(extra, func(e string) bool { return strings.HasPrefix(e, name+"=") }) {
			args = append(args, f)
		}
	}
	args = append(args, "--config.file="+configFile, "--web.listen-address="+addr)
	e = startExporter(t, append(args, extra...))
	base = "http://" + addr
	waitFor(t, base+"/metrics", 10*time.Second)
	return base, e
}

func probeURL(base, tenant, team string) string {
	q := url.Values{}
	if tenant != "" {
		q.Set("tenant", tenant)
	}
	if team != "" {
		q.Set("team", team)
	}
	return base + "/probe?" + q.Encode()
}

// counter reads one series of a pull, failing the test when it is absent.
func counter(t *testing.T, r pullResult, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := r.value(name, labels)
	if !ok {
		t.Fatalf("%s%v is absent", name, labels)
	}
	return v
}

// twoTenants is the usual fixture: acme with teams 4711 and 4712, globex
// with team 1, of the given sizes, and the exporter on a file naming them.
type twoTenants struct {
	acme, globex *testOrg
	base         string
	exporter     *testExporter
}

func startTwoTenants(t *testing.T, acme4711, acme4712, globex1 int) *twoTenants {
	t.Helper()
	dir := t.TempDir()
	f := &twoTenants{
		acme:   startOrg(t, dir, "acme", map[string]int{"4711": acme4711, "4712": acme4712}),
		globex: startOrg(t, dir, "globex", map[string]int{"1": globex1}),
	}
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", f.acme, "", "4711", "4712"), tenantEntry("globex", f.globex, "", "1"))
	f.base, f.exporter = startMultiTarget(t, configFile)
	return f
}

var ok4305 = map[string]string{"status_code": "4305", "http_status": "200"}

func TestProbeServesEachTeamItsOwnTruth(t *testing.T) {
	f := startTwoTenants(t, 57, 23, 31)
	acme, globex, base := f.acme, f.globex, f.base
	client := &http.Client{}

	cases := []struct {
		tenant, team string
		truth        *simulator.Tenant
		org          *simulator.Org
	}{
		{"acme", "4711", acme.org.Team("4711"), acme.org},
		{"acme", "4712", acme.org.Team("4712"), acme.org},
		{"globex", "1", globex.org.Team("1"), globex.org},
		{"globex", "", globex.org.Team("1"), globex.org}, // one team: team may be left out
	}
	seen := map[*simulator.Org]float64{} // answers the exporter has seen, by tenant
	seenOf := map[*simulator.Tenant]float64{}
	for _, c := range cases {
		t.Run(c.tenant+"/"+c.team, func(t *testing.T) {
			r := pull(t, client, probeURL(base, c.tenant, c.team), "10")
			if r.up(t) != 1 {
				t.Fatalf("imichat_up = 0:\n%s", r.body)
			}
			checkTruth(t, r, c.truth.Counts())
			// The team's own requests only: the other team of the
			// tenant has its own counters. (The simulator also counts
			// pages asked for speculatively and abandoned unread.)
			responses := counter(t, r, "imichat_api_responses_total", ok4305)
			if responses < 1 || responses > float64(c.truth.Requests()) {
				t.Errorf("imichat_api_responses_total = %v: not this team's (%d requests)", responses, c.truth.Requests())
			}
			// The tenant's quota headers count every team's requests.
			seen[c.org] += responses - seenOf[c.truth]
			seenOf[c.truth] = responses
			if remaining := counter(t, r, "imichat_api_rate_limit_remaining", nil); remaining > 10000-seen[c.org] {
				t.Errorf("imichat_api_rate_limit_remaining = %v, but the tenant's teams have had %v answers", remaining, seen[c.org])
			}
		})
	}

	// /metrics holds the exporter's own metrics, not a team's.
	r := pull(t, client, base+"/metrics", "10")
	if v := counter(t, r, "imichat_exporter_config_last_reload_successful", nil); v != 1 {
		t.Errorf("imichat_exporter_config_last_reload_successful = %v", v)
	}
	if v := counter(t, r, "imichat_exporter_config_last_reload_success_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("imichat_exporter_config_last_reload_success_timestamp_seconds = %v", v)
	}
	for _, name := range []string{"imichat_up", "imichat_chats", "imichat_api_responses_total"} {
		if _, present := r.fams[name]; present {
			t.Errorf("/metrics serves %s in multi-target mode", name)
		}
	}
}

func TestProbeRefusesWhatTheConfigDoesNotName(t *testing.T) {
	f := startTwoTenants(t, 5, 5, 5)
	acme, globex, base := f.acme, f.globex, f.base
	before := acme.org.Requests() + globex.org.Requests()

	cases := []struct {
		name, query, reason string
	}{
		{"no parameters", "", "missing parameter tenant"},
		{"no tenant", "team=4711", "missing parameter tenant"},
		{"unknown tenant", "tenant=initech&team=1", `unknown tenant "initech"`},
		{"unknown team", "tenant=acme&team=9999", `unknown team "9999" of tenant "acme"`},
		{"team of another tenant", "tenant=globex&team=4711", `unknown team "4711" of tenant "globex"`},
		{"an address as the tenant", "tenant=" + url.QueryEscape(acme.url), "unknown tenant"},
		{"an address as the target", "target=" + url.QueryEscape(acme.url), "unknown tenant"},
		{"an empty team in the target", "target=acme/", `target "acme/" is not TENANT/TEAM or TENANT`},
		{"no tenant in the target", "target=/4711", `target "/4711" is not TENANT/TEAM or TENANT`},
		{"unknown team in the target", "target=acme/9999", `unknown team "9999" of tenant "acme"`},
		{"a team below a team", "target=acme/4711/1", `unknown team "4711/1" of tenant "acme"`},
		{"target and tenant", "target=acme/4711&tenant=acme", "not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(base + "/probe?" + c.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("HTTP %d, want 400", resp.StatusCode)
			}
			if got := strings.TrimSpace(string(body)); !strings.Contains(got, c.reason) || strings.Contains(got, "\n") {
				t.Errorf("body %q: want one line with %q", got, c.reason)
			}
		})
	}
	if after := acme.org.Requests() + globex.org.Requests(); after != before {
		t.Errorf("the refused probes made %d upstream requests", after-before)
	}
}

func TestExpiredTokenOfOneTenantLeavesTheOthersExact(t *testing.T) {
	f := startTwoTenants(t, 40, 12, 33)
	acme, globex, base := f.acme, f.globex, f.base
	client := &http.Client{}
	for _, target := range [][2]string{{"acme", "4711"}, {"acme", "4712"}, {"globex", "1"}} {
		if pull(t, client, probeURL(base, target[0], target[1]), "10").up(t) != 1 {
			t.Fatalf("%v: not up before the token expired", target)
		}
	}

	acme.org.ExpireToken()
	expired := map[string]string{"status_code": "2004", "http_status": "401"}
	for _, team := range []string{"4711", "4712"} {
		r := pull(t, client, probeURL(base, "acme", team), "10")
		if r.up(t) != 0 {
			t.Errorf("acme/%s: imichat_up 1 with an expired token", team)
		}
		if len(r.chatGauges()) != 0 {
			t.Errorf("acme/%s: chat gauges served with an expired token: %v", team, r.chatGauges())
		}
		if v, _ := r.value("imichat_api_responses_total", expired); v < 1 {
			t.Errorf("acme/%s: status 2004 not counted:\n%s", team, r.body)
		}
	}
	// A new token in acme's file: its teams read again, no reload needed.
	acme.org.SetToken("token-of-acme-rotated")
	if err := os.WriteFile(acme.tokenFile, []byte("token-of-acme-rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, team := range []string{"4711", "4712"} {
		r := pull(t, client, probeURL(base, "acme", team), "10")
		if r.up(t) != 1 {
			t.Errorf("acme/%s: imichat_up 0 after the token file was rewritten:\n%s", team, r.body)
		}
		checkTruth(t, r, acme.org.Team(team).Counts())
	}
	// Add a chat to globex: its numbers keep following its truth.
	globex.org.Team("1").Add(teamPopulation("late", 3, time.Now())...)
	r := pull(t, client, probeURL(base, "globex", "1"), "10")
	if r.up(t) != 1 {
		t.Fatalf("globex: imichat_up 0 after acme's token expired:\n%s", r.body)
	}
	checkTruth(t, r, globex.org.Team("1").Counts())
	if v, _ := r.value("imichat_api_responses_total", expired); v != 0 {
		t.Errorf("globex counts acme's 2004s: %v", v)
	}
}

// reloadViaHTTP posts to /-/reload and returns the status and body.
func reloadViaHTTP(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestReloadKeepsTheStateOfWhatDidNotChange(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 30, "4712": 20})
	globex := startOrg(t, dir, "globex", map[string]int{"1": 25})
	initech := startOrg(t, dir, "initech", map[string]int{"7": 15})
	umbrella := startOrg(t, dir, "umbrella", map[string]int{"1": 11})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile,
		tenantEntry("acme", acme, "", "4711", "4712"),
		tenantEntry("globex", globex, "", "1"),
		tenantEntry("umbrella", umbrella, "", "1"))
	base, e := startMultiTarget(t, configFile, "--web.enable-lifecycle")
	client := &http.Client{}
	probe := func(tenant, team string) pullResult { return pull(t, client, probeURL(base, tenant, team), "10") }
	requests := func(r pullResult) float64 { return counter(t, r, "imichat_api_responses_total", ok4305) }

	var before = map[string]float64{}
	for _, target := range [][2]string{{"acme", "4711"}, {"acme", "4712"}, {"globex", "1"}, {"umbrella", "1"}} {
		probe(target[0], target[1])
		before[target[0]+"/"+target[1]] = requests(probe(target[0], target[1]))
	}

	// An invalid file: the running configuration stays, and says why.
	if err := os.WriteFile(configFile, []byte("tenants:\n  acme:\n    url: "+acme.url+"\n    no_such_field: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body := reloadViaHTTP(t, base)
	if status != http.StatusInternalServerError || !strings.Contains(body, "no_such_field") {
		t.Errorf("invalid file: HTTP %d %q, want 500 naming the field", status, body)
	}
	if v := counter(t, pull(t, client, base+"/metrics", "10"), "imichat_exporter_config_last_reload_successful", nil); v != 0 {
		t.Errorf("imichat_exporter_config_last_reload_successful = %v after an invalid file", v)
	}
	if n := strings.Count(e.logs.String(), "reloading the configuration failed"); n != 1 {
		t.Errorf("%d log lines for the failed reload, want 1:\n%s", n, e.logs.String())
	}
	if r := probe("umbrella", "1"); r.up(t) != 1 || requests(r) <= before["umbrella/1"] {
		t.Errorf("umbrella lost its state after an invalid file")
	}

	// acme: one team removed; globex: a setting of its teams changed;
	// umbrella: removed; initech: added.
	writeConfig(t, configFile,
		tenantEntry("acme", acme, "", "4711"),
		tenantEntry("globex", globex, "    lookback: 876001h\n", "1"),
		tenantEntry("initech", initech, "", "7"))
	if status, body := reloadViaHTTP(t, base); status != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", status, body)
	}
	if v := counter(t, pull(t, client, base+"/metrics", "10"), "imichat_exporter_config_last_reload_successful", nil); v != 1 {
		t.Errorf("imichat_exporter_config_last_reload_successful = %v after a good file", v)
	}

	// Unchanged: the same refresher, counters and all: more requests
	// counted than this one refresh made.
	pagesOfLastRefresh := func(r pullResult) float64 { return counter(t, r, "imichat_last_refresh_pages", nil) }
	r := probe("acme", "4711")
	if got := requests(r); got <= before["acme/4711"] || got == pagesOfLastRefresh(r) {
		t.Errorf("acme/4711 started over: %v requests counted, %v before the reload", got, before["acme/4711"])
	}
	checkTruth(t, r, acme.org.Team("4711").Counts())
	// Changed: a new refresher, whose counters hold its first refresh
	// only, exact from its first probe.
	r = probe("globex", "1")
	if got := requests(r); got > pagesOfLastRefresh(r) {
		t.Errorf("globex/1 kept its state although its lookback changed: %v requests counted, %v in its last refresh", got, pagesOfLastRefresh(r))
	}
	checkTruth(t, r, globex.org.Team("1").Counts())
	// Added.
	r = probe("initech", "7")
	if r.up(t) != 1 {
		t.Fatalf("initech not up")
	}
	checkTruth(t, r, initech.org.Team("7").Counts())
	// Removed: refused, and no longer read.
	for _, target := range [][2]string{{"acme", "4712"}, {"umbrella", "1"}} {
		resp, err := http.Get(probeURL(base, target[0], target[1]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%v after its removal: HTTP %d, want 400", target, resp.StatusCode)
		}
	}
	if n := acme.org.Team("4712").Requests(); n == 0 {
		t.Fatal("acme/4712 was never read")
	}
}

func TestSlowTenantDoesNotHoldBackTheOthers(t *testing.T) {
	dir := t.TempDir()
	var gate *pageGate
	slow := startOrgBehind(t, dir, "slow", map[string]int{"1": 20}, func(h http.Handler) http.Handler {
		gate = newPageGate(h)
		return gate
	})
	fast := startOrg(t, dir, "fast", map[string]int{"1": 44})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("slow", slow, "", "1"), tenantEntry("fast", fast, "", "1"))
	base, _ := startMultiTarget(t, configFile)
	client := &http.Client{}

	// The slow tenant's API stops answering; a probe of it is in flight,
	// its refresh held at the gate.
	gate.Hold()
	defer gate.Release()
	slowDone := make(chan pullResult, 1)
	go func() { slowDone <- pull(t, client, probeURL(base, "slow", "1"), "30") }()
	select {
	case <-gate.arrived:
	case <-time.After(10 * time.Second): // a bound for a broken test, not a measurement
		t.Fatal("the slow tenant's probe never reached its API")
	}
	// Meanwhile the other tenant answers in full, exact.
	for range 3 {
		r := pull(t, client, probeURL(base, "fast", "1"), "10")
		if r.up(t) != 1 {
			t.Fatalf("fast tenant not up while the slow one hangs:\n%s", r.body)
		}
		checkTruth(t, r, fast.org.Team("1").Counts())
	}
	// A probe of the slow tenant with Prometheus's timeout header answers
	// within it, while its API still hangs: imichat_up 0, no chat gauges.
	if r := pull(t, client, probeURL(base, "slow", "1"), "1"); r.up(t) != 0 || len(r.chatGauges()) != 0 {
		t.Errorf("slow tenant's probe with a 1 s timeout: up %v, chat gauges %v", r.up(t), r.chatGauges())
	}
	select {
	case <-slowDone:
		t.Fatal("the slow tenant's probe answered before its API did: the order this test relies on is broken")
	default:
	}
	gate.Release()
	if r := <-slowDone; r.up(t) != 1 {
		t.Errorf("slow tenant not up once its API answered:\n%s", r.body)
	}
}

func TestConfigFileFlags(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "acme.token")
	os.WriteFile(tokenFile, []byte("secret-acme-token\n"), 0o600)
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("tenants:\n  acme:\n    url: https://acme.imi.chat\n    access_token_file: acme.token\n    teams: [\"4711\"]\n"), 0o600)
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("tenants:\n  acme:\n    url: https://acme.imi.chat\n    access_token_file: acme.token\n    teams: [\"4711\"]\n    token: x\n"), 0o600)
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"config file", []string{"--config.file=" + good}, nil, ""},
		{"config file and shard", []string{"--config.file=" + good, "--config.shard=1/3"}, nil, ""},
		{"and a url", []string{"--config.file=" + good, "--imichat.url=https://acme.imi.chat"}, nil, "--config.file names the tenants"},
		{"and a team", []string{"--config.file=" + good, "--imichat.team-id=4711"}, nil, "--config.file names the tenants"},
		{"and a token file", []string{"--config.file=" + good, "--imichat.access-token-file=" + tokenFile}, nil, "--config.file names the tenants"},
		{"and a token in the environment", []string{"--config.file=" + good}, map[string]string{tokenEnv: "s"}, "--config.file names the tenants"},
		{"and the demo", []string{"--config.file=" + good, "--demo"}, nil, "--config.file names the tenants"},
		{"missing file", []string{"--config.file=" + filepath.Join(dir, "none.yml")}, nil, "no such file"},
		{"unknown field", []string{"--config.file=" + bad}, nil, "field token not found"},
		{"shard without a file", []string{"--config.shard=0/2", "--demo"}, nil, "--config.shard needs --config.file"},
		{"lifecycle", []string{"--config.file=" + good, "--web.enable-lifecycle"}, nil, ""},
		{"lifecycle without a file", []string{"--web.enable-lifecycle", "--demo"}, nil, "--web.enable-lifecycle needs --config.file"},
		{"shard out of range", []string{"--config.file=" + good, "--config.shard=3/3"}, nil, "--config.shard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			_, err := parseFlags(c.args, lookup)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			case err != nil && strings.Contains(err.Error(), "secret-acme-token"):
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// TestSIGHUPReloads runs the binary: a new tenant in the file is served
// after SIGHUP, and an invalid file afterwards keeps it.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 12})
	globex := startOrg(t, dir, "globex", map[string]int{"1": 9})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"))
	addr := freeAddr(t)
	p := startBinary(t, append(append([]string{}, testExporterFlags...), "--config.file="+configFile, "--web.listen-address="+addr)...)
	base := "http://" + addr
	waitFor(t, probeURL(base, "acme", "4711"), 20*time.Second)

	probeStatus := func() int {
		resp, err := http.Get(probeURL(base, "globex", "1"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := probeStatus(); s != http.StatusBadRequest {
		t.Fatalf("globex before it is configured: HTTP %d", s)
	}
	writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"), tenantEntry("globex", globex, "", "1"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, probeURL(base, "globex", "1"), 20*time.Second)

	os.WriteFile(configFile, []byte("tenants: [\n"), 0o600)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // a bound for a broken exporter
	for !strings.Contains(p.stderr.String(), "reloading the configuration failed") {
		if time.Now().After(deadline) {
			t.Fatal("no log line for the invalid file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := probeStatus(); s != http.StatusOK {
		t.Errorf("globex after an invalid file: HTTP %d, want the running configuration kept", s)
	}
}

// TestTwoServersProbingOneTeamCostOneRefresh: the probes of an HA pair of
// Prometheus servers, within --imichat.min-refresh-interval of each other,
// share one refresh.
func TestTwoServersProbingOneTeamCostOneRefresh(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 35})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"))
	base, _ := startMultiTarget(t, configFile, "--imichat.min-refresh-interval=1h")
	client := &http.Client{}
	first := pull(t, client, probeURL(base, "acme", "4711"), "10")
	if first.up(t) != 1 {
		t.Fatalf("not up:\n%s", first.body)
	}
	before := acme.org.Requests()
	second := pull(t, client, probeURL(base, "acme", ""), "10") // the other server's target may leave the team out
	if got := acme.org.Requests(); got != before {
		t.Errorf("the second server's probe made %d requests", got-before)
	}
	checkTruth(t, second, acme.org.Team("4711").Counts())
	if v := counter(t, second, "imichat_refresh_skipped_total", map[string]string{"reason": "min_interval"}); v != 1 {
		t.Errorf("imichat_refresh_skipped_total{reason=\"min_interval\"} = %v, want 1", v)
	}
}
