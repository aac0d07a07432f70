package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/refresh"
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

// TestStoragePathKeepsTheSpend: with --storage.path, what a probe (multi-
// target mode) or a scrape (single-tenant mode) spent of its API tenant's
// quota is in the tenant's journal, every request of it, for the next run
// to count; a journal that is not one stops the start with its name.
func TestStoragePathKeepsTheSpend(t *testing.T) {
	journalSum := func(t *testing.T, path string) int64 {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no journal: %v", err)
		}
		var f struct{ Minutes map[string]int64 }
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, v := range f.Minutes {
			n += v
		}
		return n
	}
	t.Run("multi-target", func(t *testing.T) {
		dir, storage := t.TempDir(), t.TempDir()
		acme := startOrg(t, dir, "acme", map[string]int{"4711": 30})
		configFile := filepath.Join(dir, "config.yml")
		writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"))
		base, _ := startMultiTarget(t, configFile, "--storage.path="+storage)
		if r := pull(t, &http.Client{}, probeURL(base, "acme", "4711"), "10"); r.up(t) != 1 {
			t.Fatalf("not up:\n%s", r.body)
		}
		if got, made := journalSum(t, refresh.JournalPath(storage, tenantconfig.Origin(acme.url))), acme.org.Requests(); got < int64(made) || made == 0 {
			t.Errorf("the journal counts %d requests, the tenant served %d", got, made)
		}
	})
	t.Run("single tenant", func(t *testing.T) {
		storage := t.TempDir()
		g := startGatedExporter(t, 20, "--storage.path="+storage)
		if code, body := scrape(t, &http.Client{}, g.metrics, "10"); code != http.StatusOK || !strings.Contains(body, "\nimichat_up 1\n") {
			t.Fatalf("HTTP %d:\n%s", code, body)
		}
		entries, _ := os.ReadDir(storage)
		if len(entries) != 1 {
			t.Fatalf("%d files in --storage.path, want one journal", len(entries))
		}
		if got, made := journalSum(t, filepath.Join(storage, entries[0].Name())), g.tenant.Requests(); got < int64(made) || made == 0 {
			t.Errorf("the journal counts %d requests, the tenant served %d", got, made)
		}
	})
	t.Run("not a journal", func(t *testing.T) {
		dir, storage := t.TempDir(), t.TempDir()
		acme := startOrg(t, dir, "acme", map[string]int{"4711": 3})
		configFile := filepath.Join(dir, "config.yml")
		writeConfig(t, configFile, tenantEntry("acme", acme, "", "4711"))
		path := refresh.JournalPath(storage, tenantconfig.Origin(acme.url))
		os.WriteFile(path, []byte("{"), 0o600)
		cfg, err := parseFlags([]string{"--config.file=" + configFile, "--storage.path=" + storage, "--web.listen-address=" + freeAddr(t)},
			func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		logger, webLogger := newLogger("info", "logfmt", &syncBuffer{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, cfg, logger, webLogger) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("run: %v, want an error naming %s", err, path)
			}
		case <-time.After(10 * time.Second): // a bound for an exporter that started
			cancel()
			<-done
			t.Error("the exporter started on a journal that is not one")
		}
		cancel()
	})
}
