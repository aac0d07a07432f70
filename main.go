// Command imichat_exporter exports the chat queues of an imi.chat (Webex
// Engage digital channels) tenant to Prometheus. This file only wires things
// together: flags, logger, API client, registry and web server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	slgk "github.com/tjhop/slog-gokit"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

const exporterName = "imichat_exporter"

// tokenEnv holds the access token itself. It is read from the environment
// only: a flag's value is visible to every user of the machine in ps.
const tokenEnv = "IMICHAT_ACCESS_TOKEN"

type config struct {
	url, teamID, tokenFile string
	tokenFromEnv           string
	tokenFromEnvSet        bool
	firstPage, concurrency int
	maxPages               int
	maxLabelValues         int
	timeout, timeoutOffset time.Duration
	minRefreshInterval     time.Duration
	fullWalkInterval       time.Duration
	openRefreshInterval    time.Duration
	quotaShare             float64
	dailyBudget            int64
	insecureHTTP           bool
	telemetryPath          string
	demo                   bool
	logLevel, logFormat    string
	webFlags               *web.FlagConfig
}

func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*config, error) {
	cfg := &config{}
	app := kingpin.New(exporterName, "Prometheus exporter for imi.chat (Webex Engage) chat queues.")
	app.Flag("imichat.url", "Base URL of the tenant, e.g. https://TENANT.imi.chat.").Envar("IMICHAT_URL").StringVar(&cfg.url)
	app.Flag("imichat.team-id", "Team whose chats are listed (the teamid header).").Envar("IMICHAT_TEAM_ID").StringVar(&cfg.teamID)
	app.Flag("imichat.access-token-file", "File holding the access token; read again when it changes. Alternatively set "+tokenEnv+".").
		Envar("IMICHAT_ACCESS_TOKEN_FILE").StringVar(&cfg.tokenFile)
	app.Flag("imichat.first-page", "Number of the chat list's first page.").Default("1").IntVar(&cfg.firstPage)
	app.Flag("imichat.concurrency", "Pages requested at once during a walk.").Default("4").IntVar(&cfg.concurrency)
	app.Flag("imichat.timeout", "Longest a refresh of the chat list may take. A scrape waits for it only until its own timeout; the refresh goes on in the background.").Default("5m").DurationVar(&cfg.timeout)
	app.Flag("imichat.min-refresh-interval", "A result younger than this is served without asking the API: HA Prometheus pairs share one refresh.").Default("15s").DurationVar(&cfg.minRefreshInterval)
	app.Flag("imichat.full-walk-interval", "The whole chat list is re-read, a few pages at a time, once per interval, quota permitting.").Default("24h").DurationVar(&cfg.fullWalkInterval)
	app.Flag("imichat.open-refresh-interval", "Open chats below the newest ones are re-read when their data is older than this, quota permitting.").Default("10m").DurationVar(&cfg.openRefreshInterval)
	app.Flag("imichat.quota-share", "Largest part of the tenant's API quota the exporter may use (0 to 1].").Default("0.5").Float64Var(&cfg.quotaShare)
	app.Flag("imichat.daily-budget", "Requests a day assumed to be the quota when the API sends no rate-limit headers.").Default("10000").Int64Var(&cfg.dailyBudget)
	app.Flag("imichat.max-pages", "A walk needing more pages than this fails instead of going on.").Default("10000").IntVar(&cfg.maxPages)
	app.Flag("imichat.max-label-values", "Label values exported per user-data dimension (assignee, asset, tag, flag); the smallest past it fold into \""+collector.OverflowLabelValue+"\". 0: no limit.").
		Default(strconv.Itoa(collector.DefaultMaxLabelValues)).IntVar(&cfg.maxLabelValues)
	app.Flag("imichat.insecure-http", "Allow a plain-http upstream URL that is not on loopback (the token would cross the network in clear).").BoolVar(&cfg.insecureHTTP)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&cfg.telemetryPath)
	app.Flag("web.timeout-offset", "Subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds, to answer before Prometheus gives up.").Default("0.5s").DurationVar(&cfg.timeoutOffset)
	app.Flag("demo", "Run against a built-in simulated tenant on loopback; needs no credentials.").BoolVar(&cfg.demo)
	app.Flag("log.level", "Only log messages with the given severity or above.").Default("info").EnumVar(&cfg.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages.").Default("logfmt").EnumVar(&cfg.logFormat, "logfmt", "json")
	cfg.webFlags = kingpinflag.AddFlags(app, ":9878")
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	cfg.tokenFromEnv, cfg.tokenFromEnvSet = lookupEnv(tokenEnv)
	return cfg, cfg.validate()
}

// validate rejects missing or contradictory settings with one line that says
// what to set.
func (c *config) validate() error {
	switch {
	case c.concurrency < 1:
		return errors.New("--imichat.concurrency must be at least 1")
	case c.maxPages < 1:
		return errors.New("--imichat.max-pages must be at least 1")
	case c.maxLabelValues < 0:
		return errors.New("--imichat.max-label-values must not be negative (0: no limit)")
	case c.timeout <= 0:
		return errors.New("--imichat.timeout must be positive")
	case c.minRefreshInterval < 0:
		return errors.New("--imichat.min-refresh-interval must not be negative")
	case c.fullWalkInterval <= 0 || c.openRefreshInterval <= 0:
		return errors.New("--imichat.full-walk-interval and --imichat.open-refresh-interval must be positive")
	case c.quotaShare <= 0 || c.quotaShare > 1:
		return errors.New("--imichat.quota-share must be in (0, 1]")
	case c.dailyBudget < 1:
		return errors.New("--imichat.daily-budget must be at least 1")
	case c.timeoutOffset < 0:
		return errors.New("--web.timeout-offset must not be negative")
	case !strings.HasPrefix(c.telemetryPath, "/"):
		return errors.New("--web.telemetry-path must start with /")
	}
	if c.demo {
		if c.url != "" || c.teamID != "" || c.tokenFile != "" || c.tokenFromEnvSet {
			return errors.New("--demo runs against a built-in tenant: unset --imichat.url, --imichat.team-id, the access token file and " + tokenEnv)
		}
		return nil
	}
	switch {
	case c.url == "":
		return errors.New("set --imichat.url (or IMICHAT_URL) to the tenant's URL, or run with --demo")
	case c.teamID == "":
		return errors.New("set --imichat.team-id (or IMICHAT_TEAM_ID)")
	case c.tokenFile == "" && !c.tokenFromEnvSet:
		return errors.New("set --imichat.access-token-file (or IMICHAT_ACCESS_TOKEN_FILE) to a file holding the access token, or " + tokenEnv)
	case c.tokenFile != "" && c.tokenFromEnvSet:
		return errors.New("both an access token file and " + tokenEnv + " are set: keep one")
	case c.tokenFromEnvSet && strings.TrimSpace(c.tokenFromEnv) == "":
		return errors.New(tokenEnv + " is empty")
	}
	u, err := url.Parse(c.url)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--imichat.url %q is not an http(s) URL with a host", c.url)
	}
	if u.Scheme == "http" && !c.insecureHTTP && !isLoopback(u.Hostname()) {
		return errors.New("--imichat.url is plain http: the access token would cross the network in clear; use https or set --imichat.insecure-http")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newLogger returns the program's logger, and a bare one (no timestamp or
// caller: slog adds its own) for exporter-toolkit's slog interface.
func newLogger(levelName, format string, w io.Writer) (logger, bare log.Logger) {
	if format == "json" {
		bare = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		bare = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	bare = level.NewFilter(bare, level.Allow(level.ParseDefault(levelName, level.InfoValue())))
	return log.With(bare, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller), bare
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", exporterName, err)
		os.Exit(2)
	}
	logger, bare := newLogger(cfg.logLevel, cfg.logFormat, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, slog.New(slgk.NewGoKitHandler(bare, nil))); err != nil {
		level.Error(logger).Log("msg", "exporter stopped", "err", err)
		os.Exit(1)
	}
}

// upstream is where the chats come from: the tenant, or the demo simulator.
type upstream struct {
	url    *url.URL
	teamID string
	token  apiclient.TokenSource
}

func openUpstream(ctx context.Context, cfg *config, logger log.Logger) (upstream, func(), error) {
	if cfg.demo {
		rawURL, token, teamID, stop, err := simulator.StartDemo(ctx)
		if err != nil {
			return upstream{}, nil, fmt.Errorf("starting the demo tenant: %w", err)
		}
		u, _ := url.Parse(rawURL)
		level.Info(logger).Log("msg", "demo mode: reading a simulated tenant", "url", rawURL)
		return upstream{url: u, teamID: teamID, token: apiclient.StaticToken(token)}, stop, nil
	}
	u, _ := url.Parse(cfg.url) // validated
	var token apiclient.TokenSource = apiclient.StaticToken(strings.TrimSpace(cfg.tokenFromEnv))
	if cfg.tokenFile != "" {
		if fi, err := os.Stat(cfg.tokenFile); err == nil && fi.Mode().Perm()&0o004 != 0 {
			level.Warn(logger).Log("msg", "the access token file is readable by every user of this machine; chmod 600 it", "file", cfg.tokenFile)
		}
		ft := &apiclient.FileToken{Path: cfg.tokenFile}
		if _, err := ft.Token(); err != nil {
			return upstream{}, nil, err
		}
		token = ft
	}
	return upstream{url: u, teamID: cfg.teamID, token: token}, func() {}, nil
}

func run(ctx context.Context, cfg *config, logger log.Logger, webLogger *slog.Logger) error {
	level.Info(logger).Log("msg", "starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	up, closeUpstream, err := openUpstream(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeUpstream()

	apiMetrics := collector.NewAPIMetrics()
	client := &apiclient.Client{
		BaseURL:  up.url,
		TeamID:   up.teamID,
		Token:    up.token,
		Observer: apiMetrics,
		Logger:   logger,
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: cfg.concurrency,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	refresher := collector.NewRefresher(collector.RefresherOptions{
		Fetcher: client,
		Walk: apiclient.WalkOptions{
			FirstPage: cfg.firstPage, Concurrency: cfg.concurrency, MaxPages: cfg.maxPages,
		},
		RateLimit:           apiMetrics.RateLimit,
		MinInterval:         cfg.minRefreshInterval,
		FullWalkInterval:    cfg.fullWalkInterval,
		OpenRefreshInterval: cfg.openRefreshInterval,
		QuotaShare:          cfg.quotaShare,
		DailyBudget:         cfg.dailyBudget,
		Timeout:             cfg.timeout,
		Logger:              logger,
	})

	labelLimit := collector.NewLabelLimit(cfg.maxLabelValues)
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		apiMetrics,
		refresher,
		labelLimit,
		versioncollector.NewCollector(exporterName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	mux := http.NewServeMux()
	mux.Handle(cfg.telemetryPath, newMetricsHandler(registry, refresher, cfg.timeout, cfg.timeoutOffset, logger, collector.WithLabelLimit(labelLimit)))
	if cfg.telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "imi.chat Exporter",
			Description: "Prometheus exporter for imi.chat chat queues",
			Version:     version.Info(),
			Links:       []web.LandingLinks{{Address: cfg.telemetryPath, Text: "Metrics"}},
		})
		if err != nil {
			return err
		}
		mux.Handle("/", landing)
	}

	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		server.Shutdown(shutdownCtx)
	}()
	if err := web.ListenAndServe(server, cfg.webFlags, webLogger); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
