package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestProbeDebug: /probe?...&debug=true answers plain text with the
// probe's log lines, the team's last refresh (plan, pages per part,
// errors), the tenant's quota and the metrics, at the default log level;
// a failing team shows its error and the API's status codes.
func TestProbeDebug(t *testing.T) {
	f := startTwoTenants(t, 9, 7, 5)
	pull(t, &http.Client{}, probeURL(f.base, "acme", "4711"), "10") // an earlier refresh
	resp, err := http.Get(f.base + "/probe?target=acme/4711&debug=true")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	t.Logf("debug=true:\n%s", body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"Logs of this probe", `msg="refresh plan"`, "why=", "price=", "head_worth=",
		`msg="refresh read"`, "head=", "deepen=", "sweep=",
		"Quota of tenant acme", "pace_per_second=", "spent_24h=",
		"Metrics that would have been served:", "imichat_up 1", "imichat_coverage_oldest_created_timestamp_seconds",
		`imichat_refresh_pages_total{part="head"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("debug answer lacks %q", want)
		}
	}
	if strings.Contains(body, "token-of-acme") {
		t.Error("debug answer shows the token")
	}

	// A rejected token: the error, its status code.
	if err := os.WriteFile(f.acme.tokenFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(f.base + "/probe?target=acme/4712&debug=true")
	if err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	t.Logf("debug=true, token rejected:\n%s", body)
	for _, want := range []string{"imichat_up 0", "level=error", `msg="refreshing the chat list failed"`, `status_code="2003"`} {
		if !strings.Contains(body, want) {
			t.Errorf("debug answer of a failing team lacks %q", want)
		}
	}
	// Without debug, the probe answers the exposition alone.
	if r := pull(t, &http.Client{}, probeURL(f.base, "globex", "1"), "10"); strings.Contains(r.body, "Logs of this probe") {
		t.Error("a probe without debug=true shows the debug page")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}
