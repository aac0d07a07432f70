package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// walkSource walks the whole chat list on every call and counts it.
type walkSource struct {
	fetcher apiclient.Fetcher
	opts    apiclient.WalkOptions
}

func (s walkSource) Snapshot(ctx context.Context) (collector.Snapshot, error) {
	res, err := apiclient.Walk(ctx, s.fetcher, s.opts)
	snap := collector.Snapshot{Pages: res.Pages, Duration: res.Duration}
	if err != nil {
		return snap, err
	}
	snap.Counts = collector.NewCounts()
	for i := range res.Chats {
		snap.Counts.Add(&res.Chats[i])
	}
	snap.Counts.SetOldest(func(yield func(*apiclient.Chat) bool) {
		for i := range res.Chats {
			if !yield(&res.Chats[i]) {
				return
			}
		}
	})
	return snap, nil
}

// simSource walks a simulated tenant in-process.
func simSource(tenant *simulator.Tenant, token string, observer apiclient.Observer) walkSource {
	u, _ := url.Parse("http://tenant.test")
	client := &apiclient.Client{
		BaseURL: u, TeamID: "team", Token: apiclient.StaticToken(token), Observer: observer,
		HTTPClient: &http.Client{Transport: simulator.NewTransport(tenant)},
	}
	return walkSource{fetcher: client, opts: apiclient.WalkOptions{FirstPage: 1, Concurrency: 4, MaxPages: 10000}}
}

// truthExposition renders the simulator's own counts in the exposition
// format, independently of the collector.
func truthExposition(c simulator.Counts) string {
	var b strings.Builder
	b.WriteString("# HELP imichat_chats Chats by status and channel. Every documented status and channel pair is present, 0 when there is none.\n# TYPE imichat_chats gauge\n")
	grid := map[[2]string]int{}
	for _, s := range collector.Statuses {
		for _, ch := range collector.Channels {
			grid[[2]string{s, ch}] = 0
		}
	}
	for k, v := range c.ByStatusChannel {
		grid[k] = v
	}
	var lines []string
	for k, v := range grid {
		lines = append(lines, fmt.Sprintf("imichat_chats{channel=%q,status=%q} %d\n", k[1], k[0], v))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, ""))
	b.WriteString("# HELP imichat_chats_oldest_created_timestamp_seconds Creation time of the oldest chat by status and channel, in Unix seconds, for open statuses (queued, picked, onhold) only; absent when there is none.\n# TYPE imichat_chats_oldest_created_timestamp_seconds gauge\n")
	lines = lines[:0]
	for k, t := range c.OldestCreated {
		lines = append(lines, fmt.Sprintf("imichat_chats_oldest_created_timestamp_seconds{channel=%q,status=%q} %s\n",
			k[1], k[0], fmt.Sprint(float64(t.UnixNano())/1e9)))
	}
	sort.Strings(lines)
	b.WriteString(strings.Join(lines, ""))
	return b.String()
}

// TestCollectorMatchesSimulatorTruth walks simulated tenants at several
// moments of their life and compares the exported gauges with the
// simulator's truth.
func TestCollectorMatchesSimulatorTruth(t *testing.T) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		history int
		later   time.Duration
	}{
		{0, 0}, {9, 0}, {10, 0}, {1234, 0}, {1234, 3 * time.Hour}, {5000, 26 * time.Hour},
	} {
		t.Run(fmt.Sprintf("%d chats, %v later", tt.history, tt.later), func(t *testing.T) {
			now := start.Add(tt.later)
			tenant := simulator.New(simulator.Config{Token: "tok", TeamID: "team", Seed: int64(tt.history), History: tt.history,
				ArrivalsPerDay: 3000, Start: start, Clock: func() time.Time { return now }, QuotaPerDay: 1 << 30})
			c := collector.NewChatCollector(context.Background(), simSource(tenant, "tok", nil), nil)
			want := truthExposition(tenant.Counts())
			if err := testutil.CollectAndCompare(c, strings.NewReader(want),
				"imichat_chats", "imichat_chats_oldest_created_timestamp_seconds"); err != nil {
				t.Error(err)
			}
			if tt.history > 0 && !strings.Contains(want, `status="queued"} `) {
				t.Error("the truth has no open chats: the test compares too little")
			}
		})
	}
}

// TestCollectorWithArrivalsDuringWalk pushes chats down while the walk runs:
// no chat is counted twice, and every chat present before the walk is counted.
func TestCollectorWithArrivalsDuringWalk(t *testing.T) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tenant := simulator.New(simulator.Config{Token: "tok", TeamID: "team", Seed: 9, History: 300, Start: start,
		Clock: func() time.Time { return start }, QuotaPerDay: 1 << 30})
	before := tenant.Counts().Total
	tenant.SetFault(simulator.Fault{ArrivalsAfterPage: 3})
	src := simSource(tenant, "tok", nil)
	src.opts.Concurrency = 1 // sequential: arrivals can only duplicate, never hide, a chat
	res, err := apiclient.Walk(context.Background(), src.fetcher, src.opts)
	if err != nil {
		t.Fatal(err)
	}
	tenant.ClearFault()
	after := tenant.Counts().Total
	if after <= before {
		t.Fatal("no chat arrived during the walk")
	}
	seen := map[string]bool{}
	for _, c := range res.Chats {
		if seen[c.ID] {
			t.Fatalf("chat %s counted twice", c.ID)
		}
		seen[c.ID] = true
	}
	if n := len(res.Chats); n < before || n > after {
		t.Errorf("counted %d chats; %d existed before the walk and %d after", n, before, after)
	}
}

// TestAPIMetricsFromSimulator checks the counters against what the
// simulator answered, through an expired token and back.
func TestAPIMetricsFromSimulator(t *testing.T) {
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tenant := simulator.New(simulator.Config{Token: "tok", TeamID: "team", Seed: 1, History: 25, Start: start,
		Clock: func() time.Time { return start }})
	m := collector.NewAPIMetrics()
	src := simSource(tenant, "tok", m)
	src.opts.Concurrency = 1 // no speculative requests: the counts are exact
	scrape := func() float64 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collector.NewChatCollector(context.Background(), src, nil))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "imichat_up" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no imichat_up")
		return -1
	}
	if up := scrape(); up != 1 {
		t.Fatalf("up = %v before the token expired", up)
	}
	tenant.ExpireToken()
	if up := scrape(); up != 0 {
		t.Fatalf("up = %v with an expired token", up)
	}
	want := `
# HELP imichat_api_responses_total Responses received from the chat-list API, by the API's status_code ("" when the body carried none, "other" for undocumented codes past the first 20) and HTTP status. 4305 is success.
# TYPE imichat_api_responses_total counter
imichat_api_responses_total{http_status="200",status_code="4305"} 3
imichat_api_responses_total{http_status="401",status_code="2004"} 1
# HELP imichat_api_rate_limit_remaining Requests left in the current quota period, from the Rate-Limit-Remaining headers: the lowest seen in the period, as answers may arrive out of order. The quota is the tenant's: every team's requests count.
# TYPE imichat_api_rate_limit_remaining gauge
imichat_api_rate_limit_remaining 9996
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want), "imichat_api_responses_total", "imichat_api_rate_limit_remaining"); err != nil {
		t.Error(err)
	}
}
