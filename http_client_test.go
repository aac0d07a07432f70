package main

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// TestHTTPClientFile: single-tenant mode takes a tenant's http_client
// settings from --imichat.http-client-file. A tenant behind a certificate
// of a private CA is read with the CA's file named there, and not without
// it; the file is checked as a tenant's http_client is.
func TestHTTPClientFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSignedCert(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewUnstartedServer(simulator.New(simulator.Config{Token: "tok", TeamID: "7", Seed: 5, History: 30}))
	upstream.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	upstream.StartTLS()
	t.Cleanup(upstream.Close)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("tok"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withCA := write("client.yml", "tls_config:\n  ca_file: cert.pem\n") // relative to the file

	for _, c := range []struct {
		name   string
		extra  []string
		wantUp float64
	}{
		{"the system's CAs", nil, 0},
		{"the private CA's file", []string{"--imichat.http-client-file=" + withCA}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := freeAddr(t)
			e := startExporter(t, exporterArgs(upstream.URL, "7", tokenFile, addr, c.extra...))
			waitFor(t, "http://"+addr+"/-/ready", 10*time.Second)
			r := pull(t, &http.Client{}, "http://"+addr+"/metrics", "10")
			if up := r.up(t); up != c.wantUp {
				t.Errorf("imichat_up %v, want %v; log:\n%s", up, c.wantUp, e.logs.String())
			}
		})
	}

	for _, c := range []struct {
		name, body, wantErr string
	}{
		{"credentials", "basic_auth: {username: a, password: b}\n", "must not set credentials"},
		{"unchecked certificate", "tls_config: {insecure_skip_verify: true}\n", "insecure_skip_verify"},
		{"an unknown key", "tls: {}\n", "field tls not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := exporterArgs(upstream.URL, "7", tokenFile, freeAddr(t), "--imichat.http-client-file="+write("bad.yml", c.body))
			_, err := parseFlags(args, func(string) (string, bool) { return "", false })
			if err == nil || !strings.Contains(err.Error(), "--imichat.http-client-file") || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %v, want one naming the flag and %q", err, c.wantErr)
			}
		})
	}
}
