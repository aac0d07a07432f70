package apiclient

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/imichat-exporter/imichat_exporter/internal/boundedfile"
)

// MaxTokenFileBytes bounds a token file: a token is a few dozen bytes, a
// JWT a few hundred.
const MaxTokenFileBytes = 8 << 10

// FileToken reads the access token from a file and reads it again whenever
// the file changes, so that a rotated token needs no restart. Surrounding
// white space (a trailing newline) is not part of the token. The file must
// be a regular file of at most MaxTokenFileBytes, and the token must hold
// no control character (an HTTP header could not carry it).
type FileToken struct {
	Path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

// Token returns the file's current token.
func (f *FileToken) Token() (string, error) {
	fi, err := os.Stat(f.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.token, nil
	}
	raw, err := boundedfile.Read(f.Path, MaxTokenFileBytes)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty", f.Path)
	}
	if strings.ContainsAny(token, "\r\n") {
		return "", errors.New("token file holds more than one line")
	}
	if i := strings.IndexFunc(token, isControl); i >= 0 {
		return "", fmt.Errorf("token file %s holds a control character (at byte %d)", f.Path, i)
	}
	f.token, f.modTime, f.size = token, fi.ModTime(), fi.Size()
	return token, nil
}

// isControl is a character that an HTTP header value cannot carry (a tab
// can, but is no part of a token either).
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
