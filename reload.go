package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// reloader reads the configuration file again and applies it, on SIGHUP
// and on POST /-/reload. An invalid file keeps the running configuration.
type reloader struct {
	path   string
	opts   tenantconfig.Options
	shard  tenantconfig.Shard
	set    *tenants.Set
	logger log.Logger

	loaded      atomic.Pointer[tenantconfig.Config] // the file as last applied, every shard's tenants: /config
	mu          sync.Mutex                          // one reload at a time
	successful  prometheus.Gauge
	successTime prometheus.Gauge
}

func newReloader(path string, opts tenantconfig.Options, shard tenantconfig.Shard, set *tenants.Set, logger log.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{path: path, opts: opts, shard: shard, set: set, logger: logger,
		successful: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "imichat_exporter", Name: "config_last_reload_successful",
			Help: "1 when the last reload of --config.file succeeded, else 0 (the configuration before it keeps running).",
		}),
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "imichat_exporter", Name: "config_last_reload_success_timestamp_seconds",
			Help: "When --config.file was last loaded successfully, in Unix seconds.",
		}),
	}
	reg.MustRegister(r.successful, r.successTime)
	return r
}

// apply puts a loaded configuration in place (at start-up, and from
// reload, which holds mu).
func (r *reloader) apply(cfg *tenantconfig.Config) error {
	all := cfg
	cfg = cfg.Only(r.shard)
	if err := r.set.Apply(cfg); err != nil {
		return err
	}
	r.loaded.Store(all)
	r.successful.Set(1)
	r.successTime.SetToCurrentTime()
	level.Info(r.logger).Log("msg", "configuration loaded", "file", r.path, "tenants", len(cfg.Tenants), "teams", len(r.set.Targets()))
	return nil
}

// reload reads the file again and applies it, one reload at a time, so
// that a slower read of an older file cannot be applied after a newer
// one. A failure is logged once, here.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := tenantconfig.Load(r.path, r.opts)
	if err == nil {
		err = r.apply(cfg)
	}
	if err != nil {
		r.successful.Set(0)
		err = fmt.Errorf("reloading the configuration failed; the running one stays: %w", err)
		level.Error(r.logger).Log("msg", "reload", "err", oneLine(err))
	}
	return err
}

// watchSIGHUP reloads on every SIGHUP until ctx is done.
func (r *reloader) watchSIGHUP(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			_ = r.reload() // logged
		}
	}
}

// ServeHTTP is POST /-/reload, as Prometheus's: 200 when the file was
// applied, 500 and the reason when it was not.
func (r *reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "Only POST or PUT requests allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.reload(); err != nil {
		http.Error(w, oneLine(err), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// oneLine puts the lines of a joined error on one, for one log line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
