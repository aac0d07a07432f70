package main

import (
	"bufio"
	"bytes"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
	missingFile := filepath.Join(t.TempDir(), "no-such-token")
	emptyFile := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(emptyFile, nil, 0o600)
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
		{"negative max requests", append(base, "--web.max-requests=-1"), map[string]string{tokenEnv: "s"}, "--web.max-requests"},
		{"no max requests limit", append(base, "--web.max-requests=0"), map[string]string{tokenEnv: "s"}, ""},
		{"missing token file", append(base, "--imichat.access-token-file="+missingFile), nil, "--imichat.access-token-file " + missingFile + ": no such file"},
		{"empty token file", append(base, "--imichat.access-token-file="+emptyFile), nil, "--imichat.access-token-file: token file " + emptyFile + " is empty"},
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
				t.Errorf("one wrong setting, more than one line: %q", err)
			}
		})
	}
}

// TestConfigValidationReportsEverySetting: every wrong setting is reported,
// one line each naming its flag, whatever else is wrong; a malformed URL
// among them.
func TestConfigValidationReportsEverySetting(t *testing.T) {
	missingFile := filepath.Join(t.TempDir(), "no-such-token")
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		name string
		args []string
		want []string // one per line, in order: a substring naming the flag
	}{
		{"malformed url with everything else wrong", []string{"--imichat.url=://bad", "--imichat.concurrency=0", "--imichat.quota-share=2", "--web.max-requests=-3"},
			[]string{"--imichat.concurrency", "--imichat.quota-share", "--web.max-requests", "--imichat.url \"://bad\"", "--imichat.team-id", "--imichat.access-token-file"}},
		{"malformed url and missing token file", []string{"--imichat.url=t.imi.chat", "--imichat.team-id=7", "--imichat.access-token-file=" + missingFile},
			[]string{"--imichat.url \"t.imi.chat\" is not an http(s) URL", "--imichat.access-token-file " + missingFile + ": no such file"}},
		{"plain http and a bad offset", []string{"--imichat.url=http://t.imi.chat", "--imichat.team-id=7", "--imichat.access-token-file=" + missingFile, "--web.timeout-offset=-1s"},
			[]string{"--web.timeout-offset", "--imichat.url is plain http", "--imichat.access-token-file"}},
		{"demo with a bad setting", []string{"--demo", "--imichat.team-id=7", "--imichat.max-pages=0"},
			[]string{"--imichat.max-pages", "--demo runs against a built-in tenant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"IMICHAT_URL", "IMICHAT_TEAM_ID", "IMICHAT_ACCESS_TOKEN_FILE"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			_, err := parseFlags(tt.args, noEnv)
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), err)
			}
			for i, want := range tt.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("line %d %q lacks %q", i, lines[i], want)
				}
			}
		})
	}
}

// TestStartupErrorsLogged runs the binary with wrong settings: it exits 2
// before serving anything, with one logfmt line (ts, level=error) per wrong
// setting, naming the flag.
func TestStartupErrorsLogged(t *testing.T) {
	bin := buildExporter(t)
	missingFile := filepath.Join(t.TempDir(), "no-such-token")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing token file", []string{"--imichat.url=https://t.imi.chat", "--imichat.team-id=7", "--imichat.access-token-file=" + missingFile},
			[]string{"--imichat.access-token-file " + missingFile + ": no such file or directory"}},
		{"malformed url and more", []string{"--imichat.url=t.imi.chat", "--imichat.access-token-file=" + missingFile, "--log.format=logfmt"},
			[]string{"--imichat.url", "--imichat.team-id", "--imichat.access-token-file"}},
		{"unknown flag", []string{"--imichat.access-token=s"}, []string{"unknown long flag '--imichat.access-token'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(tt.args, "--web.listen-address="+freeAddr(t))...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tt.want), stderr.String())
			}
			for i, line := range lines {
				fields, err := parseLogLine(line)
				if err != nil {
					t.Errorf("%v: %s", err, line)
					continue
				}
				if fields["level"] != "error" || !strings.Contains(fields["msg"], tt.want[i]) {
					t.Errorf("line %d %q: want level=error and a msg containing %q", i, line, tt.want[i])
				}
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestScrapeTimeout(t *testing.T) {
	nop := log.NewNopLogger()
	waits := scrapeWaits{Max: 30 * time.Second, Default: 10 * time.Second, Offset: 500 * time.Millisecond}
	tests := []struct {
		header string
		waits  scrapeWaits
		want   time.Duration
	}{
		{"", waits, 10 * time.Second}, // no header: the default
		{"", scrapeWaits{Max: 3 * time.Second, Default: 10 * time.Second}, 3 * time.Second}, // never longer than the walk timeout
		{"10", waits, 9500 * time.Millisecond},
		{"2.5", waits, 2 * time.Second},
		{"120", waits, 30 * time.Second}, // never longer than the walk timeout
		{"0.3", waits, 300 * time.Millisecond},
		{"abc", waits, 10 * time.Second},
		{"-1", waits, 10 * time.Second},
		{"0", waits, 10 * time.Second},
		{"NaN", waits, 10 * time.Second},
		{"nan", waits, 10 * time.Second},
		{"Inf", waits, 10 * time.Second},
		{"+Inf", waits, 10 * time.Second},
		{"-Inf", waits, 10 * time.Second},
		{"1e300", waits, 10 * time.Second},
	}
	for _, tt := range tests {
		if got := scrapeTimeout(tt.header, tt.waits, nop); got != tt.want {
			t.Errorf("scrapeTimeout(%q, %+v) = %v, want %v", tt.header, tt.waits, got, tt.want)
		}
	}
}

// TestDemoBinary builds the program, runs it as a newcomer would with
// --demo, and scrapes it over HTTP.
func TestDemoBinary(t *testing.T) {
	bin := buildExporter(t)
	checkVersionOutput(t, bin)
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

// checkVersionOutput: a plain go build prints a version and the revision it
// was built from (when built in a git work tree), not empty fields.
func checkVersionOutput(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if !regexp.MustCompile(`^imichat_exporter, version \S+ \(`).MatchString(first) {
		t.Errorf("--version prints no version: %q", first)
	}
	if len(binRevisions) == 0 {
		t.Logf("no git: the revision is not checked (%q)", first)
		return
	}
	if !slices.ContainsFunc(binRevisions, func(rev string) bool {
		return strings.Contains(first, "revision: "+rev+")") || strings.Contains(first, "revision: "+rev+"-modified)")
	}) {
		t.Errorf("--version %q does not name the revision built, one of %v", first, binRevisions)
	}
	if !strings.Contains(string(out), "build date:       2") {
		t.Errorf("--version has no build date:\n%s", out)
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
