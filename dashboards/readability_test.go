package dashboards

// Readability checks (issues 11 and 20): what a contact-centre supervisor
// sees when the dashboard is rendered, judged from the JSON alone. Each test
// names one property a real Grafana render (9.3) showed broken; geometry is
// estimated from Grafana's layout rules on a reference screen, see the
// constants.

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
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

// The layout model. Grafana's grid has 24 columns and 30 px rows with 8 px
// margins; a panel's header takes about 32 px and its content has 8 px
// padding on each side. The reference dashboard is 1280 px wide (a laptop,
// or a wall screen at 150 % zoom): narrower than the screens a dashboard is
// built on, which is where the render of issue 11 broke.
const (
	refDashboardPx = 1280.0
	gridRowPx      = 30.0
	gridMarginPx   = 8.0
	panelHeaderPx  = 32.0
	panelPaddingPx = 8.0

	charPx        = 7.0  // an average character of legend and table text
	legendRowPx   = 24.0 // a legend row (list or table), and a legend table's header
	legendSwatch  = 20.0 // a legend item's colour mark
	legendPadPx   = 16.0
	legendCalcPx  = 70.0 // a calc column (Last *, Max) of a legend table or list item
	legendRightMx = 0.5  // a right legend may take half the width, the graph keeps the rest
	legendBottom  = 0.35 // Grafana caps a bottom legend at 35 % of the height

	tableRowPx      = 36.0 // Grafana 9 table row, and its header
	barSpacingPx    = 8.0  // bar gauge spacing between bars
	barMinVizHeight = 16.0 // Grafana's default minVizHeight for a bar gauge
)

func panelWidthPx(w int) float64 {
	col := (refDashboardPx - 23*gridMarginPx) / 24
	return float64(w)*col + float64(w-1)*gridMarginPx
}

func panelHeightPx(h int) float64 {
	return float64(h)*gridRowPx + float64(h-1)*gridMarginPx
}

// The content area: what is left inside the panel for the visualisation.
func contentWidthPx(p vizPanel) float64 { return panelWidthPx(p.GridPos.W) - 2*panelPaddingPx }
func contentHeightPx(p vizPanel) float64 {
	return panelHeightPx(p.GridPos.H) - panelHeaderPx - 2*panelPaddingPx
}

// Estimated length in characters of a label's values, for legend widths.
var labelChars = map[string]int{
	"instance":    21, // imichat-exporter:9897
	"job":         16,
	"channel":     8,
	"status":      6,
	"assignee":    21, // agent042@example.test
	"asset_id":    36, // a UUID
	"asset_name":  22,
	"tag":         10,
	"flag":        10,
	"reason":      12,
	"part":        5,
	"status_code": 4,
	"http_status": 3,
	"outcome":     18, // list not retrieved; 2099 (HTTP 405): an API answer by what it means
	"version":     25, // v0.10.2-14-g1a2b3c4-dirty, as git describe stamps it

	// Multi-target mode's labels, and the name of a target in both modes
	// (see TestDashboardLegendsNameTargets): "acme 42" (tenant and team), or
	// the instance in single-tenant mode.
	"tenant": 16,
	"team":   8,
	"target": 25,
}

// How many values a label takes. Per-target labels (job, instance, and in
// multi-target mode tenant and team) count once: the dashboard is read for one
// tenant's exporter (or an HA pair), or one probed tenant and team, at a time.
// User-data labels (assignee, asset, tag, flag) are unbounded: a panel must
// bound them itself, with topk.
var labelValues = map[string]int{
	"instance": 1, "job": 1, "tenant": 1, "team": 1,
	"status":  4, // collector.Statuses
	"channel": 8, // collector.Channels
	"reason":  4, // request errors: timeout, network, decode, too_large; skipped: min_interval, quota, backoff
	"part":    4, // head, deepen, open, sweep (refresh.Part*)
	// The status codes the API panel's description lists (4305, 2004, 2003,
	// 2010, 2007, 3454, ""); each comes with one HTTP status.
	"status_code": 7, "http_status": 1,
	"dimension": 4,
	"le":        14, // imichat_chat_queue_wait_seconds' buckets, +Inf included
	"version":   1, "revision": 1, "branch": 1, "goversion": 1, "goos": 1, "goarch": 1, "tags": 1,
}

// The labels of the exported metrics a panel may select without aggregating
// (besides job, instance, tenant and team). A metric missing here is unbounded until added.
var metricLabels = map[string][]string{
	"imichat_up":                                        nil,
	"imichat_last_refresh_duration_seconds":             nil,
	"imichat_last_refresh_pages":                        nil,
	"imichat_last_refresh_timestamp_seconds":            nil,
	"imichat_coverage_oldest_created_timestamp_seconds": nil,
	"imichat_api_rate_limit_remaining":                  nil,
	"imichat_api_rate_limit_limit":                      nil,
	"imichat_api_rate_limit_reset_timestamp_seconds":    nil,
	"imichat_chats":                                     {"status", "channel"},
	"imichat_chats_oldest_created_timestamp_seconds":    {"status", "channel"},
	"imichat_chats_queued_estimated_gone":               {"channel"},
	"imichat_chats_queued_estimated_arrived":            {"channel"},
	"imichat_chats_by_assignee":                         {"assignee", "status"},
	"imichat_chats_by_asset":                            {"channel", "asset_id", "asset_name", "status"},
	"imichat_chats_by_tag":                              {"tag", "status"},
	"imichat_chats_by_flag":                             {"flag", "status"},
	"imichat_api_responses_total":                       {"status_code", "http_status"},
	"imichat_api_request_errors_total":                  {"reason"},
	"imichat_refresh_pages_total":                       {"part"},
	"imichat_refresh_skipped_total":                     {"reason"},
	"imichat_label_values_folded_total":                 {"dimension"},
	"imichat_exporter_build_info":                       {"version", "revision", "branch", "goversion", "goos", "goarch", "tags"},

	// Service level (issue 19): arrivals, exits from the queue, waits and
	// handle times, per channel.
	"imichat_chats_created_total":            {"channel"},
	"imichat_chats_left_queue_total":         {"channel", "outcome"},
	"imichat_chat_queue_wait_seconds_bucket": {"channel", "le"},
	"imichat_chat_queue_wait_seconds_sum":    {"channel"},
	"imichat_chat_queue_wait_seconds_count":  {"channel"},
	"imichat_chat_handle_seconds_bucket":     {"channel", "le"},
	"imichat_chat_handle_seconds_sum":        {"channel"},
	"imichat_chat_handle_seconds_count":      {"channel"},

	// Multi-target mode: the exporter's own /metrics.
	"imichat_exporter_config_last_reload_successful":                nil,
	"imichat_exporter_config_last_reload_success_timestamp_seconds": nil,
}

// The exporter's own health, as opposed to the tenant's chats and its API.
var exporterOwnMetric = regexp.MustCompile(`^imichat_(up|scrape_.*|last_refresh_.*|refresh_.*|coverage_.*|label_values_folded_total|exporter_build_info|exporter_config_.*)$`)

// A panel's query, as the readability checks read it.
type vizTarget struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat"`
	Instant      bool   `json:"instant"`
	Range        bool   `json:"range"`
	Format       string `json:"format"`
}

// The panel model the readability checks read.
type vizPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Interval    string      `json:"interval"` // the panel's min interval
	Targets     []vizTarget `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit     string   `json:"unit"`
			Min      *float64 `json:"min"`
			Max      *float64 `json:"max"`
			Decimals *float64 `json:"decimals"`
			NoValue  string   `json:"noValue"`
			Color    struct {
				Mode       string `json:"mode"`
				FixedColor string `json:"fixedColor"`
			} `json:"color"`
			Thresholds struct {
				Steps []thresholdStep `json:"steps"`
			} `json:"thresholds"`
			Mappings []valueMapping `json:"mappings"`
			Custom   struct {
				FillOpacity float64  `json:"fillOpacity"`
				AxisSoftMax *float64 `json:"axisSoftMax"`
				Stacking    struct {
					Mode string `json:"mode"`
				} `json:"stacking"`
			} `json:"custom"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher struct {
				ID      string `json:"id"`
				Options any    `json:"options"`
			} `json:"matcher"`
			Properties []struct {
				ID    string          `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"properties"`
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Options struct {
		Legend *struct {
			DisplayMode string   `json:"displayMode"`
			Placement   string   `json:"placement"`
			ShowLegend  bool     `json:"showLegend"`
			Calcs       []string `json:"calcs"`
		} `json:"legend"`
		TextMode     string   `json:"textMode"`
		ColorMode    string   `json:"colorMode"`   // stat
		DisplayMode  string   `json:"displayMode"` // bar gauge
		MinVizHeight *float64 `json:"minVizHeight"`
		Text         struct {
			ValueSize float64 `json:"valueSize"`
		} `json:"text"`
		// heatmap
		Calculate *bool `json:"calculate"`
		Color     struct {
			Mode   string `json:"mode"`
			Scheme string `json:"scheme"`
			Fill   string `json:"fill"`
		} `json:"color"`
		YAxis struct {
			Unit string `json:"unit"`
		} `json:"yAxis"`
	} `json:"options"`
	Transformations []struct {
		ID      string `json:"id"`
		Options struct {
			ExcludeByName map[string]bool   `json:"excludeByName"`
			RenameByName  map[string]string `json:"renameByName"`
		} `json:"options"`
	} `json:"transformations"`
	Panels []vizPanel `json:"panels"`
}

func loadVizPanels(t *testing.T) []vizPanel {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []vizPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []vizPanel
	var walk func([]vizPanel)
	walk = func(ps []vizPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		t.Fatal("dashboard has no panels")
	}
	return out
}

func (p vizPanel) String() string { return fmt.Sprintf("panel %d %q", p.ID, p.Title) }

// exprs parses the panel's queries, one per target (nil where a query does
// not parse, which is reported).
func (p vizPanel) exprs(t *testing.T) []parser.Expr {
	t.Helper()
	out := make([]parser.Expr, len(p.Targets))
	for i, tg := range p.Targets {
		e, err := parseGrafanaExpr(tg.Expr, promqlValues)
		if err != nil {
			t.Errorf("%s target %s: %v", p, tg.RefID, err)
			continue
		}
		out[i] = e
	}
	return out
}

// metrics the panel's queries select.
func (p vizPanel) metrics(t *testing.T) []string {
	var names []string
	for _, e := range p.exprs(t) {
		if e == nil {
			continue
		}
		names = append(names, metricNames(e, exportedMetricNames())...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// --- Series bounds.

// unbounded stands for a query whose number of series nothing bounds.
const unbounded = math.MaxInt32

func mulBound(a, b int) int {
	if a == unbounded || b == unbounded {
		return unbounded
	}
	return a * b
}

func labelsBound(ls []string) int {
	n := 1
	for _, l := range ls {
		if l == "job" || l == "instance" || l == "tenant" || l == "team" {
			continue
		}
		v, ok := labelValues[l]
		if !ok {
			return unbounded
		}
		n = mulBound(n, v)
	}
	return n
}

// fixedInTime: every selector under n is pinned to one instant with @, so
// that a ranking of it is the same at every step of a range query.
func fixedInTime(n parser.Node) bool {
	fixed := true
	parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Timestamp == nil && vs.StartOrEnd == 0 {
			fixed = false
		}
		return nil
	})
	return fixed
}

// seriesBound is an upper bound on the series an expression returns, over a
// whole range query when rangeQuery is set (0 for a scalar).
func seriesBound(e parser.Expr, rangeQuery bool) int {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return seriesBound(e.Expr, rangeQuery)
	case *parser.StepInvariantExpr:
		return seriesBound(e.Expr, rangeQuery)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return 0
	case *parser.UnaryExpr:
		return seriesBound(e.Expr, rangeQuery)
	case *parser.VectorSelector:
		ls, ok := metricLabels[e.Name]
		if !ok {
			return unbounded
		}
		return labelsBound(ls)
	case *parser.MatrixSelector:
		return seriesBound(e.VectorSelector, rangeQuery)
	case *parser.SubqueryExpr:
		return seriesBound(e.Expr, rangeQuery)
	case *parser.Call:
		switch e.Func.Name {
		case "time", "pi", "scalar":
			return 0
		case "vector":
			return 1
		}
		for _, a := range e.Args {
			if a.Type() == parser.ValueTypeString {
				continue
			}
			if b := seriesBound(a, rangeQuery); b > 0 {
				return b
			}
		}
		return 0
	case *parser.AggregateExpr:
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK:
			inner := seriesBound(e.Expr, rangeQuery)
			k, ok := e.Param.(*parser.NumberLiteral)
			if !ok || e.Without || len(e.Grouping) > 0 {
				return inner
			}
			if rangeQuery && !fixedInTime(e.Expr) {
				return inner // a new top k at every step
			}
			return min(inner, int(k.Val))
		case parser.COUNT_VALUES:
			return unbounded
		}
		if e.Without {
			return seriesBound(e.Expr, rangeQuery)
		}
		return labelsBound(e.Grouping)
	case *parser.BinaryExpr:
		l, r := seriesBound(e.LHS, rangeQuery), seriesBound(e.RHS, rangeQuery)
		switch {
		case l == 0:
			return r
		case r == 0:
			return l
		}
		switch e.Op {
		case parser.LOR:
			if l == unbounded || r == unbounded {
				return unbounded
			}
			return l + r
		case parser.LUNLESS:
			return l
		}
		if e.VectorMatching != nil {
			switch e.VectorMatching.Card {
			case parser.CardManyToOne:
				return l
			case parser.CardOneToMany:
				return r
			}
		}
		return min(l, r)
	}
	return unbounded
}

// panelSeriesBound sums the bounds of a panel's targets.
func panelSeriesBound(t *testing.T, p vizPanel) int {
	n := 0
	for i, e := range p.exprs(t) {
		if e == nil {
			return unbounded
		}
		rangeQuery := p.Targets[i].Range || !p.Targets[i].Instant
		b := seriesBound(e, rangeQuery)
		if b == unbounded {
			return unbounded
		}
		n += max(b, 1)
	}
	return n
}

// --- Legends.

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// legendNameChars estimates a legend name's length from its format.
func legendNameChars(format string) int {
	if format == "" || format == "__auto" {
		return 60 // the whole series selector
	}
	n := 0
	rest := legendLabel.ReplaceAllStringFunc(format, func(m string) string {
		l := legendLabel.FindStringSubmatch(m)[1]
		c, ok := labelChars[l]
		if !ok {
			c = 20
		}
		n += c
		return ""
	})
	return n + len([]rune(rest))
}

// legendItemPx is the width of the panel's widest legend item (a row of a
// table legend, with its calc columns).
func legendItemPx(p vizPanel) float64 {
	chars := 0
	for _, tg := range p.Targets {
		chars = max(chars, legendNameChars(tg.LegendFormat))
	}
	return float64(chars)*charPx + legendSwatch + legendPadPx + float64(len(p.Options.Legend.Calcs))*legendCalcPx
}

// legendCapacity is how many series the panel's legend lists without a scrollbar.
func legendCapacity(p vizPanel) int {
	lg := p.Options.Legend
	if lg == nil || !lg.ShowLegend {
		return 1 // a single series needs no legend; more need one
	}
	h := contentHeightPx(p)
	header := 0.0
	if lg.DisplayMode == "table" {
		header = legendRowPx
	}
	if lg.Placement == "right" {
		return int((h - header) / legendRowPx)
	}
	lines := int((h*legendBottom - header) / legendRowPx)
	if lg.DisplayMode == "table" {
		return lines
	}
	perLine := max(1, int(contentWidthPx(p)/legendItemPx(p)))
	return lines * perLine
}

func isTimeSeries(p vizPanel) bool { return p.Type == "timeseries" }

// --- Point 1: open statuses apart from closed.

var chatStatuses = []string{"queued", "picked", "onhold", "closed"}

// statusesSelected lists the chat statuses the expression's selectors of
// per-status chat metrics (those with a status label, and the queued
// count's estimates) can select. Counters of arrivals and of exits from the
// queue are events, not chats in a status.
func statusesSelected(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || !strings.HasPrefix(vs.Name, "imichat_chats") {
			return nil
		}
		if vs.Name == "imichat_chats_queued_estimated_gone" || vs.Name == "imichat_chats_queued_estimated_arrived" { // queued chats, without a status label
			out = append(out, "queued")
			return nil
		}
		if ls, known := metricLabels[vs.Name]; known && !slices.Contains(ls, "status") {
			return nil
		}
		for _, s := range chatStatuses {
			match := true
			for _, m := range vs.LabelMatchers {
				if m.Name == "status" && !m.Matches(s) {
					match = false
				}
			}
			if match {
				out = append(out, s)
			}
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// Closed chats number hundreds to thousands (a day's worth: the chat gauges
// count the chats created within --imichat.lookback); open ones number tens. A panel that draws both draws the open ones as flat lines.
func TestReadabilityOpenStatusesApartFromClosed(t *testing.T) {
	open := 0
	for _, p := range loadVizPanels(t) {
		var statuses []string
		for _, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			statuses = append(statuses, statusesSelected(e)...)
		}
		slices.Sort(statuses)
		statuses = slices.Compact(statuses)
		if slices.Contains(statuses, "closed") && len(statuses) > 1 {
			t.Errorf("%s: shows closed chats with open ones %v on one scale: give closed its own panel", p, statuses)
		}
		if isTimeSeries(p) && len(statuses) > 1 && !slices.Contains(statuses, "closed") {
			open++
		}
	}
	if open == 0 {
		t.Error("no time series compares the open statuses (queued, picked, on hold)")
	}
}

// --- Point 2: a stable set of agents, every series in the legend.

// topk in a range query ranks at every step: over a range its series come and
// go and far more than k of them reach the legend. The set must be fixed,
// e.g. "x and on (assignee) topk(10, x @ end())". And no time series may
// return more series than its legend lists.
func TestReadabilityStableTopNAndLegendShowsEverySeries(t *testing.T) {
	checked := 0
	for _, p := range loadVizPanels(t) {
		if !isTimeSeries(p) {
			continue
		}
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			if p.Targets[i].Instant && !p.Targets[i].Range {
				continue
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if a, ok := n.(*parser.AggregateExpr); ok && (a.Op == parser.TOPK || a.Op == parser.BOTTOMK || a.Op == parser.LIMITK) {
					if !fixedInTime(a.Expr) {
						t.Errorf("%s target %s: %s ranks at every step of the range; rank once, at @ end(), and keep that set", p, p.Targets[i].RefID, a.Op)
					}
				}
				return nil
			})
		}
		n, capacity := panelSeriesBound(t, p), legendCapacity(p)
		switch {
		case n == unbounded:
			t.Errorf("%s: nothing bounds the number of series (bound user-data labels with a fixed topk)", p)
		case n > capacity:
			t.Errorf("%s: up to %d series, the legend lists %d: the rest scroll", p, n, capacity)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no time series panel")
	}
}

// --- Point 3: every row of a table or bar gauge visible, an asset's id readable.

// rowsBound is how many rows an instant top-N panel shows.
func rowsBound(t *testing.T, p vizPanel) int {
	n := 0
	for _, e := range p.exprs(t) {
		if e == nil {
			return unbounded
		}
		b := seriesBound(e, false)
		if b == unbounded {
			return unbounded
		}
		n += max(b, 1)
	}
	return n
}

func (p vizPanel) overrideWidth(column string) float64 {
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != column {
			continue
		}
		for _, pr := range o.Properties {
			var w float64
			if pr.ID == "custom.width" && json.Unmarshal(pr.Value, &w) == nil {
				return w
			}
		}
	}
	return 0
}

func TestReadabilityEveryRowVisibleAndAssetIDReadable(t *testing.T) {
	assetPanels := 0
	for _, p := range loadVizPanels(t) {
		var need float64
		switch p.Type {
		case "table":
			n := rowsBound(t, p)
			if n == unbounded {
				t.Errorf("%s: nothing bounds its rows (use topk)", p)
				continue
			}
			need = float64(n+1) * tableRowPx
		case "bargauge":
			n := rowsBound(t, p)
			if n == unbounded {
				t.Errorf("%s: nothing bounds its bars (use topk)", p)
				continue
			}
			bar := barMinVizHeight
			if p.Options.MinVizHeight != nil {
				bar = max(bar, *p.Options.MinVizHeight)
			}
			need = float64(n)*(bar+barSpacingPx) - barSpacingPx
		default:
			continue
		}
		if have := contentHeightPx(p); need > have {
			t.Errorf("%s: its rows need %.0f px, the panel has %.0f: the last ones hide behind a scrollbar (raise h or lower N)", p, need, have)
		}
	}

	// An asset is known by its id: two assets may share a name.
	for _, p := range loadVizPanels(t) {
		grouped := false
		for _, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				if a, ok := n.(*parser.AggregateExpr); ok && slices.Contains(a.Grouping, "asset_id") {
					grouped = true
				}
				return nil
			})
		}
		if !grouped {
			continue
		}
		assetPanels++
		if p.Type == "table" {
			column := "asset_id"
			for _, tr := range p.Transformations {
				if tr.Options.ExcludeByName["asset_id"] {
					t.Errorf("%s: hides the asset_id column", p)
				}
				if r := tr.Options.RenameByName["asset_id"]; r != "" {
					column = r
				}
			}
			if w := p.overrideWidth(column); w < float64(labelChars["asset_id"])*charPx+legendPadPx {
				t.Errorf("%s: column %q is %.0f px wide, an asset id (a UUID) needs %.0f", p, column, w, float64(labelChars["asset_id"])*charPx+legendPadPx)
			}
			continue
		}
		for _, tg := range p.Targets {
			if !strings.HasPrefix(strings.TrimSpace(tg.LegendFormat), "{{asset_id}}") {
				t.Errorf("%s target %s: legend %q: a cut name loses its end; put {{asset_id}} first or use a table", p, tg.RefID, tg.LegendFormat)
			}
		}
	}
	if assetPanels == 0 {
		t.Error("no panel shows chats by asset")
	}
}

// --- Point 4: durations in hours and minutes; lines where series overlap.

var durationUnits = []string{"ns", "µs", "ms", "s", "m", "h", "d", "dtdurations", "dtdurationms", "dthms", "suffix: min", "suffix: h"}

// isWait: the expression is time() minus a timestamp (or the reverse),
// maybe scaled: an age or a wait.
func isWait(e parser.Expr) bool {
	e = unwrap(e)
	if b, ok := e.(*parser.BinaryExpr); ok && (b.Op == parser.DIV || b.Op == parser.MUL) {
		if _, ok := unwrap(b.RHS).(*parser.NumberLiteral); ok {
			return isWait(b.LHS)
		}
	}
	b, ok := e.(*parser.BinaryExpr)
	if !ok || b.Op != parser.SUB {
		return false
	}
	isTime := func(e parser.Expr) bool {
		c, ok := unwrap(e).(*parser.Call)
		return ok && c.Func.Name == "time"
	}
	isTimestamp := func(e parser.Expr) bool {
		found := false
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && strings.HasSuffix(vs.Name, "_timestamp_seconds") {
				found = true
			}
			return nil
		})
		return found
	}
	return isTime(b.LHS) && isTimestamp(b.RHS) || isTimestamp(b.LHS) && isTime(b.RHS)
}

func unwrap(e parser.Expr) parser.Expr {
	for {
		switch x := e.(type) {
		case *parser.ParenExpr:
			e = x.Expr
		case *parser.StepInvariantExpr:
			e = x.Expr
		default:
			return e
		}
	}
}

// durationFormats: Grafana's units that print a number of seconds as a
// duration in its own units. Units of one scale ("s", "m", "h",
// "suffix: min") print decimal hours ("4.33 hour") or hundreds of minutes.
//
// dtdurations prints the largest unit and as many more as decimals says:
// with decimals 1 "4 hours, 20 minutes" (with none, Grafana guesses the
// decimals), but under a minute "45 seconds, 312 milliseconds". A stat uses
// it with decimals 1 and a range mapping of [0, 60) to a word ("under a
// minute"). A time series' axis ticks go through the unit but not the
// mappings: it uses dthms ("04:20:13", "00:00:45").
var durationFormats = []string{"dtdurations", "dthms"}

// mapsUnderAMinute: a range value mapping with a text covers 0 to 59 s.
func (p vizPanel) mapsUnderAMinute() bool {
	for _, m := range p.FieldConfig.Defaults.Mappings {
		if m.Type != "range" {
			continue
		}
		var o struct {
			From, To *float64
			Result   struct {
				Text string `json:"text"`
			} `json:"result"`
		}
		if json.Unmarshal(m.Options, &o) == nil && o.From != nil && o.To != nil && *o.From <= 0 && *o.To >= 59.99 && *o.To < 60 && o.Result.Text != "" {
			return true
		}
	}
	return false
}

// selectorNames: the metric names of the expression's selectors.
func selectorNames(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, vs.Name)
		}
		return nil
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// isHistogramMean: the sum of a histogram of seconds over its count
// (NAME_seconds_sum / NAME_seconds_count, each under increase or rate and
// an aggregation): a mean wait, such as the average speed of answer.
func isHistogramMean(e parser.Expr) bool {
	b, ok := unwrap(e).(*parser.BinaryExpr)
	if !ok || b.Op != parser.DIV {
		return false
	}
	l, r := selectorNames(b.LHS), selectorNames(b.RHS)
	if len(l) != 1 || len(r) != 1 {
		return false
	}
	family, ok := strings.CutSuffix(l[0], "_seconds_sum")
	return ok && r[0] == family+"_seconds_count"
}

// plottedWaits: the waits (time() minus a timestamp, or the reverse, and
// the mean of a histogram of seconds) the expression plots, and whether each is divided or multiplied by a number
// on its way to the panel. A wait that is a factor of another quantity
// (the quota's rate times the time to its reset) is not a duration shown.
func plottedWaits(e parser.Expr) (waits int, scaled bool) {
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		b, ok := n.(*parser.BinaryExpr)
		if !ok || !(b.Op == parser.SUB && isWait(b) || isHistogramMean(b)) {
			return nil
		}
		shown, byNumber := true, false
		for _, a := range path {
			ab, ok := a.(*parser.BinaryExpr)
			if !ok || ab == b {
				continue
			}
			switch ab.Op {
			case parser.LOR, parser.LAND, parser.LUNLESS:
			case parser.DIV, parser.MUL:
				if _, lit := unwrap(ab.RHS).(*parser.NumberLiteral); lit {
					byNumber = true
				} else {
					shown = false
				}
			default:
				shown = false
			}
		}
		if shown {
			waits++
			scaled = scaled || byNumber
		}
		return nil
	})
	return waits, scaled
}

// Rule 3 (issue 20; issue 11 plotted waits in minutes): a wait reads in hours
// and minutes. Every panel that shows a wait (a stat, a time series; the age
// of a timestamp, or a mean of a histogram of seconds such as the average
// speed of answer) plots it in seconds, unscaled, with a duration format. Durations do not add up,
// so they are not stacked; unstacked series that overlap are lines without
// fill.
func TestReadabilityDurationsAndOverlaps(t *testing.T) {
	waits := 0
	for _, p := range loadVizPanels(t) {
		def := p.FieldConfig.Defaults
		wait := false
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			n, scaled := plottedWaits(e)
			if n == 0 {
				continue
			}
			wait = true
			if scaled {
				t.Errorf("%s target %s: scales a wait (a number of minutes or hours prints as decimals); plot it in seconds with a duration format %v", p, p.Targets[i].RefID, durationFormats)
			}
		}
		if wait {
			waits++
			switch {
			case !slices.Contains(durationFormats, def.Unit):
				t.Errorf("%s: a wait with unit %q; use one of %v (\"s\" prints 4.33 hour)", p, def.Unit, durationFormats)
			case def.Unit == "dtdurations" && isTimeSeries(p):
				t.Errorf("%s: dtdurations on an axis prints \"50 seconds, 0 milliseconds\"; use dthms", p)
			case def.Unit == "dtdurations" && (def.Decimals == nil || *def.Decimals < 1):
				t.Errorf("%s: dtdurations without decimals 1 prints \"4 hours\" for 4 h 20 min", p)
			case def.Unit == "dtdurations" && !p.mapsUnderAMinute():
				t.Errorf("%s: dtdurations prints \"45 seconds, 312 milliseconds\" under a minute; map the range 0 to 59.999 to a word", p)
			}
		}
		if !isTimeSeries(p) {
			continue
		}
		duration := wait || slices.Contains(durationUnits, def.Unit)
		stacked := def.Custom.Stacking.Mode != "" && def.Custom.Stacking.Mode != "none"
		if duration && stacked {
			t.Errorf("%s: stacks durations (unit %q), which do not add up", p, def.Unit)
		}
		if !stacked && def.Custom.FillOpacity > 0 && panelSeriesBound(t, p) > 1 {
			t.Errorf("%s: fills (fillOpacity %v) under series that overlap; draw lines (fillOpacity 0)", p, def.Custom.FillOpacity)
		}
	}
	if waits == 0 {
		t.Error("no panel of a wait (time() - a timestamp)")
	}
}

// --- Point 5: legends that fit their panel.

func TestReadabilityLegendsFitPanelWidth(t *testing.T) {
	for _, p := range loadVizPanels(t) {
		lg := p.Options.Legend
		if lg == nil || !lg.ShowLegend {
			continue
		}
		item, width := legendItemPx(p), contentWidthPx(p)
		switch lg.Placement {
		case "right":
			if item > legendRightMx*width {
				t.Errorf("%s: the right legend needs %.0f px of the panel's %.0f (%d calcs), leaving the graph less than half: list it at the bottom or drop calcs", p, item, width, len(lg.Calcs))
			}
		default:
			if item > width {
				t.Errorf("%s: a legend item needs %.0f px, the panel is %.0f wide", p, item, width)
			}
		}
	}
}

// --- Point 6: the version panel readable for any build.

// The version label is empty for a plain go build and Prometheus drops an
// empty label, so {{version}} renders as "Value". A stamped version is
// git describe's, up to labelChars["version"] characters, on one line.
func TestReadabilityVersionPanelAnyBuild(t *testing.T) {
	found := 0
	for _, p := range loadVizPanels(t) {
		if !slices.Contains(p.metrics(t), "imichat_exporter_build_info") {
			continue
		}
		found++
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			if !strings.Contains(p.Targets[i].LegendFormat, "{{version}}") {
				t.Errorf("%s target %s: legend %q does not show the version", p, p.Targets[i].RefID, p.Targets[i].LegendFormat)
			}
			fills := false
			parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
				c, ok := n.(*parser.Call)
				if !ok || c.Func.Name != "label_replace" || len(c.Args) != 5 {
					return nil
				}
				s := make([]string, 4)
				for j := range s {
					if l, ok := unwrap(c.Args[j+1]).(*parser.StringLiteral); ok {
						s[j] = l.Val
					}
				}
				dst, repl, src, re := s[0], s[1], s[2], s[3]
				if m, err := labels.NewMatcher(labels.MatchRegexp, src, re); err == nil &&
					dst == "version" && src == "version" && m.Matches("") && strings.TrimSpace(repl) != "" {
					fills = true
				}
				return nil
			})
			if !fills {
				t.Errorf("%s target %s: an empty version label shows as \"Value\"; label_replace(..., \"version\", \"<name>\", \"version\", \"\")", p, p.Targets[i].RefID)
			}
		}
		if p.Type == "stat" {
			if p.Options.TextMode != "name" {
				t.Errorf("%s: textMode %q, want name (the version is the series name)", p, p.Options.TextMode)
			}
			size := p.Options.Text.ValueSize
			if size == 0 {
				t.Errorf("%s: no options.text.valueSize: Grafana sizes the text to the box and wraps a long version", p)
				continue
			}
			need := float64(labelChars["version"]) * 0.6 * size
			if have := contentWidthPx(p); need > have {
				t.Errorf("%s: a %d-character version at %v px needs %.0f px, the panel has %.0f: it wraps", p, labelChars["version"], size, need, have)
			}
		}
	}
	if found == 0 {
		t.Error("no panel shows the exporter's version")
	}
}

// --- Point 7: a 0/1 state as a state; axes that fit their data.

// A 0/1 gauge drawn as a line sits on the top border. An axis with no data to
// set its top runs to uPlot's default of 100: every time series gives a soft
// maximum, and none a hard one, which would clip a larger value.
func TestReadabilityStatesAndAxes(t *testing.T) {
	upShown := false
	for _, p := range loadVizPanels(t) {
		metrics := p.metrics(t)
		if slices.Equal(metrics, []string{"imichat_up"}) {
			upShown = upShown || p.Type == "state-timeline"
			if p.Type != "state-timeline" && p.Type != "stat" {
				t.Errorf("%s: imichat_up (0 or 1) as a %s; use a state-timeline or a stat", p, p.Type)
			}
		}
		if !isTimeSeries(p) {
			continue
		}
		def := p.FieldConfig.Defaults
		if def.Custom.AxisSoftMax == nil {
			t.Errorf("%s: no axisSoftMax: a flat zero series draws an axis to 100", p)
		}
		if def.Max != nil {
			t.Errorf("%s: a hard max %v clips larger values; use axisSoftMax", p, *def.Max)
		}
	}
	if !upShown {
		t.Error("no state-timeline of imichat_up over time")
	}
}

// --- Point 8: the service level first, then the queue's health; the
// exporter's own health last.

type section struct {
	row    vizPanel
	panels []vizPanel
}

// sections groups the panels under the row above them (by gridPos), top down.
func sections(t *testing.T, ps []vizPanel) []section {
	t.Helper()
	var rows, others []vizPanel
	for _, p := range ps {
		if p.Type == "row" {
			rows = append(rows, p)
		} else {
			others = append(others, p)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].GridPos.Y < rows[j].GridPos.Y })
	if len(rows) == 0 || rows[0].GridPos.Y != 0 {
		t.Fatal("the dashboard does not start with a row")
	}
	secs := make([]section, len(rows))
	for i, r := range rows {
		secs[i].row = r
	}
	for _, p := range others {
		i := sort.Search(len(rows), func(i int) bool { return rows[i].GridPos.Y > p.GridPos.Y }) - 1
		secs[i].panels = append(secs[i].panels, p)
	}
	return secs
}

func TestReadabilityQueueFirstExporterLast(t *testing.T) {
	ps := loadVizPanels(t)

	// No two panels overlap (a moved panel would cover another).
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if a.GridPos.X < b.GridPos.X+b.GridPos.W && b.GridPos.X < a.GridPos.X+a.GridPos.W &&
				a.GridPos.Y < b.GridPos.Y+b.GridPos.H && b.GridPos.Y < a.GridPos.Y+a.GridPos.H {
				t.Errorf("%s and %s overlap: %+v, %+v", a, b, a.GridPos, b.GridPos)
			}
		}
	}

	secs := sections(t, ps)
	if len(secs) < 3 {
		t.Fatalf("%d row(s): want the service level first, the queue next and the exporter's health last", len(secs))
	}
	// Issue 19: the numbers a supervisor is judged on open the dashboard
	// (TestReadabilityServiceLevelRow); the queue's health comes next.
	if secs[0].row.Title != serviceLevelRow {
		t.Errorf("first row %q: want %q", secs[0].row.Title, serviceLevelRow)
	}
	first, last := secs[1], secs[len(secs)-1]
	if !strings.Contains(strings.ToLower(last.row.Title), "exporter") {
		t.Errorf("last row %q: want the exporter's own health last", last.row.Title)
	}

	queue := func(p vizPanel) bool {
		for _, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			if s := statusesSelected(e); slices.Equal(s, []string{"queued"}) {
				return true
			}
		}
		return false
	}
	exporterOnly := func(p vizPanel) bool {
		ms := p.metrics(t)
		return len(ms) > 0 && !slices.ContainsFunc(ms, func(m string) bool { return !exporterOwnMetric.MatchString(m) })
	}

	// The row under the service level opens with the queue: its top-left
	// panel, and every panel of queued chats, are there.
	if len(first.panels) == 0 {
		t.Fatalf("second row %q is empty", first.row.Title)
	}
	topLeft := slices.MinFunc(first.panels, func(a, b vizPanel) int {
		if a.GridPos.Y != b.GridPos.Y {
			return a.GridPos.Y - b.GridPos.Y
		}
		return a.GridPos.X - b.GridPos.X
	})
	if !queue(topLeft) {
		t.Errorf("the dashboard opens with %s, not with the queue", topLeft)
	}
	for i, s := range secs {
		for _, p := range s.panels {
			if queue(p) && i != 1 {
				t.Errorf("%s shows the queue under row %q; put it under %q", p, s.row.Title, first.row.Title)
			}
		}
	}

	// The exporter's own health is last. One stat of it may stand in the
	// queue's row, where it says whether the numbers next to it can be
	// trusted.
	glance := 0
	for i, s := range secs[:len(secs)-1] {
		for _, p := range s.panels {
			if !exporterOnly(p) {
				continue
			}
			if i == 1 && p.Type == "stat" && glance == 0 {
				glance++
				continue
			}
			t.Errorf("%s shows the exporter's own health under row %q; put it under %q", p, s.row.Title, last.row.Title)
		}
	}
	for _, p := range last.panels {
		if !exporterOnly(p) {
			t.Errorf("%s under %q shows more than the exporter's own health", p, last.row.Title)
		}
	}
}

// --- Issue 20: the dashboard on a supervisor's wall screen.

// A step of a panel's thresholds (Value nil: the base, from -Infinity).
type thresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// A Grafana value mapping, as far as the checks read it.
type valueMapping struct {
	Type    string          `json:"type"`
	Options json.RawMessage `json:"options"`
}

// maxPlainSeries: up to this many lines, Grafana's classic palette gives
// colours that differ (green, yellow, light blue, orange, red); its next ones
// repeat them in other shades (blue, purple, violet, dark green, dark yellow).
const maxPlainSeries = 5

// minColourDistance: the CIE76 distance (ΔE) below which two line colours
// read as one on a wall screen. The pairs of Grafana's classic palette
// confused in the render of issue 20 are 10 to 37 apart (dark yellow and
// yellow 10, green and dark green 17, violet and purple 37): thin lines need
// 40. Eight colours at least 49 apart exist (the channels' in the dashboard).
const minColourDistance = 40.0

// Grafana's named colours of the base hues (theme.visualization, Grafana 9).
var namedColours = map[string]string{
	"green": "#73BF69", "red": "#F2495C", "blue": "#5794F2", "yellow": "#FADE2A",
	"orange": "#FF9830", "purple": "#B877D9",
}

// lab converts a colour ("#RRGGBB" or a named base hue) to CIE L*a*b* (D65).
func lab(c string) ([3]float64, bool) {
	if h, ok := namedColours[c]; ok {
		c = h
	}
	var r, g, b int
	if n, _ := fmt.Sscanf(strings.ToLower(c), "#%02x%02x%02x", &r, &g, &b); n != 3 || len(c) != 7 {
		return [3]float64{}, false
	}
	lin := func(v int) float64 {
		x := float64(v) / 255
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	R, G, B := lin(r), lin(g), lin(b)
	X := (0.4124*R + 0.3576*G + 0.1805*B) / 0.95047
	Y := 0.2126*R + 0.7152*G + 0.0722*B
	Z := (0.0193*R + 0.1192*G + 0.9505*B) / 1.08883
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	return [3]float64{116*f(Y) - 16, 500 * (f(X) - f(Y)), 200 * (f(Y) - f(Z))}, true
}

func colourDistance(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

// seriesColours: the fixed colours the panel's overrides give series by
// name, by series name.
func (p vizPanel) seriesColours() map[string]string {
	out := map[string]string{}
	for _, o := range p.FieldConfig.Overrides {
		name, ok := o.Matcher.Options.(string)
		if o.Matcher.ID != "byName" || !ok {
			continue
		}
		for _, pr := range o.Properties {
			var c struct {
				Mode       string `json:"mode"`
				FixedColor string `json:"fixedColor"`
			}
			if pr.ID == "color" && json.Unmarshal(pr.Value, &c) == nil && c.Mode == "fixed" {
				out[name] = c.FixedColor
			}
		}
	}
	return out
}

// Rule 1: never ten crossing lines told apart by the tooltip only. A time
// series of more than maxPlainSeries lines shows each line's values in its
// legend, and gives every line a fixed colour of its own, far enough from
// every other (the classic palette's sixth to tenth colours are shades of
// its first five). Per-agent views are bars or tables (see rowsBound).
func TestReadabilityManyLinesHaveValuesAndDistinctColours(t *testing.T) {
	many := 0
	for _, p := range loadVizPanels(t) {
		if !isTimeSeries(p) {
			continue
		}
		n := panelSeriesBound(t, p)
		if n <= maxPlainSeries {
			continue
		}
		many++
		if lg := p.Options.Legend; lg == nil || !lg.ShowLegend || len(lg.Calcs) == 0 {
			t.Errorf("%s: up to %d lines and a legend without values: show the legend with calcs (Last, Max)", p, n)
		}
		colours := p.seriesColours()
		if len(colours) < n {
			t.Errorf("%s: up to %d lines, %d with a fixed colour: the palette repeats its hues after %d; give each line its colour (an override by name)", p, n, len(colours), maxPlainSeries)
		}
		names := slices.Sorted(maps.Keys(colours))
		for i, a := range names {
			la, ok := lab(colours[a])
			if !ok {
				t.Errorf("%s: line %q: colour %q: use a #RRGGBB colour", p, a, colours[a])
				continue
			}
			for _, b := range names[i+1:] {
				lb, ok := lab(colours[b])
				if !ok {
					continue
				}
				if d := colourDistance(la, lb); d < minColourDistance {
					t.Errorf("%s: lines %q (%s) and %q (%s) are %.0f apart (ΔE), under %v: they read as one colour", p, a, colours[a], b, colours[b], d, minColourDistance)
				}
			}
		}
	}
	if many == 0 {
		t.Log("no time series with more than a handful of lines")
	}
}

// nullMapping: the text and colour a panel's value mappings give a
// missing value (Grafana's special mapping of null, NaN or both), if any.
func (p vizPanel) nullMapping() (text, colour string, ok bool) {
	for _, m := range p.FieldConfig.Defaults.Mappings {
		if m.Type != "special" {
			continue
		}
		var o struct {
			Match  string `json:"match"`
			Result struct {
				Text  string `json:"text"`
				Color string `json:"color"`
			} `json:"result"`
		}
		if json.Unmarshal(m.Options, &o) != nil {
			continue
		}
		if o.Match == "null" || o.Match == "null+nan" {
			return o.Result.Text, o.Result.Color, true
		}
	}
	return "", "", false
}

// neutralColour: a grey (no hue: chroma under 10 in L*a*b*), or none.
func neutralColour(c string) bool {
	if c == "transparent" || c == "text" {
		return true
	}
	l, ok := lab(c)
	return ok && math.Hypot(l[1], l[2]) < 10
}

// Rule 2: a stat or gauge without a value shows a word, in grey. Grafana
// colours a missing value as the bottom of the thresholds (the colour of
// -Infinity): the configuration reload tile of single-tenant mode, which has
// no configuration, stood in solid red. A special mapping of null and NaN
// gives the word and a neutral colour; noValue the same word when the query
// returns no series at all.
func TestReadabilityNoValueIsNeutral(t *testing.T) {
	stats := 0
	for _, p := range loadVizPanels(t) {
		if p.Type != "stat" && p.Type != "gauge" {
			continue
		}
		stats++
		text, colour, ok := p.nullMapping()
		switch {
		case !ok:
			t.Errorf("%s: no special value mapping of null+nan: a missing value takes the lowest threshold's colour (%q)", p, p.lowestThresholdColour())
			continue
		case strings.TrimSpace(text) == "":
			t.Errorf("%s: the mapping of a missing value has no text", p)
		case !neutralColour(colour):
			t.Errorf("%s: a missing value shows in %q; use a grey (no value is no alarm)", p, colour)
		}
		if nv := p.FieldConfig.Defaults.NoValue; nv != text {
			t.Errorf("%s: noValue %q, the mapping of a missing value %q: the same word for no series and a null", p, nv, text)
		}
		// Red (or orange) at the bottom of the thresholds only below a
		// threshold: a step above it in another colour.
		if steps := p.FieldConfig.Defaults.Thresholds.Steps; p.FieldConfig.Defaults.Color.Mode == "thresholds" && len(steps) > 0 {
			if alarm := hueOf(steps[0].Color); (alarm == "red" || alarm == "orange") && !slices.ContainsFunc(steps[1:], func(s thresholdStep) bool { return hueOf(s.Color) != alarm }) {
				t.Errorf("%s: %s whatever the value: no threshold to cross", p, steps[0].Color)
			}
		}
	}
	if stats == 0 {
		t.Error("no stat or gauge")
	}
}

func (p vizPanel) lowestThresholdColour() string {
	if s := p.FieldConfig.Defaults.Thresholds.Steps; len(s) > 0 {
		return s[0].Color
	}
	return ""
}

// hueOf names a colour's hue family (red, orange, yellow, green, blue,
// purple), "" for a grey or an unknown colour. Grafana's named shades
// (dark-red, semi-dark-green, light-blue...) belong to their base hue.
func hueOf(c string) string {
	for _, h := range []string{"red", "orange", "yellow", "green", "blue", "purple"} {
		if c == h || strings.HasSuffix(c, "-"+h) {
			return h
		}
	}
	l, ok := lab(c)
	if !ok || math.Hypot(l[1], l[2]) < 10 {
		return ""
	}
	deg := math.Atan2(l[2], l[1]) * 180 / math.Pi
	if deg < 0 {
		deg += 360
	}
	switch {
	case deg < 45 || deg >= 345:
		return "red"
	case deg < 70:
		return "orange"
	case deg < 105:
		return "yellow"
	case deg < 200:
		return "green"
	case deg < 290:
		return "blue"
	default:
		return "purple"
	}
}

// Rule 4: statuses the reader compares stand side by side: a stacked band's
// top edge is the sum of those below (the queued band of issue 20 topped at
// 420 with 99 queued). A time series stacks only where the parts add up, and
// then draws their total as a series of its own, out of the stack (an
// override of custom.stacking "none"), named "total".
func TestReadabilityStackedOnlyWithTotal(t *testing.T) {
	for _, p := range loadVizPanels(t) {
		if !isTimeSeries(p) {
			continue
		}
		if m := p.FieldConfig.Defaults.Custom.Stacking.Mode; m == "" || m == "none" {
			continue
		}
		total := false
		for _, o := range p.FieldConfig.Overrides {
			name, ok := o.Matcher.Options.(string)
			if o.Matcher.ID != "byName" || !ok || !strings.Contains(strings.ToLower(name), "total") {
				continue
			}
			named := slices.ContainsFunc(p.Targets, func(tg vizTarget) bool { return tg.LegendFormat == name })
			for _, pr := range o.Properties {
				var s struct {
					Mode string `json:"mode"`
				}
				if named && pr.ID == "custom.stacking" && json.Unmarshal(pr.Value, &s) == nil && s.Mode == "none" {
					total = true
				}
			}
		}
		if !total {
			t.Errorf("%s: stacked without its total: draw side by side (stacking none), or add a target named \"total\" taken out of the stack", p)
		}
	}
}

// paintsValue: the panel colours its value (a stat with a colour mode, a
// gauge, a bar gauge).
func (p vizPanel) paintsValue() bool {
	switch p.Type {
	case "gauge", "bargauge":
		return true
	case "stat":
		return p.Options.ColorMode != "none"
	}
	return false
}

// Rule 5: colour means a state only where a threshold says which. No
// gradient by size (Grafana's continuous schemes paint the largest count
// red: the most used tag as an alarm); a bar gauge's gradient or LCD display
// only over thresholds; a value with a single colour, whatever its size,
// in a colour that claims no state (blue, or a grey), not green, yellow,
// orange or red. Counts of tags and flags are one colour.
func TestReadabilityColourMeansStateOnlyWithThresholds(t *testing.T) {
	counts := 0
	for _, p := range loadVizPanels(t) {
		def := p.FieldConfig.Defaults
		if strings.HasPrefix(def.Color.Mode, "continuous-") || def.Color.Mode == "shades" {
			t.Errorf("%s: colour mode %q paints by size, with no threshold that means something; use one fixed colour (or thresholds)", p, def.Color.Mode)
		}
		steps := def.Thresholds.Steps
		if p.Type == "bargauge" && (p.Options.DisplayMode == "gradient" || p.Options.DisplayMode == "lcd") && (def.Color.Mode != "thresholds" || len(steps) < 2) {
			t.Errorf("%s: a %s bar without thresholds to grade it; use displayMode basic", p, p.Options.DisplayMode)
		}
		if !p.paintsValue() {
			continue
		}
		if strings.HasPrefix(def.Color.Mode, "palette-") {
			t.Errorf("%s: colour mode %q paints the value in the palette's colour of its series (green first): a state without a threshold; use thresholds or a fixed blue", p, def.Color.Mode)
		}
		var only string
		switch {
		case def.Color.Mode == "fixed":
			only = def.Color.FixedColor
		case def.Color.Mode == "thresholds" && len(steps) == 1:
			only = steps[0].Color
		}
		if h := hueOf(only); only != "" && h != "" && h != "blue" {
			t.Errorf("%s: %s whatever its value: a state colour without a threshold; use blue or a grey", p, only)
		}
		ms := p.metrics(t)
		if slices.Contains(ms, "imichat_chats_by_tag") || slices.Contains(ms, "imichat_chats_by_flag") {
			counts++
			if only == "" {
				t.Errorf("%s: counts of tags or flags in more than one colour (mode %q, %d thresholds): one neutral colour", p, def.Color.Mode, len(steps))
			}
		}
	}
	if counts == 0 {
		t.Error("no panel of tag or flag counts")
	}
}

// Rule 6: the words a supervisor uses. An API answer by what it means, not
// its code (4305 is success); the chat counts' lookback as "the last 24 h",
// not "the window"; scrapes held back as counts, not operations per second.
func TestReadabilitySupervisorWords(t *testing.T) {
	rateUnits := []string{"ops", "reqps", "rps", "wps", "iops", "opm", "rpm", "wpm"}
	for _, p := range loadVizPanels(t) {
		if strings.Contains(strings.ToLower(p.Title), "in the window") {
			t.Errorf("%s: \"the window\" is the exporter's word; say \"the last 24 h\"", p)
		}
		for _, tg := range p.Targets {
			if strings.Contains(tg.LegendFormat, "{{status_code}}") || strings.Contains(tg.LegendFormat, "{{ status_code }}") {
				t.Errorf("%s target %s: legend %q prints the API's status_code (4305 is success); name the outcome", p, tg.RefID, tg.LegendFormat)
			}
		}
		if slices.Contains(p.metrics(t), "imichat_refresh_skipped_total") && slices.Contains(rateUnits, p.FieldConfig.Defaults.Unit) {
			t.Errorf("%s: refreshes held back in %q: count them per interval (increase, unit short)", p, p.FieldConfig.Defaults.Unit)
		}
	}
}

// overrideProperty: the value of property id in the override of the series
// named name, if any.
func (p vizPanel) overrideProperty(name, id string) (json.RawMessage, bool) {
	for _, o := range p.FieldConfig.Overrides {
		if o.Matcher.ID != "byName" || o.Matcher.Options != name {
			continue
		}
		for _, pr := range o.Properties {
			if pr.ID == id {
				return pr.Value, true
			}
		}
	}
	return nil, false
}

const estimatedGoneMetric = "imichat_chats_queued_estimated_gone"

// Rule 7: the queued count as served rests partly on an estimate
// (imichat_chats_queued_estimated_gone: chats last read queued, counted
// picked because the tenant's queue times say they have most probably
// left). The queue's time series shows the count as served and as last read
// (served plus that gauge), the band between them shaded (the upper line
// filled down to the lower with fillBelowTo) and named "estimated gone (not
// yet re-read)" in the legend.
func TestReadabilityQueuedBandOfEstimatedGone(t *testing.T) {
	bands := 0
	for _, p := range loadVizPanels(t) {
		if !isTimeSeries(p) {
			continue
		}
		served, lastRead, named := "", "", false
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			tg := p.Targets[i]
			if strings.Contains(tg.LegendFormat, "estimated gone (not yet re-read)") {
				named = true
			}
			ms := metricNames(e, exportedMetricNames())
			queued := slices.Equal(statusesSelected(e), []string{"queued"})
			switch {
			case queued && slices.Equal(slices.Compact(slices.Sorted(slices.Values(ms))), []string{"imichat_chats"}):
				served = tg.LegendFormat
			case queued && slices.Contains(ms, "imichat_chats") && slices.Contains(ms, estimatedGoneMetric):
				if b, ok := unwrap(e).(*parser.BinaryExpr); ok && b.Op == parser.ADD {
					lastRead = tg.LegendFormat
				}
			}
		}
		if served == "" || lastRead == "" {
			if served != "" && slices.Contains(p.metrics(t), estimatedGoneMetric) {
				t.Errorf("%s: shows the estimate without the count as last read (served + %s)", p, estimatedGoneMetric)
			}
			continue
		}
		bands++
		var below string
		if v, ok := p.overrideProperty(lastRead, "custom.fillBelowTo"); !ok || json.Unmarshal(v, &below) != nil || below != served {
			t.Errorf("%s: the count as last read (%q) is not filled down to the count as served (%q): override custom.fillBelowTo", p, lastRead, served)
		}
		var fill float64
		if v, ok := p.overrideProperty(lastRead, "custom.fillOpacity"); !ok || json.Unmarshal(v, &fill) != nil || fill <= 0 {
			t.Errorf("%s: the band between %q and %q is not shaded (fillOpacity of the upper line)", p, served, lastRead)
		}
		if !named {
			t.Errorf("%s: no legend names the band \"estimated gone (not yet re-read)\"", p)
		}
	}
	if bands == 0 {
		t.Errorf("no time series shows the queued count as served and as last read (imichat_chats{status=\"queued\"} + %s) as a band", estimatedGoneMetric)
	}
}

// --- Issue 19: the service level on top.

const serviceLevelRow = "Service level"

// The service level's series: arrivals, exits from the queue, waits and
// handle times.
var serviceLevelMetric = regexp.MustCompile(`^imichat_(chats_created_total|chats_left_queue_total|chat_(queue_wait|handle)_seconds_(bucket|sum|count))$`)

const (
	waitHistogram    = "imichat_chat_queue_wait_seconds"
	leftQueueCounter = "imichat_chats_left_queue_total"
	arrivalsCounter  = "imichat_chats_created_total"

	// The service level's target: answered within 60 s.
	serviceLevelTargetLe = "60"
	// Each point of the row's time series and heatmap covers at least this
	// much (the panel's min interval): over Grafana's default step, a
	// minute, a channel's few chats make a share that jumps between 0
	// and 100 %.
	serviceLevelMinStep = 5 * time.Minute
)

// selectorOf: the selector of name under e, if there is exactly one.
func selectorOf(e parser.Expr, name string) (*parser.VectorSelector, bool) {
	var found []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name == name {
			found = append(found, vs)
		}
		return nil
	})
	if len(found) != 1 {
		return nil, false
	}
	return found[0], true
}

// matcherOf: the selector's matcher of label l, if any.
func matcherOf(vs *parser.VectorSelector, l string) *labels.Matcher {
	for _, m := range vs.LabelMatchers {
		if m.Name == l {
			return m
		}
	}
	return nil
}

// serviceLevelMeasure names what a query of the row shows: "service
// level" (answered within the target over answered), "average speed of
// answer" (the mean wait), "share abandoned" (closed over all exits),
// "arrivals per hour", or "" with why not.
func serviceLevelMeasure(e parser.Expr) (measure, problem string) {
	if isHistogramMean(e) {
		if b := unwrap(e).(*parser.BinaryExpr); slices.Equal(selectorNames(b.LHS), []string{waitHistogram + "_sum"}) {
			return "average speed of answer", ""
		}
	}
	if names := selectorNames(e); slices.Equal(names, []string{arrivalsCounter}) {
		return "arrivals per hour", ""
	}
	b, ok := unwrap(e).(*parser.BinaryExpr)
	if !ok || b.Op != parser.DIV {
		return "", "neither a share nor a mean nor arrivals"
	}
	if num, ok := selectorOf(b.LHS, waitHistogram+"_bucket"); ok {
		if !slices.Equal(selectorNames(b.RHS), []string{waitHistogram + "_count"}) {
			return "", "the chats answered within the target over something else than all the chats answered (_count)"
		}
		// Prometheus 3 stores a classic bucket's le as a float ("60.0"),
		// Prometheus 2 as written ("60").
		m := matcherOf(num, "le")
		if m == nil || !m.Matches(serviceLevelTargetLe) || !m.Matches(serviceLevelTargetLe+".0") || m.Matches("600") || m.Matches("+Inf") {
			return "", fmt.Sprintf("the bucket's le matcher %v must select the %s s bucket as Prometheus 2 and 3 store it (%q and %q), and no other", m, serviceLevelTargetLe, serviceLevelTargetLe, serviceLevelTargetLe+".0")
		}
		return "service level", ""
	}
	if num, ok := selectorOf(b.LHS, leftQueueCounter); ok {
		den, ok := selectorOf(b.RHS, leftQueueCounter)
		if m := matcherOf(num, "outcome"); m == nil || m.Type != labels.MatchEqual || m.Value != "closed" {
			return "", "abandoned chats are the exits with outcome=\"closed\""
		}
		if !ok || matcherOf(den, "outcome") != nil {
			return "", "abandoned chats over something else than every exit from the queue (all outcomes)"
		}
		return "share abandoned", ""
	}
	return "", "neither a share nor a mean nor arrivals"
}

// noValueAsZero: the query turns "no chat" into a number (or, vector(),
// clamp_min of a denominator), a 0 % where there is no share to show.
func noValueAsZero(e parser.Expr) bool {
	found := false
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.BinaryExpr:
			found = found || n.Op == parser.LOR
		case *parser.Call:
			switch n.Func.Name {
			case "vector", "clamp_min", "clamp", "absent":
				found = true
			}
		}
		return nil
	})
	return found
}

// The "Service level" row (issue 19) opens the dashboard: the numbers a
// contact centre is judged on. Each of the service level (answered within
// 60 s), the average speed of answer, the arrivals per hour and the share
// abandoned stands as a stat and as a time series per channel, next to a
// heatmap of the waits. A share is a share of chats, never 0 % for no chat
// (Grafana's null mapping shows the word); each point covers enough minutes
// to be a share of several chats; and each panel says what it counts and
// where the exporter's reads limit it.
func TestReadabilityServiceLevelRow(t *testing.T) {
	secs := sections(t, loadVizPanels(t))
	row := secs[0]
	if row.row.Title != serviceLevelRow {
		t.Fatalf("first row %q: want %q", row.row.Title, serviceLevelRow)
	}
	if row.row.GridPos.Y != 0 {
		t.Errorf("row %q at y %d: want the top", serviceLevelRow, row.row.GridPos.Y)
	}
	shown := map[string]map[string]bool{} // measure → panel types
	heatmaps := 0
	for _, p := range row.panels {
		ms := p.metrics(t)
		if len(ms) == 0 || slices.ContainsFunc(ms, func(m string) bool { return !serviceLevelMetric.MatchString(m) }) {
			t.Errorf("%s under %q reads %v: only the service level's metrics belong there", p, serviceLevelRow, ms)
		}
		desc := strings.ToLower(loadDescription(t, p.ID))
		if slices.ContainsFunc(ms, func(m string) bool { return strings.HasPrefix(m, waitHistogram) }) && !strings.Contains(desc, "answered chats only") {
			t.Errorf("%s: reads the waits of answered chats; its description must say \"answered chats only\" (an abandoned chat has no wait there)", p)
		}
		if slices.Contains(ms, arrivalsCounter) && (!strings.Contains(desc, "start") || !strings.Contains(desc, "down")) {
			t.Errorf("%s: counts arrivals; its description must say that only chats created since the exporter started count, and none while it is down", p)
		}
		if slices.ContainsFunc(ms, func(m string) bool { return strings.HasPrefix(m, waitHistogram) || m == leftQueueCounter }) && !strings.Contains(desc, "reads") {
			t.Errorf("%s: dates exits from the queue; its description must say they are dated as well as the exporter's reads allow", p)
		}
		if p.Type != "stat" && p.Type != "heatmap" {
			if d, err := model.ParseDuration(p.Interval); err != nil || time.Duration(d) < serviceLevelMinStep {
				t.Errorf("%s: min interval %q: each point must cover %v at least (\"interval\"), or a channel's few chats make a share that jumps between 0 and 100 %%", p, p.Interval, serviceLevelMinStep)
			}
		}
		if p.Type == "heatmap" {
			heatmaps++
			checkWaitHeatmap(t, p)
			continue
		}
		for i, e := range p.exprs(t) {
			if e == nil {
				continue
			}
			tg := p.Targets[i]
			if noValueAsZero(e) {
				t.Errorf("%s target %s: turns \"no chat\" into a number (or, vector, clamp): no chat answered is no share and no wait, not 0", p, tg.RefID)
				continue
			}
			measure, problem := serviceLevelMeasure(e)
			if problem != "" {
				t.Errorf("%s target %s: %s", p, tg.RefID, problem)
				continue
			}
			if shown[measure] == nil {
				shown[measure] = map[string]bool{}
			}
			shown[measure][p.Type] = true
			if (measure == "service level" || measure == "share abandoned") && p.FieldConfig.Defaults.Unit != "percentunit" {
				t.Errorf("%s: a share in %q; use percentunit, as every share of the dashboard", p, p.FieldConfig.Defaults.Unit)
			}
		}
	}
	for _, m := range []string{"service level", "average speed of answer", "arrivals per hour", "share abandoned"} {
		for _, typ := range []string{"stat", "timeseries"} {
			if !shown[m][typ] {
				t.Errorf("row %q: no %s of the %s", serviceLevelRow, typ, m)
			}
		}
	}
	if heatmaps == 0 {
		t.Errorf("row %q: no heatmap of the queue waits", serviceLevelRow)
	}
}

// checkWaitHeatmap: Grafana draws a Prometheus histogram as a heatmap when
// the query returns its buckets' increases by le and the target's format is
// heatmap (Grafana then turns the cumulative buckets into counts per
// bucket), without its own bucketing (calculate off). The cells' colour is
// a count, in one neutral hue: no state (rule 5). The wait axis reads as
// hours:minutes:seconds (rule 3).
func checkWaitHeatmap(t *testing.T, p vizPanel) {
	t.Helper()
	if len(p.Targets) != 1 {
		t.Errorf("%s: %d targets, want the buckets' query alone", p, len(p.Targets))
		return
	}
	tg := p.Targets[0]
	if tg.Format != "heatmap" {
		t.Errorf("%s: target format %q, want heatmap (the buckets de-accumulated by le)", p, tg.Format)
	}
	if tg.LegendFormat != "{{le}}" {
		t.Errorf("%s: legend %q, want {{le}}: Grafana names the rows by the bucket's bound", p, tg.LegendFormat)
	}
	e, err := parseGrafanaExpr(tg.Expr, sentinelValues)
	if err != nil {
		t.Errorf("%s: %v", p, err)
		return
	}
	ok := false
	if a, isAgg := unwrap(e).(*parser.AggregateExpr); isAgg && a.Op == parser.SUM && !a.Without && slices.Equal(a.Grouping, []string{"le"}) {
		if c, isCall := unwrap(a.Expr).(*parser.Call); isCall && c.Func.Name == "increase" {
			if ms, isM := c.Args[0].(*parser.MatrixSelector); isM && ms.Range == rateIntervalSentinel {
				vs, _ := ms.VectorSelector.(*parser.VectorSelector)
				ok = vs != nil && vs.Name == waitHistogram+"_bucket" && matcherOf(vs, "le") == nil
			}
		}
	}
	if !ok {
		t.Errorf("%s: %q: want sum by (le) (increase(%s_bucket{...}[$__rate_interval])), every bucket", p, tg.Expr, waitHistogram)
	}
	if c := p.Options.Calculate; c == nil || *c {
		t.Errorf("%s: calculate must be false: the buckets are the exporter's, Grafana must not bucket them again", p)
	}
	switch c := p.Options.Color; {
	case c.Mode == "scheme" && (c.Scheme == "Blues" || c.Scheme == "Greys"):
	case c.Mode == "opacity" && (hueOf(c.Fill) == "blue" || neutralColour(c.Fill)):
	default:
		t.Errorf("%s: colour %+v: counts in one neutral hue (scheme Blues or Greys, or opacity of a blue): a scheme of several hues reads as states", p, c)
	}
	if !slices.Contains(durationFormats, p.Options.YAxis.Unit) {
		t.Errorf("%s: wait axis in %q; use one of %v", p, p.Options.YAxis.Unit, durationFormats)
	}
}

// loadDescription: the description of the panel with id.
func loadDescription(t *testing.T, id int) string {
	t.Helper()
	for _, p := range allPanels(loadDashboard(t).Panels) {
		if p.ID == id {
			return p.Description
		}
	}
	t.Fatalf("no panel with id %d", id)
	return ""
}

// A share reads on one scale across the dashboard: percentunit (0 to 1),
// as the API's error ratio and the quota's share. Its thresholds, minimum,
// maximum and axis' soft maximum lie within 0 and 1 (a threshold of 80 on
// a 0–1 share is never crossed). Grafana's "percent" (0 to 100) would need
// the query scaled by 100; the dashboard uses none.
func TestReadabilityPercentScale(t *testing.T) {
	shares := 0
	for _, p := range loadVizPanels(t) {
		def := p.FieldConfig.Defaults
		switch def.Unit {
		case "percent":
			t.Errorf("%s: unit percent (0 to 100); use percentunit (0 to 1), as every share of the dashboard", p)
		case "percentunit":
			shares++
			bounds := map[string]*float64{"min": def.Min, "max": def.Max, "axisSoftMax": def.Custom.AxisSoftMax}
			for i, s := range def.Thresholds.Steps {
				bounds[fmt.Sprintf("threshold %d", i)] = s.Value
			}
			for what, v := range bounds {
				if v != nil && (*v < 0 || *v > 1) {
					t.Errorf("%s: percentunit with %s %v: a share lies within 0 and 1", p, what, *v)
				}
			}
		}
	}
	if shares == 0 {
		t.Error("no panel shows a share")
	}
}
