package collector

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxLabelValues is the default number of label values exported per
// user-data dimension. A contact centre has tens of agents and assets and a
// few hundred tags at most; a tenant far past that is abusing tags as free
// text, and Prometheus must not pay for it with a series per value.
const DefaultMaxLabelValues = 500

// OverflowLabelValue stands for every entity of a dimension past the limit.
// Its series carry the sum of the folded entities' counts, so that sums over
// a dimension still equal the totals.
const OverflowLabelValue = "__overflow__"

// The user-data dimensions a limit applies to, as values of the folded
// counter's dimension label.
const (
	DimensionAssignee = "assignee"
	DimensionAsset    = "asset"
	DimensionTag      = "tag"
	DimensionFlag     = "flag"
)

// LabelLimit bounds the label values of each user-data dimension (assignee,
// asset, tag, flag). The largest entities by total chat count are exported
// under their own value; the rest fold into OverflowLabelValue. Folding
// happens when metrics are emitted, so Counts stay exact.
//
// It is also the collector of imichat_label_values_folded_total, and lives
// as long as the process (register it with the process's registry).
type LabelLimit struct {
	max    int
	folded *prometheus.CounterVec
}

// NewLabelLimit returns a limit of max values per dimension; max < 1 means
// no limit.
func NewLabelLimit(max int) *LabelLimit {
	l := &LabelLimit{
		max: max,
		folded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "label_values_folded_total",
			Help: "Label values of a user-data dimension (assignee, asset, tag, flag) folded into " + OverflowLabelValue +
				" because the dimension held more than --imichat.max-label-values values; counted at every scrape that exports the chat gauges.",
		}, []string{"dimension"}),
	}
	// Present at 0 from the start, so that an alert on its increase works.
	for _, d := range []string{DimensionAssignee, DimensionAsset, DimensionTag, DimensionFlag} {
		l.folded.WithLabelValues(d)
	}
	return l
}

// WithLabelLimit makes a ChatCollector fold the values of each user-data
// dimension past l's limit. Without it nothing is folded.
func WithLabelLimit(l *LabelLimit) Option {
	return func(c *ChatCollector) { c.labelLimit = l }
}

// Option configures a ChatCollector.
type Option func(*ChatCollector)

// Describe implements prometheus.Collector.
func (l *LabelLimit) Describe(ch chan<- *prometheus.Desc) { l.folded.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *LabelLimit) Collect(ch chan<- prometheus.Metric) { l.folded.Collect(ch) }

// foldDimension applies the limit to one dimension and counts what it folded.
// A nil limit folds nothing.
func foldDimension[K comparable](l *LabelLimit, dimension string, m map[K]byStatus, overflow K, compare func(a, b K) int) map[K]byStatus {
	if l == nil {
		return m
	}
	out, n := fold(m, l.max, overflow, compare)
	if n > 0 {
		l.folded.WithLabelValues(dimension).Add(float64(n))
	}
	return out
}

// fold keeps the limit entities with the largest total count (ties broken by
// compare, so that the same list always exports the same values) and sums the
// others into overflow. It returns the map to export and how many entities
// were folded; m itself is never modified, since a snapshot may be shared.
func fold[K comparable](m map[K]byStatus, limit int, overflow K, compare func(a, b K) int) (map[K]byStatus, int) {
	if limit < 1 || len(m) <= limit {
		return m, 0
	}
	type entry struct {
		key   K
		total int
	}
	entries := make([]entry, 0, len(m))
	for k, b := range m {
		total := 0
		for _, n := range b {
			total += n
		}
		entries = append(entries, entry{k, total})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(b.total, a.total); c != 0 {
			return c
		}
		return compare(a.key, b.key)
	})
	out := make(map[K]byStatus, limit+1)
	for _, e := range entries[:limit] {
		out[e.key] = m[e.key]
	}
	over := make(byStatus, len(Statuses))
	for _, s := range Statuses {
		over[s] = 0
	}
	// A real value spelled like the overflow value is merged into it rather
	// than exported twice under the same labels, which would fail the scrape.
	if kept, ok := out[overflow]; ok {
		for s, n := range kept {
			over[s] += n
		}
	}
	for _, e := range entries[limit:] {
		for s, n := range m[e.key] {
			over[s] += n
		}
	}
	out[overflow] = over
	return out, len(entries) - limit
}

// overflowAsset is the asset every folded asset is summed into.
var overflowAsset = asset{channel: OverflowLabelValue, id: OverflowLabelValue, name: OverflowLabelValue}

func compareAsset(a, b asset) int {
	if c := strings.Compare(a.channel, b.channel); c != 0 {
		return c
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}
