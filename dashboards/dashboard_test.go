package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

const dashboardFile = "imichat-overview.json"

// The dashboard's JSON model, as far as the tests look into it.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	Targets     []target       `json:"targets"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Panels []panel `json:"panels"` // a collapsed row's panels
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
	Instant    bool           `json:"instant"`
	Range      bool           `json:"range"`
}

type variable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Datasource *datasourceRef  `json:"datasource"`
	IncludeAll bool            `json:"includeAll"`
	Multi      bool            `json:"multi"`
	AllValue   *string         `json:"allValue"`
	Refresh    int             `json:"refresh"`
}

// queryString returns a variable's query whether it is stored as a string (datasource
// variables, old dashboards) or as {"query": "..."} (query variables).
func (v variable) queryString(t *testing.T) string {
	t.Helper()
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		t.Fatalf("variable %q: query is neither a string nor an object: %s", v.Name, v.Query)
	}
	return o.Query
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows: a collapsed row keeps its panels inside itself.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// Panels that hold no query.
func isLayoutPanel(p panel) bool {
	return p.Type == "row" || p.Type == "text"
}

// Grafana variables in a query: ${name}, ${name:format}, $name and [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)|\[\[(\w+)(?::[\w-]+)?\]\]`)

// Values that make a query plain PromQL, as Grafana would before sending it.
var promqlValues = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
	"job":             ".*",
	"instance":        ".*",
	"tenant":          ".*",
	"team":            ".*",
}

// Sentinel values that let the structure checks see where a variable was used.
const (
	rateIntervalSentinel = 4*time.Hour + 44*time.Minute + 44*time.Second
	rangeSentinel        = 3*time.Hour + 33*time.Minute + 33*time.Second
	jobSentinel          = "JOB_VARIABLE"
	instanceSentinel     = "INSTANCE_VARIABLE"
	tenantSentinel       = "TENANT_VARIABLE"
	teamSentinel         = "TEAM_VARIABLE"
)

var sentinelValues = map[string]string{
	"__rate_interval": "4h44m44s",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "3h33m33s",
	"__range_s":       "12813",
	"__range_ms":      "12813000",
	"job":             jobSentinel,
	"instance":        instanceSentinel,
	"tenant":          tenantSentinel,
	"team":            teamSentinel,
}

// A reference to a capture group of label_replace's regular expression, "$1":
// no Grafana variable has that name, and Grafana leaves a name that is no
// variable as it is.
var captureRef = regexp.MustCompile(`^\$[0-9]+$`)

// substitute replaces Grafana variables with values; an unknown variable is an error.
func substitute(q string, values map[string]string) (string, error) {
	var unknown []string
	out := grafanaVar.ReplaceAllStringFunc(q, func(m string) string {
		if captureRef.MatchString(m) {
			return m
		}
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		v, ok := values[name]
		if !ok {
			unknown = append(unknown, m)
			return m
		}
		return v
	})
	if len(unknown) > 0 {
		return "", fmt.Errorf("unknown Grafana variable(s) %v", unknown)
	}
	return out, nil
}

var promqlParser = parser.NewParser(parser.Options{})

// parseGrafanaExpr substitutes the Grafana variables and parses the result as PromQL.
func parseGrafanaExpr(q string, values map[string]string) (parser.Expr, error) {
	s, err := substitute(q, values)
	if err != nil {
		return nil, err
	}
	e, err := promqlParser.ParseExpr(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	return e, nil
}

// metricNames returns the metric names an expression selects: selector names and
// __name__ matchers. A regular-expression __name__ matcher stands for every known name
// it matches; one that matches none is returned as is so that the caller rejects it.
func metricNames(e parser.Expr, known []string) []string {
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			names = append(names, vs.Name)
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel || (vs.Name != "" && m.Type == labels.MatchEqual) {
				continue
			}
			switch m.Type {
			case labels.MatchEqual:
				names = append(names, m.Value)
			default:
				matched := false
				for _, k := range known {
					if m.Matches(k) {
						names = append(names, k)
						matched = true
					}
				}
				if !matched {
					names = append(names, m.String())
				}
			}
		}
		return nil
	})
	return names
}

// unknownMetrics returns the names used by expr that are not in allowed.
func unknownMetrics(e parser.Expr, allowed []string) []string {
	var bad []string
	for _, n := range metricNames(e, allowed) {
		if !slices.Contains(allowed, n) {
			bad = append(bad, n)
		}
	}
	return bad
}

// A query of the dashboard, with where it comes from.
type query struct {
	where string
	expr  string
	// wholeRange: an instant query of a stat, which Grafana runs once at
	// the end of the dashboard's time range: the stat may sum up that
	// range ([$__range]).
	wholeRange bool
}

func dashboardQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var qs []query
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr,
				p.Type == "stat" && tg.Instant && !tg.Range})
		}
	}
	return qs
}

// rateWindowErrors: every rate, irate and increase of e uses
// [$__rate_interval], which Grafana fits to the step and the scrape
// interval; a stat's instant query may instead sum up the dashboard's time
// range with [$__range] (the service level of the range shown). A fixed
// window ([1h]) means a different thing on every zoom. e is parsed with
// sentinelValues.
func rateWindowErrors(e parser.Expr, wholeRange bool) []string {
	var errs []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		c, ok := n.(*parser.Call)
		if !ok {
			return nil
		}
		switch c.Func.Name {
		case "rate", "irate", "increase":
		default:
			return nil
		}
		ms, ok := c.Args[0].(*parser.MatrixSelector)
		switch {
		case ok && ms.Range == rateIntervalSentinel:
		case ok && ms.Range == rangeSentinel && wholeRange && c.Func.Name != "irate":
		case wholeRange:
			errs = append(errs, fmt.Sprintf("%s does not use [$__rate_interval] or, over the stat's time range, [$__range]", c))
		default:
			errs = append(errs, fmt.Sprintf("%s does not use [$__rate_interval]", c))
		}
		return nil
	})
	return errs
}

// labelValuesQuery matches Grafana's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$`)

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard needs a title and a uid, got %q %q", d.Title, d.UID)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current Grafana model (>= 36)", d.SchemaVersion)
	}

	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	ds, ok := vars["datasource"]
	if !ok {
		t.Fatal("no templating variable named datasource")
	}
	if ds.Type != "datasource" || ds.queryString(t) != "prometheus" {
		t.Errorf("variable datasource: type %q query %q, want type datasource, query prometheus", ds.Type, ds.queryString(t))
	}
	for _, name := range []string{"job", "instance"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no templating variable named %s", name)
			continue
		}
		if v.Type != "query" {
			t.Errorf("variable %s: type %q, want query", name, v.Type)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: datasource %+v, want uid ${datasource}", name, v.Datasource)
		}
		q := v.queryString(t)
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil || m[2] != name {
			t.Errorf("variable %s: query %q, want label_values(imichat_up..., %s)", name, q, name)
			continue
		}
		e, err := parseGrafanaExpr(m[1], promqlValues)
		if err != nil {
			t.Errorf("variable %s: %v", name, err)
			continue
		}
		// In multi-target mode the exporter's own metrics (build info,
		// configuration reloads) come from the job that scrapes its
		// /metrics, which has no imichat_up: build info names that job.
		names := metricNames(e, exportedMetricNames())
		slices.Sort(names)
		if !slices.Equal(names, []string{"imichat_up"}) && !slices.Equal(names, []string{"imichat_exporter_build_info", "imichat_up"}) {
			t.Errorf("variable %s: query %q selects %v, want imichat_up (and imichat_exporter_build_info)", name, q, names)
		}
	}

	ids := map[int]string{}
	panels := allPanels(d.Panels)
	if len(panels) == 0 {
		t.Fatal("dashboard has no panels")
	}
	for _, p := range panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel %q: id %d already used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel id %d has no title", p.ID)
		}
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, p.GridPos)
		}
		if isLayoutPanel(p) {
			continue
		}
		if strings.TrimSpace(p.Description) == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want {prometheus ${datasource}}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no target", p.Title)
		}
		refIDs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refIDs[tg.RefID] {
				t.Errorf("panel %q: missing or repeated refId %q", p.Title, tg.RefID)
			}
			refIDs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.Type != "prometheus" || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v, want {prometheus ${datasource}}", p.Title, tg.RefID, tg.Datasource)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: empty expr", p.Title, tg.RefID)
			}
		}
	}
}

// Every selector filters on the job and instance variables, and every rate, irate and
// increase uses $__rate_interval (or, in a stat's instant query, $__range).
func TestDashboardQueriesUseVariables(t *testing.T) {
	qs := dashboardQueries(t, loadDashboard(t))
	if len(qs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	for _, q := range qs {
		if strings.Contains(q.expr, "$__interval") {
			t.Errorf("%s: uses $__interval; use $__rate_interval", q.where)
		}
		e, err := parseGrafanaExpr(q.expr, sentinelValues)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				if !hasMatcher(n, "job", labels.MatchRegexp, jobSentinel) {
					t.Errorf("%s: selector %s does not filter on job=~\"$job\"", q.where, n)
				}
				if !hasMatcher(n, "instance", labels.MatchRegexp, instanceSentinel) {
					t.Errorf("%s: selector %s does not filter on instance=~\"$instance\"", q.where, n)
				}
				filtersTarget(t, q.where, n)
			}
			return nil
		})
		for _, msg := range rateWindowErrors(e, q.wholeRange) {
			t.Errorf("%s: %s", q.where, msg)
		}
	}
}

// filtersTarget: the selector filters on the tenant and team variables. A
// metric of the tenant's probe uses tenant=~"$tenant" and team=~"$team". The
// exporter's own metrics (imichat_exporter_*: on its /metrics in multi-target
// mode, without tenant or team) use tenant=~"$tenant|" and team=~"$team|",
// which keep them whatever tenant and team are selected.
func filtersTarget(t *testing.T, where string, vs *parser.VectorSelector) {
	t.Helper()
	names := metricNames(vs, exportedMetricNames())
	own := len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return !strings.HasPrefix(n, "imichat_exporter_") })
	for _, v := range []struct{ label, sentinel string }{{"tenant", tenantSentinel}, {"team", teamSentinel}} {
		want := v.sentinel
		if own {
			want += "|"
		}
		if !hasMatcher(vs, v.label, labels.MatchRegexp, want) {
			t.Errorf("%s: selector %s does not filter on %s=~%q", where, vs, v.label, strings.Replace(want, v.sentinel, "$"+v.label, 1))
		}
	}
}

func hasMatcher(vs *parser.VectorSelector, name string, typ labels.MatchType, value string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == name && m.Type == typ && m.Value == value {
			return true
		}
	}
	return false
}

// Every query parses and names only metrics the exporter exports.
func TestDashboardQueriesUseContractMetrics(t *testing.T) {
	exported := exportedMetricNames()
	qs := dashboardQueries(t, loadDashboard(t))
	if len(qs) == 0 {
		t.Fatal("dashboard has no queries")
	}
	used := map[string]bool{}
	for _, q := range qs {
		e, err := parseGrafanaExpr(q.expr, promqlValues)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		names := metricNames(e, exported)
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %q", q.where, q.expr)
		}
		if bad := unknownMetrics(e, exported); len(bad) > 0 {
			t.Errorf("%s: metrics not exported by imichat_exporter: %v", q.where, bad)
		}
		for _, n := range names {
			used[n] = true
		}
	}

	// The panels the dashboard promises need these metrics.
	for _, want := range []string{
		"imichat_up",
		"imichat_chats",
		"imichat_chats_by_assignee",
		"imichat_chats_by_asset",
		"imichat_chats_oldest_created_timestamp_seconds",
		"imichat_api_responses_total",
		"imichat_api_rate_limit_remaining",
		"imichat_api_rate_limit_reset_timestamp_seconds",
		"imichat_last_refresh_duration_seconds",
		"imichat_last_refresh_pages",
		// The service level (issue 19).
		"imichat_chats_created_total",
		"imichat_chats_left_queue_total",
		"imichat_chat_queue_wait_seconds_bucket",
		"imichat_chat_queue_wait_seconds_sum",
		"imichat_chat_queue_wait_seconds_count",
	} {
		if !used[want] {
			t.Errorf("no panel queries %s", want)
		}
	}
	var list []string
	for n := range used {
		list = append(list, n)
	}
	sort.Strings(list)
	t.Logf("metrics used by the dashboard: %v", list)
}

// The checks above must reject what they are meant to reject.
func TestDashboardChecksRejectBadQueries(t *testing.T) {
	exported := exportedMetricNames()
	for _, q := range []string{
		`imichat_chatz{job=~"$job", instance=~"$instance"}`,
		`{__name__="imichat_queue", job=~"$job", instance=~"$instance"}`,
		`{__name__=~"nope_.*", job=~"$job", instance=~"$instance"}`,
		`sum(rate(up{job=~"$job", instance=~"$instance"}[$__rate_interval]))`,
	} {
		e, err := parseGrafanaExpr(q, promqlValues)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if len(unknownMetrics(e, exported)) == 0 {
			t.Errorf("%q: unknown metric not detected", q)
		}
	}
	for _, c := range []struct {
		q          string
		wholeRange bool
		ok         bool
	}{
		{`sum(rate(imichat_chats_created_total[$__rate_interval]))`, false, true},
		{`sum(rate(imichat_chats_created_total[$__rate_interval]))`, true, true},
		{`sum(increase(imichat_chats_created_total[$__range]))`, true, true},
		{`sum(increase(imichat_chats_created_total[$__range]))`, false, false}, // a time series: every point the whole range
		{`sum(irate(imichat_chats_created_total[$__range]))`, true, false},
		{`sum(increase(imichat_chats_created_total[1h]))`, true, false},
		{`sum(increase(imichat_chats_created_total[5m]))`, false, false},
	} {
		e, err := parseGrafanaExpr(c.q, sentinelValues)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if errs := rateWindowErrors(e, c.wholeRange); (len(errs) == 0) != c.ok {
			t.Errorf("%q (stat over the range: %v): window errors %v, want ok %v", c.q, c.wholeRange, errs, c.ok)
		}
	}
	if _, err := parseGrafanaExpr(`imichat_up{job=~"$jobb"}`, promqlValues); err == nil {
		t.Error("unknown Grafana variable not detected")
	}
	if _, err := parseGrafanaExpr(`sum(imichat_up`, promqlValues); err == nil {
		t.Error("PromQL syntax error not detected")
	}
}

// Multi-target mode: Prometheus probes /probe?tenant=NAME&team=ID and adds the
// labels tenant and team to every series of a probe; single-tenant mode has
// neither. The variables tenant and team pick targets, team depending on
// tenant. Their All must match the empty value too: label_values returns
// nothing in single-tenant mode, Grafana then selects All, and every panel
// filters on tenant=~"$tenant" (a label that is absent matches as empty).
func TestDashboardTenantTeamVariables(t *testing.T) {
	d := loadDashboard(t)
	index := map[string]int{}
	vars := map[string]variable{}
	for i, v := range d.Templating.List {
		index[v.Name] = i
		vars[v.Name] = v
	}
	for _, c := range []struct {
		name    string
		filters []string // the variables its selector filters on: the chain
	}{
		{"tenant", []string{"job", "instance"}},
		{"team", []string{"job", "instance", "tenant"}},
	} {
		v, ok := vars[c.name]
		if !ok {
			t.Errorf("no templating variable named %s", c.name)
			continue
		}
		if v.Type != "query" {
			t.Errorf("variable %s: type %q, want query", c.name, v.Type)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: datasource %+v, want uid ${datasource}", c.name, v.Datasource)
		}
		if !v.IncludeAll || !v.Multi {
			t.Errorf("variable %s: includeAll %v, multi %v: want both (several tenants and teams at once, All by default)", c.name, v.IncludeAll, v.Multi)
		}
		if v.Refresh == 0 {
			t.Errorf("variable %s: refresh 0 keeps the tenants and teams of the day it was saved; refresh on load or on time range change", c.name)
		}
		switch {
		case v.AllValue == nil:
			t.Errorf("variable %s: no allValue: All would be the list of values, none in single-tenant mode", c.name)
		default:
			m, err := labels.NewMatcher(labels.MatchRegexp, c.name, *v.AllValue)
			if err != nil || !m.Matches("") || !m.Matches("acme") {
				t.Errorf("variable %s: allValue %q must match every value and the absent label (\".*\")", c.name, *v.AllValue)
			}
		}
		for _, f := range c.filters {
			if i, ok := index[f]; !ok || i > index[c.name] {
				t.Errorf("variable %s: comes before %s, which it depends on", c.name, f)
			}
		}

		q := v.queryString(t)
		m := labelValuesQuery.FindStringSubmatch(q)
		if m == nil || m[2] != c.name {
			t.Errorf("variable %s: query %q, want label_values(imichat_up{...}, %s)", c.name, q, c.name)
			continue
		}
		sentinels := map[string]string{"job": jobSentinel, "instance": instanceSentinel, "tenant": tenantSentinel}
		e, err := parseGrafanaExpr(m[1], sentinelValues)
		if err != nil {
			t.Errorf("variable %s: %v", c.name, err)
			continue
		}
		vs, ok := e.(*parser.VectorSelector)
		if !ok || vs.Name != "imichat_up" {
			t.Errorf("variable %s: query %q, want a selector of imichat_up (every target has it)", c.name, q)
			continue
		}
		for _, f := range c.filters {
			if !hasMatcher(vs, f, labels.MatchRegexp, sentinels[f]) {
				t.Errorf("variable %s: query %q does not filter on %s=~\"$%s\"", c.name, q, f, f)
			}
		}
	}
}

// Legends name the target of a per-target series in both modes. A legend of
// {{tenant}} or {{team}} breaks in single-tenant mode, where the label is
// absent: Grafana 9 prints the label's name, later versions the braces or
// nothing. {{instance}} alone does not tell the targets of one multi-target
// exporter apart in every setup. A per-target series is named {{target}}:
// label_join(..., "target", " ", "tenant", "team", "instance"), which holds the
// instance alone in single-tenant mode (and may be cut to "tenant team"). The
// exporter's own metrics (imichat_exporter_*) have no tenant: {{instance}}.
func TestDashboardLegendsNameTargets(t *testing.T) {
	named := 0
	for _, p := range loadVizPanels(t) {
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			tg := p.Targets[i]
			ls := map[string]bool{}
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				ls[m[1]] = true
			}
			if ls["tenant"] || ls["team"] {
				t.Errorf("%s target %s: legend %q names tenant or team, absent in single-tenant mode; use {{target}}", p, tg.RefID, tg.LegendFormat)
			}
			names := metricNames(e, exportedMetricNames())
			own := !slices.ContainsFunc(names, func(n string) bool { return !strings.HasPrefix(n, "imichat_exporter_") })
			if ls["instance"] && !own {
				t.Errorf("%s target %s: legend %q names a target by its instance; use {{target}} (label_join of tenant, team and instance)", p, tg.RefID, tg.LegendFormat)
			}
			if !ls["target"] {
				continue
			}
			named++
			joined := false
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				c, ok := n.(*parser.Call)
				if !ok || c.Func.Name != "label_join" || len(c.Args) < 4 {
					return nil
				}
				var args []string
				for _, a := range c.Args[1:] {
					if l, ok := unwrap(a).(*parser.StringLiteral); ok {
						args = append(args, l.Val)
					}
				}
				if len(args) == len(c.Args)-1 && args[0] == "target" && slices.Contains(args[2:], "tenant") && slices.Contains(args[2:], "instance") {
					joined = true
				}
				return nil
			})
			if !joined {
				t.Errorf("%s target %s: legend %q without label_join(..., \"target\", \" \", \"tenant\", ..., \"instance\")", p, tg.RefID, tg.LegendFormat)
			}
		}
	}
	if named == 0 {
		t.Error("no legend names a target")
	}
}

// Where a panel aggregates over targets it must not add up what does not add
// up. Timestamps (the oldest queued chat, the window's start, the quota's
// reset) and the quota's gauges are never summed or averaged. The quota is the
// tenant's and every team reports it: its gauges are taken per tenant, with
// max or min over the teams. An aggregation that keeps the instance apart (a
// per-exporter view) keeps tenant and team apart too.
func TestDashboardAggregationsKeepTargetsApart(t *testing.T) {
	rateLimit := regexp.MustCompile(`^imichat_api_rate_limit_`)
	keeps := func(a *parser.AggregateExpr, l string) bool { return slices.Contains(a.Grouping, l) != a.Without }
	perTenant := 0
	for _, q := range dashboardQueries(t, loadDashboard(t)) {
		e, err := parseGrafanaExpr(q.expr, promqlValues)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
			switch n := n.(type) {
			case *parser.AggregateExpr:
				if !n.Without && keeps(n, "instance") && (!keeps(n, "tenant") || !keeps(n, "team")) {
					t.Errorf("%s: %s keeps exporters apart but adds up their tenants or teams; group by tenant and team too", q.where, n.Op)
				}
			case *parser.VectorSelector:
				timestamp := strings.HasSuffix(n.Name, "_timestamp_seconds")
				quota := rateLimit.MatchString(n.Name)
				if !timestamp && !quota {
					return nil
				}
				var aggs []*parser.AggregateExpr
				for _, p := range path {
					if a, ok := p.(*parser.AggregateExpr); ok {
						aggs = append(aggs, a)
					}
				}
				for _, a := range aggs {
					switch a.Op {
					case parser.MIN, parser.MAX, parser.TOPK, parser.BOTTOMK:
					default:
						t.Errorf("%s: %s over %s: a timestamp or a quota does not add up; use min or max", q.where, a.Op, n.Name)
					}
				}
				if !quota {
					return nil
				}
				// One value per tenant: an aggregation drops team and
				// keeps tenant, and below it label_replace empties the
				// probe's instance (the target) where there is a tenant.
				perTeam := !slices.ContainsFunc(aggs, func(a *parser.AggregateExpr) bool { return keeps(a, "tenant") && !keeps(a, "team") })
				dropsInstance := slices.ContainsFunc(path, func(p parser.Node) bool {
					c, ok := p.(*parser.Call)
					if !ok || c.Func.Name != "label_replace" {
						return false
					}
					var args []string
					for _, a := range c.Args[1:] {
						if l, ok := unwrap(a).(*parser.StringLiteral); ok {
							args = append(args, l.Val)
						}
					}
					return slices.Equal(args, []string{"instance", "", "tenant", ".+"})
				})
				if perTeam || !dropsInstance {
					t.Errorf("%s: %s is the tenant's, repeated by every team: max without (team) (label_replace(..., \"instance\", \"\", \"tenant\", \".+\"))", q.where, n.Name)
				} else {
					perTenant++
				}
			}
			return nil
		})
	}
	if perTenant == 0 {
		t.Error("no panel shows the quota per tenant")
	}
}
