package main

import (
	"net/http"
	"net/url"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/imichat-exporter/imichat_exporter/tenants"
)

// newLandingHandler serves the landing page: links to the metrics, /config
// and the health pages and, in multi-target mode (set not nil), every
// target this replica runs with its probe and debug links, and a form to
// probe one. It is rendered at each request: a reload changes the targets.
func newLandingHandler(telemetryPath string, set *tenants.Set) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc := web.LandingConfig{
			Name:        "imi.chat Exporter",
			Description: "Prometheus exporter for imi.chat chat queues",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: telemetryPath, Text: "Metrics", Description: "the exporter's own metrics in multi-target mode, the team's in single-tenant mode"},
				{Address: "/config", Text: "Configuration", Description: "what this exporter runs, as YAML"},
				{Address: "/-/healthy", Text: "Healthy"},
				{Address: "/-/ready", Text: "Ready"},
			},
		}
		if set != nil {
			lc.Form = web.LandingForm{Action: "/probe", Inputs: []web.LandingFormInput{
				{Label: "Target", Type: "text", Name: "target", Placeholder: "TENANT/TEAM"},
				{Label: "Debug", Type: "checkbox", Name: "debug", Value: "true"},
			}}
			for _, tt := range set.Targets() {
				target := tt[0] + "/" + tt[1]
				q := url.Values{"target": {target}}.Encode()
				desc := "probe"
				if set.DefaultTeam(tt[0]) == tt[1] {
					desc = "probe; also target " + tt[0] + ", the tenant's default team"
				}
				lc.Links = append(lc.Links,
					web.LandingLinks{Address: "/probe?" + q, Text: target, Description: desc},
					web.LandingLinks{Address: "/probe?" + q + "&debug=true", Text: target + " (debug)", Description: "why it is up or down"})
			}
		}
		page, err := web.NewLandingPage(lc)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		page.ServeHTTP(w, r)
	})
}
