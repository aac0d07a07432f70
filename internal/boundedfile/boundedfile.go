// Package boundedfile reads the exporter's own small files (access tokens,
// the configuration) as an untrusted path deserves: regular files only, so
// that a named pipe cannot hang the exporter nor a device like /dev/zero
// exhaust its memory, and at most a bound's worth of bytes. Its errors are
// *fs.PathError naming the file, one line each, and never show what the
// file holds.
package boundedfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// Read returns the content of the regular file at path, which must hold at
// most limit bytes.
func Read(path string, limit int64) ([]byte, error) {
	if err := CheckRegular(path); err != nil {
		return nil, err
	}
	// O_NONBLOCK: should the file have been replaced by a named pipe since
	// the check, opening it does not wait for a writer (the check below
	// then refuses it). It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(raw)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d bytes", limit)}
	}
	return raw, nil
}

// CheckRegular tells whether path is a regular file (a symbolic link to
// one is), for the files that others read (the TLS files of an
// http_client).
func CheckRegular(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return notRegular(path, fi.Mode())
	}
	return nil
}

// WorldReadable tells whether every user of the machine may read the file
// at path; false when it cannot be stat'ed.
func WorldReadable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().Perm()&0o004 != 0
}

func notRegular(path string, mode fs.FileMode) error {
	kind := "not a regular file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind += " (a named pipe)"
	case mode&fs.ModeDevice != 0:
		kind += " (a device)"
	case mode.IsDir():
		kind += " (a directory)"
	case mode&fs.ModeSocket != 0:
		kind += " (a socket)"
	}
	return &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%s", kind)}
}
