package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key into dir
// and returns their paths and a pool that trusts the certificate.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "imichat_exporter test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestWebConfigTLSAndBasicAuth serves /metrics through --web.config.file
// with TLS and basic auth, as SECURITY.md recommends, and checks who gets in.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	const team, token, user, password = "7", "tok-tls-5a4b3c2d1e", "prometheus", "correct horse battery staple"
	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 5, History: 25})
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()

	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		certFile, keyFile, user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr, "--web.config.file="+webConfig))

	tlsTransport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tlsTransport.CloseIdleConnections()
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: tlsTransport}
	plainClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}} // system roots only

	do := func(c *http.Client, url, user, pass string) (int, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}

	// Wait for the listener, authenticated over TLS; bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _, err := do(tlsClient, "https://"+addr+"/", user, password); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not answer over TLS within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	tests := []struct {
		name       string
		client     *http.Client
		url        string
		user, pass string
		wantCode   int    // 0: the request must fail, or get no metrics
		wantBody   string // substring of a 200 body
	}{
		{"metrics over TLS without credentials", tlsClient, "https://" + addr + "/metrics", "", "", 401, ""},
		{"metrics over TLS with a wrong password", tlsClient, "https://" + addr + "/metrics", user, "wrong", 401, ""},
		{"metrics over TLS with an unknown user", tlsClient, "https://" + addr + "/metrics", "mallory", password, 401, ""},
		{"landing page over TLS without credentials", tlsClient, "https://" + addr + "/", "", "", 401, ""},
		{"metrics over TLS authenticated", tlsClient, "https://" + addr + "/metrics", user, password, 200, "\nimichat_up 1\n"},
		{"landing page over TLS authenticated", tlsClient, "https://" + addr + "/", user, password, 200, "/metrics"},
		{"plain http to the TLS port", plainClient, "http://" + addr + "/metrics", user, password, 0, ""},
		{"TLS without trusting the certificate", untrusting, "https://" + addr + "/metrics", user, password, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := do(tt.client, tt.url, tt.user, tt.pass)
			if tt.wantCode == 0 {
				// Go's TLS server answers a plain-http request with a 400
				// of its own; what matters is that no metrics come back.
				if err == nil && (code == 200 || strings.Contains(body, "imichat_")) {
					t.Errorf("HTTP %d with metrics; want a failure", code)
				}
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if code != tt.wantCode {
				t.Errorf("HTTP %d, want %d", code, tt.wantCode)
			}
			if tt.wantBody != "" && !strings.Contains(body, tt.wantBody) {
				t.Errorf("body lacks %q", tt.wantBody)
			}
			if code == 401 && strings.Contains(body, "imichat_") {
				t.Error("a 401 answer carries metrics")
			}
		})
	}
}

// TestTokenFilePermissionWarning: a token file other users can read is
// reported at start, at warn level, naming the file; a private one is not.
func TestTokenFilePermissionWarning(t *testing.T) {
	const team, token = "7", "tok-perm-0a1b2c3d"
	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 5, History: 5})
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()

	tests := []struct {
		mode     os.FileMode
		wantWarn bool
	}{
		{0o644, true},
		{0o604, true},
		{0o666, true},
		{0o640, false},
		{0o600, false},
		{0o400, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			tokenFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tokenFile, tt.mode); err != nil { // WriteFile's mode is subject to the umask
				t.Fatal(err)
			}
			addr := freeAddr(t)
			exp := startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr))
			waitFor(t, "http://"+addr+"/", 10*time.Second)
			exp.stop()

			var warned bool
			for _, line := range strings.Split(exp.logs.String(), "\n") {
				if strings.Contains(line, "level=warn") && strings.Contains(line, "chmod 600") && strings.Contains(line, tokenFile) {
					warned = true
				}
			}
			if warned != tt.wantWarn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, tt.wantWarn, exp.logs.String())
			}
			if strings.Contains(exp.logs.String(), token) {
				t.Error("the log holds the token")
			}
		})
	}
}

// TestUpstreamMustBeHTTPS: the token crosses the network only encrypted,
// unless the upstream is on this machine or the operator says otherwise.
func TestUpstreamMustBeHTTPS(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == tokenEnv {
			return "s3cret", true
		}
		return "", false
	}
	tests := []struct {
		url      string
		insecure bool
		wantErr  string // "" means accepted
	}{
		{"https://tenant.imi.chat", false, ""},
		{"http://tenant.imi.chat", false, "plain http"},
		{"http://tenant.imi.chat", true, ""},
		{"http://127.0.0.1:8080", false, ""},
		{"http://127.9.9.9", false, ""},
		{"http://[::1]:8080", false, ""},
		{"http://localhost:8080", false, ""},
		{"http://localhost.example.com", false, "plain http"},
		{"http://127.0.0.1.nip.io", false, "plain http"},
		{"http://0.0.0.0:8080", false, "plain http"},
		{"http://10.1.2.3", false, "plain http"},
		{"HTTP://tenant.imi.chat", false, "plain http"},
		{"ftp://tenant.imi.chat", true, "not an http(s) URL"},
	}
	for _, tt := range tests {
		name := tt.url
		if tt.insecure {
			name += " insecure"
		}
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"IMICHAT_URL", "IMICHAT_TEAM_ID", "IMICHAT_ACCESS_TOKEN_FILE"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			args := []string{"--imichat.url=" + tt.url, "--imichat.team-id=1"}
			if tt.insecure {
				args = append(args, "--imichat.insecure-http")
			}
			_, err := parseFlags(args, env)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
