// Package dashboards holds the Grafana dashboard for imichat_exporter
// (imichat-overview.json) and the tests that check it, and the Prometheus alerting
// rules in ../alerts, against the exporter's metric contract.
package dashboards
