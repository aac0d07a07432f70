package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/refresh"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// tokenEnv holds the access token itself. It is read from the environment
// only: a flag's value is visible to every user of the machine in ps.
const tokenEnv = "IMICHAT_ACCESS_TOKEN"

// options are the command line's.
type options struct {
	configFile, shard      string
	shardOf                config.Shard
	url, teamID, tokenFile string
	tokenFromEnv           string
	tokenFromEnvSet        bool
	// settings are every tenant's, where the file leaves one out, and
	// single-tenant mode's one tenant's.
	settings               config.Settings
	maxPages               int
	maxLabelValues         int
	timeout, timeoutOffset time.Duration
	defaultScrapeTimeout   time.Duration
	minRefreshInterval     time.Duration
	sweepInterval          time.Duration
	insecureHTTP           bool
	httpClientFile         string
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

	// tenants is what the exporter runs, as loadTenants read it at
	// start-up; nil in demo mode until the demo's tenant starts.
	tenants *config.Config
}

// settingFlags name the flags that set config.Settings, by the file's keys.
var settingFlags = map[string]string{
	"first_page":   "--imichat.first-page",
	"concurrency":  "--imichat.concurrency",
	"lookback":     "--imichat.lookback",
	"quota_share":  "--imichat.quota-share",
	"daily_budget": "--imichat.daily-budget",
}

// parseFlags reads the command line, checks it, and loads what it names
// (loadTenants): every problem is reported, one a line.
func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*options, error) {
	o := &options{settings: config.Settings{FirstPage: new(int)}}
	app := kingpin.New(exporterName, "Prometheus exporter for imi.chat (Webex Engage) chat queues.")
	app.Flag("config.file", "Multi-target mode: the YAML file of the tenants and teams served on /probe?target=TENANT/TEAM (see README). Reloaded on SIGHUP and POST /-/reload.").
		PlaceHolder("FILE").StringVar(&o.configFile)
	app.Flag("config.shard", "With --config.file: run only the tenants of shard I of N (I/N), those whose Prometheus hashmod of the tenant name modulo N is I.").
		PlaceHolder("I/N").StringVar(&o.shard)
	app.Flag("imichat.url", "Base URL of the tenant, e.g. https://TENANT.imi.chat.").Envar("IMICHAT_URL").StringVar(&o.url)
	app.Flag("imichat.team-id", "Team whose chats are listed (the teamid header).").Envar("IMICHAT_TEAM_ID").StringVar(&o.teamID)
	app.Flag("imichat.access-token-file", "File holding the access token; read again when it changes. Alternatively set "+tokenEnv+".").
		Envar("IMICHAT_ACCESS_TOKEN_FILE").StringVar(&o.tokenFile)
	app.Flag("imichat.first-page", "Number of the chat list's first page.").Default(strconv.Itoa(config.DefaultFirstPage)).IntVar(o.settings.FirstPage)
	app.Flag("imichat.concurrency", "Pages requested at once during a walk.").Default(strconv.Itoa(config.DefaultConcurrency)).IntVar(&o.settings.Concurrency)
	app.Flag("imichat.timeout", "Longest a refresh of the chat list may take. A scrape waits for it only until its own timeout; the refresh goes on in the background.").Default(durationDefault(refresh.DefaultTimeout)).DurationVar(&o.timeout)
	app.Flag("imichat.min-refresh-interval", "A result younger than this is served without asking the API: HA Prometheus pairs share one refresh.").Default("15s").DurationVar(&o.minRefreshInterval)
	app.Flag("imichat.lookback", "Chats created longer ago than this are outside the exporter's view: not read, not counted.").Default(durationDefault(config.DefaultLookback)).DurationVar((*time.Duration)(&o.settings.Lookback))
	app.Flag("imichat.sweep-interval", "The whole window (see --imichat.lookback) is re-read, a few pages at a time, once per interval, quota permitting; it catches reopened and deleted chats.").Default(durationDefault(refresh.DefaultSweepInterval)).DurationVar(&o.sweepInterval)
	app.Flag("imichat.quota-share", "Largest part of the tenant's API quota the exporter may use (0 to 1].").Default(strconv.FormatFloat(config.DefaultQuotaShare, 'g', -1, 64)).Float64Var(&o.settings.QuotaShare)
	app.Flag("imichat.daily-budget", "Requests a day assumed to be the quota when the API sends no rate-limit headers.").Default(strconv.Itoa(config.DefaultDailyBudget)).Int64Var(&o.settings.DailyBudget)
	app.Flag("imichat.max-pages", "Most pages one refresh reads: a cold start covers the window over several refreshes, serving what it has covered.").Default(strconv.Itoa(refresh.DefaultMaxPages)).IntVar(&o.maxPages)
	app.Flag("imichat.max-label-values", "Label values exported per user-data dimension (assignee, asset, tag, flag); the smallest past it fold into \""+collector.OverflowLabelValue+"\". 0: no limit.").
		Default(strconv.Itoa(collector.DefaultMaxLabelValues)).IntVar(&o.maxLabelValues)
	app.Flag("imichat.raw-counts", "Serve every chat in the status it was last read in. By default a chat last read queued that has most probably been picked since, by the tenant's own queue times, counts as picked (see README).").
		BoolVar(&o.rawCounts)
	app.Flag("imichat.insecure-http", "Allow a plain-http upstream URL that is not on loopback (the token would cross the network in clear).").BoolVar(&o.insecureHTTP)
	app.Flag("imichat.http-client-file", "Single-tenant mode: a YAML file holding the HTTP client settings of a tenant's http_client in --config.file (tls_config: ca_file, cert_file, key_file, server_name; proxy_url; follow_redirects …), checked the same way. Without it: the system's CAs and the proxy from the environment.").
		PlaceHolder("FILE").StringVar(&o.httpClientFile)
	app.Flag("storage.path", "Directory where the exporter keeps what it spent of each API tenant's quota in the last 24 hours (a small file per tenant), so that a restart does not spend the share again when the API sends no rate-limit headers. Empty: kept in memory only.").
		PlaceHolder("DIR").StringVar(&o.storagePath)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.telemetryPath)
	app.Flag("web.max-requests", "Scrapes of the metrics path served at once; more are answered 503 at once. With --config.file, probes too: each tenant may hold its share (this divided by the number of tenants, at least 1). 0: no limit.").Default("40").IntVar(&o.maxRequests)
	app.Flag("web.default-scrape-timeout", "How long a scrape or probe without X-Prometheus-Scrape-Timeout-Seconds (not Prometheus: curl, a script) waits for the chat list, at most --imichat.timeout; the refresh goes on in the background.").
		Default("10s").DurationVar(&o.defaultScrapeTimeout)
	app.Flag("web.enable-lifecycle", "With --config.file: serve POST /-/reload (SIGHUP reloads in any case). Off by default: anyone who can reach the port could make the exporter re-read its files.").
		BoolVar(&o.enableLifecycle)
	app.Flag("web.timeout-offset", "Subtracted from Prometheus's X-Prometheus-Scrape-Timeout-Seconds, to answer before Prometheus gives up.").Default("0.5s").DurationVar(&o.timeoutOffset)
	app.Flag("demo", "Run against a built-in simulated tenant on loopback; needs no credentials. Listens on 127.0.0.1:9878 unless --web.listen-address is given.").BoolVar(&o.demo)
	app.Flag("config.check", "Check --config.file (or the single-tenant flags and token) and every flag, print the problems on stdout, and exit: 0 when there is none, else 2.").BoolVar(&o.configCheck)
	app.Flag("log.level", "Only log messages with the given severity or above.").Default("info").EnumVar(&o.logLevel, "debug", "info", "warn", "error")
	app.Flag("log.format", "Output format of log messages.").Default("logfmt").EnumVar(&o.logFormat, "logfmt", "json")
	o.webFlags = kingpinflag.AddFlags(app, ":9878")
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	app.UsageWriter(os.Stdout) // -h | less, --version | head
	app.ErrorWriter(os.Stderr)
	if _, err := app.Parse(args); err != nil {
		return nil, err
	}
	if o.demo && !slices.ContainsFunc(args, func(a string) bool {
		return a == "--web.listen-address" || strings.HasPrefix(a, "--web.listen-address=")
	}) {
		*o.webFlags.WebListenAddresses = []string{"127.0.0.1:9878"} // the demo serves pprof too
	}
	o.tokenFromEnv, o.tokenFromEnvSet = lookupEnv(tokenEnv)
	errs := o.check()
	var err error
	o.tenants, err = o.loadTenants()
	if err != nil && o.configFile != "" {
		err = fmt.Errorf("--config.file %w", err)
	}
	return o, errors.Join(append(errs, err)...)
}

// durationDefault spells a flag's default duration as an operator would:
// 24h, not 24h0m0s.
func durationDefault(d time.Duration) string {
	s := d.String()
	for _, zero := range []string{"0s", "0m"} { // a zero after a unit: 24h0m0s, 5m0s; not 30s
		if n := len(s) - len(zero); n > 0 && strings.HasSuffix(s, zero) && s[n-1] >= 'a' && s[n-1] <= 'z' {
			s = s[:n]
		}
	}
	return s
}

// check checks the flags, each problem an error that names the flag to
// fix; loadTenants checks the files they name.
func (o *options) check() []error {
	errs := o.settings.Check(true, func(key string) string { return settingFlags[key] })
	check := func(bad bool, msg string) {
		if bad {
			errs = append(errs, errors.New(msg))
		}
	}
	check(o.maxPages < 1, "--imichat.max-pages must be at least 1")
	check(o.maxLabelValues < 0, "--imichat.max-label-values must not be negative (0: no limit)")
	check(o.timeout <= 0, "--imichat.timeout must be positive")
	check(o.minRefreshInterval < 0, "--imichat.min-refresh-interval must not be negative")
	check(o.sweepInterval <= 0, "--imichat.sweep-interval must be positive")
	check(o.timeoutOffset < 0, "--web.timeout-offset must not be negative")
	check(o.defaultScrapeTimeout <= 0, "--web.default-scrape-timeout must be positive")
	check(!strings.HasPrefix(o.telemetryPath, "/"), "--web.telemetry-path must start with /")
	check(o.maxRequests < 0, "--web.max-requests must not be negative (0: no limit)")
	if o.storagePath != "" {
		if fi, err := os.Stat(o.storagePath); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--storage.path %s must be a directory the exporter can write to", o.storagePath))
		}
	}
	singleTenantFlags := o.url != "" || o.teamID != "" || o.tokenFile != "" || o.tokenFromEnvSet || o.httpClientFile != ""
	switch {
	case o.configFile != "":
		check(o.demo || singleTenantFlags, "--config.file names the tenants, teams and token files: unset --demo, --imichat.url, --imichat.team-id, --imichat.access-token-file, --imichat.http-client-file and "+tokenEnv)
		if o.shard != "" {
			sh, err := config.ParseShard(o.shard)
			if err != nil {
				errs = append(errs, fmt.Errorf("--config.shard: %w", err))
			}
			o.shardOf = sh
		}
		return errs
	case o.shard != "":
		errs = append(errs, errors.New("--config.shard needs --config.file"))
	}
	check(o.enableLifecycle, "--web.enable-lifecycle needs --config.file: single-tenant mode has nothing to reload")
	check(o.demo && singleTenantFlags,
		"--demo runs against a built-in tenant: unset --imichat.url, --imichat.team-id, --imichat.access-token-file, --imichat.http-client-file and "+tokenEnv)
	return errs
}

// loadTenants reads what the exporter runs: --config.file, at start-up
// and at every reload alike, or single-tenant mode's one tenant, made
// from the flags (oneTenant); nil with --demo, whose tenant is made when
// it starts.
func (o *options) loadTenants() (*config.Config, error) {
	switch {
	case o.configFile != "":
		return config.Load(o.configFile, o.connection())
	case o.demo:
		return nil, nil
	}
	return o.oneTenant()
}

// connection is what the command line decides about how every tenant is
// reached.
func (o *options) connection() config.Options {
	return config.Options{InsecureHTTP: o.insecureHTTP}
}

// oneTenant makes single-tenant mode's configuration: one unnamed tenant
// (see package tenants) of the flags' URL, team and token, its settings
// the command line's. Its problems name the flags to fix.
func (o *options) oneTenant() (*config.Config, error) {
	var errs []error
	t := &config.Tenant{URL: o.url, AccessTokenFile: o.tokenFile, Teams: []config.TeamID{config.TeamID(o.teamID)},
		HTTPClient: promconfig.DefaultHTTPClientConfig}
	// Without --imichat.http-client-file, the proxy of the environment,
	// as curl and most clients take it.
	t.HTTPClient.ProxyFromEnvironment = true
	switch {
	case o.url == "":
		errs = append(errs, errors.New("set --imichat.url (or IMICHAT_URL) to the tenant's URL, or run with --demo"))
	case o.httpClientFile != "":
		h, err := config.LoadHTTPClient(o.httpClientFile, o.url, o.connection())
		if err != nil {
			errs = append(errs, fmt.Errorf("--imichat.http-client-file %w", err))
		} else {
			t.HTTPClient = *h
		}
	default:
		if err := config.CheckURL(o.url, o.insecureHTTP); err != nil {
			errs = append(errs, fmt.Errorf("--imichat.url %w", err))
		}
	}
	if o.teamID == "" {
		errs = append(errs, errors.New("set --imichat.team-id (or IMICHAT_TEAM_ID)"))
	}
	switch {
	case o.tokenFile == "" && !o.tokenFromEnvSet:
		errs = append(errs, errors.New("set --imichat.access-token-file (or IMICHAT_ACCESS_TOKEN_FILE) to a file holding the access token, or "+tokenEnv))
	case o.tokenFile != "" && o.tokenFromEnvSet:
		errs = append(errs, errors.New("both --imichat.access-token-file and "+tokenEnv+" are set: keep one"))
	case o.tokenFromEnvSet:
		if strings.TrimSpace(o.tokenFromEnv) == "" {
			errs = append(errs, errors.New(tokenEnv+" is empty"))
		}
		t.Token = apiclient.StaticToken(strings.TrimSpace(o.tokenFromEnv))
	default:
		if err := config.CheckTokenFile(o.tokenFile); err != nil {
			// As the other flags' problems read: the flag, then its
			// value, when the problem starts with it.
			sep := ": "
			if strings.HasPrefix(err.Error(), o.tokenFile+": ") {
				sep = " "
			}
			errs = append(errs, errors.New("--imichat.access-token-file"+sep+err.Error()))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &config.Config{Tenants: map[string]*config.Tenant{"": t}}, nil
}

// defaults are the command line's settings of every tenant and team.
func (o *options) defaults(logger log.Logger) tenants.Defaults {
	d := tenants.Defaults{
		Settings:       o.settings,
		MaxPages:       o.maxPages,
		MaxLabelValues: o.maxLabelValues,
		MinInterval:    o.minRefreshInterval,
		SweepInterval:  o.sweepInterval,
		Timeout:        o.timeout,
		RawCounts:      o.rawCounts,
		StoragePath:    o.storagePath,
		Logger:         logger,
	}
	if o.demo {
		d.StoragePath = "" // the demo's tenant is new at every start
	}
	return d
}

// waits are how long scrapes and probes wait for the chat list.
func (o *options) waits() scrapeWaits {
	return scrapeWaits{Max: o.timeout, Default: o.defaultScrapeTimeout, Offset: o.timeoutOffset}
}
