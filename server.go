package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/exporter-toolkit/web"
)

// shutdownGrace is how long the exporter waits, once told to stop, for the
// requests in flight to be answered.
const shutdownGrace = 5 * time.Second

// The web server's bounds, for a long-lived process on an open port:
// a client gets readHeaderTimeout to send a request's headers, at most
// maxHeaderBytes of them, and a connection idle between requests is closed
// after idleTimeout (Prometheus scrapes at most once a minute or so keep
// theirs; a client that opens connections and leaves them idle holds
// nothing for long).
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 64 << 10
)

// newServer is the exporter's web server for h; idle is its idleTimeout
// (tests shorten it).
func newServer(h http.Handler, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// serve runs server on the addresses (or systemd sockets) of flags until ctx
// is done. Then it stops accepting connections, waits up to grace for the
// requests in flight to be answered, closes whatever is left, and returns.
// net/http's own errors (TLS handshakes, …) go to logger.
func serve(ctx context.Context, server *http.Server, flags *web.FlagConfig, logger log.Logger, webLogger *slog.Logger, grace time.Duration) error {
	server.ErrorLog = newErrorLog(logger)
	served := make(chan error, 1)
	go func() { served <- web.ListenAndServe(server, flags, webLogger) }()
	select {
	case err := <-served:
		return err // it could not start
	case <-ctx.Done():
	}
	level.Info(logger).Log("msg", "stopping: waiting for the requests in flight", "grace", grace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		level.Warn(logger).Log("msg", "requests still in flight after the grace period: closing their connections", "grace", grace, "err", err)
		server.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handlePprof serves net/http/pprof under /debug/pprof/, which the landing
// page links to, unless the metrics path lies there.
func handlePprof(mux *http.ServeMux, telemetryPath string) {
	if strings.HasPrefix(telemetryPath, "/debug/pprof") {
		return
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
