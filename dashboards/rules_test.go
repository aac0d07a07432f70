package dashboards

import (
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "../alerts/imichat.rules.yml"
	rulesTestFile = "../alerts/imichat.rules_test.yml"
	alertsReadme  = "../alerts/README.md"
)

// Alerts the project promises (issue 4); the rules file may hold more.
var requiredAlerts = []string{
	"ImichatAccessTokenExpired",
	"ImichatAccessTokenOrTeamInvalid",
	"ImichatExporterCannotReadAPI",
	"ImichatExporterDown",
	"ImichatTooManyChatsQueued",
	"ImichatChatQueuedTooLong",
	"ImichatQuotaExhaustionPredicted",
	"ImichatAPIErrorRatioHigh",
	"ImichatProbeFailed",
	"ImichatExporterConfigReloadFailed",
}

var (
	camelCaseAlert = regexp.MustCompile(`^Imichat[A-Z][A-Za-z0-9]*$`)
	severities     = []string{"critical", "warning", "info"}
)

func loadRules(t *testing.T) []rulefmt.Rule {
	t.Helper()
	rgs, errs := rulefmt.ParseFile(rulesFile, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if rgs == nil {
		t.FailNow()
	}
	var rules []rulefmt.Rule
	for _, g := range rgs.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", rulesFile)
	}
	return rules
}

func alertNames(rules []rulefmt.Rule) []string {
	var names []string
	for _, r := range rules {
		if r.Alert != "" {
			names = append(names, r.Alert)
		}
	}
	return names
}

// Every rule parses, names only exported metrics (and `up`, for the exporter-down
// alert), and every alert has a CamelCase name, a severity and its annotations.
func TestAlertRules(t *testing.T) {
	allowed := append(exportedMetricNames(), "up")
	rules := loadRules(t)
	seen := map[string]bool{}
	for _, r := range rules {
		name := r.Alert + r.Record
		e, err := promqlParser.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(metricNames(e, allowed)) == 0 {
			t.Errorf("%s: selects no metric", name)
		}
		if bad := unknownMetrics(e, allowed); len(bad) > 0 {
			t.Errorf("%s: metrics not exported by imichat_exporter: %v", name, bad)
		}
		if r.Alert == "" {
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if !camelCaseAlert.MatchString(r.Alert) {
			t.Errorf("alert %q: want a CamelCase name starting with Imichat", r.Alert)
		}
		if !slices.Contains(severities, r.Labels["severity"]) {
			t.Errorf("alert %s: severity label %q, want one of %v", r.Alert, r.Labels["severity"], severities)
		}
		for _, a := range []string{"summary", "description"} {
			if r.Annotations[a] == "" {
				t.Errorf("alert %s: no %s annotation", r.Alert, a)
			}
		}
	}
	for _, want := range requiredAlerts {
		if !seen[want] {
			t.Errorf("alert %s is missing from %s", want, rulesFile)
		}
	}
}

// alerts/README.md has a runbook section (a heading) for every alert.
func TestAlertsDocumentedInReadme(t *testing.T) {
	b, err := os.ReadFile(alertsReadme)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range alertNames(loadRules(t)) {
		heading := regexp.MustCompile(`(?m)^#{2,4} +` + regexp.QuoteMeta(name) + `\s*$`)
		if !heading.Match(b) {
			t.Errorf("%s has no heading for alert %s", alertsReadme, name)
		}
	}
}

// The promtool unit tests cover every alert both firing and not firing. (promtool
// itself runs them: alerts/check.sh.)
func TestAlertUnitTestsCoverEveryAlert(t *testing.T) {
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tests []struct {
			AlertRuleTests []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, at := range tc.AlertRuleTests {
			if len(at.ExpAlerts) > 0 {
				firing[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	for _, name := range alertNames(loadRules(t)) {
		if !firing[name] {
			t.Errorf("%s: no unit test where %s fires", rulesTestFile, name)
		}
		if !quiet[name] {
			t.Errorf("%s: no unit test where %s does not fire", rulesTestFile, name)
		}
	}
}

// Multi-target mode: Prometheus probes /probe?tenant=NAME&team=ID and adds the
// labels tenant and team to every series of a probe; single-tenant mode has
// neither. Every alert works per target in both modes: no aggregation or
// vector matching drops tenant or team (the quota alert drops team only, its
// numbers being the tenant's), and the annotations name the tenant and team.
// The alerts about the exporter itself (its /metrics: `up` without a tenant,
// imichat_exporter_*) are exempt.
func TestAlertRulesPerTarget(t *testing.T) {
	rateLimit := regexp.MustCompile(`^imichat_api_rate_limit_`)
	exporterOwn := regexp.MustCompile(`^imichat_exporter_`)
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		e, err := promqlParser.ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		own, perTenant := true, true
		parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			inAbsent := slices.ContainsFunc(path, func(p parser.Node) bool {
				c, ok := p.(*parser.Call)
				return ok && c.Func.Name == "absent"
			})
			switch {
			case vs.Name == "up":
				// The exporter's own target and the probes' are told apart
				// by the tenant label (absent() names no target).
				switch {
				case hasMatcher(vs, "tenant", labels.MatchEqual, ""):
				case hasMatcher(vs, "tenant", labels.MatchNotEqual, ""):
					own = false
				case !inAbsent:
					t.Errorf("%s: %s matches the exporter's own target and every probe alike; add tenant=\"\" or tenant!=\"\"", r.Alert, vs)
				}
				perTenant = false
			case exporterOwn.MatchString(vs.Name):
				perTenant = false
			case rateLimit.MatchString(vs.Name):
				own = false
			default:
				own, perTenant = false, false
			}
			return nil
		})
		if own {
			continue
		}

		// The labels the alert must keep: tenant, and team unless the
		// alert is about the tenant's quota.
		keep := []string{"tenant", "team"}
		if perTenant {
			keep = []string{"tenant"}
		}
		dropsTeam := false
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.AggregateExpr:
				for _, l := range []string{"tenant", "team"} {
					kept := slices.Contains(n.Grouping, l) != n.Without
					switch {
					case !kept && slices.Contains(keep, l):
						t.Errorf("%s: %s drops %s: keep the targets apart (by (..., tenant, team) or without (...))", r.Alert, n, l)
					case !kept:
						dropsTeam = true
					}
				}
			case *parser.BinaryExpr:
				vm := n.VectorMatching
				if vm == nil || (len(vm.MatchingLabels) == 0 && !vm.On) {
					return nil
				}
				for _, l := range keep {
					if slices.Contains(vm.MatchingLabels, l) != vm.On {
						t.Errorf("%s: %s matches the two sides without %s: a target could match another's", r.Alert, n.Op, l)
					}
				}
			}
			return nil
		})
		if perTenant && !dropsTeam {
			t.Errorf("%s: alerts on the tenant's quota once per team; drop team (max without (team) ...)", r.Alert)
		}
		for _, a := range []string{"summary", "description"} {
			for _, l := range keep {
				if !strings.Contains(r.Annotations[a], "$labels."+l) {
					t.Errorf("%s: the %s does not name the %s ($labels.%s)", r.Alert, a, l, l)
				}
			}
		}
	}
}
