// Command imichat_exporter exports the chat queues of an imi.chat (Webex
// Engage digital channels) tenant to Prometheus. This file only wires things
// together: flags, logger, API client, registry and web server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/internal/boundedfile"
	"github.com/imichat-exporter/imichat_exporter/refresh"
	"github.com/imichat-exporter/imichat_exporter/simulator/demo"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

const exporterName = "imichat_exporter"

// tokenEnv holds the access token itself. It is read from the environment
// only: a flag's value is visible to every user of the machine in ps.
const tokenEnv = "IMICHAT_ACCESS_TOKEN"

type config struct {
	configFile, shard      string
	tenants                *tenantconfig.Config // read from configFile
	shardOf                tenantconfig.Shard
	url, teamID, tokenFile string
	tokenFromEnv           string
	tokenFromEnvSet        bool
	firstPage, concurrency int
	maxPages               int
	maxLabelValues         int
	timeout, timeoutOffset time.Duration
	defaultScrapeTimeout   time.Duration
	minRefreshInterval     time.Duration
	lookback               time.Duration
	sweepInterval          time.Duration
	quotaShare             float64
	dailyBudget            int64
	insecureHTTP           bool
	httpClientFile         string
	httpClient             *promconfig.HTTPClientConfig // read from httpClientFile
	rawCounts              bool
	telemetryPath          string
	storagePath            string
	maxRequests            int
	enableLifecycle        bool
	demo                   bool
	configCheck            bool
	logLevel, logFormat    string
	webFlags               *web.FlagConfig
	logTap                 *logTap // the logger's, for /probe?debug=true; nil: no log lines there
}

func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*config, error) {
	cfg := &config{}
	app := kingpin.New(exporterName, "Prometheus exporter for imi.chat (Webex Engage) chat queues.")
	app.Flag("config.file", "Multi-target mode: the YAML file of the tenants and teams served on /probe?target=TENANT/TEAM (see README). Reloaded on SIGHUP and POST /-/reload.").
		PlaceHolder("FILE").StringVar(&cfg.configFile)
	app.Flag("config.shard", "With --config.file: run only the tenants of shard I of N (I/N), those whose Prometheus hashmod of the tenant name modulo N is I.").
		PlaceHolder("I/N").StringVar(&cfg.shard)
	app.Flag("imichat.url", "Base URL of the tenant, e.g. https://TENANT.imi.chat.").Envar("IMICHAT_URL").StringVar(&cfg.url)
	app.Flag("imichat.team-id", "Team whose chats are listed (the teamid header).").Envar("IMICHAT_TEAM_ID").StringVar(&cfg.teamID)
	app.Flag("imichat.access-token-file", "File holding the access token; read again when it changes. Alternatively set "+tokenEnv+".").
		Envar("IMICHAT_ACCESS_TOKEN_FILE").StringVar(&cfg.tokenFile)
	app.Flag("imichat.first-page", "Number of the chat list's first page.").Default("1").IntVar(&cfg.firstPage)
	app.Flag("imichat.concurrency", "Pages requested at once during a walk.").Default("4").IntVar(&cfg.concurrency)
	app.Flag("imichat.timeout", "Longest a refresh of the chat list may take. A scrape waits for it only until its own timeout; the refresh goes on in the background.").Default("5m").DurationVar(&cfg.timeout)
	app.Flag("imichat.min-refresh-interval", "A result younger than this is served without asking the API: HA Prometheus pairs share one refresh.").Default("15s").DurationVar(&cfg.minRefreshInterval)
	app.Flag("imichat.lookback", "Chats created longer ago than this are outside the exporter's view: not read, not counted.").Default("24h").DurationVar(&cfg.lookback)
	app.Flag("imichat.sweep-interval", "The whole window (see --imichat.lookback) is re-read, a few pages at a time, once per interval, quota permitting; it catches reopened and deleted chats.").Default("24h").DurationVar(&cfg.sweepInterval)
	app.Flag("imichat.quota-share", "Largest part of the tenant's API quota the exporter may use (0 to 1].").Default("0.5").Float64Var(&cfg.quotaShare)
	app.Flag("imichat.daily-budget", "Requests a day assumed to be the quota when the API sends no rate-limit headers.").Default("10000").Int64Var(&cfg.dailyBudget)
	app.Flag("imichat.max-pages", "Most pages one refresh reads: a cold start covers the window over several refreshes, serving what it has covered.").Default("100").IntVar(&cfg.maxPages)
	app.Flag("imichat.max-label-values", "Label values exported per user-data dimension (assignee, asset, tag, flag); the smallest past it fold into \""+collector.OverflowLabelValue+"\". 0: no limit.").
		Default(strconv.Itoa(collector.DefaultMaxLabelValues)).IntVar(&cfg.maxLabelValues)
	app.Flag("imichat.raw-counts", "Serve every chat in the status it was last read in. By default a chat last read queued that has most probably been picked since, by the tenant's own queue times, counts as picked (see README).").
		BoolVar(&cfg.rawCounts)
	app.Flag("imichat.insecure-http", "Allow a plain-http upstream URL that is not on loopback (the token would cross the network in clear).").BoolVar(&cfg.insecureHTTP)
	app.Flag("imichat.http-client-file", "Single-tenant mode: a YAML file holding the HTTP client settings of a tenant's http_client in --config.file (tls_config: ca_file, cert_file, key_file, server_name; proxy_url; follow_redirects …), checked the same way. Without it: the system's CAs and the proxy from the environment.").
		PlaceHolder("FILE").StringVar(&cfg.httpClientFile)
	app.Flag("storage.path", "Directory where the exporter keeps what it spent of each API tenant's quota in the last 24 hours (a small file per tenant), so that a restart does not spend the share again when the API sends no rate-limit headers. Empty: kept in memory only.").
		PlaceHolder("DIR").StringVar(&cfg.storagePath)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&cfg.telemetryPath)
	app.Flag("web.max-requests", "Scrapes of the metrics path served at once; more are answered 503 at once. With --config.file, probes too: each tenant may hold its share (this divided by the number of tenants, at least 1). 0: no limit.").Default("40").IntVar(&cfg.maxRequests)
	app.Flag("web.default-scrape-timeout", "How long a scrape or probe without X-Prometheus-Scrape-Timeout-Seconds (not Prometheus: curl, a script) waits for the chat list, at most --imichat.timeout; the refresh goes on in the background.").
		Default("10s").DurationVar(&cfg.defaultScrapeTimeout)
	app.Flag("web.enable-lifecycle", "With --config.file: serve POST /-/reload (SIGHUP reloads in any case). Off by default: anyone who can reach the port could make the exporter re-read its files.").
		BoolVar(&cfg.enableLifecycle)
	app.Flag("web.timeout-offset", "Subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds, to answer before Prometheus gives up.").Default("0.5s").DurationVar(&cfg.timeoutOffset)
	app.Flag("demo", "Run against a built-in simulated tenant on loopback; needs no credentials. Listens on 127.0.0.1:9878 unless --web.listen-address is given.").BoolVar(&cfg.demo)
	app.Flag("config.check", "Check --config.file (or the single-tenant flags and token) and every flag, print the problems on stdout, and exit: 0 when there is none, else 2.").BoolVar(&cfg.configCheck)
	app.Flag("log.level", "Only log messages with the given severity or above.").Default("info").EnumVar(&cfg.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages.").Default("logfmt").EnumVar(&cfg.logFormat, "logfmt", "json")
	cfg.webFlags = kingpinflag.AddFlags(app, ":9878")
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	app.UsageWriter(os.Stdout) // -h | less, --version | head
	app.ErrorWriter(os.Stderr)
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	if cfg.demo && !slices.ContainsFunc(args, func(a string) bool {
		return a == "--web.listen-address" || strings.HasPrefix(a, "--web.listen-address=")
	}) {
		*cfg.webFlags.WebListenAddresses = []string{"127.0.0.1:9878"} // the demo serves pprof too
	}
	cfg.tokenFromEnv, cfg.tokenFromEnvSet = lookupEnv(tokenEnv)
	return cfg, cfg.validate()
}

// validate checks every setting before anything starts and reports each
// problem on a line of its own that names the flag to fix (the errors are
// joined: one line each).
func (c *config) validate() error {
	var errs []error
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	check(c.concurrency < 1, "--imichat.concurrency must be at least 1")
	check(c.maxPages < 1, "--imichat.max-pages must be at least 1")
	check(c.maxLabelValues < 0, "--imichat.max-label-values must not be negative (0: no limit)")
	check(c.timeout <= 0, "--imichat.timeout must be positive")
	check(c.minRefreshInterval < 0, "--imichat.min-refresh-interval must not be negative")
	check(c.lookback < time.Hour, "--imichat.lookback must be at least 1h")
	check(c.sweepInterval <= 0, "--imichat.sweep-interval must be positive")
	check(c.quotaShare <= 0 || c.quotaShare > 1, "--imichat.quota-share must be in (0, 1]")
	check(c.dailyBudget < 1, "--imichat.daily-budget must be at least 1")
	check(c.timeoutOffset < 0, "--web.timeout-offset must not be negative")
	check(c.defaultScrapeTimeout <= 0, "--web.default-scrape-timeout must be positive")
	check(!strings.HasPrefix(c.telemetryPath, "/"), "--web.telemetry-path must start with /")
	check(c.maxRequests < 0, "--web.max-requests must not be negative (0: no limit)")
	if c.storagePath != "" {
		if fi, err := os.Stat(c.storagePath); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--storage.path %s must be a directory the exporter can write to", c.storagePath))
		}
	}
	if c.configFile != "" {
		return errors.Join(append(errs, c.validateConfigFile())...)
	}
	check(c.shard != "", "--config.shard needs --config.file")
	check(c.enableLifecycle, "--web.enable-lifecycle needs --config.file: single-tenant mode has nothing to reload")
	if c.demo {
		check(c.url != "" || c.teamID != "" || c.tokenFile != "" || c.tokenFromEnvSet || c.httpClientFile != "",
			"--demo runs against a built-in tenant: unset --imichat.url, --imichat.team-id, --imichat.access-token-file, --imichat.http-client-file and "+tokenEnv)
		return errors.Join(errs...)
	}
	if c.url == "" {
		errs = append(errs, errors.New("set --imichat.url (or IMICHAT_URL) to the tenant's URL, or run with --demo"))
	} else if c.httpClientFile != "" {
		h, err := tenantconfig.LoadHTTPClient(c.httpClientFile, c.url, tenantconfig.Options{InsecureHTTP: c.insecureHTTP})
		if err != nil {
			errs = append(errs, fmt.Errorf("--imichat.http-client-file %w", err))
		}
		c.httpClient = h
	} else if err := checkURL(c.url, c.insecureHTTP); err != nil {
		errs = append(errs, err)
	}
	check(c.teamID == "", "set --imichat.team-id (or IMICHAT_TEAM_ID)")
	switch {
	case c.tokenFile == "" && !c.tokenFromEnvSet:
		errs = append(errs, errors.New("set --imichat.access-token-file (or IMICHAT_ACCESS_TOKEN_FILE) to a file holding the access token, or "+tokenEnv))
	case c.tokenFile != "" && c.tokenFromEnvSet:
		errs = append(errs, errors.New("both --imichat.access-token-file and "+tokenEnv+" are set: keep one"))
	case c.tokenFromEnvSet:
		check(strings.TrimSpace(c.tokenFromEnv) == "", tokenEnv+" is empty")
	default:
		if err := checkTokenFile(c.tokenFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validateConfigFile checks multi-target mode's settings and reads the
// file.
func (c *config) validateConfigFile() error {
	var errs []error
	if c.demo || c.url != "" || c.teamID != "" || c.tokenFile != "" || c.tokenFromEnvSet || c.httpClientFile != "" {
		errs = append(errs, errors.New("--config.file names the tenants, teams and token files: unset --demo, --imichat.url, --imichat.team-id, --imichat.access-token-file, --imichat.http-client-file and "+tokenEnv))
	}
	if c.shard != "" {
		sh, err := tenantconfig.ParseShard(c.shard)
		if err != nil {
			errs = append(errs, fmt.Errorf("--config.shard: %w", err))
		}
		c.shardOf = sh
	}
	cfg, err := tenantconfig.Load(c.configFile, tenantconfig.Options{InsecureHTTP: c.insecureHTTP})
	if err != nil {
		errs = append(errs, fmt.Errorf("--config.file %w", err))
	}
	c.tenants = cfg
	return errors.Join(errs...)
}

// waits are how long scrapes and probes wait for the chat list.
func (c *config) waits() scrapeWaits {
	return scrapeWaits{Max: c.timeout, Default: c.defaultScrapeTimeout, Offset: c.timeoutOffset}
}

// checkURL rejects an upstream URL that is not http(s) with a host, and a
// plain-http one off loopback unless insecure.
func checkURL(raw string, insecure bool) error {
	if err := tenantconfig.CheckURL(raw, insecure); err != nil {
		return fmt.Errorf("--imichat.url %w", err)
	}
	return nil
}

// checkTokenFile reads the token file once, as the client will.
func checkTokenFile(path string) error {
	_, err := (&apiclient.FileToken{Path: path}).Token()
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("--imichat.access-token-file %s: %v", path, pe.Err)
	}
	return fmt.Errorf("--imichat.access-token-file: %v", err)
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.LookupEnv)
	if cfg != nil && cfg.configCheck {
		os.Exit(configCheck(os.Stdout, err))
	}
	if err != nil {
		logLevel, logFormat := "info", "logfmt"
		if cfg != nil { // the flags parsed; a setting is wrong
			logLevel, logFormat = cfg.logLevel, cfg.logFormat
		}
		logger, _ := newLogger(logLevel, logFormat, os.Stderr)
		logStartupError(logger, err)
		os.Exit(2)
	}
	logger, webLogger, tap := newTappedLogger(cfg.logLevel, cfg.logFormat, os.Stderr)
	cfg.logTap = tap
	setDefaultLoggers(logger, webLogger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, webLogger); err != nil {
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
		rawURL, token, teamID, stop, err := demo.Start(ctx)
		if err != nil {
			return upstream{}, nil, fmt.Errorf("starting the demo tenant: %w", err)
		}
		u, _ := url.Parse(rawURL)
		level.Info(logger).Log("msg", "demo mode: reading a simulated tenant", "url", rawURL)
		return upstream{url: u, teamID: teamID, token: apiclient.StaticToken(token)}, stop, nil
	}
	u, _ := url.Parse(cfg.url) // validated
	if u.Scheme == "http" && !tenantconfig.IsLoopback(u.Hostname()) {
		level.Warn(logger).Log("msg", "--imichat.url is plain http: the access token crosses the network in clear (allowed by --imichat.insecure-http)")
	}
	var token apiclient.TokenSource = apiclient.StaticToken(strings.TrimSpace(cfg.tokenFromEnv))
	if cfg.tokenFile != "" {
		if boundedfile.WorldReadable(cfg.tokenFile) {
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
	if cfg.configFile != "" {
		set, err = serveTenants(ctx, cfg, registry, mux, logger)
	} else {
		var closeUpstream func()
		closeUpstream, err = serveOneTeam(ctx, cfg, registry, mux, logger)
		if closeUpstream != nil {
			defer closeUpstream()
		}
	}
	if err != nil {
		return err
	}
	ready.Store(true)
	handlePprof(mux, cfg.telemetryPath)
	if cfg.telemetryPath != "/" {
		mux.Handle("/", newLandingHandler(cfg.telemetryPath, set))
	}

	return serve(ctx, newServer(mux, idleTimeout), cfg.webFlags, logger, webLogger, shutdownGrace)
}

// serveOneTeam wires single-tenant mode: one team, its metrics on the
// metrics path.
func serveOneTeam(ctx context.Context, cfg *config, registry *prometheus.Registry, mux *http.ServeMux, logger log.Logger) (func(), error) {
	up, closeUpstream, err := openUpstream(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	mux.Handle("/config", newConfigHandler(func() any { return singleTenantConfig(cfg, up) }))
	token := newHUPToken(cfg.tokenFile, up.token)
	watchSIGHUPOneTeam(ctx, token, logger)
	apiMetrics := collector.NewAPIMetrics()
	client := &apiclient.Client{
		BaseURL:  up.url,
		TeamID:   up.teamID,
		Token:    token,
		Observer: apiMetrics,
		Logger:   logger,
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: cfg.concurrency,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
		}},
	}
	if cfg.httpClient != nil {
		// As a tenant's http_client is built in multi-target mode.
		hc, err := promconfig.NewClientFromConfig(*cfg.httpClient, exporterName)
		if err != nil {
			closeUpstream()
			return nil, fmt.Errorf("--imichat.http-client-file: %w", err)
		}
		client.HTTPClient = hc
	}
	quota := refresh.NewQuota(cfg.quotaShare, cfg.dailyBudget)
	if cfg.storagePath != "" && !cfg.demo {
		if err := refresh.OpenJournal(cfg.storagePath, tenantconfig.Origin(cfg.url), quota, nil, logger); err != nil {
			closeUpstream()
			return nil, fmt.Errorf("--storage.path: %w", err)
		}
	}
	refresher := refresh.New(refresh.Options{
		Fetcher:       client,
		FirstPage:     cfg.firstPage,
		Concurrency:   cfg.concurrency,
		MaxPages:      cfg.maxPages,
		RateLimit:     apiMetrics.RateLimit,
		MinInterval:   cfg.minRefreshInterval,
		Lookback:      cfg.lookback,
		SweepInterval: cfg.sweepInterval,
		QuotaShare:    cfg.quotaShare,
		DailyBudget:   cfg.dailyBudget,
		Timeout:       cfg.timeout,
		RawCounts:     cfg.rawCounts,
		Quota:         quota,
		Logger:        logger,
	})
	labelLimit := collector.NewLabelLimit(cfg.maxLabelValues)
	registry.MustRegister(apiMetrics, refresher, labelLimit)
	mux.Handle(cfg.telemetryPath, limitScrapes(ctx, registry, cfg.maxRequests,
		newMetricsHandler(registry, refresher, cfg.waits(), logger, collector.WithLabelLimit(labelLimit))))
	return closeUpstream, nil
}

// serveTenants wires multi-target mode: the tenants and teams of the
// configuration file on /probe, the exporter's own metrics on the metrics
// path, reloads on SIGHUP and (--web.enable-lifecycle) POST /-/reload.
func serveTenants(ctx context.Context, cfg *config, registry *prometheus.Registry, mux *http.ServeMux, logger log.Logger) (*tenants.Set, error) {
	set := tenants.New(tenants.Defaults{
		FirstPage:      cfg.firstPage,
		Concurrency:    cfg.concurrency,
		MaxPages:       cfg.maxPages,
		MaxLabelValues: cfg.maxLabelValues,
		Lookback:       cfg.lookback,
		MinInterval:    cfg.minRefreshInterval,
		SweepInterval:  cfg.sweepInterval,
		Timeout:        cfg.timeout,
		QuotaShare:     cfg.quotaShare,
		DailyBudget:    cfg.dailyBudget,
		RawCounts:      cfg.rawCounts,
		StoragePath:    cfg.storagePath,
		Logger:         logger,
	})
	reloads := newReloader(cfg.configFile, tenantconfig.Options{InsecureHTTP: cfg.insecureHTTP}, cfg.shardOf, set, cfg.enableLifecycle, logger, registry)
	if err := reloads.apply(cfg.tenants); err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		set.Close()
	}()
	go reloads.watchSIGHUP(ctx)
	mux.Handle(cfg.telemetryPath, limitScrapes(ctx, registry, cfg.maxRequests,
		promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorLog: errorLogger{logger}, ErrorHandling: promhttp.ContinueOnError})))
	mux.Handle("/probe", answerWhenStopping(ctx,
		newProbeHandler(set, newProbeSlots(cfg.maxRequests), cfg.waits(), logger, cfg.logTap)))
	mux.Handle("/-/reload", reloads)
	mux.Handle("/config", newConfigHandler(func() any { return multiTargetConfig(cfg, reloads, set) }))
	return set, nil
}
