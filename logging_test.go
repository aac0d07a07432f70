package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// parseLogfmt parses one logfmt line strictly: key=value pairs separated by
// one space, values bare or Go-quoted, no key twice.
func parseLogfmt(line string) (map[string]string, error) {
	m := map[string]string{}
	for i := 0; i < len(line); {
		j := i
		for j < len(line) && line[j] != '=' && line[j] != ' ' && line[j] != '"' {
			j++
		}
		if j == i || j >= len(line) || line[j] != '=' {
			return nil, fmt.Errorf("no key=value at byte %d", i)
		}
		key := line[i:j]
		j++
		var val string
		if j < len(line) && line[j] == '"' {
			k := j + 1
			for k < len(line) && line[k] != '"' {
				if line[k] == '\\' {
					k++
				}
				k++
			}
			if k >= len(line) {
				return nil, fmt.Errorf("unterminated quote in %s", key)
			}
			v, err := strconv.Unquote(line[j : k+1])
			if err != nil {
				return nil, fmt.Errorf("value of %s: %v", key, err)
			}
			val, j = v, k+1
		} else {
			k := j
			for k < len(line) && line[k] != ' ' {
				if line[k] == '"' || line[k] == '=' {
					return nil, fmt.Errorf("unquoted %q in the value of %s", line[k], key)
				}
				k++
			}
			val, j = line[j:k], k
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("key %s twice", key)
		}
		m[key] = val
		if j < len(line) {
			if line[j] != ' ' || j+1 == len(line) {
				return nil, fmt.Errorf("junk at byte %d", j)
			}
			j++
		}
		i = j
	}
	return m, nil
}

// parseLogLine parses a line of the program's log and checks it as
// checkLogLine does.
func parseLogLine(line string) (map[string]string, error) {
	fields, err := parseLogfmt(line)
	if err == nil {
		err = checkLogLine(fields)
	}
	return fields, err
}

// checkLogLine requires a ts (RFC 3339, UTC) and a level, and no slog time.
func checkLogLine(fields map[string]string) error {
	ts, err := time.Parse(time.RFC3339Nano, fields["ts"])
	switch {
	case err != nil:
		return fmt.Errorf("ts %q: %v", fields["ts"], err)
	case ts.Location() != time.UTC:
		return fmt.Errorf("ts %q is not UTC", fields["ts"])
	case !strings.Contains(" debug info warn error ", " "+fields["level"]+" "):
		return fmt.Errorf("level %q", fields["level"])
	case fields["time"] != "":
		return errors.New("a time key beside ts")
	case fields["msg"] == "":
		return errors.New("no msg")
	}
	return nil
}

func TestLogfmtParser(t *testing.T) {
	good := map[string]map[string]string{
		`ts=2026-01-02T03:04:05.678Z level=info msg="a b" n=1`:      {"ts": "2026-01-02T03:04:05.678Z", "level": "info", "msg": "a b", "n": "1"},
		`k="with \"quote\" and \\ and \n" e=`:                       {"k": "with \"quote\" and \\ and \n", "e": ""},
		`err="http: TLS handshake error from 127.0.0.1:5: EOF" x=y`: {"err": "http: TLS handshake error from 127.0.0.1:5: EOF", "x": "y"},
	}
	for line, want := range good {
		got, err := parseLogfmt(line)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("parseLogfmt(%q) = %v, %v; want %v", line, got, err, want)
		}
	}
	for _, line := range []string{`time=2026 msg`, `a=1  b=2`, `a="x`, `a=b"c`, `a=1 a=2`, `2026/01/02 03:04:05 http: TLS handshake error`} {
		if _, err := parseLogfmt(line); err == nil {
			t.Errorf("parseLogfmt(%q) accepted", line)
		}
	}
}

// TestOneLogFormat runs the exporter over TLS at debug level, provokes a TLS
// handshake error (logged by net/http) with a plain-http request, scrapes it
// and stops it: every line of its log is logfmt with ts and level, the
// exporter-toolkit's lines and net/http's included.
func TestOneLogFormat(t *testing.T) {
	const team, token = "7", "tok-logfmt-1a2b3c4d"
	tenant := simulator.New(simulator.Config{Token: token, TeamID: team, Seed: 5, History: 25})
	upstream := httptest.NewServer(tenant)
	defer upstream.Close()
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	webConfig := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	exp := startExporter(t, exporterArgs(upstream.URL, team, tokenFile, addr, "--web.config.file="+webConfig, "--log.level=debug"))

	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: time.Minute, Transport: transport}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get("https://" + addr + "/"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the exporter did not answer over TLS within 10s")
		}
	}
	if code, body := scrape(t, client, "https://"+addr+"/metrics", ""); code != 200 || !strings.Contains(body, "\nimichat_up 1\n") {
		t.Fatalf("scrape over TLS: HTTP %d", code)
	}
	// Plain http to the TLS port: Go answers 400 and logs a handshake error.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// net/http logs the error after closing the connection: wait for it.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(exp.logs.String(), "TLS handshake error"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no TLS handshake error logged:\n%s", exp.logs.String())
		}
	}
	exp.stop()

	var handshake, toolkit, own int
	lines := strings.Split(strings.TrimSuffix(exp.logs.String(), "\n"), "\n")
	for _, line := range lines {
		fields, err := parseLogLine(line)
		if err != nil {
			t.Errorf("%v: %s", err, line)
			continue
		}
		switch {
		case strings.Contains(fields["msg"], "TLS handshake error"):
			handshake++
			if fields["level"] != "error" {
				t.Errorf("the handshake error is logged at level %s", fields["level"])
			}
		case strings.HasPrefix(fields["caller"], "tls_config.go:"):
			toolkit++
		default:
			own++
		}
	}
	if handshake == 0 || toolkit == 0 || own == 0 {
		t.Errorf("%d lines: %d TLS handshake errors, %d exporter-toolkit lines, %d of the exporter's own; want some of each:\n%s",
			len(lines), handshake, toolkit, own, exp.logs.String())
	}
}

// TestJSONLogFormat: with --log.format=json every line is a JSON object with
// ts and level, the exporter-toolkit's too.
func TestJSONLogFormat(t *testing.T) {
	addr := freeAddr(t)
	exp := startExporter(t, []string{"--demo", "--web.listen-address=" + addr, "--log.format=json"})
	waitFor(t, "http://"+addr+"/", 10*time.Second)
	get(t, "http://"+addr+"/metrics")
	exp.stop()
	var toolkit int
	for _, line := range strings.Split(strings.TrimSuffix(exp.logs.String(), "\n"), "\n") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Errorf("%v: %s", err, line)
			continue
		}
		str := map[string]string{}
		for k, v := range fields {
			str[k] = fmt.Sprint(v)
		}
		if err := checkLogLine(str); err != nil {
			t.Errorf("%v: %s", err, line)
		}
		if strings.HasPrefix(str["caller"], "tls_config.go:") {
			toolkit++
		}
	}
	if toolkit == 0 {
		t.Errorf("no exporter-toolkit line:\n%s", exp.logs.String())
	}
}

// TestDefaultLoggers: lines logged through the standard library's default
// loggers come out in the program's format.
func TestDefaultLoggers(t *testing.T) {
	savedSlog, savedOut, savedFlags, savedPrefix := slog.Default(), stdlog.Writer(), stdlog.Flags(), stdlog.Prefix()
	defer func() {
		slog.SetDefault(savedSlog)
		stdlog.SetOutput(savedOut)
		stdlog.SetFlags(savedFlags)
		stdlog.SetPrefix(savedPrefix)
	}()
	logs := &syncBuffer{}
	setDefaultLoggers(newLogger("info", "logfmt", logs))
	stdlog.Print("http: Accept error: too many open files")
	slog.Warn("from a library", "k", "v")
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), logs.String())
	}
	for i, want := range []string{"error", "warn"} {
		fields, err := parseLogLine(lines[i])
		if err != nil || fields["level"] != want {
			t.Errorf("%v, want level=%s: %s", err, want, lines[i])
		}
	}
}
