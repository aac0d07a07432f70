package main

import (
	"net/http"
	"sync/atomic"
)

// Operator pages: /-/healthy, /-/ready.

// handleHealth serves GET /-/healthy, 200 whenever the process serves
// HTTP, and GET /-/ready, 200 once ready is set (the configuration is
// loaded and its targets run), 503 before, as Prometheus's own.
func handleHealth(mux *http.ServeMux, ready *atomic.Bool) {
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("imichat_exporter is Healthy.\n"))
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("imichat_exporter is not ready: the configuration is not loaded yet.\n"))
			return
		}
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("imichat_exporter is Ready.\n"))
	})
}
