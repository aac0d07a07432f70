// Package collector turns imi.chat chats into Prometheus metrics. It knows
// nothing of HTTP: chats come from a Source, and what the API client saw on
// the wire arrives through the apiclient.Observer that APIMetrics implements.
//
// Two collectors split the work the way mysqld_exporter does:
//   - ChatCollector is built for one scrape, bound to that scrape's context
//     (and so to Prometheus's scrape timeout). It reads a Snapshot and emits
//     const metrics; it holds no state between scrapes.
//   - APIMetrics lives as long as the process: the API's status-code and
//     request-error counters and the last rate-limit headers.
package collector

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "imichat"

// Snapshot is the source's numbers of the tenant's chat list.
type Snapshot struct {
	Counts   *Counts       // what is exported
	Pages    int           // pages requested by the refresh that read them
	Duration time.Duration // how long that refresh took
	// RefreshedAt is when the data was read. A source that serves a
	// cached result says here how old it is.
	RefreshedAt time.Time
	// Coverage is the creation time down to which the numbers are
	// complete: a source that reads a window of the list (the chats
	// created since some time) says here where it ends. Zero: the whole
	// list.
	Coverage time.Time
	// Service is what the source has seen of the queue's service since
	// it started; nil for a source that does not follow chats over time.
	Service *ServiceLevel
}

// Source produces the chats to export. It must return an error, never a
// partial list, when the read could not be completed. On error the Snapshot
// still carries Pages and Duration of the failed attempt.
type Source interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// The per-scrape metrics. Their names and labels are a public contract.
var (
	upDesc = newDesc("up",
		"1 when the last refresh of the chat list read every page it asked for without error, else 0 (and no chat gauges are exported).")
	chatsDesc = newDesc("chats",
		"Chats by status and channel. Every documented status and channel pair is present, 0 when there is none.",
		"status", "channel")
	chatsByAssigneeDesc = newDesc("chats_by_assignee",
		`Chats by assigned agent's login id and status; assignee="" for unassigned chats.`,
		"assignee", "status")
	chatsByAssetDesc = newDesc("chats_by_asset",
		"Chats by the channel asset they arrived on, and status.",
		"channel", "asset_id", "asset_name", "status")
	chatsByTagDesc = newDesc("chats_by_tag",
		`Chats by tag and status; a chat with several tags counts once per tag, tag="" for chats without tags.`,
		"tag", "status")
	chatsByFlagDesc = newDesc("chats_by_flag",
		`Chats by the flag currently applied, and status; flag="" for chats without a flag.`,
		"flag", "status")
	estimatedGoneDesc    = newDesc("chats_queued_estimated_gone", estimatedGoneHelp, "channel")
	estimatedArrivedDesc = newDesc("chats_queued_estimated_arrived", estimatedArrivedHelp, "channel")
	oldestCreatedDesc    = newDesc("chats_oldest_created_timestamp_seconds",
		"Creation time of the oldest chat by status and channel, in Unix seconds, for open statuses (queued, picked, onhold) only; absent when there is none.",
		"status", "channel")
	refreshDurationDesc = newDesc("last_refresh_duration_seconds",
		"How long the last refresh of the chat list took, in seconds.")
	refreshPagesDesc = newDesc("last_refresh_pages",
		"Pages requested by the last refresh of the chat list.")
	coverageDesc = newDesc("coverage_oldest_created_timestamp_seconds",
		"Creation time, in Unix seconds, down to which the chat numbers served are complete: they count the chats created since. With a complete window it is now minus --imichat.lookback; on a cold start it shows how far the window reaches yet.")
	lastRefreshDesc = newDesc("last_refresh_timestamp_seconds",
		"When the chat numbers served were read from the API, in Unix seconds. To spare the API quota they may be older than the scrape: time() minus this is their age.")
)

// errNoCounts is a source's Snapshot without counts: a bug, served as a
// failed read rather than as an empty tenant.
var errNoCounts = errors.New("the source served no counts")

// ChatCollector exports one Snapshot per scrape.
type ChatCollector struct {
	ctx        context.Context
	source     Source
	logger     log.Logger
	labelLimit *LabelLimit // nil: no limit (see WithLabelLimit)
}

// NewChatCollector returns a collector for one scrape. ctx bounds the read
// of the source; it is the scrape's context with its deadline.
func NewChatCollector(ctx context.Context, source Source, logger log.Logger, opts ...Option) *ChatCollector {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	c := &ChatCollector{ctx: ctx, source: source, logger: logger}
	for _, o := range opts {
		o(c)
	}
	return c
}

const estimatedArrivedHelp = "Chats imichat_chats counts as queued that no read has seen: most probably arrived since the list's head was last read, and still queued (the tenant's own arrival rate and queue times say so). The other part of the queued count that rests on an estimate. Every documented channel is present; 0 with --imichat.raw-counts."

const estimatedGoneHelp = "Chats last read queued that imichat_chats counts as picked because they have most probably left the queue since (the tenant's own queue times say so), not because a read saw them leave: the part of the queued count that rests on an estimate. imichat_chats{status=\"queued\"} plus this is the queued count as last read. Every documented channel is present; 0 with --imichat.raw-counts."

// Describe sends the descriptors of every metric the collector can emit.
func (c *ChatCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{upDesc, chatsDesc, chatsByAssigneeDesc, chatsByAssetDesc,
		chatsByTagDesc, chatsByFlagDesc, oldestCreatedDesc, estimatedGoneDesc, estimatedArrivedDesc, refreshDurationDesc, refreshPagesDesc, lastRefreshDesc, coverageDesc} {
		ch <- d
	}
	for _, d := range serviceDescs {
		ch <- d
	}
}

// Collect reads the source and emits its metrics. A failed read emits
// imichat_up 0 and no chat gauges: a partial count would lie.
func (c *ChatCollector) Collect(ch chan<- prometheus.Metric) {
	snap, err := c.source.Snapshot(c.ctx)
	ch <- prometheus.MustNewConstMetric(refreshDurationDesc, prometheus.GaugeValue, snap.Duration.Seconds())
	ch <- prometheus.MustNewConstMetric(refreshPagesDesc, prometheus.GaugeValue, float64(snap.Pages))
	if err == nil && snap.Counts == nil {
		err = errNoCounts
	}
	if err != nil {
		// The source logs each failed refresh once; a pull that serves
		// its error is not news.
		level.Debug(c.logger).Log("msg", "serving imichat_up 0", "err", err)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	if !snap.RefreshedAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastRefreshDesc, prometheus.GaugeValue, float64(snap.RefreshedAt.UnixNano())/1e9)
	}
	if !snap.Coverage.IsZero() {
		ch <- prometheus.MustNewConstMetric(coverageDesc, prometheus.GaugeValue, float64(snap.Coverage.UnixNano())/1e9)
	}
	snap.Counts.emit(ch, c.labelLimit)
	if snap.Service != nil {
		snap.Service.emit(ch)
	}
}
