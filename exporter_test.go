package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	slgk "github.com/tjhop/slog-gokit"
)

// Helpers shared by the tests that run the exporter in-process, as main
// starts it, against a simulated tenant.

// testExporterFlags are passed to every exporter these tests start, before
// the test's own flags. Each pull must walk the simulator for the tests to
// see what a fault does: when the exporter caches results, the flag that
// turns caching off belongs here.
var testExporterFlags = []string{
	"--imichat.min-refresh-interval=0s", // every pull starts a refresh
	"--imichat.quota-share=1",           // with a tenant of ample quota, each refresh reads the whole list
}

// exporterArgs is the command line of an in-process exporter reading the
// tenant at upstreamURL with the token in tokenFile, serving on addr.
func exporterArgs(upstreamURL, teamID, tokenFile, addr string, extra ...string) []string {
	args := slices.Clone(testExporterFlags)
	args = append(args,
		"--imichat.url="+upstreamURL,
		"--imichat.team-id="+teamID,
		"--imichat.access-token-file="+tokenFile,
		"--web.listen-address="+addr,
	)
	return append(args, extra...)
}

// testExporter is run() in-process, as main would start it.
type testExporter struct {
	logs *syncBuffer
	stop func()
}

// startExporter parses args as main does and runs the exporter until the
// test ends. It does not wait for the listener: callers poll it.
func startExporter(t *testing.T, args []string) *testExporter {
	t.Helper()
	cfg, err := parseFlags(args, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	logs := &syncBuffer{}
	logger, bare := newLogger(cfg.logLevel, cfg.logFormat, logs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logger, slog.New(slgk.NewGoKitHandler(bare, nil))) }()
	stopped := false
	e := &testExporter{logs: logs}
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exporter stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("exporter did not stop within 10s")
		}
	}
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("exporter log:\n%s", logs.String())
		}
	})
	return e
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls url until it answers 200, for at most d.
func waitFor(t *testing.T, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %v", url, d)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return string(body)
}

// syncBuffer is a log sink that several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
