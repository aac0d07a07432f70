package main

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	"github.com/imichat-exporter/imichat_exporter/config"
	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// GET /config: what this exporter runs, as YAML. Token files are named by
// their paths, never read; every secret of an http_client marshals as
// <secret> (prometheus/common's config.Secret), a proxy URL's password as
// xxxxx.

// configSettings are the command line's settings that a tenant's entry
// may leave out.
type configSettings struct {
	FirstPage          int     `yaml:"first_page"`
	Concurrency        int     `yaml:"concurrency"`
	MaxPages           int     `yaml:"max_pages"`
	MaxLabelValues     int     `yaml:"max_label_values"`
	Timeout            string  `yaml:"timeout"`
	MinRefreshInterval string  `yaml:"min_refresh_interval"`
	Lookback           string  `yaml:"lookback"`
	SweepInterval      string  `yaml:"sweep_interval"`
	QuotaShare         float64 `yaml:"quota_share"`
	DailyBudget        int64   `yaml:"daily_budget"`
	RawCounts          bool    `yaml:"raw_counts"`
}

func settingsOf(o *options) configSettings {
	return configSettings{
		FirstPage: *o.settings.FirstPage, Concurrency: o.settings.Concurrency, MaxPages: o.maxPages, MaxLabelValues: o.maxLabelValues,
		Timeout: model.Duration(o.timeout).String(), MinRefreshInterval: model.Duration(o.minRefreshInterval).String(),
		Lookback: o.settings.Lookback.String(), SweepInterval: model.Duration(o.sweepInterval).String(),
		QuotaShare: o.settings.QuotaShare, DailyBudget: o.settings.DailyBudget, RawCounts: o.rawCounts,
	}
}

// servedTenant is a tenant this replica runs.
type servedTenant struct {
	DefaultTeam string   `yaml:"default_team"` // what target=TENANT reads
	Teams       []string `yaml:"teams"`
}

// multiTargetConfigPage is /config in multi-target mode.
type multiTargetConfigPage struct {
	Mode          string                   `yaml:"mode"`
	ConfigFile    string                   `yaml:"config_file"`
	Shard         string                   `yaml:"shard"`
	TenantsServed map[string]*servedTenant `yaml:"tenants_served"`
	Defaults      configSettings           `yaml:"defaults"`
	Config        *config.Config           `yaml:"config"`
}

// singleTenantConfigPage is /config in single-tenant mode.
type singleTenantConfigPage struct {
	Mode            string         `yaml:"mode"`
	URL             string         `yaml:"url"`
	TeamID          string         `yaml:"team_id"`
	AccessTokenFile string         `yaml:"access_token_file,omitempty"`
	AccessToken     string         `yaml:"access_token,omitempty"`
	Settings        configSettings `yaml:"settings"`
}

func shardString(s config.Shard) string {
	if s.Count == 0 {
		return "all (no --config.shard)"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// multiTargetConfig is /config's content in multi-target mode.
func multiTargetConfig(o *options, r *reloader, set *tenants.Set) any {
	page := &multiTargetConfigPage{
		Mode: "multi-target", ConfigFile: o.configFile, Shard: shardString(o.shardOf),
		TenantsServed: map[string]*servedTenant{}, Defaults: settingsOf(o), Config: r.loaded.Load(),
	}
	for _, tt := range set.Targets() {
		st := page.TenantsServed[tt[0]]
		if st == nil {
			st = &servedTenant{DefaultTeam: set.DefaultTeam(tt[0])}
			page.TenantsServed[tt[0]] = st
		}
		st.Teams = append(st.Teams, tt[1])
	}
	return page
}

// singleTenantConfig is /config's content in single-tenant mode; t is
// its tenant (the demo's simulator, or the flags').
func singleTenantConfig(o *options, t *config.Tenant) any {
	u, _ := url.Parse(t.URL) // checked
	page := &singleTenantConfigPage{Mode: "single-tenant", URL: u.Redacted(), TeamID: string(t.Teams[0]),
		AccessTokenFile: t.AccessTokenFile, Settings: settingsOf(o)}
	switch {
	case o.demo:
		page.Mode = "demo"
		page.AccessToken = "<secret> (the demo's)"
	case t.AccessTokenFile == "":
		page.AccessToken = "<secret> (from " + tokenEnv + ")"
	}
	return page
}

// newConfigHandler serves GET /config: content() as YAML.
func newConfigHandler(content func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := yaml.Marshal(content())
		if err != nil {
			http.Error(w, "marshalling the configuration: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "# imichat_exporter's running configuration, %s\n", time.Now().UTC().Format(time.RFC3339))
		w.Write(out)
	})
}
