// Package dashboards holds the Grafana dashboard for imichat_exporter
// (imichat-overview.json) and the tests that check it, and the Prometheus alerting
// rules in ../alerts, against the exporter's metric contract.
//
// readability_test.go checks what a supervisor reads on the rendered dashboard
// (issue 11), from the JSON and an estimate of Grafana's layout on a 1280 px
// wide screen: open statuses apart from closed, top-N sets fixed over a range,
// every legend entry and table or bar-gauge row visible, waits in hours and
// minutes and lines where series overlap, a version for any
// build, soft axis maxima, and rows from the queue's health down to the
// exporter's own. Issue 20 added the wall screen's rules: more than five lines
// only with legend values and a colour each, far apart; a missing value in
// grey with a word, red only below a threshold; waits in hours and minutes;
// stacks only with their total; colour as state only over thresholds (tags
// and flags in one colour); a supervisor's words; and the queued count's
// band of chats estimated gone but not yet re-read. Issue 19 put a "Service
// level" row on top, above the queue: answered within 60 s, average speed
// of answer, arrivals per hour and the share abandoned, each as a stat over
// the time range and per channel over time, and a heatmap of the waits;
// shares are percentunit everywhere, and no chat is no share, not 0 %.
//
// Both exporter modes use the same dashboard and rules: single-tenant (series
// with job and instance) and multi-target (/probe?tenant=NAME&team=ID, whose
// series Prometheus labels with tenant and team). dashboard_test.go checks the
// tenant and team variables, that every query filters on them and names and
// aggregates targets so that both modes read right; rules_test.go that every
// alert keeps the targets apart and names them.
package dashboards
