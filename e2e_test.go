//go:build e2e

package main

// The end-to-end test of issue 4: a real Prometheus and a real Alertmanager on
// 127.0.0.1, Prometheus scraping this exporter (run in-process) which reads a
// simulated tenant. It runs every dashboard panel's query against that
// Prometheus and requires data from each, then drives the tenant to an
// expired token and to a long queue and watches the matching alerts arrive in
// Alertmanager's /api/v2/alerts and go away again.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

const (
	e2eRulesFile     = "alerts/imichat.rules.yml"
	e2eDashboardFile = "dashboards/imichat-overview.json"
	e2eJob           = "imichat" // the scrape job; ImichatExporterDown matches job=~".*imichat.*"
	e2eTeamID        = "4711"

	// Grafana's $__rate_interval is max($__interval + scrape interval,
	// 4 × scrape interval): with a 1 s scrape that is 4 s; 5 s leaves a sample
	// to spare.
	e2eRateInterval = "5s"

	e2eServerStartTimeout = 30 * time.Second // a server's /-/ready
	e2eFirstScrapesBound  = 30 * time.Second // a few scrapes with imichat_up 1
	e2ePanelsBound        = 30 * time.Second // every panel has data
	e2eAlertExtraBound    = 45 * time.Second // on top of the rule's for:
	e2eAlertClearBound    = 30 * time.Second // a resolved alert leaves Alertmanager

	// The alerts the test drives; their thresholds and for: durations are read
	// from the rules file, so that changing a documented default does not
	// silently make the test drive the tenant below it.
	e2eAlertTokenExpired = "ImichatAccessTokenExpired"
	e2eAlertTooMany      = "ImichatTooManyChatsQueued"
	e2eAlertTooLong      = "ImichatChatQueuedTooLong"
)

// TestEndToEndPrometheusAlertmanager needs Debian's prometheus and
// prometheus-alertmanager on PATH, and runs only with -tags e2e (make test
// sets it), so that go test ./... passes on a machine without them. With the
// tag it fails, never skips, without them: a skipped test must not stand in
// for a missing tool.
func TestEndToEndPrometheusAlertmanager(t *testing.T) {
	testStart := time.Now()
	promBin := e2eLookPath(t, "prometheus", "prometheus")
	amBin := e2eLookPath(t, "prometheus-alertmanager", "prometheus-alertmanager")

	rules := e2eLoadRules(t)
	tooMany := rules.get(t, e2eAlertTooMany)
	tooManyThreshold := tooMany.threshold(t)
	tooLong := rules.get(t, e2eAlertTooLong)
	tooLongThreshold := time.Duration(tooLong.threshold(t) * float64(time.Second))
	tokenRule := rules.get(t, e2eAlertTokenExpired)

	// --- The tenant: a fixed population that gives every panel data, below
	// the queue alerts' thresholds.
	now := time.Now()
	initial := e2ePopulation(now)
	queued, oldestQueued := 0, now
	for _, c := range initial {
		if c.Status == "queued" {
			queued++
			if c.CreatedAt.Before(oldestQueued) {
				oldestQueued = c.CreatedAt
			}
		}
	}
	if float64(queued) >= tooManyThreshold {
		t.Fatalf("the initial population has %d queued chats: it must stay below %s's threshold %v", queued, e2eAlertTooMany, tooManyThreshold)
	}
	// The oldest queued chat must stay younger than the threshold for the
	// whole test (3 minutes at most), so that ImichatChatQueuedTooLong stays quiet.
	if age := now.Sub(oldestQueued); age+3*time.Minute >= tooLongThreshold {
		t.Fatalf("the oldest initially queued chat is %v old: with %s's threshold of %v it could fire during the test", age, e2eAlertTooLong, tooLongThreshold)
	}

	token := "e2e-token-" + strconv.FormatInt(now.UnixNano(), 36)
	tenant := simulator.New(simulator.Config{
		Token: token, TeamID: e2eTeamID, Seed: 4,
		// One scrape a second walks a few pages: far above the documented
		// 10,000 a day. A large quota keeps the projection of
		// ImichatQuotaExhaustionPredicted positive, and lets the exporter's
		// quota pacing re-read the whole (small) list on every refresh, so
		// that closing chats below the newest ones is seen at once.
		QuotaPerDay: 10_000_000,
	})
	tenant.Replace(initial...)
	upstreamURL, stopUpstream, err := simulator.Listen(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopUpstream)

	tmp := t.TempDir()
	tokenFile := filepath.Join(tmp, "token")
	e2eWriteToken(t, tokenFile, token)

	// --- The exporter, in-process.
	exporterAddr := freeAddr(t)
	// Every flag the exporter gets, in one place. Every scrape must read the
	// tenant again, or the phases below wait for a refresh that the quota
	// pacing postpones.
	e2eExporterFlags := []string{
		"--imichat.url=" + upstreamURL,
		"--imichat.team-id=" + e2eTeamID,
		"--imichat.access-token-file=" + tokenFile,
		"--web.listen-address=" + exporterAddr,
		"--imichat.min-refresh-interval=0s",
	}
	e2eStartExporter(t, e2eExporterFlags, exporterAddr)

	// --- Alertmanager and Prometheus, on loopback.
	amDir := filepath.Join(tmp, "alertmanager")
	promDir := filepath.Join(tmp, "prometheus")
	for _, d := range []string{amDir, promDir} {
		if err := os.MkdirAll(filepath.Join(d, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e2eWriteFile(t, filepath.Join(amDir, "alertmanager.yml"), `route:
  receiver: "null"
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1m
receivers:
  - name: "null"
`)
	amAddr := e2eStartServer(t, "alertmanager", amBin, amDir, func(addr string) []string {
		return []string{
			"--config.file=" + filepath.Join(amDir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(amDir, "data"),
			"--web.listen-address=" + addr,
			"--web.external-url=http://" + addr + "/",
			"--cluster.listen-address=", // no clustering: no gossip port
			"--log.level=debug",
		}
	})
	prom := e2eStartPrometheus(t, promBin, promDir, e2eScrapeConfig(t, exporterAddr, amAddr), "--rules.alert.resend-delay=1s")
	promAddr := strings.TrimPrefix(prom.base, "http://")
	am := &e2eAM{t: t, base: "http://" + amAddr, job: e2eJob, instance: exporterAddr}
	serversUp := time.Now()
	t.Logf("servers up after %v: tenant %s, exporter %s, alertmanager %s, prometheus %s",
		serversUp.Sub(testStart).Round(time.Millisecond), upstreamURL, exporterAddr, amAddr, promAddr)

	// --- Phase 1: every dashboard panel has data.
	phase1 := time.Now()
	e2eAwaitGoodScrapes(t, prom)
	t.Logf("phase 1: 3 good scrapes after %v", time.Since(phase1).Round(time.Millisecond))
	e2eServiceChats(tenant)
	// The reload panels are multi-target mode's: TestEndToEndMultiTarget
	// checks them.
	panels := e2eRequirePanelData(t, prom, e2eDashboardQueries(t, nil), func(promql string) bool {
		return !strings.Contains(promql, "imichat_exporter_config_")
	})
	// Nothing fires, or is even pending, on a healthy tenant below every threshold.
	if alerts, err := prom.alerts(); err != nil {
		t.Fatalf("Prometheus /api/v1/alerts: %v", err)
	} else if len(alerts) > 0 {
		t.Fatalf("on a healthy tenant below every threshold Prometheus already has alerts: %v", alerts)
	}
	phase1Took := time.Since(phase1)
	t.Logf("phase 1: all %d panel queries have data, no alert pending, after %v", len(panels), phase1Took.Round(time.Millisecond))

	// --- Phase 2: the token expires, the alert arrives; a new token clears it.
	expired := time.Now()
	tenant.ExpireToken()
	am.waitFor(e2eAlertTokenExpired, tokenRule.forDuration+e2eAlertExtraBound, prom)
	tokenArrived := time.Since(expired)
	t.Logf("phase 2: %s in Alertmanager %v after the token expired", e2eAlertTokenExpired, tokenArrived.Round(time.Millisecond))

	renewed := time.Now()
	newToken := token + "-renewed" // another length: the file's size changes too
	tenant.SetToken(newToken)      // first the tenant, so that no scrape sees 2003
	e2eWriteToken(t, tokenFile, newToken)
	am.waitGone(e2eAlertTokenExpired, e2eAlertClearBound, prom)
	tokenCleared := time.Since(renewed)
	t.Logf("phase 2: %s gone from Alertmanager %v after the token file was rewritten", e2eAlertTokenExpired, tokenCleared.Round(time.Millisecond))

	// --- Phase 3: the queue grows past the threshold, then empties.
	burst := make([]simulator.Chat, int(tooManyThreshold)+5-queued)
	for i := range burst {
		burst[i] = simulator.Chat{
			ID:      fmt.Sprintf("e2eburst%016d", i),
			Status:  "queued",
			Channel: []string{"whatsapp", "sms", "livechat"}[i%3],
			AssetID: "9" + strconv.Itoa(i%3), AssetName: "Burst asset " + strconv.Itoa(i%3),
			CustomerID: fmt.Sprintf("burst-customer-%d", i), DestinationID: "+4915100000000",
		}
	}
	grown := time.Now()
	tenant.Add(burst...)
	am.waitFor(e2eAlertTooMany, tooMany.forDuration+e2eAlertExtraBound, prom)
	queueArrived := time.Since(grown)
	t.Logf("phase 3: %s in Alertmanager %v after %d chats were queued (rule for: %v)", e2eAlertTooMany, queueArrived.Round(time.Millisecond), queued+len(burst), tooMany.forDuration)

	drained := time.Now()
	for _, c := range burst {
		if !tenant.SetStatus(c.ID, "closed") {
			t.Fatalf("simulator lost chat %s", c.ID)
		}
	}
	am.waitGone(e2eAlertTooMany, e2eAlertClearBound, prom)
	queueCleared := time.Since(drained)
	t.Logf("phase 3: %s gone from Alertmanager %v after the chats were closed", e2eAlertTooMany, queueCleared.Round(time.Millisecond))

	t.Logf("timings: servers up %v; phase 1 (every panel has data) %v; token expired → alert %v, renewed → gone %v; queue over %v → alert %v, closed → gone %v; total %v",
		serversUp.Sub(testStart).Round(time.Millisecond), phase1Took.Round(time.Millisecond),
		tokenArrived.Round(time.Millisecond), tokenCleared.Round(time.Millisecond),
		tooManyThreshold, queueArrived.Round(time.Millisecond), queueCleared.Round(time.Millisecond),
		time.Since(testStart).Round(time.Millisecond))
}

// e2ePopulation is the tenant's initial population: every status, channels,
// assets, agents, tags and flags, so that every dashboard panel has data;
// few queued chats, none of them old.
func e2ePopulation(now time.Time) []simulator.Chat {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	chat := func(id, status, channel, assetID, assetName, assignee, flag string, created time.Duration, tags ...string) simulator.Chat {
		return simulator.Chat{
			ID: id, AliasID: "alias-" + id, Status: status, Channel: channel,
			AssetID: assetID, AssetName: assetName, Assignee: assignee, Flag: flag,
			CreatedAt: ago(created), UpdatedAt: ago(created / 2), Tags: tags,
			CustomerID: "customer-" + id, DestinationID: "+4915112345678",
		}
	}
	return []simulator.Chat{
		chat("e2equeued0000000000000001", "queued", "sms", "1001", "Support SMS", "", "vip", 3*time.Minute, "billing"),
		chat("e2equeued0000000000000002", "queued", "livechat", "web-1", "Website chat", "", "", 2*time.Minute, "sales", "new"),
		chat("e2equeued0000000000000003", "queued", "whatsapp", "wa-1", "WhatsApp Business", "", "urgent", 90*time.Second),
		chat("e2equeued0000000000000004", "queued", "facebook", "2002", "Facebook page", "", "", time.Minute, "billing"),
		chat("e2equeued0000000000000005", "queued", "email", "mail-1", "support@example.com", "", "", 30*time.Second),
		chat("e2epicked0000000000000001", "picked", "sms", "1001", "Support SMS", "alice@example.com", "vip", 20*time.Minute, "billing"),
		chat("e2epicked0000000000000002", "picked", "livechat", "web-1", "Website chat", "bob@example.com", "", 15*time.Minute, "sales"),
		chat("e2epicked0000000000000003", "picked", "whatsapp", "wa-1", "WhatsApp Business", "alice@example.com", "", 12*time.Minute),
		chat("e2epicked0000000000000004", "picked", "twitter", "3003", "Twitter handle", "carol@example.com", "urgent", 8*time.Minute, "complaint"),
		chat("e2eonhold0000000000000001", "onhold", "email", "mail-1", "support@example.com", "bob@example.com", "", 40*time.Minute, "billing"),
		chat("e2eonhold0000000000000002", "onhold", "abc", "abc-1", "Apple Business Chat", "carol@example.com", "vip", 25*time.Minute),
		chat("e2eclosed0000000000000001", "closed", "sms", "1001", "Support SMS", "alice@example.com", "", 3*time.Hour, "billing"),
		chat("e2eclosed0000000000000002", "closed", "api", "api-1", "Custom integration", "bob@example.com", "", 2*time.Hour),
		chat("e2eclosed0000000000000003", "closed", "livechat", "web-1", "Website chat", "", "", time.Hour, "spam"),
	}
}

// e2eServiceChats adds to tenant, after the exporter's first read, one chat
// answered and one abandoned: arrivals and queue exits for the dashboard's
// service-level row, which a fixed population that was there before the
// exporter started does not give.
func e2eServiceChats(tenant *simulator.Tenant) {
	now := time.Now()
	chat := func(id, status, assignee string) simulator.Chat {
		return simulator.Chat{
			ID: id, AliasID: "alias-" + id, Status: status, Channel: "whatsapp",
			AssetID: "wa-1", AssetName: "WhatsApp Business", Assignee: assignee,
			CreatedAt: now, UpdatedAt: now, CustomerID: "customer-" + id, DestinationID: "+4915112345678",
		}
	}
	tenant.Add(chat("e2eanswered00000000000001", "picked", "alice@example.com"),
		chat("e2eabandoned0000000000001", "closed", ""))
}

// --- Rules file.

type e2eRule struct {
	Alert       string `yaml:"alert"`
	Expr        string `yaml:"expr"`
	For         string `yaml:"for"`
	forDuration time.Duration
}

type e2eRules map[string]*e2eRule

func e2eLoadRules(t *testing.T) e2eRules {
	t.Helper()
	b, err := os.ReadFile(e2eRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []*e2eRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", e2eRulesFile, err)
	}
	rules := e2eRules{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if r.For != "" {
				d, err := model.ParseDuration(r.For)
				if err != nil {
					t.Fatalf("%s: alert %s: for: %v", e2eRulesFile, r.Alert, err)
				}
				r.forDuration = time.Duration(d)
			}
			rules[r.Alert] = r
		}
	}
	return rules
}

func (rs e2eRules) get(t *testing.T, name string) *e2eRule {
	t.Helper()
	r, ok := rs[name]
	if !ok {
		t.Fatalf("%s has no alert %s", e2eRulesFile, name)
	}
	return r
}

var e2eTrailingThreshold = regexp.MustCompile(`>\s*([0-9]+(?:\.[0-9]+)?)\s*$`)

// threshold is the number an alert's expression ends with ("... > 50").
func (r *e2eRule) threshold(t *testing.T) float64 {
	t.Helper()
	m := e2eTrailingThreshold.FindStringSubmatch(strings.TrimSpace(r.Expr))
	if m == nil {
		t.Fatalf("%s: alert %s: cannot read the threshold from %q (the test expects it to end with \"> NUMBER\")", e2eRulesFile, r.Alert, r.Expr)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// --- Dashboard (the minimal logic of dashboards/dashboard_test.go).

type e2ePanel struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	// Interval is the panel's min interval: Grafana's $__interval is at
	// least that, and $__rate_interval at least that plus a scrape.
	Interval string `json:"interval"`
	Targets  []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []e2ePanel `json:"panels"` // a collapsed row's panels
}

type e2ePanelQuery struct {
	where, promql string
}

// Grafana variables in a query: ${name}, ${name:format}, $name and [[name]].
var e2eGrafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]`)

// The values Grafana would send to this Prometheus with job and instance on "All".
var e2eGrafanaValues = map[string]string{
	"__rate_interval": e2eRateInterval,
	"__interval":      "1s",
	"__interval_ms":   "1000",
	"__range":         "5m",
	"__range_s":       "300",
	"__range_ms":      "300000",
	"job":             e2eJob,
	"instance":        ".*",
	"tenant":          ".*", // single-tenant mode: no tenant or team labels, "All" matches that
	"team":            ".*",
	"datasource":      "prometheus",
}

// e2eRequirePanelData fails the test unless every panel query that want
// selects returns data within e2ePanelsBound.
func e2eRequirePanelData(t *testing.T, prom *e2eProm, all []e2ePanelQuery, want func(promql string) bool) []e2ePanelQuery {
	t.Helper()
	var panels []e2ePanelQuery
	for _, p := range all {
		if want(p.promql) {
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		t.Fatalf("%s holds no panel query", e2eDashboardFile)
	}
	pending := map[int]string{} // index in panels → why it has no data yet
	for i := range panels {
		pending[i] = "not queried yet"
	}
	e2ePoll(e2ePanelsBound, func() bool {
		for i := range pending {
			s, err := prom.query(panels[i].promql)
			switch {
			case err != nil:
				pending[i] = err.Error()
			case !e2eHasValue(s):
				pending[i] = fmt.Sprintf("no series with a value (result %v)", s)
			default:
				delete(pending, i)
			}
		}
		return len(pending) == 0
	})
	for i, why := range pending {
		t.Errorf("dashboard %s: %s has no data after %v: %s\n\tquery: %s", e2eDashboardFile, panels[i].where, e2ePanelsBound, why, panels[i].promql)
	}
	if t.Failed() {
		t.FailNow()
	}
	return panels
}

// e2eDashboardQueries returns every panel's queries with Grafana's
// variables replaced by e2eGrafanaValues, or by values where it has them.
func e2eDashboardQueries(t *testing.T, values map[string]string) []e2ePanelQuery {
	t.Helper()
	b, err := os.ReadFile(e2eDashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []e2ePanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", e2eDashboardFile, err)
	}
	var out []e2ePanelQuery
	var walk func([]e2ePanel)
	walk = func(ps []e2ePanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q target %s", p.Title, tg.RefID)
				var unknown []string
				q := e2eGrafanaVar.ReplaceAllStringFunc(tg.Expr, func(m string) string {
					sub := e2eGrafanaVar.FindStringSubmatch(m)
					if _, err := strconv.Atoi(sub[2]); err == nil {
						return m // $1: label_replace's reference, not Grafana's
					}
					name := sub[1] + sub[2] + sub[3]
					if v, ok := panelInterval(p.Interval, name); ok {
						return v
					}
					v, ok := values[name]
					if !ok {
						v, ok = e2eGrafanaValues[name]
					}
					if !ok {
						unknown = append(unknown, m)
						return m
					}
					return v
				})
				if len(unknown) > 0 {
					t.Errorf("%s: unknown Grafana variable(s) %v in %q", where, unknown, tg.Expr)
					continue
				}
				out = append(out, e2ePanelQuery{where, q})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// panelInterval is the value of Grafana's $__interval or $__rate_interval
// (name) in a panel whose min interval is interval, when that raises it
// above e2eGrafanaValues': Grafana's $__interval is at least the panel's
// min interval, and $__rate_interval that plus the scrape interval (1 s).
func panelInterval(interval, name string) (string, bool) {
	d, err := model.ParseDuration(interval)
	if interval == "" || err != nil || time.Duration(d) <= time.Second {
		return "", false
	}
	switch name {
	case "__interval":
		return interval, true
	case "__rate_interval":
		return fmt.Sprintf("%ds", int64((time.Duration(d)+time.Second)/time.Second)), true
	}
	return "", false
}

// --- Prometheus's HTTP API.

var e2eHTTP = &http.Client{Timeout: 5 * time.Second}

type e2eSample struct {
	metric map[string]string
	value  float64
}

func (s e2eSample) String() string { return fmt.Sprintf("%v=%v", s.metric, s.value) }

type e2eProm struct {
	t    *testing.T
	base string
}

func e2eGetJSON(u string, v any) error {
	resp, err := e2eHTTP.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %.300s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v: %.300s", u, err, body)
	}
	return nil
}

// query runs an instant query at now: a vector's samples, or a scalar as one sample.
func (p *e2eProm) query(q string) ([]e2eSample, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := e2eGetJSON(p.base+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, r.Error)
	}
	parse := func(pair [2]any) float64 {
		s, _ := pair[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	switch r.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]e2eSample, len(vec))
		for i, s := range vec {
			out[i] = e2eSample{s.Metric, parse(s.Value)}
		}
		return out, nil
	case "scalar":
		var pair [2]any
		if err := json.Unmarshal(r.Data.Result, &pair); err != nil {
			return nil, err
		}
		return []e2eSample{{nil, parse(pair)}}, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q, want vector or scalar", q, r.Data.ResultType)
	}
}

// e2eHasValue: at least one series with a number (NaN shows as no data).
func e2eHasValue(s []e2eSample) bool {
	for _, x := range s {
		if !math.IsNaN(x.value) {
			return true
		}
	}
	return false
}

// alerts lists the pending and firing alerts as "Name(state)".
func (p *e2eProm) alerts() ([]string, error) {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := e2eGetJSON(p.base+"/api/v1/alerts", &r); err != nil {
		return nil, err
	}
	var out []string
	for _, a := range r.Data.Alerts {
		out = append(out, fmt.Sprintf("%s(%s)", a.Labels["alertname"], a.State))
	}
	sort.Strings(out)
	return out, nil
}

// diagnose describes what Prometheus sees, for a failure message.
func (p *e2eProm) diagnose(queries ...string) string {
	var b strings.Builder
	var targets struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL  string `json:"scrapeUrl"`
				Health     string `json:"health"`
				LastError  string `json:"lastError"`
				LastScrape string `json:"lastScrape"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := e2eGetJSON(p.base+"/api/v1/targets", &targets); err != nil {
		fmt.Fprintf(&b, "targets: %v; ", err)
	}
	for _, tg := range targets.Data.ActiveTargets {
		fmt.Fprintf(&b, "target %s health %s last scrape %s last error %q; ", tg.ScrapeURL, tg.Health, tg.LastScrape, tg.LastError)
	}
	queries = append(queries, fmt.Sprintf(`imichat_up{job=%q}`, e2eJob), fmt.Sprintf(`sum by (status) (imichat_chats{job=%q})`, e2eJob))
	for _, q := range queries {
		s, err := p.query(q)
		fmt.Fprintf(&b, "%s = %v (err %v); ", q, s, err)
	}
	alerts, err := p.alerts()
	fmt.Fprintf(&b, "Prometheus alerts %v (err %v)", alerts, err)
	return b.String()
}

// --- Alertmanager's HTTP API.

type e2eAM struct {
	t             *testing.T
	base          string
	job, instance string
}

// active returns the alerts Alertmanager holds as active now, by name.
// Alertmanager drops resolved alerts (endsAt in the past) from
// /api/v2/alerts; endsAt is checked here too, so that "gone" means resolved.
func (a *e2eAM) active() (map[string]map[string]string, error) {
	var alerts []struct {
		Labels map[string]string `json:"labels"`
		EndsAt time.Time         `json:"endsAt"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := e2eGetJSON(a.base+"/api/v2/alerts?active=true&silenced=false&inhibited=false", &alerts); err != nil {
		return nil, err
	}
	now := time.Now()
	out := map[string]map[string]string{}
	for _, al := range alerts {
		if al.Status.State == "suppressed" || (!al.EndsAt.IsZero() && al.EndsAt.Before(now)) {
			continue
		}
		out[al.Labels["alertname"]] = al.Labels
	}
	return out, nil
}

// waitFor waits until Alertmanager has the alert, from this exporter.
func (a *e2eAM) waitFor(name string, bound time.Duration, prom *e2eProm) {
	a.t.Helper()
	var last map[string]map[string]string
	var lastErr error
	if e2ePoll(bound, func() bool {
		last, lastErr = a.active()
		l, ok := last[name]
		return ok && l["job"] == a.job && l["instance"] == a.instance
	}) {
		return
	}
	a.t.Fatalf("%s did not arrive in Alertmanager (job %q, instance %q) within %v; Alertmanager has %v (err %v); %s%s",
		name, a.job, a.instance, bound, last, lastErr, prom.diagnose(), e2ePacingHint)
}

// waitGone waits until Alertmanager no longer has the alert active.
func (a *e2eAM) waitGone(name string, bound time.Duration, prom *e2eProm) {
	a.t.Helper()
	var last map[string]map[string]string
	var lastErr error
	if e2ePoll(bound, func() bool {
		last, lastErr = a.active()
		_, ok := last[name]
		return lastErr == nil && !ok
	}) {
		return
	}
	a.t.Fatalf("%s still active in Alertmanager %v after the cause was removed: %v (err %v); %s%s",
		name, bound, last, lastErr, prom.diagnose(), e2ePacingHint)
}

const e2ePacingHint = "\n(if the exporter paces its refreshes of the chat list, e2eExporterFlags must turn that off so that every scrape reads the tenant)"

// --- Processes.

// e2ePoll calls cond every 250 ms until it is true or bound has passed.
func e2ePoll(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func e2eLookPath(t *testing.T, bin, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s is not on PATH: the end-to-end test needs a real one. Install it: apt-get install -y --no-install-recommends %s (.ci/run does)", bin, debianPackage)
	}
	return p
}

func e2eWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// e2eWriteToken replaces the token file atomically (the exporter may read it
// at any moment), mode 0600.
func e2eWriteToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// e2eStartExporter runs the exporter in-process with exactly these flags and
// waits until it serves. It stops at the end of the test; its log is shown
// if the test failed.
func e2eStartExporter(t *testing.T, flags []string, addr string) {
	t.Helper()
	startExporter(t, flags)
	waitFor(t, "http://"+addr+"/", e2eServerStartTimeout)
}

// e2eScrapeConfig is a Prometheus configuration that scrapes the exporter
// at target every second as job e2eJob, evaluates the project's rules, and
// sends alerts to the Alertmanager at alertmanager ("": none).
func e2eScrapeConfig(t *testing.T, target, alertmanager string) string {
	t.Helper()
	rulesPath, err := filepath.Abs(e2eRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	alerting := ""
	if alertmanager != "" {
		alerting = fmt.Sprintf(`alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: [%q]
`, alertmanager)
	}
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
%sscrape_configs:
  - job_name: %q
    static_configs:
      - targets: [%q]
`, rulesPath, alerting, e2eJob, target)
}

// e2eAwaitGoodScrapes waits (bounded) until Prometheus has scraped
// imichat_up 1 three times.
func e2eAwaitGoodScrapes(t *testing.T, prom *e2eProm) {
	t.Helper()
	upQuery := fmt.Sprintf(`sum_over_time(imichat_up{job=%q}[1m])`, e2eJob)
	if !e2ePoll(e2eFirstScrapesBound, func() bool {
		s, err := prom.query(upQuery)
		return err == nil && len(s) == 1 && s[0].value >= 3
	}) {
		t.Fatalf("Prometheus did not scrape imichat_up 1 three times within %v: %s", e2eFirstScrapesBound, prom.diagnose(upQuery))
	}
}

// e2eStartPrometheus writes config as dir/prometheus.yml and starts a
// Prometheus on it (e2eStartServer), with extra flags.
func e2eStartPrometheus(t *testing.T, bin, dir, config string, extra ...string) *e2eProm {
	t.Helper()
	e2eWriteFile(t, filepath.Join(dir, "prometheus.yml"), config)
	addr := e2eStartServer(t, "prometheus", bin, dir, func(addr string) []string {
		return append([]string{
			"--config.file=" + filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.external-url=http://" + addr + "/",
			"--log.level=info",
		}, extra...)
	})
	return &e2eProm{t: t, base: "http://" + addr}
}

// e2eStartServer starts bin with args(addr) on a free 127.0.0.1 port and
// waits (bounded) until its /-/ready answers 200; it tries another port if
// the one chosen was taken in the meantime. The process is killed at the end
// of the test; its output is shown if the test failed.
func e2eStartServer(t *testing.T, name, bin, dir string, args func(addr string) []string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		out := &syncBuffer{}
		cmd := exec.Command(bin, args(addr)...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("%s (pid %d) did not exit within 10s of SIGKILL", name, cmd.Process.Pid)
			}
		}

		ready, why := false, ""
		deadline := time.Now().Add(e2eServerStartTimeout)
		for !ready {
			select {
			case <-exited:
				why = fmt.Sprintf("exited: %v", waitErr)
			default:
			}
			if why != "" {
				break
			}
			if resp, err := e2eHTTP.Get("http://" + addr + "/-/ready"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusOK
			}
			if !ready && time.Now().After(deadline) {
				why = fmt.Sprintf("not ready within %v", e2eServerStartTimeout)
				break
			}
			if !ready {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if ready {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("%s output:\n%s", name, out.String())
				}
			})
			return addr
		}
		stop()
		if attempt < 3 && strings.Contains(out.String(), "address already in use") {
			t.Logf("%s: %s was taken, trying another port", name, addr)
			continue
		}
		t.Fatalf("%s on %s: %s\n%s output:\n%s", name, addr, why, name, out.String())
	}
}
