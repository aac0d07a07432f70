package refresh

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// restartLoop runs the exporter's refresher for a tenant whose API sends
// no rate-limit headers, restarted every hour/restarts for an hour (each
// run a cold start: a new quota and refresher, as a new process has,
// pulled every 15 s), with the quota's journal in dir, or none when dir is
// "". It returns the requests the runs made.
func restartLoop(t *testing.T, tt *testTenant, dir string, restarts int) int64 {
	t.Helper()
	noHeaders := func() apiclient.RateLimit { return apiclient.RateLimit{} }
	before := tt.Requests()
	for range restarts {
		q := NewQuota(0.5, 2000)
		if dir != "" {
			if err := OpenJournal(dir, "https://tenant.test:443", q, tt.clock.Now, nil); err != nil {
				t.Fatal(err)
			}
		}
		r := New(Options{Fetcher: tt.client, FirstPage: 1, Concurrency: 4, QuotaShare: 0.5, DailyBudget: 2000,
			Quota: q, RateLimit: noHeaders, Now: tt.clock.Now, MinInterval: 15 * time.Second})
		for end := tt.clock.Now().Add(time.Hour / time.Duration(restarts)); tt.clock.Now().Before(end); tt.clock.Advance(15 * time.Second) {
			r.Snapshot(context.Background())
		}
		// A crash: nothing is closed, nothing is saved on the way out.
	}
	return tt.Requests() - before
}

// TestRestartsWithoutHeadersStayWithinTheShare: ten restarts in an hour of
// an exporter whose API sends no rate-limit headers spend no more than the
// share of a day (0.5 × 2,000), with the journal; without it each cold
// start spends its grant again (logged, for comparison). A day later the
// share is there again.
func TestRestartsWithoutHeadersStayWithinTheShare(t *testing.T) {
	const share = 1000
	tt := newTestTenant(t, simulator.Config{Seed: 4, History: 30000, ArrivalsPerDay: 5000, QuotaPerDay: 1 << 30})
	dir := t.TempDir()
	spent := restartLoop(t, tt, dir, 10)
	t.Logf("ten restarts in an hour with the journal: %d requests (share %d)", spent, share)
	if spent > share {
		t.Errorf("ten restarts in an hour spent %d requests, more than the share of %d", spent, share)
	}
	if spent == 0 {
		t.Fatal("the restarts read nothing: the test measures nothing")
	}

	tt.clock.Advance(25 * time.Hour)
	if again := restartLoop(t, tt, dir, 1); again == 0 {
		t.Error("a day later, a start read nothing: the journal holds on to spend older than 24 hours")
	}

	control := newTestTenant(t, simulator.Config{Seed: 4, History: 30000, ArrivalsPerDay: 5000, QuotaPerDay: 1 << 30})
	t.Logf("ten restarts in an hour without the journal: %d requests (share %d)", restartLoop(t, control, "", 10), share)
}

// TestJournalRefusesAnotherFile: a journal that is not this API tenant's,
// or not a journal, is an error naming the file, not a fresh start.
func TestJournalRefusesAnotherFile(t *testing.T) {
	dir := t.TempDir()
	path := JournalPath(dir, "https://a.test:443")
	tests := []struct {
		name, content, want string
	}{
		{"another origin's", `{"origin":"https://b.test:443","minutes":{}}`, "not https://a.test:443's"},
		{"not JSON", "{", "unexpected end"},
		{"a negative count", `{"origin":"https://a.test:443","minutes":{"1":-5}}`, `minute "1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := OpenJournal(dir, "https://a.test:443", NewQuota(0.5, 100), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %v, want one naming %s with %q", err, path, tt.want)
			}
		})
	}
}
