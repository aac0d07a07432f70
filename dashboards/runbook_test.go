package dashboards

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// runbookBase is where alerts/README.md, the alerts' runbook, is read.
const runbookBase = "https://github.com/imichat-exporter/imichat_exporter/blob/main/alerts/README.md"

// Every alert's runbook_url is its section of alerts/README.md: the anchor
// GitHub gives the heading that names the alert (an alert's name is letters
// and digits only, so its anchor is the name lower-cased).
func TestAlertRunbookURLs(t *testing.T) {
	b, err := os.ReadFile(alertsReadme)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		want := runbookBase + "#" + strings.ToLower(r.Alert)
		if got := r.Annotations["runbook_url"]; got != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, got, want)
		}
		heading := regexp.MustCompile(`(?m)^#{2,4} +` + regexp.QuoteMeta(r.Alert) + `\s*$`)
		if !heading.Match(b) {
			t.Errorf("alert %s: its runbook_url names no heading of %s", r.Alert, alertsReadme)
		}
	}
}
