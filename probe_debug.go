package main

import (
	"bytes"
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// serveDebugProbe answers /probe?...&debug=true as blackbox_exporter does:
// plain text with the probe's log lines (every level, whatever
// --log.level), the team's last refresh (its plan: why it read or was held
// back, the price of a page, what the head was worth; the pages it read per
// part; its errors), the tenant's quota, and the metrics the probe would
// have served.
func serveDebugProbe(w http.ResponseWriter, r *http.Request, team *tenants.Team, tap *logTap, waits scrapeWaits, logger log.Logger) {
	var mark uint64
	probeLines := func() []tapLine { return nil }
	if tap != nil {
		mark = tap.mark()
		var id string
		id, probeLines = tap.capture()
		logger = log.With(logger, "debug_probe", id)
	}
	start := time.Now()
	scrape := r.Clone(r.Context())
	scrape.Header.Del("Accept") // the text format
	scrape.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	newMetricsHandler(team.Registry, team.Source(), waits, logger,
		collector.WithLabelLimit(team.LabelLimit)).ServeHTTP(rec, scrape)
	took := time.Since(start)
	lines := probeLines()
	var earlierLines, sinceLines []tapLine
	if tap != nil {
		earlierLines, sinceLines = tap.teamLines(team.Tenant, team.ID, mark)
	}
	ofProbe := append(lines, sinceLines...)
	slices.SortFunc(ofProbe, func(a, b tapLine) int { return cmp.Compare(a.seq, b.seq) })
	earlier, since := texts(earlierLines), texts(sinceLines)

	var b bytes.Buffer
	fmt.Fprintf(&b, "Probe of target %s/%s (tenant %s, team %s) at %s: the metrics answered HTTP %d in %v.\n",
		team.Tenant, team.ID, team.Tenant, team.ID, start.UTC().Format(time.RFC3339), rec.Code, took.Round(time.Millisecond))
	section(&b, "Logs of this probe (every level; the refresh it started or joined included)", texts(ofProbe))
	all := append(append([]string{}, earlier...), since...)
	section(&b, "Last refresh: its plan (why: what decided it; held_back: why the pull was held back; price and worth in chat-seconds)",
		lastWith(all, `msg="refresh plan"`))
	section(&b, "Last refresh: pages read per part (head, deepen, open, sweep) and its error", lastWith(all, `msg="refresh read"`))
	var problems []string
	for _, l := range all {
		if strings.Contains(l, "level=error") || strings.Contains(l, "level=warn") || strings.Contains(l, `msg="request failed"`) {
			problems = append(problems, l)
		}
	}
	section(&b, "The team's recent errors and warnings (status codes: imichat_api_responses_total below)", problems)
	section(&b, "Quota of tenant "+team.Tenant+" (shared by its teams)", []string{logfmtLine(team.QuotaState(time.Now()))})
	section(&b, "The team's earlier log lines, oldest first", earlier)
	fmt.Fprintf(&b, "\nMetrics that would have been served:\n")
	b.Write(rec.Body.Bytes())

	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b.Bytes())
}

func texts(lines []tapLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.text
	}
	return out
}

func section(b *bytes.Buffer, title string, lines []string) {
	fmt.Fprintf(b, "\n%s:\n", title)
	if len(lines) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, l := range lines {
		fmt.Fprintf(b, "  %s\n", l)
	}
}

// lastWith is the last of lines that contains s, as a list of at most one.
func lastWith(lines []string, s string) []string {
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], s) {
			return lines[i : i+1]
		}
	}
	return nil
}

func logfmtLine(keyvals []any) string {
	var b bytes.Buffer
	log.NewLogfmtLogger(&b).Log(keyvals...)
	return strings.TrimRight(b.String(), "\n")
}
