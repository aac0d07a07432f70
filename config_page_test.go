package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
)

// indent puts every line of s under n spaces, for a YAML block scalar.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// TestConfigPage: /config shows the file as loaded, with the token files'
// paths and no secret (neither a token nor an http_client secret), the
// replica's shard and the tenants it serves.
func TestConfigPage(t *testing.T) {
	dir := t.TempDir()
	acme := startOrg(t, dir, "acme", map[string]int{"4711": 3, "4712": 3})
	globex := startOrg(t, dir, "globex", map[string]int{"1": 3})
	certFile, keyFile, _ := selfSignedCert(t, dir)
	cert, _ := os.ReadFile(certFile)
	key, _ := os.ReadFile(keyFile)
	const headerSecret = "Basic c2VjcmV0LWhlYWRlci12YWx1ZQ=="
	httpClient := fmt.Sprintf("    http_client:\n      proxy_url: http://127.0.0.1:1\n      proxy_connect_header:\n        Proxy-Authorization: [%q]\n"+
		"      tls_config:\n        cert: |\n%s\n        key: |\n%s\n", headerSecret, indent(string(cert), 10), indent(string(key), 10))
	configFile := filepath.Join(dir, "config.yml")
	writeConfig(t, configFile, tenantEntry("acme", acme, httpClient, "4711", "4712"), tenantEntry("globex", globex, "", "1"))

	// Shard 2 of 2 names exactly one of the two tenants... or both or
	// none: find an N under which they part.
	var n uint64 = 2
	for tenantconfig.HashMod("acme", n) == tenantconfig.HashMod("globex", n) {
		n++
	}
	shard := tenantconfig.HashMod("acme", n)
	// The proxy of a plain-http (loopback) upstream needs the flag.
	base, _ := startMultiTarget(t, configFile, fmt.Sprintf("--config.shard=%d/%d", shard, n), "--imichat.insecure-http")
	body := get(t, base+"/config")
	t.Logf("/config:\n%s", body)

	for _, secret := range []string{"token-of-acme", "token-of-globex", headerSecret, "c2VjcmV0LWhlYWRlci12YWx1ZQ", "PRIVATE KEY"} {
		if strings.Contains(body, secret) {
			t.Errorf("/config shows the secret %q", secret)
		}
	}
	var page struct {
		Mode          string `yaml:"mode"`
		Shard         string `yaml:"shard"`
		TenantsServed map[string]struct {
			DefaultTeam string   `yaml:"default_team"`
			Teams       []string `yaml:"teams"`
		} `yaml:"tenants_served"`
		Config struct {
			Tenants map[string]struct {
				AccessTokenFile string         `yaml:"access_token_file"`
				HTTPClient      map[string]any `yaml:"http_client"`
			} `yaml:"tenants"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("/config is not YAML: %v", err)
	}
	if page.Mode != "multi-target" || page.Shard != fmt.Sprintf("%d/%d", shard, n) {
		t.Errorf("mode %q, shard %q; want multi-target, %d/%d", page.Mode, page.Shard, shard, n)
	}
	if got := page.TenantsServed; len(got) != 1 || got["acme"].DefaultTeam != "4711" || strings.Join(got["acme"].Teams, ",") != "4711,4712" {
		t.Errorf("tenants_served %+v, want acme alone, default team 4711, teams 4711 and 4712", got)
	}
	if len(page.Config.Tenants) != 2 {
		t.Errorf("the configuration shows %d tenants, want the file's 2", len(page.Config.Tenants))
	}
	if got := page.Config.Tenants["acme"].AccessTokenFile; got != acme.tokenFile {
		t.Errorf("acme's access_token_file %q, want its path %q", got, acme.tokenFile)
	}
	for _, want := range []string{"  - <secret>\n", "key: <secret>", "proxy_url: http://127.0.0.1:1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %q", want)
		}
	}
}

// TestConfigPageSingleTenant: in single-tenant mode /config names the
// upstream, the team and the token file, not the token.
func TestConfigPageSingleTenant(t *testing.T) {
	dir := t.TempDir()
	org := startOrg(t, dir, "acme", map[string]int{"4711": 3})
	addr := freeAddr(t)
	startExporter(t, exporterArgs(org.url, "4711", org.tokenFile, addr))
	waitFor(t, "http://"+addr+"/-/ready", 10*time.Second)
	body := get(t, "http://"+addr+"/config")
	t.Logf("/config:\n%s", body)
	if strings.Contains(body, "token-of-acme") {
		t.Error("/config shows the token")
	}
	for _, want := range []string{"mode: single-tenant", "team_id: \"4711\"", "access_token_file: " + org.tokenFile, "url: " + org.url} {
		if !strings.Contains(body, want) {
			t.Errorf("/config lacks %q", want)
		}
	}
}
