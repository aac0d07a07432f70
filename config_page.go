package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"

	tenantconfig "github.com/imichat-exporter/imichat_exporter/config"
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

func settingsOf(c *config) configSettings {
	return configSettings{
		FirstPage: c.firstPage, Concurrency: c.concurrency, MaxPages: c.maxPages, MaxLabelValues: c.maxLabelValues,
		Timeout: model.Duration(c.timeout).String(), MinRefreshInterval: model.Duration(c.minRefreshInterval).String(),
		Lookback: model.Duration(c.lookback).String(), SweepInterval: model.Duration(c.sweepInterval).String(),
		QuotaShare: c.quotaShare, DailyBudget: c.dailyBudget, RawCounts: c.rawCounts,
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
	Config        *tenantconfig.Config     `yaml:"config"`
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

func shardString(s tenantconfig.Shard) string {
	if s.Count == 0 {
		return "all (no --config.shard)"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// multiTargetConfig is /config's content in multi-target mode.
func multiTargetConfig(cfg *config, r *reloader, set *tenants.Set) any {
	page := &multiTargetConfigPage{
		Mode: "multi-target", ConfigFile: cfg.configFile, Shard: shardString(cfg.shardOf),
		TenantsServed: map[string]*servedTenant{}, Defaults: settingsOf(cfg), Config: r.loaded.Load(),
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

// singleTenantConfig is /config's content in single-tenant mode; up is
// where the chats come from (the demo's simulator, or the flags).
func singleTenantConfig(cfg *config, up upstream) any {
	page := &singleTenantConfigPage{Mode: "single-tenant", URL: up.url.Redacted(), TeamID: up.teamID,
		AccessTokenFile: cfg.tokenFile, Settings: settingsOf(cfg)}
	switch {
	case cfg.demo:
		page.Mode = "demo"
		page.AccessToken = "<secret> (the demo's)"
	case cfg.tokenFile == "":
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
