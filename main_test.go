package main

import (
	"bufio"
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

func TestConfigValidation(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("x"), 0o600)
	base := []string{"--imichat.url=https://t.imi.chat", "--imichat.team-id=7"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means valid
	}{
		{"token file", append(base, "--imichat.access-token-file="+tokenFile), nil, ""},
		{"token from env", base, map[string]string{tokenEnv: "secret"}, ""},
		{"demo alone", []string{"--demo"}, nil, ""},
		{"no url", []string{"--imichat.team-id=7"}, map[string]string{tokenEnv: "s"}, "set --imichat.url"},
		{"no team", []string{"--imichat.url=https://t.imi.chat"}, map[string]string{tokenEnv: "s"}, "set --imichat.team-id"},
		{"no token", base, nil, "access-token-file"},
		{"two tokens", append(base, "--imichat.access-token-file="+tokenFile), map[string]string{tokenEnv: "s"}, "keep one"},
		{"empty env token", base, map[string]string{tokenEnv: " "}, "is empty"},
		{"demo and url", []string{"--demo", "--imichat.url=https://t.imi.chat"}, nil, "--demo runs against a built-in tenant"},
		{"plain http", []string{"--imichat.url=http://t.imi.chat", "--imichat.team-id=7"}, map[string]string{tokenEnv: "s"}, "plain http"},
		{"plain http allowed", []string{"--imichat.url=http://t.imi.chat", "--imichat.team-id=7", "--imichat.insecure-http"}, map[string]string{tokenEnv: "s"}, ""},
		{"plain http on loopback", []string{"--imichat.url=http://127.0.0.1:8080", "--imichat.team-id=7"}, map[string]string{tokenEnv: "s"}, ""},
		{"not a url", []string{"--imichat.url=t.imi.chat", "--imichat.team-id=7"}, map[string]string{tokenEnv: "s"}, "not an http(s) URL"},
		{"zero concurrency", append(base, "--imichat.concurrency=0"), map[string]string{tokenEnv: "s"}, "concurrency"},
		{"url from env", []string{"--imichat.team-id=7"}, map[string]string{tokenEnv: "s", "IMICHAT_URL": "https://t.imi.chat"}, ""},
		{"no token flag exists", append(base, "--imichat.access-token=s"), nil, "unknown long flag"},
		{"quota share above 1", append(base, "--imichat.quota-share=1.5"), map[string]string{tokenEnv: "s"}, "quota-share"},
		{"quota share 0", append(base, "--imichat.quota-share=0"), map[string]string{tokenEnv: "s"}, "quota-share"},
		{"negative min refresh", append(base, "--imichat.min-refresh-interval=-1s"), map[string]string{tokenEnv: "s"}, "min-refresh-interval"},
		{"no daily budget", append(base, "--imichat.daily-budget=0"), map[string]string{tokenEnv: "s"}, "daily-budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"IMICHAT_URL", "IMICHAT_TEAM_ID", "IMICHAT_ACCESS_TOKEN_FILE"} {
				t.Setenv(k, tt.env[k])
				if _, ok := tt.env[k]; !ok {
					os.Unsetenv(k)
				}
			}
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			_, err := parseFlags(tt.args, lookup)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestScrapeTimeout(t *testing.T) {
	nop := log.NewNopLogger()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 30 * time.Second},
		{"10", 9500 * time.Millisecond},
		{"2.5", 2 * time.Second},
		{"120", 30 * time.Second}, // never longer than the walk timeout
		{"0.3", 300 * time.Millisecond},
		{"abc", 30 * time.Second},
		{"-1", 30 * time.Second},
	}
	for _, tt := range tests {
		if got := scrapeTimeout(tt.header, 30*time.Second, 500*time.Millisecond, nop); got != tt.want {
			t.Errorf("scrapeTimeout(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// TestDemoBinary builds the program, runs it as a newcomer would with
// --demo, and scrapes it over HTTP.
func TestDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "imichat_exporter")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeAddr(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--demo", "--web.listen-address="+addr)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("exporter did not stop within 10s of SIGINT")
		}
	}()
	waitFor(t, "http://"+addr+"/", 20*time.Second)
	body := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{"\nimichat_up 1\n", `imichat_chats{channel="sms",status="queued"}`, `imichat_api_responses_total{http_status="200",status_code="4305"}`, "imichat_exporter_build_info{"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
}

// TestTokenNeverLeaks runs the exporter at debug level through the error
// paths of the API and looks for the token in every log line, /metrics and
// the landing page.
func TestTokenNeverLeaks(t *testing.T) {
	const token = "sekrit-0f1e2d3c4b5a69788796a5b4"
	tenant := simulator.New(simulator.Config{Token: token, TeamID: "42", Seed: 7, History: 45, QuotaPerDay: 1 << 30})
	upstreamSrv := httptest.NewServer(tenant)
	defer upstreamSrv.Close()

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	exporter := startExporter(t, exporterArgs(upstreamSrv.URL, "42", tokenFile, addr, "--log.level=debug"))
	waitFor(t, "http://"+addr+"/", 10*time.Second)

	faults := []simulator.Fault{
		{},
		{Kind: simulator.FaultStatusCode, StatusCode: 2003},
		{Kind: simulator.FaultStatusCode, StatusCode: 2004},
		{Kind: simulator.FaultStatusCode, StatusCode: 2010},
		{Kind: simulator.FaultStatusCode, StatusCode: 4242},
		{Kind: simulator.FaultHTMLGateway},
		{Kind: simulator.FaultNotJSON},
		{Kind: simulator.FaultTruncated},
		{Kind: simulator.FaultResponseString},
		{Kind: simulator.FaultResetMidBody, Pages: []int{2}},
		{Kind: simulator.FaultOversized},
	}
	var pages []string
	for _, f := range faults {
		tenant.SetFault(f)
		body := get(t, "http://"+addr+"/metrics")
		if f.Kind != simulator.FaultNone && !strings.Contains(body, "\nimichat_up 0\n") {
			t.Errorf("fault %v: imichat_up is not 0", f.Kind)
		}
		pages = append(pages, body)
	}
	tenant.ClearFault()
	tenant.ExpireToken()
	pages = append(pages, get(t, "http://"+addr+"/metrics"), get(t, "http://"+addr+"/"))

	for i, p := range pages {
		if strings.Contains(p, token) {
			t.Errorf("page %d contains the token", i)
		}
	}
	all := exporter.logs.String()
	if strings.Contains(all, token) {
		t.Errorf("logs contain the token")
	}
	// The test must have exercised the error and debug paths it claims to.
	for _, want := range []string{"level=debug", "trxid=", "status_code 2004", "status_code 2003", "level=error"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q: the test did not reach that path", want)
		}
	}
	if t.Failed() {
		sc := bufio.NewScanner(strings.NewReader(all))
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}
}
