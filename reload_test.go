package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// postReload sends a reload request with the given method and headers and
// returns the status.
func postReload(t *testing.T, base, method string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, base+"/-/reload", strings.NewReader("x=1"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReloadEndpoint: POST /-/reload is off unless --web.enable-lifecycle;
// with it, what a web page could make a browser send (a form's or text's
// content type, another origin) is refused before the file is read, and
// what other clients send (no content type, as curl -X POST and the
// config reloader; a JSON one) reloads. A refused request is told apart
// from a reload by the file: it is invalid while the refused requests are
// sent, so a reload would answer 500.
func TestReloadEndpoint(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 3})
	configFile := filepath.Join(dir, "config.yml")
	good := func() { writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711")) }
	bad := func() {
		if err := os.WriteFile(configFile, []byte("tenants: [\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good()
	off, _ := startMultiTarget(t, configFile)
	on, _ := startMultiTarget(t, configFile, "--web.enable-lifecycle")

	tests := []struct {
		name   string
		base   string
		method string
		header map[string]string
		want   int // with an invalid file: 500 means it was reloaded
	}{
		{"lifecycle off", off, http.MethodPost, nil, http.StatusForbidden},
		{"form post", on, http.MethodPost, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusForbidden},
		{"multipart form post", on, http.MethodPost, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, http.StatusForbidden},
		{"text post", on, http.MethodPost, map[string]string{"Content-Type": "Text/Plain; charset=utf-8"}, http.StatusForbidden},
		{"another origin", on, http.MethodPost, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"another origin, JSON", on, http.MethodPost, map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json"}, http.StatusForbidden},
		{"cross-site fetch", on, http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"GET", on, http.MethodGet, nil, http.StatusMethodNotAllowed},
		{"no content type", on, http.MethodPost, nil, http.StatusInternalServerError},
		{"JSON", on, http.MethodPost, map[string]string{"Content-Type": "application/json"}, http.StatusInternalServerError},
		{"same origin", on, http.MethodPut, map[string]string{"Origin": on, "Sec-Fetch-Site": "same-origin"}, http.StatusInternalServerError},
	}
	bad()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := postReload(t, tt.base, tt.method, tt.header); got != tt.want {
				t.Errorf("HTTP %d, want %d", got, tt.want)
			}
		})
	}
	good()
	if got := postReload(t, on, http.MethodPost, nil); got != http.StatusOK {
		t.Errorf("a reload of a valid file: HTTP %d", got)
	}
}

// TestReloadThatChangesNothingLogsAtDebug: a reload of an unchanged file
// is logged at debug level, not info (a loop of reloads does not fill the
// log); a reload that changes something is logged at info.
func TestReloadThatChangesNothingLogsAtDebug(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 3})
	globex := startOrg(t, dir, "globex", map[string]int{"1": 3})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"))
	base, e := startMultiTarget(t, configFile, "--web.enable-lifecycle", "--log.level=debug")
	infoLines := func() int {
		n := 0
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, "level=info") && strings.Contains(line, "configuration loaded") {
				n++
			}
		}
		return n
	}
	if n := infoLines(); n != 1 {
		t.Fatalf("%d info lines at start, want 1:\n%s", n, e.logs.String())
	}
	for range 3 {
		if status, body := reloadViaHTTP(t, base); status != http.StatusOK {
			t.Fatalf("reload: HTTP %d %s", status, body)
		}
	}
	if n := infoLines(); n != 1 {
		t.Errorf("%d info lines after three reloads that changed nothing, want 1", n)
	}
	if n := strings.Count(e.logs.String(), "level=debug"); !strings.Contains(e.logs.String(), "unchanged") || n == 0 {
		t.Errorf("no debug line for the reloads that changed nothing:\n%s", e.logs.String())
	}
	writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"), tenantEntry("globex", globex, "", "1"))
	if status, body := reloadViaHTTP(t, base); status != http.StatusOK {
		t.Fatalf("reload: HTTP %d %s", status, body)
	}
	if n := infoLines(); n != 2 {
		t.Errorf("%d info lines after a reload that added a tenant, want 2", n)
	}
}

// TestInsecureTenantWarnedAtLoad: a tenant that --imichat.insecure-http lets
// through a plain-http proxy is warned about at load, naming the tenant.
func TestInsecureTenantWarnedAtLoad(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 3})
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", acme, "    http_client:\n      proxy_url: http://127.0.0.1:1\n", "4711"))
	if _, err := parseFlags([]string{"--config.file=" + configFile}, func(string) (string, bool) { return "", false }); err == nil ||
		!strings.Contains(err.Error(), "proxy_url") {
		t.Fatalf("a plain-http url through a proxy without --imichat.insecure-http: %v", err)
	}
	_, e := startMultiTarget(t, configFile, "--imichat.insecure-http")
	var warned bool
	for _, line := range strings.Split(e.logs.String(), "\n") {
		warned = warned || strings.Contains(line, "level=warn") && strings.Contains(line, "proxy receives the access token in clear") && strings.Contains(line, "tenant=acme")
	}
	if !warned {
		t.Errorf("no warning at load:\n%s", e.logs.String())
	}
}
