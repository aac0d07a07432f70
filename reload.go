package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// reloader reads the configuration file again and applies it, on SIGHUP
// and, with --web.enable-lifecycle, on POST /-/reload. An invalid file
// keeps the running configuration.
type reloader struct {
	path      string                         // for the log
	load      func() (*config.Config, error) // as at start-up
	shard     config.Shard
	set       *tenants.Set
	lifecycle bool // --web.enable-lifecycle: POST /-/reload is served
	logger    log.Logger

	loaded      atomic.Pointer[config.Config] // the file as last applied, every shard's tenants: /config
	mu          sync.Mutex                    // one reload at a time
	running     *config.Config                // this shard's part of the last one applied, under mu
	successful  prometheus.Gauge
	successTime prometheus.Gauge
}

func newReloader(path string, load func() (*config.Config, error), shard config.Shard, set *tenants.Set, lifecycle bool, logger log.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{path: path, load: load, shard: shard, set: set, lifecycle: lifecycle, logger: logger,
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
// reload, which holds mu). A configuration the same as the running one is
// logged at debug level only: a reload that changes nothing is no news.
func (r *reloader) apply(cfg *config.Config) error {
	all := cfg
	cfg = cfg.Only(r.shard)
	if err := r.set.Apply(cfg); err != nil {
		return err
	}
	r.loaded.Store(all)
	unchanged := r.running != nil && reflect.DeepEqual(r.running, cfg)
	r.running = cfg
	r.successful.Set(1)
	r.successTime.SetToCurrentTime()
	if unchanged {
		level.Debug(r.logger).Log("msg", "configuration reloaded, unchanged", "file", r.path)
		return nil
	}
	level.Info(r.logger).Log("msg", "configuration loaded", "file", r.path, "tenants", len(cfg.Tenants), "teams", len(r.set.Targets()))
	byOrigin := map[string][]string{}
	for _, name := range cfg.Names() {
		o := config.Origin(cfg.Tenants[name].URL)
		byOrigin[o] = append(byOrigin[o], name)
	}
	for _, o := range slices.Sorted(maps.Keys(byOrigin)) {
		if names := byOrigin[o]; len(names) > 1 {
			level.Info(r.logger).Log("msg", "tenants of one API tenant share its quota, at the smallest of their quota_share and daily_budget",
				"origin", o, "tenants", strings.Join(names, ","))
		}
	}
	for _, name := range cfg.Names() {
		for _, why := range cfg.Tenants[name].Insecure() {
			level.Warn(r.logger).Log("msg", why+" (allowed by --imichat.insecure-http)", "tenant", name)
		}
	}
	return nil
}

// reload reads the file again and applies it, one reload at a time, so
// that a slower read of an older file cannot be applied after a newer
// one. A failure is logged once, here.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := r.load()
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

// ServeHTTP is POST /-/reload, as Prometheus's: 403 unless
// --web.enable-lifecycle is set; 200 when the file was applied, 500 and the
// reason when it was not. A request that a browser may have sent on
// another site's behalf is refused 403 (see crossSite).
func (r *reloader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !r.lifecycle {
		http.Error(w, "Lifecycle API is not enabled: start the exporter with --web.enable-lifecycle, or send it SIGHUP", http.StatusForbidden)
		return
	}
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "Only POST or PUT requests allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := crossSite(req); err != nil {
		http.Error(w, "Reload refused: "+err.Error(), http.StatusForbidden)
		return
	}
	if err := r.reload(); err != nil {
		http.Error(w, oneLine(err), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// crossSite refuses a reload that a web page could have made a browser
// send (cross-site request forgery): one that the browser marks as coming
// from another origin (Sec-Fetch-Site, or an Origin other than the Host:
// Go's CrossOriginProtection; browsers send Origin with every POST), and
// one with a form's or text's content type, which a page may POST to any
// site without asking (a "simple" request: an old browser may send it
// without Origin). A client that is no browser sends neither: curl -X POST
// and the Kubernetes config reloader send no content type, and a client may
// send any other (application/json, …).
func crossSite(req *http.Request) error {
	if err := http.NewCrossOriginProtection().Check(req); err != nil {
		return errors.New("a cross-origin request from a browser")
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return errors.New("an unparseable Content-Type")
		case mt == "application/x-www-form-urlencoded", mt == "multipart/form-data", mt == "text/plain":
			return fmt.Errorf("Content-Type %s, which any web page may send; send none, or another", mt)
		}
	}
	return nil
}

// oneLine puts the lines of a joined error on one, for one log line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
