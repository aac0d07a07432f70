package collector

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Queue exits, the outcome label of imichat_chats_left_queue_total.
const (
	OutcomePicked = "picked" // an agent took the chat: answered
	OutcomeClosed = "closed" // closed while still queued: abandoned
)

// OtherChannel is the channel label of the service-level metrics for a
// channel the API does not document: their histograms cost a series per
// bucket, so undocumented values share one.
const OtherChannel = "other"

// The histograms' upper bounds, in seconds. Queue waits: the service-level
// targets contact centres set for messaging (20, 30, 60 s) and for slower
// channels (2, 5, 20 min, 1 h). Handle times: minutes to a working day.
var (
	QueueWaitBuckets = []float64{10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600}
	HandleBuckets    = []float64{60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800}
)

// ChannelOutcome keys the queue exits.
type ChannelOutcome struct{ Channel, Outcome string }

// Histogram is a cumulative histogram of observations, bucketed by a
// fixed set of upper bounds.
type Histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf's
	Count  uint64
	Sum    float64
}

func newHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

// Observe counts one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // le: v ≤ bound
	h.counts[i]++
	h.Count++
	h.Sum += v
}

// Cumulative returns the count of observations at or below each bound,
// as a const histogram wants it.
func (h *Histogram) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(h.bounds))
	var n uint64
	for i, b := range h.bounds {
		n += h.counts[i]
		out[b] = n
	}
	return out
}

func (h *Histogram) clone() *Histogram {
	c := *h
	c.counts = slices.Clone(h.counts)
	return &c
}

// ServiceLevel is what a source has seen of the queue's service since it
// started: arrivals, queue exits and their waits, handle times, per
// channel. Every number only grows: they are exported as counters and
// histograms, for rate() and increase().
type ServiceLevel struct {
	Created   map[string]uint64
	LeftQueue map[ChannelOutcome]uint64
	QueueWait map[string]*Histogram // answered chats
	Handle    map[string]*Histogram
}

// NewServiceLevel returns the service level of a source that has seen
// nothing yet.
func NewServiceLevel() *ServiceLevel {
	return &ServiceLevel{Created: map[string]uint64{}, LeftQueue: map[ChannelOutcome]uint64{},
		QueueWait: map[string]*Histogram{}, Handle: map[string]*Histogram{}}
}

// ServiceChannel is the channel label of a chat's service-level metrics:
// the channel as the chat gauges have it when the API documents it,
// OtherChannel otherwise.
func ServiceChannel(channel string) string {
	if slices.Contains(Channels, channel) {
		return channel
	}
	return OtherChannel
}

// Arrived counts a new chat of a channel.
func (s *ServiceLevel) Arrived(channel string) { s.Created[ServiceChannel(channel)]++ }

// Left counts a chat's exit from the queue with its outcome; wait, the
// seconds it spent queued, is observed for an answered (picked) chat.
func (s *ServiceLevel) Left(channel, outcome string, wait float64) {
	channel = ServiceChannel(channel)
	s.LeftQueue[ChannelOutcome{channel, outcome}]++
	if outcome == OutcomePicked {
		histogramOf(s.QueueWait, channel, QueueWaitBuckets).Observe(max(wait, 0))
	}
}

// Handled observes the seconds from a chat's pick to its close.
func (s *ServiceLevel) Handled(channel string, seconds float64) {
	histogramOf(s.Handle, ServiceChannel(channel), HandleBuckets).Observe(max(seconds, 0))
}

func histogramOf(m map[string]*Histogram, channel string, bounds []float64) *Histogram {
	h := m[channel]
	if h == nil {
		h = newHistogram(bounds)
		m[channel] = h
	}
	return h
}

// Clone returns a deep copy, for a published snapshot.
func (s *ServiceLevel) Clone() *ServiceLevel {
	c := &ServiceLevel{Created: maps.Clone(s.Created), LeftQueue: maps.Clone(s.LeftQueue),
		QueueWait: make(map[string]*Histogram, len(s.QueueWait)), Handle: make(map[string]*Histogram, len(s.Handle))}
	for k, h := range s.QueueWait {
		c.QueueWait[k] = h.clone()
	}
	for k, h := range s.Handle {
		c.Handle[k] = h.clone()
	}
	return c
}

var (
	createdDesc   = newDesc("chats_created_total", createdHelp, "channel")
	leftQueueDesc = newDesc("chats_left_queue_total", leftQueueHelp, "channel", "outcome")
	queueWaitDesc = newDesc("chat_queue_wait_seconds", queueWaitHelp, "channel")
	handleDesc    = newDesc("chat_handle_seconds", handleHelp, "channel")
)

const createdHelp = "Chats that arrived while the exporter ran, by channel (undocumented channels as \"other\"), counted once when a read first saw them. Chats created before the exporter's first read are not counted: a restart starts from 0, which rate() and increase() read as a counter reset."

const leftQueueHelp = "Chats the reads saw leave the queue, once per chat (its first exit), by channel and outcome: picked (answered by an agent) or closed (abandoned: closed while queued). A chat counts when a read saw it queued or it arrived while the exporter ran."

const queueWaitHelp = "Time answered chats waited in the queue, from created_at (or the reopening) to the pick, in seconds, observed once per chat when a read first sees it picked; abandoned chats are not observed. The pick is dated by updated_at when the chat is seen picked; for a chat first seen on hold or closed by its agent, the pick lies between the last read that saw it queued and that change, and is placed where the tenant's own queue and handle times make it likeliest (a quantile fixed per chat)."

const handleHelp = "Time from a chat's pick to its close, in seconds, for the chats whose pick a read dated before the read that saw them closed; a chat picked and closed between two reads is not observed."

// serviceDescs are the service-level metrics' descriptors.
var serviceDescs = []*prometheus.Desc{createdDesc, leftQueueDesc, queueWaitDesc, handleDesc}

// emit sends the service-level metrics. Every documented channel is
// present from the start, at 0, so that rate() sees a channel's first
// chat.
func (s *ServiceLevel) emit(ch chan<- prometheus.Metric) {
	channels := Channels
	if s.hasOther() {
		channels = append(slices.Clone(Channels), OtherChannel)
	}
	for _, channel := range channels {
		ch <- prometheus.MustNewConstMetric(createdDesc, prometheus.CounterValue, float64(s.Created[channel]), channel)
		for _, outcome := range []string{OutcomePicked, OutcomeClosed} {
			ch <- prometheus.MustNewConstMetric(leftQueueDesc, prometheus.CounterValue,
				float64(s.LeftQueue[ChannelOutcome{channel, outcome}]), channel, outcome)
		}
		emitHistogram(ch, queueWaitDesc, s.QueueWait[channel], QueueWaitBuckets, channel)
		emitHistogram(ch, handleDesc, s.Handle[channel], HandleBuckets, channel)
	}
}

// hasOther says whether a chat of an undocumented channel was counted
// (ServiceChannel folds every such channel into OtherChannel).
func (s *ServiceLevel) hasOther() bool {
	_, created := s.Created[OtherChannel]
	_, picked := s.LeftQueue[ChannelOutcome{OtherChannel, OutcomePicked}]
	_, closed := s.LeftQueue[ChannelOutcome{OtherChannel, OutcomeClosed}]
	return created || picked || closed
}

func emitHistogram(ch chan<- prometheus.Metric, desc *prometheus.Desc, h *Histogram, bounds []float64, channel string) {
	if h == nil {
		h = newHistogram(bounds)
	}
	ch <- prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, h.Cumulative(), channel)
}
