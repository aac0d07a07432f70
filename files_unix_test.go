//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFilesThatAreNotSmallRegularFilesRefused: a token or configuration
// file that is a device (/dev/zero: it never ends), a named pipe (nobody
// writes to it: a read would wait forever), larger than its bound, or a
// token with a control character, is refused at start-up, at once, with
// one line naming the setting and the file, and without the token.
func TestFilesThatAreNotSmallRegularFilesRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const secret = "secret-token-4d5e6f"
	control := write("control.token", secret+"\x01x\n")
	huge := write("huge.token", strings.Repeat("x", 9<<10))
	good := write("good.token", secret+"\n")
	tenantFile := func(name, tokenFile, extra string) string {
		return write(name, "tenants:\n  acme:\n    url: https://acme.imi.chat\n    access_token_file: "+tokenFile+"\n    teams: [\"1\"]\n"+extra)
	}
	single := []string{"--imichat.url=https://t.imi.chat", "--imichat.team-id=7"}
	tests := []struct {
		name string
		args []string
		want []string // in the one line
	}{
		{"token file /dev/zero", append(single, "--imichat.access-token-file=/dev/zero"),
			[]string{"--imichat.access-token-file /dev/zero: not a regular file (a device)"}},
		{"token file a named pipe", append(single, "--imichat.access-token-file="+fifo),
			[]string{"--imichat.access-token-file " + fifo + ": not a regular file (a named pipe)"}},
		{"token file too large", append(single, "--imichat.access-token-file="+huge),
			[]string{"--imichat.access-token-file " + huge + ": larger than 8192 bytes"}},
		{"token with a control character", append(single, "--imichat.access-token-file="+control),
			[]string{"--imichat.access-token-file", control, "control character"}},
		{"config file /dev/zero", []string{"--config.file=/dev/zero"},
			[]string{"--config.file", "/dev/zero: not a regular file (a device)"}},
		{"config file a named pipe", []string{"--config.file=" + fifo},
			[]string{"--config.file", fifo + ": not a regular file (a named pipe)"}},
		{"config file too large", []string{"--config.file=" + write("huge.yml", "#"+strings.Repeat("x", 5<<20)+"\n")},
			[]string{"--config.file", "huge.yml: larger than"}},
		{"tenant's token file /dev/zero", []string{"--config.file=" + tenantFile("zero.yml", "/dev/zero", "")},
			[]string{`tenant "acme": access_token_file: /dev/zero: not a regular file (a device)`}},
		{"tenant's token file a named pipe", []string{"--config.file=" + tenantFile("fifo.yml", fifo, "")},
			[]string{`tenant "acme": access_token_file: ` + fifo + ": not a regular file (a named pipe)"}},
		{"tenant's token with a control character", []string{"--config.file=" + tenantFile("control.yml", control, "")},
			[]string{`tenant "acme": access_token_file`, control, "control character"}},
		{"tenant's ca_file a named pipe", []string{"--config.file=" + tenantFile("ca.yml", good, "    http_client:\n      tls_config:\n        ca_file: "+fifo+"\n")},
			[]string{`tenant "acme": http_client.tls_config.ca_file`, fifo + ": not a regular file (a named pipe)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := parseFlags(tt.args, func(string) (string, bool) { return "", false })
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second): // a bound for a read that hangs
				t.Fatal("start-up hangs on the file")
			}
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("more than one line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the token: %q", msg)
			}
		})
	}
}
