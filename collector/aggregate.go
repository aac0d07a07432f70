package collector

import (
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// The documented statuses and channels. Every pair of them is always
// exported, so that a query for a quiet channel returns 0, not nothing.
var (
	Statuses = []string{apiclient.StatusQueued, apiclient.StatusPicked, apiclient.StatusOnHold, apiclient.StatusClosed}
	Channels = []string{"sms", "facebook", "twitter", "livechat", "email", "abc", "whatsapp", "api"}
)

// openStatuses are the statuses whose oldest chat is exported: a customer
// is still waiting on them.
var openStatuses = map[string]bool{apiclient.StatusQueued: true, apiclient.StatusPicked: true, apiclient.StatusOnHold: true}

// IsOpen tells whether a chat's status can still change in the normal course
// of things (queued, picked, onhold). Closed chats are assumed final.
func IsOpen(c *apiclient.Chat) bool { return openStatuses[c.Status] }

// StatusChannel is a key of Counts: a status and a channel, as label
// values.
type StatusChannel struct{ Status, Channel string }

// asset identifies a channel asset in the labels of imichat_chats_by_asset.
type asset struct{ channel, id, name string }

// byStatus counts chats of one label value (an agent, a tag …) by status.
type byStatus map[string]int

// Counts is the aggregate of a chat list, ready to be exported. It is kept
// up to date chat by chat (Add, Remove), which is what an incremental
// refresh of a large tenant needs.
type Counts struct {
	Total           int
	ByStatusChannel map[StatusChannel]int
	ByAssignee      map[string]byStatus
	ByAsset         map[asset]byStatus
	ByTag           map[string]byStatus
	ByFlag          map[string]byStatus
	OldestCreated   map[StatusChannel]time.Time
	// EstimatedArrived counts, by channel, the chats ByStatusChannel
	// counts as queued on an estimate (ArrivedUnread): most probably
	// arrived and still queued since the list's head was last read.
	EstimatedArrived map[string]int
	// EstimatedGone counts, by channel, the chats last read queued that
	// ByStatusChannel counts as picked on an estimate (LeftQueue), not on a
	// read.
	EstimatedGone map[string]int
}

// NewCounts returns the counts of an empty list.
func NewCounts() *Counts {
	c := &Counts{
		ByStatusChannel: make(map[StatusChannel]int, len(Statuses)*len(Channels)),
		ByAssignee:      map[string]byStatus{},
		ByAsset:         map[asset]byStatus{},
		ByTag:           map[string]byStatus{},
		ByFlag:          map[string]byStatus{},
		OldestCreated:   map[StatusChannel]time.Time{},
	}
	for _, s := range Statuses {
		for _, ch := range Channels {
			c.ByStatusChannel[StatusChannel{s, ch}] = 0
		}
	}
	return c
}

// Add counts one chat. OldestCreated is not touched: see SetOldest.
func (c *Counts) Add(chat *apiclient.Chat) { c.add(chat, 1) }

// Remove uncounts a chat that Add counted.
func (c *Counts) Remove(chat *apiclient.Chat) { c.add(chat, -1) }

func (c *Counts) add(chat *apiclient.Chat, delta int) {
	status, channel := labelValue(chat.Status), labelValue(chat.Channel)
	c.Total += delta
	sc := StatusChannel{status, channel}
	c.ByStatusChannel[sc] += delta
	if c.ByStatusChannel[sc] == 0 && !isDocumented(sc) {
		delete(c.ByStatusChannel, sc)
	}
	count(c.ByAssignee, labelValue(chat.Assignee), status, delta)
	count(c.ByAsset, asset{channel, labelValue(chat.Asset.ID), labelValue(chat.Asset.Name)}, status, delta)
	count(c.ByFlag, labelValue(chat.Flag), status, delta)
	if len(chat.Tags) == 0 {
		count(c.ByTag, "", status, delta)
	}
	for _, tag := range uniqueTags(chat.Tags) {
		count(c.ByTag, labelValue(tag), status, delta)
	}
}

// SetOldest recomputes OldestCreated from the open chats among chats. It
// takes an iterator so that a caller keeping an index of open chats need not
// walk the whole list.
func (c *Counts) SetOldest(chats func(yield func(*apiclient.Chat) bool)) {
	clear(c.OldestCreated)
	for chat := range chats {
		status := labelValue(chat.Status)
		if !openStatuses[status] || chat.CreatedAt.IsZero() {
			continue
		}
		sc := StatusChannel{status, labelValue(chat.Channel)}
		if old, ok := c.OldestCreated[sc]; !ok || chat.CreatedAt.Before(old) {
			c.OldestCreated[sc] = chat.CreatedAt
		}
	}
}

// SetOldestQueued recounts the oldest queued chat of each channel from
// chats alone, keeping the other statuses' oldest: a source that estimates
// which queued chats are still queued does so at every pull, and the other
// open statuses' oldest have not changed since its last read.
func (c *Counts) SetOldestQueued(chats func(yield func(*apiclient.Chat) bool)) {
	maps.DeleteFunc(c.OldestCreated, func(k StatusChannel, _ time.Time) bool { return k.Status == apiclient.StatusQueued })
	for chat := range chats {
		if chat.CreatedAt.IsZero() || labelValue(chat.Status) != apiclient.StatusQueued {
			continue
		}
		sc := StatusChannel{apiclient.StatusQueued, labelValue(chat.Channel)}
		if old, ok := c.OldestCreated[sc]; !ok || chat.CreatedAt.Before(old) {
			c.OldestCreated[sc] = chat.CreatedAt
		}
	}
}

// Clone returns a deep copy, so that a published snapshot never changes
// under a scrape while the next refresh updates the original.
func (c *Counts) Clone() *Counts {
	out := &Counts{
		Total:            c.Total,
		ByStatusChannel:  maps.Clone(c.ByStatusChannel),
		ByAssignee:       cloneByStatus(c.ByAssignee),
		ByAsset:          cloneByStatus(c.ByAsset),
		ByTag:            cloneByStatus(c.ByTag),
		ByFlag:           cloneByStatus(c.ByFlag),
		OldestCreated:    maps.Clone(c.OldestCreated),
		EstimatedGone:    maps.Clone(c.EstimatedGone),
		EstimatedArrived: maps.Clone(c.EstimatedArrived),
	}
	return out
}

func cloneByStatus[K comparable](m map[K]byStatus) map[K]byStatus {
	out := make(map[K]byStatus, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}

// isDocumented tells a pair of the always-exported grid from one the list
// brought in (an unknown status or channel), which goes when its count does.
func isDocumented(sc StatusChannel) bool {
	return slices.Contains(Statuses, sc.Status) && slices.Contains(Channels, sc.Channel)
}

// count moves an entity's count for a status by delta. An entity whose
// counts all reach 0 is dropped: it is no longer in the list.
func count[K comparable](m map[K]byStatus, key K, status string, delta int) {
	b := m[key]
	if b == nil {
		b = make(byStatus, len(Statuses))
		for _, s := range Statuses {
			b[s] = 0
		}
		m[key] = b
	}
	b[status] += delta
	for _, n := range b {
		if n != 0 {
			return
		}
	}
	delete(m, key)
}

// uniqueTags drops repeated tags, so that a chat tagged twice with the same
// tag still counts once for it.
func uniqueTags(tags []string) []string {
	if len(tags) < 2 {
		return tags
	}
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		dup := false
		for _, o := range out {
			if o == t {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// maxLabelBytes bounds a label value taken from user data. Longer values
// are cut: a label is for grouping, not for carrying documents.
const maxLabelBytes = 128

// labelValue makes user data safe as a label value: valid UTF-8 (Prometheus
// rejects anything else) and of bounded length.
func labelValue(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) > maxLabelBytes {
		n := maxLabelBytes
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// emit sends every gauge of the counts. For every entity seen in the list
// (an agent, an asset, a tag, a flag), every documented status is exported,
// 0 included, so that a series does not vanish while its entity is still
// in the list. limit (nil: none) folds the entities of a dimension past it
// into OverflowLabelValue.
func (c *Counts) emit(ch chan<- prometheus.Metric, limit *LabelLimit) {
	for k, v := range c.ByStatusChannel {
		ch <- prometheus.MustNewConstMetric(chatsDesc, prometheus.GaugeValue, float64(v), k.Status, k.Channel)
	}
	one := func(v string) []string { return []string{v} }
	emitByStatus(ch, chatsByAssigneeDesc, foldDimension(limit, DimensionAssignee, c.ByAssignee, OverflowLabelValue, strings.Compare), one)
	emitByStatus(ch, chatsByTagDesc, foldDimension(limit, DimensionTag, c.ByTag, OverflowLabelValue, strings.Compare), one)
	emitByStatus(ch, chatsByFlagDesc, foldDimension(limit, DimensionFlag, c.ByFlag, OverflowLabelValue, strings.Compare), one)
	emitByStatus(ch, chatsByAssetDesc, foldDimension(limit, DimensionAsset, c.ByAsset, overflowAsset, compareAsset),
		func(a asset) []string { return []string{a.channel, a.id, a.name} })
	for k, t := range c.OldestCreated {
		ch <- prometheus.MustNewConstMetric(oldestCreatedDesc, prometheus.GaugeValue,
			float64(t.UnixNano())/1e9, k.Status, k.Channel)
	}
	for _, channel := range Channels {
		ch <- prometheus.MustNewConstMetric(estimatedGoneDesc, prometheus.GaugeValue, float64(c.EstimatedGone[channel]), channel)
	}
	for channel, n := range c.EstimatedGone {
		if !slices.Contains(Channels, channel) {
			ch <- prometheus.MustNewConstMetric(estimatedGoneDesc, prometheus.GaugeValue, float64(n), channel)
		}
	}
	for _, channel := range Channels {
		ch <- prometheus.MustNewConstMetric(estimatedArrivedDesc, prometheus.GaugeValue, float64(c.EstimatedArrived[channel]), channel)
	}
	for channel, n := range c.EstimatedArrived {
		if !slices.Contains(Channels, channel) {
			ch <- prometheus.MustNewConstMetric(estimatedArrivedDesc, prometheus.GaugeValue, float64(n), channel)
		}
	}
}

// emitByStatus emits one gauge per entity and status; labels gives the
// entity's label values, to which the status is appended.
func emitByStatus[K comparable](ch chan<- prometheus.Metric, desc *prometheus.Desc, m map[K]byStatus, labels func(K) []string) {
	for key, counts := range m {
		lv := labels(key)
		for status, n := range counts {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), append(lv, status)...)
		}
	}
}

// LeftQueue counts up to n chats of a channel, last read queued, as picked
// in the status × channel counts (imichat_chats): a source that estimates
// that they have most probably left the queue since it read them says so
// here, and EstimatedGone (imichat_chats_queued_estimated_gone) says how
// many. The other dimensions (assignee, asset, tag, flag) keep the chats
// where they were last read.
func (c *Counts) LeftQueue(channel string, n int) {
	channel = labelValue(channel)
	src := StatusChannel{apiclient.StatusQueued, channel}
	n = min(n, c.ByStatusChannel[src])
	if n <= 0 {
		return
	}
	c.ByStatusChannel[src] -= n
	c.ByStatusChannel[StatusChannel{apiclient.StatusPicked, channel}] += n
	if c.ByStatusChannel[src] == 0 && !isDocumented(src) {
		delete(c.ByStatusChannel, src)
	}
	if c.EstimatedGone == nil {
		c.EstimatedGone = map[string]int{}
	}
	c.EstimatedGone[channel] += n
}

// ArrivedUnread counts n chats of a channel as queued that no read has
// seen: a source that estimates how many have arrived since it last read
// the list's head, and are still queued, says so here, and
// EstimatedArrived (imichat_chats_queued_estimated_arrived) says how many.
func (c *Counts) ArrivedUnread(channel string, n int) {
	if n <= 0 {
		return
	}
	channel = labelValue(channel)
	c.ByStatusChannel[StatusChannel{apiclient.StatusQueued, channel}] += n
	c.Total += n
	if c.EstimatedArrived == nil {
		c.EstimatedArrived = map[string]int{}
	}
	c.EstimatedArrived[channel] += n
}
