package tenants

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"
	promconfig "github.com/prometheus/common/config"

	"github.com/imichat-exporter/imichat_exporter/config"
)

// TestApplyReadsNoFileUnderTheLock: while an Apply builds a new tenant's
// HTTP client (which reads its TLS files: here it hangs, as on a named
// pipe), probes of the running tenants are looked up, and Close returns;
// the Apply then changes nothing.
func TestApplyReadsNoFileUnderTheLock(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}), make(chan struct{})
	s := New(Defaults{MaxPages: 10, Settings: config.Settings{QuotaShare: 0.5, DailyBudget: 10000},
		NewHTTPClient: func(name string, _ promconfig.HTTPClientConfig) (*http.Client, error) {
			if name == "c" {
				close(entered)
				<-release
			}
			return &http.Client{}, nil
		}})
	if err := s.Apply(testConfig(t, dir, baseConfig)); err != nil {
		t.Fatal(err)
	}
	applied := make(chan error, 1)
	go func() {
		applied <- s.Apply(testConfig(t, dir, baseConfig+"  c:\n    url: https://c.imi.chat\n    access_token_file: a.token\n    teams: [\"5\"]\n"))
	}()
	<-entered
	looked := make(chan error, 1)
	go func() { _, err := s.Lookup("a", "1"); looked <- err }()
	select {
	case err := <-looked:
		if err != nil {
			t.Errorf("Lookup of a running team during the Apply: %v", err)
		}
	case <-time.After(10 * time.Second): // a bound for a Lookup that waits for the Apply
		close(release)
		t.Fatal("Lookup waits for an Apply that is building a client")
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a bound
		close(release)
		t.Fatal("Close waits for an Apply that is building a client")
	}
	close(release)
	if err := <-applied; err != ErrClosed {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if n := s.Len(); n != 0 {
		t.Errorf("%d tenants after Close and the Apply", n)
	}
}

// TestWorldReadableTokenFileWarned: a tenant's token file that every user
// may read is warned about, naming the tenant and the file, when the
// tenant (or its token file) is loaded; not again at a reload that keeps
// it, and not for a file only its owner reads.
func TestWorldReadableTokenFileWarned(t *testing.T) {
	tests := []struct {
		mode     os.FileMode
		wantWarn bool
	}{
		{0o644, true},
		{0o604, true},
		{0o640, false},
		{0o600, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, baseConfig)
			tokenFile := filepath.Join(dir, "a.token")
			if err := os.Chmod(tokenFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var buf bytes.Buffer
			logger := log.NewLogfmtLogger(log.NewSyncWriter(&lockedWriter{&mu, &buf}))
			s := New(Defaults{MaxPages: 10, Settings: config.Settings{QuotaShare: 0.5, DailyBudget: 10000}, Logger: logger,
				NewHTTPClient: func(string, promconfig.HTTPClientConfig) (*http.Client, error) { return &http.Client{}, nil }})
			defer s.Close()
			warnings := func() int {
				mu.Lock()
				defer mu.Unlock()
				n := 0
				for _, line := range strings.Split(buf.String(), "\n") {
					if strings.Contains(line, "level=warn") && strings.Contains(line, "chmod 600") &&
						strings.Contains(line, "tenant=a") && strings.Contains(line, tokenFile) {
						n++
					}
				}
				return n
			}
			for range 2 { // the second Apply keeps tenant a
				if err := s.Apply(cfg); err != nil {
					t.Fatal(err)
				}
			}
			want := 0
			if tt.wantWarn {
				want = 1
			}
			if got := warnings(); got != want {
				t.Errorf("%d warnings, want %d:\n%s", got, want, buf.String())
			}
		})
	}
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}
