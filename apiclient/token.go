package apiclient

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// FileToken reads the access token from a file and reads it again whenever
// the file changes, so that a rotated token needs no restart. Surrounding
// white space (a trailing newline) is not part of the token.
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
	raw, err := os.ReadFile(f.Path)
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
	f.token, f.modTime, f.size = token, fi.ModTime(), fi.Size()
	return token, nil
}
