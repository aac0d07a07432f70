package apiclient_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
)

// TestRedirectElsewhereIsExportedAsDown: what a Prometheus server sees when
// the tenant's URL redirects to another host: imichat_up 0, and the request
// counted under its own reason.
func TestRedirectElsewhereIsExportedAsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	var elsewhere atomic.Int64
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	defer other.Close()
	tenant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer tenant.Close()

	u, _ := url.Parse(tenant.URL)
	metrics := collector.NewAPIMetrics()
	client := &apiclient.Client{BaseURL: u, TeamID: "1", Token: apiclient.StaticToken("secret"), Observer: metrics}
	source := walkSource{client}
	// One scrape: the walk, then the counters it left (a registry
	// collects its collectors concurrently).
	scrape := prometheus.NewPedanticRegistry()
	scrape.MustRegister(collector.NewChatCollector(context.Background(), source, nil))
	families, err := scrape.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counters := prometheus.NewPedanticRegistry()
	counters.MustRegister(metrics)
	more, err := counters.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var up, redirects float64 = -1, -1
	for _, mf := range append(families, more...) {
		for _, m := range mf.GetMetric() {
			switch {
			case mf.GetName() == "imichat_up":
				up = m.GetGauge().GetValue()
			case mf.GetName() == "imichat_api_request_errors_total" && len(m.GetLabel()) == 1 &&
				m.GetLabel()[0].GetValue() == string(apiclient.ReasonRedirect):
				redirects = m.GetCounter().GetValue()
			}
		}
	}
	if up != 0 || redirects != 1 {
		t.Errorf("imichat_up %v, imichat_api_request_errors_total{reason=%q} %v; want 0 and 1", up, apiclient.ReasonRedirect, redirects)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host received %d requests", n)
	}
	if n := testutil.CollectAndCount(metrics, "imichat_api_responses_total"); n != 1 {
		t.Errorf("%d response series; the refused redirect is no response", n)
	}
}

// walkSource walks the chat list on every call; it serves no counts, and
// the redirect fails the walk first.
type walkSource struct{ fetcher apiclient.Fetcher }

func (s walkSource) Snapshot(ctx context.Context) (collector.Snapshot, error) {
	res, err := apiclient.Walk(ctx, s.fetcher, apiclient.WalkOptions{FirstPage: 1, Concurrency: 1})
	return collector.Snapshot{Pages: res.Pages, Duration: res.Duration}, err
}
