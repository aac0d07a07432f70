package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/config"
)

// hupToken is single-tenant mode's token source: the token file, read
// again from scratch on SIGHUP (it is also read again whenever it changes).
type hupToken struct {
	path string // "" when the token does not come from a file
	cur  atomic.Pointer[apiclient.TokenSource]
}

// newHUPToken is single-tenant mode's token: t's Token, or its token
// file's, read once here (checked with the flags, it may have gone since).
func newHUPToken(t *config.Tenant) (*hupToken, error) {
	ts := t.Token
	if ts == nil {
		ft := &apiclient.FileToken{Path: t.AccessTokenFile}
		if _, err := ft.Token(); err != nil {
			return nil, fmt.Errorf("--imichat.access-token-file: %w", err)
		}
		ts = ft
	}
	h := &hupToken{path: t.AccessTokenFile}
	h.cur.Store(&ts)
	return h, nil
}

// Token implements apiclient.TokenSource.
func (h *hupToken) Token() (string, error) { return (*h.cur.Load()).Token() }

// reread reads the token file again and logs one line: the new file in
// use, or why the one before stays.
func (h *hupToken) reread(logger log.Logger) {
	if h.path == "" {
		level.Info(logger).Log("msg", "SIGHUP: nothing to read again: the token does not come from a file (restart to change it); single-tenant mode has no configuration file")
		return
	}
	ft := &apiclient.FileToken{Path: h.path}
	if _, err := ft.Token(); err != nil {
		level.Error(logger).Log("msg", "SIGHUP: reading the access token file again failed; the token read before stays", "file", h.path, "err", err)
		return
	}
	var ts apiclient.TokenSource = ft
	h.cur.Store(&ts)
	level.Info(logger).Log("msg", "SIGHUP: read the access token file again", "file", h.path)
}

// watchSIGHUPOneTeam keeps SIGHUP from ending the process (Go's default)
// in single-tenant mode, and reads the token again on each, until ctx is
// done.
func watchSIGHUPOneTeam(ctx context.Context, token *hupToken, logger log.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				token.reread(logger)
			}
		}
	}()
}
