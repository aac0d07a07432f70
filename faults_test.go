package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// pullResult is one GET of /metrics.
type pullResult struct {
	status int
	body   string
	fams   map[string]*dto.MetricFamily
}

// pull scrapes url as Prometheus would, with scrapeTimeout (seconds, "" for
// none) in X-Prometheus-Scrape-Timeout-Seconds. It fails the test unless the
// answer is 200 and a valid exposition without duplicate series.
func pull(t *testing.T, client *http.Client, url, scrapeTimeout string) pullResult {
	t.Helper()
	status, body := scrape(t, client, url, scrapeTimeout)
	r := pullResult{status: status, body: body}
	if status != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, want 200:\n%s", url, status, body)
	}
	if !utf8.ValidString(body) {
		t.Fatalf("GET %s: the exposition is not valid UTF-8", url)
	}
	var err error
	r.fams, err = parseExposition(r.body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// parseExposition parses the text format and rejects duplicate series,
// which Prometheus would reject too.
func parseExposition(body string) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w", err)
	}
	for name, mf := range fams {
		seen := map[string]bool{}
		for _, m := range mf.GetMetric() {
			key := labelKey(m)
			if seen[key] {
				return nil, fmt.Errorf("duplicate series %s{%s}", name, key)
			}
			seen[key] = true
		}
	}
	return fams, nil
}

func labelKey(m *dto.Metric) string {
	var parts []string
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// value returns the value of the series of family name whose labels include
// labels, and whether there is one.
func (r pullResult) value(name string, labels map[string]string) (float64, bool) {
	mf := r.fams[name]
	for _, m := range mf.GetMetric() {
		match := true
		for _, lp := range m.GetLabel() {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				match = false
			}
		}
		for k := range labels {
			if !slices.ContainsFunc(m.GetLabel(), func(lp *dto.LabelPair) bool { return lp.GetName() == k }) {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// up returns imichat_up, failing the test when it is missing.
func (r pullResult) up(t *testing.T) float64 {
	t.Helper()
	v, ok := r.value("imichat_up", nil)
	if !ok {
		t.Fatalf("no imichat_up in:\n%s", r.body)
	}
	return v
}

// chatGauges lists the families built from chats: none may come from a walk
// that could not be trusted.
func (r pullResult) chatGauges() []string {
	var out []string
	for name := range r.fams {
		if strings.HasPrefix(name, "imichat_chats") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// checkTruth compares the chat gauges with the simulator's truth: every
// status and channel pair, the total and the oldest open chats.
func checkTruth(t *testing.T, r pullResult, truth simulator.Counts) {
	t.Helper()
	got := map[[2]string]float64{}
	total := 0.0
	for _, m := range r.fams["imichat_chats"].GetMetric() {
		var k [2]string
		for _, lp := range m.GetLabel() {
			switch lp.GetName() {
			case "status":
				k[0] = lp.GetValue()
			case "channel":
				k[1] = lp.GetValue()
			}
		}
		got[k] = m.GetGauge().GetValue()
		total += got[k]
	}
	for k, v := range got {
		if float64(truth.ByStatusChannel[k]) != v {
			t.Errorf("imichat_chats{status=%q,channel=%q} = %v, truth %d", k[0], k[1], v, truth.ByStatusChannel[k])
		}
	}
	for k, n := range truth.ByStatusChannel {
		if _, ok := got[k]; !ok && n != 0 {
			t.Errorf("imichat_chats{status=%q,channel=%q} missing, truth %d", k[0], k[1], n)
		}
	}
	if int(total) != truth.Total {
		t.Errorf("sum of imichat_chats = %v, truth %d", total, truth.Total)
	}
	oldest := r.fams["imichat_chats_oldest_created_timestamp_seconds"].GetMetric()
	if len(oldest) != len(truth.OldestCreated) {
		t.Errorf("%d oldest-chat series, truth %d", len(oldest), len(truth.OldestCreated))
	}
	for k, ts := range truth.OldestCreated {
		v, ok := r.value("imichat_chats_oldest_created_timestamp_seconds", map[string]string{"status": k[0], "channel": k[1]})
		if want := float64(ts.UnixNano()) / 1e9; !ok || math.Abs(v-want) > 1e-3 {
			t.Errorf("oldest %v = %v (present %v), truth %v", k, v, ok, want)
		}
	}
}

// series names one counter series.
type series struct {
	name   string
	labels map[string]string
}

func responses(statusCode, httpStatus string) series {
	return series{"imichat_api_responses_total", map[string]string{"status_code": statusCode, "http_status": httpStatus}}
}

func requestErrors(reason string) series {
	return series{"imichat_api_request_errors_total", map[string]string{"reason": reason}}
}

func (s series) String() string {
	var parts []string
	for k, v := range s.labels {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(parts)
	return s.name + "{" + strings.Join(parts, ",") + "}"
}

// echoingTenant is the simulator behind a proxy that, when told to, answers
// with the request's access token in the description and the trxid header:
// upstream text is untrusted and the exporter must redact it.
type echoingTenant struct {
	*simulator.Tenant
	echo atomic.Bool
}

func (e *echoingTenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !e.echo.Load() {
		e.Tenant.ServeHTTP(w, r)
		return
	}
	tok := r.Header.Get("access_token")
	body, _ := json.Marshal(map[string]any{"status_code": 2003, "description": "invalid access_token " + tok, "response": nil})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("trxid", tok)
	w.WriteHeader(http.StatusBadRequest)
	w.Write(body)
}

// rawChat is a chat sent verbatim; status and channel are what the
// simulator counts it as, and must match what raw says.
func rawChat(id, status, channel, raw string) simulator.Chat {
	return simulator.Chat{ID: id, Status: status, Channel: channel, Raw: json.RawMessage(raw)}
}

// TestFaultMatrix drives the exporter, wired as main wires it, through every
// fault the API reference warns about. For each: /metrics answers 200 with a
// valid exposition, imichat_up says whether the walk can be trusted (and an
// untrusted walk exports no chat gauges), the right counter moves, the error
// is logged, and the next pull after the fault clears equals the simulator's
// truth. The run is at debug level, and at the end neither the token nor the
// rotated one may appear in any log line, exposition or the landing page.
func TestFaultMatrix(t *testing.T) {
	const (
		team      = "42"
		token     = "tok-6f1d0c2b9a8e7d6c5b4a3f2e"
		rotated   = "tok-rotated-77aa88bb99cc00dd"
		nullChats = `{"chat_id":"null-fields","alias_id":null,"created_at":null,"updated_at":null,"status":null,"channel":null,"asset":null,"customer_id":null,"destination_id":null,"assignee":null,"flag":null,"tag":null,"other_details":null}`
	)
	// A fixed clock: the population does not evolve, so the truth read
	// before a pull is the truth the walk sees.
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	tenant := &echoingTenant{Tenant: simulator.New(simulator.Config{
		Token: token, TeamID: team, Seed: 11, History: 50, Clock: func() time.Time { return now }, QuotaPerDay: 1e9,
	})}
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	// One page at a time: pages are read in order, so the rows that depend
	// on order (a chat pushed onto the next page, a token rotated after page
	// 1) have one exact outcome.
	exp := startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr,
		"--imichat.concurrency=1", "--log.level=debug", "--imichat.timeout=2s"))
	waitFor(t, "http://"+addr+"/", 10*time.Second)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	metricsURL := "http://" + addr + "/metrics"

	longAgent := strings.Repeat("a", 100_000)
	longTag := strings.Repeat("é", 30_000) // two bytes a rune: the cut must not split one
	longAssetID := strings.Repeat("9", 5_000)

	type row struct {
		name    string
		install func(t *testing.T) // sets the fault up
		clear   func(t *testing.T) // undoes it; the fault is cleared anyway
		timeout string             // X-Prometheus-Scrape-Timeout-Seconds of the faulty pull
		wantUp  float64
		moved   []series // counters that must have increased
		log     string   // an error-level log line must contain this
		// truthBefore: the faulty pull must equal the truth read before
		// it (trusted walks only).
		truthBefore bool
		check       func(t *testing.T, r pullResult)
		// slow: the refresh outlives the scrape and goes on in the
		// background, so the faulty pull may serve the last complete
		// result; a second pull, with the fault still there, is the one
		// checked: it gets the refresh's outcome.
		slow bool
	}
	fault := func(f simulator.Fault) func(*testing.T) {
		return func(*testing.T) { tenant.SetFault(f) }
	}
	status := func(code, httpStatus int) row {
		return row{
			name:    fmt.Sprintf("status_code %d", code),
			install: fault(simulator.Fault{Kind: simulator.FaultStatusCode, StatusCode: code}),
			moved:   []series{responses(fmt.Sprint(code), fmt.Sprint(httpStatus))},
			log:     fmt.Sprintf("status_code %d", code),
		}
	}
	addChats := func(chats ...simulator.Chat) func(*testing.T) {
		return func(*testing.T) { tenant.Add(chats...) }
	}
	deleteChats := func(ids ...string) func(*testing.T) {
		return func(t *testing.T) {
			for _, id := range ids {
				if !tenant.Delete(id) {
					t.Errorf("chat %s was not in the tenant", id)
				}
			}
		}
	}
	ok4305 := responses("4305", "200")

	rows := []row{
		status(2002, 400), status(2003, 400), status(2004, 401), status(2007, 500),
		status(2010, 404), status(2099, 405), status(3454, 500),
		status(4242, 500), // undocumented
		{name: "HTML gateway 502", install: fault(simulator.Fault{Kind: simulator.FaultHTMLGateway, HTTPStatus: 502}),
			moved: []series{responses("", "502"), requestErrors("decode")}, log: "HTTP 502"},
		{name: "HTML gateway 503", install: fault(simulator.Fault{Kind: simulator.FaultHTMLGateway, HTTPStatus: 503}),
			moved: []series{responses("", "503"), requestErrors("decode")}, log: "text/html body"},
		{name: "not JSON", install: fault(simulator.Fault{Kind: simulator.FaultNotJSON}),
			moved: []series{responses("", "200"), requestErrors("decode")}, log: "decode"},
		{name: "truncated JSON on page 3", install: fault(simulator.Fault{Kind: simulator.FaultTruncated, Pages: []int{3}}),
			moved: []series{responses("", "200"), requestErrors("decode")}, log: "page 3"},
		{name: "body larger than the limit", install: fault(simulator.Fault{Kind: simulator.FaultOversized, Size: 2 << 20}),
			moved: []series{requestErrors("too_large")}, log: "too_large"},
		{name: "page that never answers", install: fault(simulator.Fault{Kind: simulator.FaultHang, Pages: []int{2}}),
			timeout: "1", slow: true, moved: []series{requestErrors("timeout")}, log: "timeout"},
		{name: "connection reset mid-body on page 2", install: fault(simulator.Fault{Kind: simulator.FaultResetMidBody, Pages: []int{2}}),
			moved: []series{requestErrors("network")}, log: "page 2"},
		{name: "response null on every page", install: fault(simulator.Fault{Kind: simulator.FaultResponseNull}),
			// Decided and documented in the README: a 4305 whose response
			// is null is an empty page, so the first one ends the list.
			wantUp: 1, moved: []series{ok4305},
			check: func(t *testing.T, r pullResult) {
				if v, _ := r.value("imichat_last_refresh_pages", nil); v != 1 {
					t.Errorf("imichat_last_refresh_pages = %v, want 1", v)
				}
				for _, m := range r.fams["imichat_chats"].GetMetric() {
					if m.GetGauge().GetValue() != 0 {
						t.Errorf("imichat_chats{%s} = %v from an empty list", labelKey(m), m.GetGauge().GetValue())
					}
				}
			}},
		{name: "response null past the end", install: fault(simulator.Fault{Kind: simulator.FaultResponseNull, Pages: []int{6}}),
			wantUp: 1, moved: []series{ok4305}, truthBefore: true},
		{name: "response an object", install: fault(simulator.Fault{Kind: simulator.FaultResponseObject}),
			moved: []series{ok4305, requestErrors("decode")}, log: "not a list"},
		{name: "response a string", install: fault(simulator.Fault{Kind: simulator.FaultResponseString}),
			moved: []series{ok4305, requestErrors("decode")}, log: "not a list"},
		{name: "chat with null fields", install: addChats(rawChat("null-fields", "", "", nullChats)),
			clear: deleteChats("null-fields"), wantUp: 1, moved: []series{ok4305}, truthBefore: true,
			check: func(t *testing.T, r pullResult) {
				if v, ok := r.value("imichat_chats_by_assignee", map[string]string{"assignee": "", "status": ""}); !ok || v < 1 {
					t.Errorf(`imichat_chats_by_assignee{assignee="",status=""} = %v (present %v), want the null chat`, v, ok)
				}
			}},
		{name: "unknown channel and status", install: addChats(
			simulator.Chat{ID: "unknown-1", Status: "escalated", Channel: "Telegram", AssetID: "bot1", AssetName: "Bot"},
			simulator.Chat{ID: "unknown-2", Status: "queued", Channel: "Signal"}),
			clear: deleteChats("unknown-1", "unknown-2"), wantUp: 1, moved: []series{ok4305}, truthBefore: true,
			check: func(t *testing.T, r pullResult) {
				for _, l := range []map[string]string{{"status": "escalated", "channel": "telegram"}, {"status": "queued", "channel": "signal"}} {
					if v, _ := r.value("imichat_chats", l); v != 1 {
						t.Errorf("imichat_chats%v = %v, want 1", l, v)
					}
				}
			}},
		{name: "invalid UTF-8 in label values", install: addChats(rawChat("bad-utf8", "closed", "sms",
			"{\"chat_id\":\"bad-utf8\",\"status\":\"closed\",\"channel\":\"sms\",\"assignee\":\"agent-\xff\xfe\",\"flag\":\"f\xc3\",\"tag\":[\"t\xe2\x82\"],\"asset\":{\"id\":\"\xf0\x9f\",\"name\":\"n\xc0\xaf\"}}")),
			clear: deleteChats("bad-utf8"), wantUp: 1, moved: []series{ok4305}, truthBefore: true,
			check: func(t *testing.T, r pullResult) {
				if _, ok := r.value("imichat_chats_by_assignee", map[string]string{"assignee": "agent-\uFFFD\uFFFD", "status": "closed"}); !ok {
					t.Error("no imichat_chats_by_assignee series for the agent with invalid UTF-8")
				}
			}},
		{name: "very long strings", install: addChats(rawChat("long", "closed", "sms",
			fmt.Sprintf(`{"chat_id":"long","status":"closed","channel":"sms","assignee":%q,"tag":[%q],"flag":%q,"asset":{"id":%s,"name":%q}}`,
				longAgent, longTag, longAgent, longAssetID, longTag))),
			clear: deleteChats("long"), wantUp: 1, moved: []series{ok4305}, truthBefore: true,
			check: func(t *testing.T, r pullResult) {
				for name, mf := range r.fams {
					for _, m := range mf.GetMetric() {
						for _, lp := range m.GetLabel() {
							if len(lp.GetValue()) > 128 {
								t.Errorf("%s has a %d-byte %s label", name, len(lp.GetValue()), lp.GetName())
							}
						}
					}
				}
				if _, ok := r.value("imichat_chats_by_assignee", map[string]string{"assignee": longAgent[:128], "status": "closed"}); !ok {
					t.Error("the long assignee is not exported cut at 128 bytes")
				}
				if _, ok := r.value("imichat_chats_by_tag", map[string]string{"tag": longTag[:128], "status": "closed"}); !ok {
					t.Error("the long tag is not exported cut at 128 bytes on a rune boundary")
				}
			}},
		{name: "same chat on two pages", install: fault(simulator.Fault{ArrivalsAfterPage: 1, Pages: []int{1}}),
			// A chat arrives after page 1 is served and pushes page 1's
			// last chat onto page 2: counted once, and the new chat is
			// the next walk's.
			wantUp: 1, moved: []series{ok4305}, truthBefore: true},
		{name: "token rotated mid-walk", install: fault(simulator.Fault{RotateTokenAfterPage: 1, RotatedToken: rotated}),
			clear: func(t *testing.T) {
				if err := os.WriteFile(tokenFile, []byte(rotated+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				// A rotation happens long after the last read of the
				// file; make sure the file's time says so even on a
				// file system with coarse timestamps.
				later := time.Now().Add(2 * time.Second)
				if err := os.Chtimes(tokenFile, later, later); err != nil {
					t.Fatal(err)
				}
			},
			moved: []series{ok4305, responses("2003", "400")}, log: "status_code 2003"},
		{name: "upstream echoes the token", install: func(*testing.T) { tenant.echo.Store(true) },
			clear: func(*testing.T) { tenant.echo.Store(false) },
			moved: []series{responses("2003", "400")}, log: "<redacted>",
			check: func(t *testing.T, r pullResult) {
				if !strings.Contains(exp.logs.String(), "trxid=<redacted>") {
					t.Error("the echoed trxid was not logged redacted at debug level")
				}
			}},
	}

	var bodies []string
	prev := pull(t, client, metricsURL, "")
	if prev.up(t) != 1 {
		t.Fatalf("the exporter is not up before any fault:\n%s", exp.logs.String())
	}
	checkTruth(t, prev, tenant.Counts())
	bodies = append(bodies, prev.body)

	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			tt.install(t)
			truth := tenant.Counts()
			logStart := len(exp.logs.String())
			// When a page never answers, this pull can only return
			// because its own deadline has passed: that it returns,
			// with a valid answer, is the check.
			r := pull(t, client, metricsURL, tt.timeout)
			bodies = append(bodies, r.body)
			if tt.slow {
				r = pull(t, client, metricsURL, "")
				bodies = append(bodies, r.body)
			}
			tenant.ClearFault()
			if tt.clear != nil {
				tt.clear(t)
			}

			if got := r.up(t); got != tt.wantUp {
				t.Errorf("imichat_up = %v, want %v", got, tt.wantUp)
			}
			if gauges := r.chatGauges(); tt.wantUp == 0 && len(gauges) > 0 {
				t.Errorf("an untrusted walk exported chat gauges %v", gauges)
			}
			if tt.truthBefore {
				checkTruth(t, r, truth)
			}
			for _, s := range tt.moved {
				before, _ := prev.value(s.name, s.labels)
				after, _ := r.value(s.name, s.labels)
				if after <= before {
					t.Errorf("%s did not move: %v before, %v after", s, before, after)
				}
			}
			logs := exp.logs.String()[logStart:]
			if tt.log != "" && !slices.ContainsFunc(strings.Split(logs, "\n"), func(l string) bool {
				return strings.Contains(l, "level=error") && strings.Contains(l, tt.log)
			}) {
				t.Errorf("no error-level log line contains %q:\n%s", tt.log, logs)
			}
			if tt.check != nil {
				tt.check(t, r)
			}

			// The fault has cleared: the next pull is the whole truth.
			next := pull(t, client, metricsURL, "")
			bodies = append(bodies, next.body)
			if next.up(t) != 1 {
				t.Errorf("imichat_up = %v on the pull after the fault cleared", next.up(t))
			}
			checkTruth(t, next, tenant.Counts())
			prev = next
		})
	}

	bodies = append(bodies, get(t, "http://"+addr+"/"))
	exp.stop()
	logs := exp.logs.String()
	for _, secret := range []string{token, rotated} {
		for i, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("page %d contains a token", i)
			}
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain a token")
		}
	}
	// The run must have gone through the paths it claims to check.
	for _, want := range []string{"level=debug", "trxid=", "level=error"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, "panic") {
		t.Errorf("the logs mention a panic")
	}
}

// TestFaultMatrixLabelLimit runs a tenant with more tags than the limit
// through the real wiring: the tags fold, the counter says how many, and the
// flag reaches the collector.
func TestFaultMatrixLabelLimit(t *testing.T) {
	const team, token = "9", "tok-labels-0123456789"
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 3, History: 0, Clock: func() time.Time { return now }})
	var chats []simulator.Chat
	for i := range 30 {
		chats = append(chats, simulator.Chat{ID: fmt.Sprint("c", i), Status: "queued", Channel: "sms",
			CreatedAt: now.Add(-time.Duration(i) * time.Minute), Tags: []string{fmt.Sprintf("tag%02d", i), "common"}})
	}
	tenant.Replace(chats...)
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr, "--imichat.max-label-values=5"))
	waitFor(t, "http://"+addr+"/", 10*time.Second)
	r := pull(t, http.DefaultClient, "http://"+addr+"/metrics", "")

	tags := map[string]float64{}
	for _, m := range r.fams["imichat_chats_by_tag"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "tag" {
				tags[lp.GetValue()] += m.GetGauge().GetValue()
			}
		}
	}
	if len(tags) != 6 || tags["common"] != 30 || tags[collector.OverflowLabelValue] != 26 {
		t.Errorf("tags %v: want 5 values (common first) and %s = 26", tags, collector.OverflowLabelValue)
	}
	if v, _ := r.value("imichat_label_values_folded_total", map[string]string{"dimension": "tag"}); v != 26 {
		t.Errorf(`imichat_label_values_folded_total{dimension="tag"} = %v, want 26`, v)
	}
}
