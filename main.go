// Command imichat_exporter exports the chat queues of an imi.chat (Webex
// Engage digital channels) tenant to Prometheus. This file only wires things
// together: flags (flags.go), logger, tenants, registry and web server.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/simulator/demo"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

const exporterName = "imichat_exporter"

func main() {
	opts, err := parseFlags(os.Args[1:], os.LookupEnv)
	if opts != nil && opts.configCheck {
		os.Exit(configCheck(os.Stdout, err))
	}
	if err != nil {
		logLevel, logFormat := "info", "logfmt"
		if opts != nil { // the flags parsed; a setting is wrong
			logLevel, logFormat = opts.logLevel, opts.logFormat
		}
		logger, _ := newLogger(logLevel, logFormat, os.Stderr)
		logStartupError(logger, err)
		os.Exit(2)
	}
	logger, webLogger, tap := newTappedLogger(opts.logLevel, opts.logFormat, os.Stderr)
	opts.logTap = tap
	setDefaultLoggers(logger, webLogger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, logger, webLogger); err != nil {
		level.Error(logger).Log("msg", "exporter stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o *options, logger log.Logger, webLogger *slog.Logger) error {
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		versioncollector.NewCollector(exporterName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := http.NewServeMux()
	var ready atomic.Bool
	handleHealth(mux, &ready)
	var err error
	var set *tenants.Set // multi-target mode's, for the landing page
	if o.configFile != "" {
		set, err = serveTenants(ctx, o, registry, mux, logger)
	} else {
		var stopDemo func()
		stopDemo, err = serveOneTeam(ctx, o, registry, mux, logger)
		if stopDemo != nil {
			defer stopDemo()
		}
	}
	if err != nil {
		return err
	}
	ready.Store(true)
	handlePprof(mux, o.telemetryPath)
	if o.telemetryPath != "/" {
		mux.Handle("/", newLandingHandler(o.telemetryPath, set))
	}

	return serve(ctx, newServer(mux, idleTimeout), o.webFlags, logger, webLogger, shutdownGrace)
}

// serveOneTeam wires single-tenant mode: its one tenant (the flags', or
// the demo's) run as a tenant of the file is, its one team's metrics on
// the metrics path, beside the process's own, without a tenant or team
// label. SIGHUP reads the token file again.
func serveOneTeam(ctx context.Context, o *options, registry *prometheus.Registry, mux *http.ServeMux, logger log.Logger) (func(), error) {
	cfg, stop := o.tenants, func() {}
	var err error
	if o.demo {
		if cfg, stop, err = startDemo(ctx, logger); err != nil {
			return nil, err
		}
	}
	tenant := cfg.Tenants[""]
	for _, why := range tenant.Insecure() {
		level.Warn(logger).Log("msg", why+" (allowed by --imichat.insecure-http)")
	}
	hup, err := newHUPToken(tenant)
	if err != nil {
		stop()
		return nil, err
	}
	tenant.Token = hup
	watchSIGHUPOneTeam(ctx, hup, logger)

	set := tenants.New(o.defaults(logger))
	if err = set.Apply(cfg); err != nil {
		stop()
		return nil, err
	}
	go func() {
		<-ctx.Done()
		set.Close()
	}()
	team := set.Only()
	mux.Handle("/config", newConfigHandler(func() any { return singleTenantConfig(o, tenant) }))
	mux.Handle(o.telemetryPath, limitScrapes(ctx, registry, o.maxRequests,
		newMetricsHandler(prometheus.Gatherers{team.Registry, registry}, team.Source(), o.waits(), logger,
			collector.WithLabelLimit(team.LabelLimit))))
	return stop, nil
}

// startDemo starts the demo's simulated tenant on loopback: the
// configuration of its one team, and how to stop it.
func startDemo(ctx context.Context, logger log.Logger) (*config.Config, func(), error) {
	url, token, teamID, stop, err := demo.Start(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the demo tenant: %w", err)
	}
	level.Info(logger).Log("msg", "demo mode: reading a simulated tenant", "url", url)
	t := &config.Tenant{URL: url, Teams: []config.TeamID{config.TeamID(teamID)},
		HTTPClient: promconfig.DefaultHTTPClientConfig, Token: apiclient.StaticToken(token)}
	return &config.Config{Tenants: map[string]*config.Tenant{"": t}}, stop, nil
}

// serveTenants wires multi-target mode: the tenants and teams of the
// configuration file on /probe, the exporter's own metrics on the metrics
// path, reloads on SIGHUP and (--web.enable-lifecycle) POST /-/reload.
func serveTenants(ctx context.Context, o *options, registry *prometheus.Registry, mux *http.ServeMux, logger log.Logger) (*tenants.Set, error) {
	set := tenants.New(o.defaults(logger))
	reloads := newReloader(o.configFile, o.loadTenants, o.shardOf, set, o.enableLifecycle, logger, registry)
	if err := reloads.apply(o.tenants); err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		set.Close()
	}()
	go reloads.watchSIGHUP(ctx)
	mux.Handle(o.telemetryPath, limitScrapes(ctx, registry, o.maxRequests,
		promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorLog: errorLogger{logger}, ErrorHandling: promhttp.ContinueOnError})))
	mux.Handle("/probe", answerWhenStopping(ctx,
		newProbeHandler(set, newProbeSlots(o.maxRequests), o.waits(), logger, o.logTap)))
	mux.Handle("/-/reload", reloads)
	mux.Handle("/config", newConfigHandler(func() any { return multiTargetConfig(o, reloads, set) }))
	return set, nil
}
