package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-kit/log/level"
)

// TestTimestampFirst: the exporter's lines and exporter-toolkit's (through
// the slog logger) start with ts=, then level=.
func TestTimestampFirst(t *testing.T) {
	var buf bytes.Buffer
	logger, web := newLogger("debug", "logfmt", &buf)
	level.Info(logger).Log("msg", "an exporter line")
	level.Error(logger).Log("msg", "another")
	web.Info("a toolkit line")
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.HasPrefix(l, "ts=") || !strings.Contains(l, " level=") || strings.Index(l, "level=") > strings.Index(l, "caller=") {
			t.Errorf("line not ts= level= caller= …: %s", l)
		}
	}
}

// TestHelpAndVersionOnStdout: -h, --help and --version print to stdout and
// exit 0, so that `-h | less` shows them.
func TestHelpAndVersionOnStdout(t *testing.T) {
	bin := buildExporter(t)
	for arg, want := range map[string]string{"-h": "config.check", "--help": "--web.listen-address", "--version": "imichat_exporter, version"} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, arg)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %v", arg, err)
		}
		if !strings.Contains(stdout.String(), want) || stderr.Len() != 0 {
			t.Errorf("%s: stdout %d bytes without %q, stderr %q", arg, stdout.Len(), want, stderr.String())
		}
	}
}

// TestConfigCheck: --config.check prints the problems on stdout and exits
// 2, or says there is none and exits 0; it starts nothing.
func TestConfigCheck(t *testing.T) {
	bin := buildExporter(t)
	dir := t.TempDir()
	org := startOrg(t, dir, "acme", map[string]int{"1": 1})
	good, bad := filepath.Join(dir, "good.yml"), filepath.Join(dir, "bad.yml")
	writeConfig(t, good, tenantEntry("acme", org, "", "1"))
	writeConfig(t, bad, tenantEntry("acme", org, "    quota_share: 2\n    concurrency: -1\n", "1"))
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--config.file=" + good}, 0, []string{"OK"}},
		{[]string{"--config.file=" + bad}, 2, []string{`tenant "acme": quota_share must be in (0, 1]`, `tenant "acme": concurrency must be at least 1`}},
		{[]string{"--config.file=" + good, "--imichat.max-pages=0"}, 2, []string{"--imichat.max-pages must be at least 1"}},
		{[]string{"--imichat.url=https://acme.imi.chat", "--imichat.team-id=1", "--imichat.access-token-file=" + org.tokenFile}, 0, []string{"OK"}},
		{[]string{"--imichat.url=https://acme.imi.chat"}, 2, []string{"--imichat.team-id"}},
	}
	for _, c := range cases {
		var stdout bytes.Buffer
		cmd := exec.Command(bin, append([]string{"--config.check"}, c.args...)...)
		cmd.Stdout = &stdout
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s", c.args, code, c.code, stdout.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%v: stdout lacks %q:\n%s", c.args, w, stdout.String())
			}
		}
	}
}

// TestDemoListensOnLoopback: --demo listens on 127.0.0.1 unless
// --web.listen-address says otherwise.
func TestDemoListensOnLoopback(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--demo"}, "127.0.0.1:9878"},
		{[]string{"--demo", "--web.listen-address=:9999"}, ":9999"},
		{[]string{"--demo", "--web.listen-address", "0.0.0.0:9878"}, "0.0.0.0:9878"},
	} {
		cfg, err := parseFlags(c.args, noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(*cfg.webFlags.WebListenAddresses, ","); got != c.want {
			t.Errorf("%v: listens on %s, want %s", c.args, got, c.want)
		}
	}
}
