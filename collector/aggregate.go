package collector

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// The documented statuses and channels. Every pair of them is always
// exported, so that a query for a quiet channel returns 0, not nothing.
var (
	Statuses = []string{"queued", "picked", "onhold", "closed"}
	Channels = []string{"sms", "facebook", "twitter", "livechat", "email", "abc", "whatsapp", "api"}
)

// openStatuses are the statuses whose oldest chat is exported: a customer
// is still waiting on them.
var openStatuses = map[string]bool{"queued": true, "picked": true, "onhold": true}

type statusChannel struct{ status, channel string }

// asset identifies a channel asset in the labels of imichat_chats_by_asset.
type asset struct{ channel, id, name string }

// byStatus counts chats of one label value (an agent, a tag …) by status.
type byStatus map[string]int

// Counts is the aggregate of a chat list, ready to be exported.
type Counts struct {
	ByStatusChannel map[statusChannel]int
	ByAssignee      map[string]byStatus
	ByAsset         map[asset]byStatus
	ByTag           map[string]byStatus
	ByFlag          map[string]byStatus
	OldestCreated   map[statusChannel]time.Time
}

// Aggregate counts chats along every exported dimension.
func Aggregate(chats []apiclient.Chat) Counts {
	c := Counts{
		ByStatusChannel: make(map[statusChannel]int, len(Statuses)*len(Channels)),
		ByAssignee:      map[string]byStatus{},
		ByAsset:         map[asset]byStatus{},
		ByTag:           map[string]byStatus{},
		ByFlag:          map[string]byStatus{},
		OldestCreated:   map[statusChannel]time.Time{},
	}
	for _, s := range Statuses {
		for _, ch := range Channels {
			c.ByStatusChannel[statusChannel{s, ch}] = 0
		}
	}
	for i := range chats {
		chat := &chats[i]
		status, channel := labelValue(chat.Status), labelValue(chat.Channel)
		sc := statusChannel{status, channel}
		c.ByStatusChannel[sc]++
		count(c.ByAssignee, labelValue(chat.Assignee), status)
		count(c.ByAsset, asset{channel, labelValue(chat.Asset.ID), labelValue(chat.Asset.Name)}, status)
		count(c.ByFlag, labelValue(chat.Flag), status)
		if len(chat.Tags) == 0 {
			count(c.ByTag, "", status)
		}
		for _, tag := range uniqueTags(chat.Tags) {
			count(c.ByTag, labelValue(tag), status)
		}
		if openStatuses[status] && !chat.CreatedAt.IsZero() {
			if old, ok := c.OldestCreated[sc]; !ok || chat.CreatedAt.Before(old) {
				c.OldestCreated[sc] = chat.CreatedAt
			}
		}
	}
	return c
}

func count[K comparable](m map[K]byStatus, key K, status string) {
	b := m[key]
	if b == nil {
		b = make(byStatus, len(Statuses))
		for _, s := range Statuses {
			b[s] = 0
		}
		m[key] = b
	}
	b[status]++
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
// in the list.
func (c Counts) emit(ch chan<- prometheus.Metric) {
	for k, v := range c.ByStatusChannel {
		ch <- prometheus.MustNewConstMetric(chatsDesc, prometheus.GaugeValue, float64(v), k.status, k.channel)
	}
	emitByStatus(ch, chatsByAssigneeDesc, c.ByAssignee, func(v string) []string { return []string{v} })
	emitByStatus(ch, chatsByTagDesc, c.ByTag, func(v string) []string { return []string{v} })
	emitByStatus(ch, chatsByFlagDesc, c.ByFlag, func(v string) []string { return []string{v} })
	emitByStatus(ch, chatsByAssetDesc, c.ByAsset, func(a asset) []string { return []string{a.channel, a.id, a.name} })
	for k, t := range c.OldestCreated {
		ch <- prometheus.MustNewConstMetric(oldestCreatedDesc, prometheus.GaugeValue,
			float64(t.UnixNano())/1e9, k.status, k.channel)
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
