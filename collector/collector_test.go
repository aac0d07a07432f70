package collector

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// staticSource returns the same snapshot, or error, every time.
type staticSource struct {
	snap Snapshot
	err  error
}

func (s staticSource) Snapshot(context.Context) (Snapshot, error) { return s.snap, s.err }

// aggregate counts chats as a source keeping them all would.
func aggregate(chats []apiclient.Chat) *Counts {
	c := NewCounts()
	for i := range chats {
		c.Add(&chats[i])
	}
	c.SetOldest(slices.Values(pointers(chats)))
	return c
}

func pointers(chats []apiclient.Chat) []*apiclient.Chat {
	out := make([]*apiclient.Chat, len(chats))
	for i := range chats {
		out[i] = &chats[i]
	}
	return out
}

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// population is a small tenant whose every gauge is worked out by hand below.
var population = []apiclient.Chat{
	{ID: "1", Status: "queued", Channel: "sms", CreatedAt: t0.Add(-5 * time.Minute), Asset: apiclient.Asset{ID: "15550100", Name: "Long code"}, Tags: []string{"vip"}},
	{ID: "2", Status: "queued", Channel: "sms", CreatedAt: t0.Add(-2 * time.Minute), Asset: apiclient.Asset{ID: "15550100", Name: "Long code"}},
	{ID: "3", Status: "queued", Channel: "whatsapp", CreatedAt: t0.Add(-1 * time.Minute), Asset: apiclient.Asset{ID: "wa-key", Name: "WA"}, Tags: []string{"vip", "billing", "vip"}},
	{ID: "4", Status: "picked", Channel: "livechat", CreatedAt: t0.Add(-30 * time.Minute), Assignee: "ann", Asset: apiclient.Asset{ID: "app1", Name: "Site"}, Flag: "red"},
	{ID: "5", Status: "onhold", Channel: "email", CreatedAt: t0.Add(-48 * time.Hour), Assignee: "ann", Asset: apiclient.Asset{ID: "help@example.test", Name: "Help"}},
	{ID: "6", Status: "closed", Channel: "sms", CreatedAt: t0.Add(-72 * time.Hour), Assignee: "bob", Asset: apiclient.Asset{ID: "15550100", Name: "Long code"}, Flag: "red"},
	{ID: "7", Status: "picked", Channel: "telegram", CreatedAt: time.Time{}, Assignee: "bob"}, // unknown channel, no creation time
}

// gridExposition writes imichat_chats for every documented pair, with the
// given non-zero values, plus any extra undocumented pairs.
func gridExposition(nonzero map[[2]string]int) string {
	var lines []string
	seen := map[[2]string]bool{}
	for _, s := range Statuses {
		for _, ch := range Channels {
			k := [2]string{s, ch}
			seen[k] = true
			lines = append(lines, fmt.Sprintf(`imichat_chats{channel=%q,status=%q} %d`, ch, s, nonzero[k]))
		}
	}
	for k, v := range nonzero {
		if !seen[k] {
			lines = append(lines, fmt.Sprintf(`imichat_chats{channel=%q,status=%q} %d`, k[1], k[0], v))
		}
	}
	sort.Strings(lines)
	return "# HELP imichat_chats Chats by status and channel. Every documented status and channel pair is present, 0 when there is none.\n" +
		"# TYPE imichat_chats gauge\n" + strings.Join(lines, "\n") + "\n"
}

func TestChatCollectorKnownPopulation(t *testing.T) {
	src := staticSource{snap: Snapshot{Counts: aggregate(population), Pages: 1, Duration: 1500 * time.Millisecond}}
	c := NewChatCollector(context.Background(), src, nil)

	tests := []struct {
		metric string
		want   string
	}{
		{"imichat_up", `
# HELP imichat_up 1 when the last refresh of the chat list read every page it asked for without error, else 0 (and no chat gauges are exported).
# TYPE imichat_up gauge
imichat_up 1
`},
		{"imichat_last_refresh_pages", `
# HELP imichat_last_refresh_pages Pages requested by the last refresh of the chat list.
# TYPE imichat_last_refresh_pages gauge
imichat_last_refresh_pages 1
`},
		{"imichat_last_refresh_duration_seconds", `
# HELP imichat_last_refresh_duration_seconds How long the last refresh of the chat list took, in seconds.
# TYPE imichat_last_refresh_duration_seconds gauge
imichat_last_refresh_duration_seconds 1.5
`},
		{"imichat_chats", gridExposition(map[[2]string]int{
			{"queued", "sms"}: 2, {"queued", "whatsapp"}: 1, {"picked", "livechat"}: 1,
			{"onhold", "email"}: 1, {"closed", "sms"}: 1, {"picked", "telegram"}: 1,
		})},
		{"imichat_chats_by_assignee", `
# HELP imichat_chats_by_assignee Chats by assigned agent's login id and status; assignee="" for unassigned chats.
# TYPE imichat_chats_by_assignee gauge
imichat_chats_by_assignee{assignee="",status="closed"} 0
imichat_chats_by_assignee{assignee="",status="onhold"} 0
imichat_chats_by_assignee{assignee="",status="picked"} 0
imichat_chats_by_assignee{assignee="",status="queued"} 3
imichat_chats_by_assignee{assignee="ann",status="closed"} 0
imichat_chats_by_assignee{assignee="ann",status="onhold"} 1
imichat_chats_by_assignee{assignee="ann",status="picked"} 1
imichat_chats_by_assignee{assignee="ann",status="queued"} 0
imichat_chats_by_assignee{assignee="bob",status="closed"} 1
imichat_chats_by_assignee{assignee="bob",status="onhold"} 0
imichat_chats_by_assignee{assignee="bob",status="picked"} 1
imichat_chats_by_assignee{assignee="bob",status="queued"} 0
`},
		{"imichat_chats_by_tag", `
# HELP imichat_chats_by_tag Chats by tag and status; a chat with several tags counts once per tag, tag="" for chats without tags.
# TYPE imichat_chats_by_tag gauge
imichat_chats_by_tag{status="closed",tag=""} 1
imichat_chats_by_tag{status="onhold",tag=""} 1
imichat_chats_by_tag{status="picked",tag=""} 2
imichat_chats_by_tag{status="queued",tag=""} 1
imichat_chats_by_tag{status="closed",tag="billing"} 0
imichat_chats_by_tag{status="onhold",tag="billing"} 0
imichat_chats_by_tag{status="picked",tag="billing"} 0
imichat_chats_by_tag{status="queued",tag="billing"} 1
imichat_chats_by_tag{status="closed",tag="vip"} 0
imichat_chats_by_tag{status="onhold",tag="vip"} 0
imichat_chats_by_tag{status="picked",tag="vip"} 0
imichat_chats_by_tag{status="queued",tag="vip"} 2
`},
		{"imichat_chats_by_flag", `
# HELP imichat_chats_by_flag Chats by the flag currently applied, and status; flag="" for chats without a flag.
# TYPE imichat_chats_by_flag gauge
imichat_chats_by_flag{flag="",status="closed"} 0
imichat_chats_by_flag{flag="",status="onhold"} 1
imichat_chats_by_flag{flag="",status="picked"} 1
imichat_chats_by_flag{flag="",status="queued"} 3
imichat_chats_by_flag{flag="red",status="closed"} 1
imichat_chats_by_flag{flag="red",status="onhold"} 0
imichat_chats_by_flag{flag="red",status="picked"} 1
imichat_chats_by_flag{flag="red",status="queued"} 0
`},
		{"imichat_chats_oldest_created_timestamp_seconds", fmt.Sprintf(`
# HELP imichat_chats_oldest_created_timestamp_seconds Creation time of the oldest chat by status and channel, in Unix seconds, for open statuses (queued, picked, onhold) only; absent when there is none.
# TYPE imichat_chats_oldest_created_timestamp_seconds gauge
imichat_chats_oldest_created_timestamp_seconds{channel="email",status="onhold"} %d
imichat_chats_oldest_created_timestamp_seconds{channel="livechat",status="picked"} %d
imichat_chats_oldest_created_timestamp_seconds{channel="sms",status="queued"} %d
imichat_chats_oldest_created_timestamp_seconds{channel="whatsapp",status="queued"} %d
`, t0.Add(-48*time.Hour).Unix(), t0.Add(-30*time.Minute).Unix(), t0.Add(-5*time.Minute).Unix(), t0.Add(-time.Minute).Unix())},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			if err := testutil.CollectAndCompare(c, strings.NewReader(tt.want), tt.metric); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestChatCollectorByAsset(t *testing.T) {
	src := staticSource{snap: Snapshot{Counts: aggregate(population[:2])}}
	want := `
# HELP imichat_chats_by_asset Chats by the channel asset they arrived on, and status.
# TYPE imichat_chats_by_asset gauge
imichat_chats_by_asset{asset_id="15550100",asset_name="Long code",channel="sms",status="closed"} 0
imichat_chats_by_asset{asset_id="15550100",asset_name="Long code",channel="sms",status="onhold"} 0
imichat_chats_by_asset{asset_id="15550100",asset_name="Long code",channel="sms",status="picked"} 0
imichat_chats_by_asset{asset_id="15550100",asset_name="Long code",channel="sms",status="queued"} 2
`
	if err := testutil.CollectAndCompare(NewChatCollector(context.Background(), src, nil), strings.NewReader(want), "imichat_chats_by_asset"); err != nil {
		t.Error(err)
	}
}

func TestChatCollectorSumsEqualTotals(t *testing.T) {
	counts := aggregate(population)
	total := 0
	for _, v := range counts.ByStatusChannel {
		total += v
	}
	if counts.Total != len(population) {
		t.Errorf("total %d, population %d", counts.Total, len(population))
	}
	for name, m := range map[string]map[string]byStatus{"assignee": counts.ByAssignee, "flag": counts.ByFlag} {
		sum := 0
		for _, b := range m {
			for _, v := range b {
				sum += v
			}
		}
		if sum != total || total != len(population) {
			t.Errorf("by %s sums to %d, total %d, population %d", name, sum, total, len(population))
		}
	}
}

func TestChatCollectorFailedWalkExportsNoChatGauges(t *testing.T) {
	var logs bytes.Buffer
	src := staticSource{
		snap: Snapshot{Counts: aggregate(population), Pages: 3, Duration: time.Second}, // a broken source that returns chats with its error
		err:  fmt.Errorf("page 3: %w", &apiclient.APIError{StatusCode: 2004, HTTPStatus: 401, Description: "Access token expired"}),
	}
	c := NewChatCollector(context.Background(), src, log.NewLogfmtLogger(&logs))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got, want := strings.Join(names, " "), "imichat_last_refresh_duration_seconds imichat_last_refresh_pages imichat_up"; got != want {
		t.Errorf("metrics after a failed walk: %s; want %s", got, want)
	}
	if up := mfs[2].GetMetric()[0].GetGauge().GetValue(); up != 0 {
		t.Errorf("imichat_up = %v, want 0", up)
	}
	// The source logs each failed refresh once, at error; a pull that
	// serves the failure says so at debug only, so that the log does not
	// grow with the scrape rate.
	line := logs.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "level=debug") || !strings.Contains(line, "2004") || !strings.Contains(line, "Access token expired") {
		t.Errorf("want one debug line naming the status code and description, got:\n%s", line)
	}
}

// TestChatCollectorSourceWithoutCounts: a source that answers without
// error but without counts is a bug; it is served as a failed read, never
// as an empty tenant.
func TestChatCollectorSourceWithoutCounts(t *testing.T) {
	c := NewChatCollector(context.Background(), staticSource{snap: Snapshot{Pages: 2}}, nil)
	want := `
# HELP imichat_up 1 when the last refresh of the chat list read every page it asked for without error, else 0 (and no chat gauges are exported).
# TYPE imichat_up gauge
imichat_up 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "imichat_up", "imichat_chats"); err != nil {
		t.Error(err)
	}
}

func TestAPIMetrics(t *testing.T) {
	m := NewAPIMetrics()
	reset := time.Unix(1795651200, 0)
	m.ObserveResponse("4305", 200, apiclient.RateLimit{Limit: 10000, Remaining: 9000, Reset: reset, HasLimit: true, HasRemaining: true, HasReset: true})
	m.ObserveResponse("2004", 401, apiclient.RateLimit{Remaining: 8999, HasRemaining: true}) // a response without two of the headers keeps their last values
	m.ObserveResponse("", 502, apiclient.RateLimit{})
	m.ObserveRequestError(apiclient.ReasonDecode)
	m.ObserveRequestError(apiclient.ReasonTimeout)
	m.ObserveRequestError(apiclient.ReasonTimeout)
	want := `
# HELP imichat_api_rate_limit_limit Requests the API allows per quota period, from the Rate-Limit-Limit header of the last response that carried it.
# TYPE imichat_api_rate_limit_limit gauge
imichat_api_rate_limit_limit 10000
# HELP imichat_api_rate_limit_remaining Requests left in the current quota period, from the Rate-Limit-Remaining headers: the lowest seen in the period, as answers may arrive out of order. The quota is the tenant's: every team's requests count.
# TYPE imichat_api_rate_limit_remaining gauge
imichat_api_rate_limit_remaining 8999
# HELP imichat_api_rate_limit_reset_timestamp_seconds When the API quota resets, in Unix seconds, from the Rate-Limit-Reset header of the last response that carried it.
# TYPE imichat_api_rate_limit_reset_timestamp_seconds gauge
imichat_api_rate_limit_reset_timestamp_seconds 1.7956512e+09
# HELP imichat_api_request_errors_total Requests to the chat-list API that got no usable response, by reason: timeout, network, decode, too_large, redirect (the API redirected to another origin, or from https to http: the token was not sent there).
# TYPE imichat_api_request_errors_total counter
imichat_api_request_errors_total{reason="decode"} 1
imichat_api_request_errors_total{reason="network"} 0
imichat_api_request_errors_total{reason="redirect"} 0
imichat_api_request_errors_total{reason="timeout"} 2
imichat_api_request_errors_total{reason="too_large"} 0
# HELP imichat_api_responses_total Responses received from the chat-list API, by the API's status_code ("" when the body carried none, "other" for undocumented codes past the first 20) and HTTP status. 4305 is success.
# TYPE imichat_api_responses_total counter
imichat_api_responses_total{http_status="200",status_code="4305"} 1
imichat_api_responses_total{http_status="401",status_code="2004"} 1
imichat_api_responses_total{http_status="502",status_code=""} 1
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestAPIMetricsRateLimitAbsentUntilSeen(t *testing.T) {
	m := NewAPIMetrics()
	m.ObserveResponse("4305", 200, apiclient.RateLimit{})
	if n := testutil.CollectAndCount(m, "imichat_api_rate_limit_limit", "imichat_api_rate_limit_remaining", "imichat_api_rate_limit_reset_timestamp_seconds"); n != 0 {
		t.Errorf("%d rate-limit gauges before any header was seen", n)
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	tests := []struct{ in, want string }{
		{"ok", "ok"},
		{"bad\xffbyte", "bad\uFFFDbyte"},
		{long, long[:128]},
	}
	for _, tt := range tests {
		if got := labelValue(tt.in); got != tt.want {
			t.Errorf("labelValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Invalid UTF-8 in user data must not break the exposition.
	chats := []apiclient.Chat{{ID: "x", Status: "queued", Channel: "sms", Assignee: "bad\xff", Tags: []string{"\xfe"}, Flag: long + "x"}}
	if err := testutil.CollectAndCompare(NewChatCollector(context.Background(), staticSource{snap: Snapshot{Counts: aggregate(chats)}}, nil),
		strings.NewReader(""), "no_such_metric"); err != nil {
		t.Errorf("collecting user data with invalid UTF-8: %v", err)
	}
}

// TestAPIMetricsBoundUndocumentedStatusCodes: an upstream answering a new
// code every time gets 20 label values of its own, then "other"; documented
// codes always keep theirs.
func TestAPIMetricsBoundUndocumentedStatusCodes(t *testing.T) {
	m := NewAPIMetrics()
	for code := 5000; code < 5100; code++ {
		m.ObserveResponse(fmt.Sprint(code), 500, apiclient.RateLimit{})
	}
	m.ObserveResponse("2004", 401, apiclient.RateLimit{})
	m.ObserveResponse("5000", 500, apiclient.RateLimit{}) // seen before: keeps its value
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "imichat_api_responses_total" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			for _, lp := range metric.GetLabel() {
				if lp.GetName() == "status_code" {
					got[lp.GetValue()] += metric.GetCounter().GetValue()
				}
			}
		}
	}
	// 4305 (pre-set), 2004, 20 undocumented codes and "other".
	if len(got) != 23 || got["other"] != 80 || got["5000"] != 2 || got["2004"] != 1 || got["5019"] != 1 {
		t.Errorf("status_code values: %d distinct, other=%v, 5000=%v, 2004=%v, 5019=%v",
			len(got), got["other"], got["5000"], got["2004"], got["5019"])
	}
}

// TestChatCollectorEstimatedGone: the chats a source counts as having left
// the queue on an estimate move from queued to picked in imichat_chats, no
// more than were queued, and imichat_chats_queued_estimated_gone says how
// many, for every documented channel and any other one that had some.
func TestChatCollectorEstimatedGone(t *testing.T) {
	extra := apiclient.Chat{ID: "8", Status: "queued", Channel: "telegram", CreatedAt: t0}
	tests := []struct {
		name  string
		leave map[string]int // channel: chats estimated gone
		chats map[[2]string]int
		gone  map[string]int
	}{
		{name: "none", leave: nil,
			chats: map[[2]string]int{{"queued", "sms"}: 2, {"queued", "whatsapp"}: 1, {"queued", "telegram"}: 1, {"picked", "telegram"}: 1}},
		{name: "one sms", leave: map[string]int{"sms": 1},
			chats: map[[2]string]int{{"queued", "sms"}: 1, {"picked", "sms"}: 1, {"queued", "whatsapp"}: 1, {"queued", "telegram"}: 1, {"picked", "telegram"}: 1},
			gone:  map[string]int{"sms": 1}},
		{name: "more than queued", leave: map[string]int{"sms": 5, "whatsapp": 1},
			chats: map[[2]string]int{{"picked", "sms"}: 2, {"picked", "whatsapp"}: 1, {"queued", "telegram"}: 1, {"picked", "telegram"}: 1},
			gone:  map[string]int{"sms": 2, "whatsapp": 1}},
		{name: "undocumented channel", leave: map[string]int{"telegram": 1},
			chats: map[[2]string]int{{"queued", "sms"}: 2, {"queued", "whatsapp"}: 1, {"picked", "telegram"}: 2},
			gone:  map[string]int{"telegram": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chats := append(slices.Clone(population), extra)
			counts := aggregate(chats)
			for ch, n := range tt.leave {
				counts.LeftQueue(ch, n)
			}
			want := tt.chats
			for k, v := range map[[2]string]int{{"onhold", "email"}: 1, {"closed", "sms"}: 1, {"picked", "livechat"}: 1} {
				want[k] = v
			}
			var gone []string
			for _, ch := range Channels {
				gone = append(gone, fmt.Sprintf(`imichat_chats_queued_estimated_gone{channel=%q} %d`, ch, tt.gone[ch]))
			}
			if n := tt.gone["telegram"]; n > 0 {
				gone = append(gone, fmt.Sprintf(`imichat_chats_queued_estimated_gone{channel="telegram"} %d`, n))
			}
			sort.Strings(gone)
			exposition := gridExposition(want) + "# HELP imichat_chats_queued_estimated_gone " + estimatedGoneHelp + "\n" +
				"# TYPE imichat_chats_queued_estimated_gone gauge\n" + strings.Join(gone, "\n") + "\n"
			c := NewChatCollector(context.Background(), staticSource{snap: Snapshot{Counts: counts}}, nil)
			if err := testutil.CollectAndCompare(c, strings.NewReader(exposition), "imichat_chats", "imichat_chats_queued_estimated_gone"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSetOldestQueued: recounting the oldest queued chats from some chats
// replaces every channel's oldest queued (a channel without any loses its
// own) and keeps the other statuses' oldest.
func TestSetOldestQueued(t *testing.T) {
	counts := aggregate(population)
	// Of the queued chats only chat 2 (sms, 2 minutes old) is still queued.
	counts.SetOldestQueued(slices.Values([]*apiclient.Chat{&population[1], &population[3]}))
	want := map[StatusChannel]time.Time{
		{"queued", "sms"}:      t0.Add(-2 * time.Minute),
		{"picked", "livechat"}: t0.Add(-30 * time.Minute),
		{"onhold", "email"}:    t0.Add(-48 * time.Hour),
	}
	if !maps.Equal(counts.OldestCreated, want) {
		t.Errorf("oldest created %v, want %v", counts.OldestCreated, want)
	}
}

// TestChatCollectorEstimatedArrived: chats a source counts as queued
// without a read join imichat_chats' queued and the total, and
// imichat_chats_queued_estimated_arrived says how many, every documented
// channel present.
func TestChatCollectorEstimatedArrived(t *testing.T) {
	counts := aggregate(population)
	counts.ArrivedUnread("sms", 3)
	counts.ArrivedUnread("whatsapp", 0) // nothing
	if counts.Total != len(population)+3 {
		t.Errorf("total %d, want %d", counts.Total, len(population)+3)
	}
	want := map[[2]string]int{
		{"queued", "sms"}: 5, {"queued", "whatsapp"}: 1, {"picked", "livechat"}: 1,
		{"onhold", "email"}: 1, {"closed", "sms"}: 1, {"picked", "telegram"}: 1,
	}
	var arrived []string
	for _, ch := range Channels {
		n := 0
		if ch == "sms" {
			n = 3
		}
		arrived = append(arrived, fmt.Sprintf(`imichat_chats_queued_estimated_arrived{channel=%q} %d`, ch, n))
	}
	sort.Strings(arrived)
	c := NewChatCollector(context.Background(), staticSource{snap: Snapshot{Counts: counts}}, nil)
	exposition := gridExposition(want) + "# HELP imichat_chats_queued_estimated_arrived " + estimatedArrivedHelp + "\n" +
		"# TYPE imichat_chats_queued_estimated_arrived gauge\n" + strings.Join(arrived, "\n") + "\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(exposition), "imichat_chats", "imichat_chats_queued_estimated_arrived"); err != nil {
		t.Error(err)
	}
}
