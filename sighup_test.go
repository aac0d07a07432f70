package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPSingleTenant: SIGHUP does not end a single-tenant exporter
// (Go's default action would); it reads the token file again and logs one
// line; the exporter goes on answering, with the token read.
func TestSIGHUPSingleTenant(t *testing.T) {
	dir := t.TempDir()
	org := startOrg(t, dir, "acme", map[string]int{"4711": 6})
	addr := freeAddr(t)
	p := startBinary(t, exporterArgs(org.url, "4711", org.tokenFile, addr)...)
	metrics := "http://" + addr + "/metrics"
	waitFor(t, metrics, 20*time.Second)
	client := &http.Client{}
	if r := pull(t, client, metrics, "10"); r.up(t) != 1 {
		t.Fatalf("imichat_up = 0 before SIGHUP:\n%s", r.body)
	}
	hup := func(wantLine string, n int) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second) // a bound for a broken exporter
		for strings.Count(p.stderr.String(), wantLine) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no log line %q after SIGHUP:\n%s", wantLine, p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	hup(`msg="SIGHUP: read the access token file again"`, 1)
	if r := pull(t, client, metrics, "10"); r.up(t) != 1 {
		t.Errorf("imichat_up = 0 after SIGHUP:\n%s", r.body)
	}

	// A token file that cannot be read: one error line, the token read
	// before stays, the exporter still answers.
	if err := os.Remove(org.tokenFile); err != nil {
		t.Fatal(err)
	}
	hup(`msg="SIGHUP: reading the access token file again failed; the token read before stays"`, 1)
	if n := strings.Count(p.stderr.String(), `msg="SIGHUP`); n != 2 {
		t.Errorf("%d log lines about SIGHUP for two signals, want 2:\n%s", n, p.stderr.String())
	}
	pull(t, client, metrics, "10") // fails the test unless 200
	if p.cmd.ProcessState != nil {
		t.Fatalf("the exporter exited: %v", p.cmd.ProcessState)
	}
}
