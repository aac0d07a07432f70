// Package tenants runs the teams of the configuration file. Per tenant it
// holds one HTTP client (its own connection pool) and one token file; per
// API tenant (the origin of the tenants' URLs, see config.Origin) one
// refresh.Quota that the teams of every tenant of that origin draw on; per
// team an API client, the team's counters and a refresher with its merged
// state.
//
// Apply takes a new configuration, as a reload does: a tenant whose
// connection did not change keeps its client, an origin still configured
// keeps its quota (under whatever tenant name), a team whose settings did
// not change keeps its refresher and so its state, and what was removed
// stops and is freed. Tenants of different origins share nothing: one's
// expired token, slow API or long history does not touch another's probes.
//
// Single-tenant mode runs here too: its one tenant, unnamed (""), with its
// one team; its log lines, as its metrics, name neither.
package tenants

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/internal/boundedfile"
	"github.com/imichat-exporter/imichat_exporter/refresh"
)

// Defaults are the command line's settings: a tenant's Settings left out
// of the file take these, and the others hold for every team.
type Defaults struct {
	Settings       config.Settings
	MaxPages       int
	MaxLabelValues int
	MinInterval    time.Duration
	SweepInterval  time.Duration
	Timeout        time.Duration
	RawCounts      bool
	// StoragePath, when set, is the directory of the quotas' journals
	// (refresh.OpenJournal): what each API tenant spent survives a restart.
	StoragePath string
	Logger      log.Logger
	// NewHTTPClient builds a tenant's HTTP client; nil: prometheus/common's
	// client from the tenant's http_client settings. Tests give an
	// in-process transport.
	NewHTTPClient func(name string, cfg promconfig.HTTPClientConfig) (*http.Client, error)
	// Now is the refreshers' clock; nil: time.Now.
	Now func() time.Time
}

// Team is one team's running exporter: what a probe of it serves.
type Team struct {
	Tenant, ID string
	// Registry holds the team's long-lived metrics: its API counters, the
	// tenant's rate-limit gauges, its refresh counters and its folded
	// label values.
	Registry   *prometheus.Registry
	LabelLimit *collector.LabelLimit

	refresher *refresh.Refresher
	quota     *refresh.Quota // the tenant's, which the refresher draws on
	settings  teamSettings
}

// Source is the team's chat numbers: its refresher.
func (t *Team) Source() collector.Source { return t.refresher }

// teamSettings are what a team's refresher is built from: a team keeps
// its state across a reload while they stay the same.
type teamSettings struct {
	firstPage, concurrency int
	lookback               time.Duration
}

type tenant struct {
	name   string
	cfg    *config.Tenant
	client *http.Client
	token  apiclient.TokenSource
	api    *apiTenant            // while Apply plans
	limits *collector.RateLimits // its API tenant's
	quota  *refresh.Quota        // its API tenant's
	teams  map[string]*Team
}

// apiTenant is what the tenants of one origin share: the API's quota and
// its rate-limit headers, and, while Apply plans, the strictest of their
// quota settings.
type apiTenant struct {
	quota  *refresh.Quota
	limits *collector.RateLimits
	share  float64
	budget int64
}

// Set is the running tenants and teams. Its methods are safe for
// concurrent use.
type Set struct {
	defaults Defaults

	applying sync.Mutex // one Apply at a time; held while files are read

	// mu guards tenants and closed. It is never held during file or
	// network I/O (building an HTTP client reads its TLS files): a reload
	// whose file hangs must not hold up the probes.
	mu      sync.RWMutex
	tenants map[string]*tenant
	closed  bool
}

// ErrClosed is Apply's error after Close.
var ErrClosed = errors.New("the tenants are stopped")

// New returns an empty set: Apply gives it its tenants.
func New(d Defaults) *Set {
	if d.Logger == nil {
		d.Logger = log.NewNopLogger()
	}
	if d.NewHTTPClient == nil {
		d.NewHTTPClient = func(name string, cfg promconfig.HTTPClientConfig) (*http.Client, error) {
			return promconfig.NewClientFromConfig(cfg, "imichat_exporter_"+name)
		}
	}
	return &Set{defaults: d, tenants: map[string]*tenant{}}
}

// Apply makes cfg the running configuration. It builds what is new before
// it changes anything, so that an error leaves the running set as it was,
// and without holding the lock that probes take: only the commit, which
// does no I/O, holds it.
func (s *Set) Apply(cfg *config.Config) error {
	s.applying.Lock()
	defer s.applying.Unlock()
	s.mu.RLock()
	current := s.tenants // replaced, never changed in place, and only by Apply (under applying) and Close
	s.mu.RUnlock()

	// One quota, and one record of the rate-limit headers, per API tenant
	// (origin): the API counts its requests whichever name of the file
	// they come from, so tenants of one origin share them, and a tenant
	// renamed, or whose connection changed, keeps what was spent.
	byOrigin := map[string]*apiTenant{}
	for _, name := range slices.Sorted(maps.Keys(current)) {
		t := current[name]
		if o := config.Origin(t.cfg.URL); byOrigin[o] == nil {
			byOrigin[o] = &apiTenant{quota: t.quota, limits: t.limits}
		}
	}
	apiTenantOf := func(tc *config.Tenant) *apiTenant {
		o := config.Origin(tc.URL)
		a := byOrigin[o]
		if a == nil {
			a = &apiTenant{limits: &collector.RateLimits{}}
			byOrigin[o] = a
		}
		// The strictest of the tenants' settings holds.
		st := s.settings(tc)
		if a.share == 0 || st.QuotaShare < a.share {
			a.share = st.QuotaShare
		}
		if a.budget == 0 || st.DailyBudget < a.budget {
			a.budget = st.DailyBudget
		}
		return a
	}

	// Plan: every new connection is built here, where it may fail.
	next := make(map[string]*tenant, len(cfg.Tenants))
	var built []*http.Client
	var errs []error
	for _, name := range cfg.Names() {
		tc := cfg.Tenants[name]
		api := apiTenantOf(tc)
		if old := current[name]; old != nil && old.cfg.SameConnection(tc) {
			next[name] = &tenant{name: name, cfg: tc, client: old.client, token: old.token, api: api}
			continue
		}
		client, err := s.defaults.NewHTTPClient(name, tc.HTTPClient)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: http_client: %w", name, err))
			continue
		}
		built = append(built, client)
		if old := current[name]; old == nil || old.cfg.AccessTokenFile != tc.AccessTokenFile {
			s.warnIfWorldReadable(name, tc.AccessTokenFile)
		}
		next[name] = &tenant{name: name, cfg: tc, client: client, token: tokenOf(tc), api: api}
	}
	// New API tenants' quotas, with what their journals say was spent
	// (--storage.path): read here, not under the lock.
	for _, o := range slices.Sorted(maps.Keys(byOrigin)) {
		a := byOrigin[o]
		if a.quota != nil || a.share == 0 {
			continue
		}
		a.quota = refresh.NewQuota(a.share, a.budget)
		if s.defaults.StoragePath != "" {
			if err := refresh.OpenJournal(s.defaults.StoragePath, o, a.quota, s.defaults.Now, log.With(s.defaults.Logger, "origin", o)); err != nil {
				errs = append(errs, fmt.Errorf("origin %s: %w", o, err))
			}
		}
	}
	closeBuilt := func() {
		for _, c := range built {
			c.CloseIdleConnections()
		}
	}
	if err := errors.Join(errs...); err != nil {
		closeBuilt()
		return err
	}

	// Commit: nothing below fails, nor reads a file.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		closeBuilt()
		return ErrClosed
	}
	for _, a := range byOrigin {
		if a.share > 0 { // a tenant of the file still reaches it
			a.quota.SetLimits(a.share, a.budget)
		}
	}
	for name, t := range next {
		old := s.tenants[name]
		t.quota, t.limits = t.api.quota, t.api.limits
		t.teams = make(map[string]*Team, len(t.cfg.Teams))
		// A team keeps its refresher, and so its state, while its
		// connection and its quota stay.
		sameConnection := old != nil && old.client == t.client && old.quota == t.quota
		want := s.teamSettings(t.cfg)
		for _, id := range t.cfg.Teams {
			if sameConnection {
				if team := old.teams[string(id)]; team != nil && team.settings == want {
					t.teams[string(id)] = team
					continue
				}
			}
			t.teams[string(id)] = s.newTeam(t, string(id), want)
		}
		if old != nil && old.defaultTeam() != t.defaultTeam() {
			level.Warn(s.defaults.Logger).Log("msg", "the tenant's default team, the first it lists, changed: its target without a team reads another team now",
				"tenant", name, "was", old.defaultTeam(), "now", t.defaultTeam())
		}
		if old != nil {
			for id, team := range old.teams {
				if t.teams[id] != team {
					team.refresher.Close()
				}
			}
			if !sameConnection {
				old.client.CloseIdleConnections()
			}
		}
	}
	for name, old := range s.tenants {
		if next[name] == nil {
			old.close()
		}
	}
	s.tenants = next
	return nil
}

// Close stops every team; Apply does nothing after it. It does not wait
// for an Apply reading its files.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tenants {
		t.close()
	}
	s.tenants = map[string]*tenant{}
	s.closed = true
}

func (t *tenant) close() {
	for _, team := range t.teams {
		team.refresher.Close()
	}
	t.client.CloseIdleConnections()
}

// tokenOf is where the tenant's token comes from: its Token, else its
// token file.
func tokenOf(tc *config.Tenant) apiclient.TokenSource {
	if tc.Token != nil {
		return tc.Token
	}
	return &apiclient.FileToken{Path: tc.AccessTokenFile}
}

func (s *Set) warnIfWorldReadable(tenant, tokenFile string) {
	if boundedfile.WorldReadable(tokenFile) {
		kv := append([]any{"msg", "the access token file is readable by every user of this machine; chmod 600 it"}, targetKeys(tenant)...)
		level.Warn(s.defaults.Logger).Log(append(kv, "file", tokenFile)...)
	}
}

// settings are the tenant's settings, the command line's where it leaves
// one out.
func (s *Set) settings(tc *config.Tenant) config.Settings {
	return tc.Settings.Or(s.defaults.Settings)
}

func (s *Set) teamSettings(tc *config.Tenant) teamSettings {
	st := s.settings(tc)
	ts := teamSettings{concurrency: st.Concurrency, lookback: time.Duration(st.Lookback)}
	if st.FirstPage != nil {
		ts.firstPage = *st.FirstPage
	}
	return ts
}

// targetKeys are the log keys naming a tenant and, if given, its team;
// none for single-tenant mode's unnamed tenant.
func targetKeys(tenant string, team ...string) []any {
	if tenant == "" {
		return nil
	}
	kv := []any{"tenant", tenant}
	for _, id := range team {
		kv = append(kv, "team", id)
	}
	return kv
}

func (s *Set) newTeam(t *tenant, id string, st teamSettings) *Team {
	base, _ := url.Parse(t.cfg.URL) // checked by config
	api := collector.NewAPIMetricsSharing(t.limits)
	logger := log.With(s.defaults.Logger, targetKeys(t.name, id)...)
	r := refresh.New(refresh.Options{
		Fetcher: &apiclient.Client{
			BaseURL: base, TeamID: id, Token: t.token, HTTPClient: t.client,
			Observer: api, Logger: logger,
		},
		FirstPage:     st.firstPage,
		Concurrency:   st.concurrency,
		MaxPages:      s.defaults.MaxPages,
		RateLimit:     t.limits.Get,
		MinInterval:   s.defaults.MinInterval,
		Lookback:      st.lookback,
		SweepInterval: s.defaults.SweepInterval,
		Timeout:       s.defaults.Timeout,
		Quota:         t.quota,
		RawCounts:     s.defaults.RawCounts,
		Now:           s.defaults.Now,
		Logger:        logger,
	})
	limit := collector.NewLabelLimit(s.defaults.MaxLabelValues)
	reg := prometheus.NewRegistry()
	reg.MustRegister(api, r, limit)
	level.Debug(logger).Log("msg", "team started")
	return &Team{Tenant: t.name, ID: id, Registry: reg, LabelLimit: limit, refresher: r, quota: t.quota, settings: st}
}

// LookupError is a probe's tenant or team that this exporter does not
// run; its message is one line for the probe's caller.
type LookupError struct{ msg string }

func (e *LookupError) Error() string { return e.msg }

// maxEcho bounds what a lookup error repeats of its caller's input.
const maxEcho = 64

// echo quotes what the caller sent, cut to maxEcho bytes on a character's
// boundary.
func echo(s string) string {
	if len(s) > maxEcho {
		n := maxEcho
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// Lookup returns the running team of a probe, or a *LookupError. An
// empty teamID is the tenant's default team, the first the file lists:
// what a probe without a team reads does not depend on how many teams the
// tenant has, so that adding another team never breaks such a target.
func (s *Set) Lookup(tenantName, teamID string) (*Team, error) {
	if tenantName == "" {
		return nil, &LookupError{"missing parameter tenant"}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tenants[tenantName]
	if t == nil {
		return nil, &LookupError{"unknown tenant " + echo(tenantName)}
	}
	if teamID == "" {
		teamID = t.defaultTeam()
	}
	team := t.teams[teamID]
	if team == nil {
		return nil, &LookupError{fmt.Sprintf("unknown team %s of tenant %s", echo(teamID), echo(tenantName))}
	}
	return team, nil
}

// defaultTeam is the team a probe that names none reads: the first the
// configuration lists.
func (t *tenant) defaultTeam() string { return string(t.cfg.Teams[0]) }

// DefaultTeam is the team a probe of tenantName without a team reads, ""
// when the tenant does not run.
func (s *Set) DefaultTeam(tenantName string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.tenants[tenantName]; t != nil {
		return t.defaultTeam()
	}
	return ""
}

func (t *tenant) teamIDs() []string {
	ids := make([]string, 0, len(t.teams))
	for id := range t.teams {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Only returns the one team of a set of one tenant of one team, as
// single-tenant mode runs; nil when the set runs another number.
func (s *Set) Only() *Team {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.tenants) != 1 {
		return nil
	}
	for _, t := range s.tenants {
		if len(t.teams) == 1 {
			for _, team := range t.teams {
				return team
			}
		}
	}
	return nil
}

// Len is the number of running tenants.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.tenants)
}

// Targets lists the running teams as tenant/team pairs, sorted.
func (s *Set) Targets() [][2]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out [][2]string
	for name, t := range s.tenants {
		for _, id := range t.teamIDs() {
			out = append(out, [2]string{name, id})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return out
}
