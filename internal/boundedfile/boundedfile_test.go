//go:build unix

package boundedfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRead: a regular file within the bound is read whole; a larger one,
// a named pipe nobody writes to, a device that never ends and a directory
// are refused with one line naming the file, at once (a bound for a read
// that hangs).
func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("0123456789"), 0o600)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(small, link)
	tests := []struct {
		name, path string
		limit      int64
		want       string // content; "" for an error
		wantErr    string
	}{
		{"regular", small, 10, "0123456789", ""},
		{"through a symbolic link", link, 10, "0123456789", ""},
		{"larger than the bound", small, 9, "", "larger than 9 bytes"},
		{"named pipe", fifo, 1 << 20, "", "not a regular file (a named pipe)"},
		{"/dev/zero", "/dev/zero", 1 << 20, "", "not a regular file (a device)"},
		{"directory", dir, 1 << 20, "", "not a regular file (a directory)"},
		{"missing", filepath.Join(dir, "none"), 10, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				raw []byte
				err error
			}
			done := make(chan result, 1)
			go func() { raw, err := Read(tt.path, tt.limit); done <- result{raw, err} }()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second): // a bound for a read that hangs
				t.Fatal("Read hangs")
			}
			if tt.wantErr == "" {
				if r.err != nil || string(r.raw) != tt.want {
					t.Errorf("got %q, %v; want %q", r.raw, r.err, tt.want)
				}
				return
			}
			var pe *fs.PathError
			switch {
			case r.err == nil:
				t.Fatalf("accepted: %d bytes", len(r.raw))
			case !errors.As(r.err, &pe) || pe.Path != tt.path:
				t.Errorf("error %v does not name the file %s", r.err, tt.path)
			case !strings.Contains(r.err.Error(), tt.wantErr) || strings.Contains(r.err.Error(), "\n"):
				t.Errorf("error %q: want one line with %q", r.err, tt.wantErr)
			}
		})
	}
}
