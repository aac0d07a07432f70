package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers shared by the tests that run the exporter in-process, as main
// starts it, against a simulated tenant.

// testExporterFlags are passed to every exporter these tests start, before
// the test's own flags. Each pull must walk the simulator for the tests to
// see what a fault does: when the exporter caches results, the flag that
// turns caching off belongs here.
var testExporterFlags = []string{
	"--imichat.min-refresh-interval=0s", // every pull starts a refresh
	"--imichat.quota-share=1",           // with a tenant of ample quota,
	"--imichat.sweep-interval=1ms",      // each refresh sweeps the whole window,
	"--imichat.lookback=876000h",        // which holds every chat, however old the tests' fixed chats
}

// exporterArgs is the command line of an in-process exporter reading the
// tenant at upstreamURL with the token in tokenFile, serving on addr.
// A flag in extra replaces the same flag of testExporterFlags (kingpin
// refuses a repeated flag).
func exporterArgs(upstreamURL, teamID, tokenFile, addr string, extra ...string) []string {
	var args []string
	for _, f := range testExporterFlags {
		name, _, _ := strings.Cut(f, "=")
		if !slices.ContainsFunc(extra, func(e string) bool { return e == name || strings.HasPrefix(e, name+"=") }) {
			args = append(args, f)
		}
	}
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
	stop func() // cancels run's context and waits for run to return
	// For tests of the shutdown itself: cancel only tells run to stop;
	// done is closed when run has returned err.
	cancel func()
	done   chan struct{}
	err    error
}

// startExporter parses args as main does and runs the exporter until the
// test ends. It does not wait for the listener: callers poll it.
func startExporter(t testing.TB, args []string) *testExporter {
	t.Helper()
	cfg, err := parseFlags(args, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	logs := &syncBuffer{}
	logger, webLogger, tap := newTappedLogger(cfg.logLevel, cfg.logFormat, logs)
	cfg.logTap = tap
	ctx, cancel := context.WithCancel(context.Background())
	e := &testExporter{logs: logs, cancel: cancel, done: make(chan struct{})}
	go func() {
		e.err = run(ctx, cfg, logger, webLogger)
		close(e.done)
	}()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-e.done:
			if e.err != nil {
				t.Errorf("exporter stopped with %v", e.err)
			}
		case <-time.After(10 * time.Second): // a bound for a hung exporter
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
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitFor polls url until it answers 200, for at most d.
func waitFor(t testing.TB, url string, d time.Duration) {
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

func get(t testing.TB, url string) string {
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

// pageGate stands between the exporter and the simulated tenant. While it
// holds, every page request waits at the gate (its arrival is reported on
// arrived) until Release, or until the exporter gives up on it: a test
// can then see what a scrape does while a refresh is in flight, by the
// order of events rather than by timing.
type pageGate struct {
	next    http.Handler
	arrived chan string // the held requests' URIs; never blocks the gate

	mu      sync.Mutex
	release chan struct{} // nil: not holding
}

func newPageGate(next http.Handler) *pageGate {
	return &pageGate{next: next, arrived: make(chan string, 4096)}
}

// Hold makes the page requests from now on wait.
func (g *pageGate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release == nil {
		g.release = make(chan struct{})
	}
}

// Release lets the waiting requests, and those to come, through.
func (g *pageGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.release != nil {
		close(g.release)
		g.release = nil
	}
}

func (g *pageGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	release := g.release
	g.mu.Unlock()
	if release != nil {
		select {
		case g.arrived <- r.URL.RequestURI():
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// The exporter binary, built once for the tests that run it as a process.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	// binRevisions are the commits HEAD pointed to just before and just
	// after the build (others may commit meanwhile); empty without git.
	binRevisions []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildExporter builds the program as a user would, with a plain go build
// (-buildvcs=auto overrides a GOFLAGS=-buildvcs=false), and returns its path.
func buildExporter(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		head := func() {
			if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
				binRevisions = append(binRevisions, strings.TrimSpace(string(out)))
			}
		}
		if binDir, binErr = os.MkdirTemp("", "imichat_exporter_test"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "imichat_exporter")
		head()
		out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".").CombinedOutput()
		head()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// exporterProcess is the built binary, running.
type exporterProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
}

// startBinary runs the binary with args until the test ends (SIGTERM, then,
// after a bound for a hung process, SIGKILL).
func startBinary(t testing.TB, args ...string) *exporterProcess {
	t.Helper()
	p := &exporterProcess{cmd: exec.Command(buildExporter(t), args...), stderr: &syncBuffer{}}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exporter exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-done
			t.Error("exporter did not stop within 20s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("exporter stderr (tail):\n%s", tail(p.stderr.String(), 4000))
		}
	})
	return p
}
