package collector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

// cardCounts builds a byStatus from status=n pairs.
func cardCounts(pairs ...any) byStatus {
	b := byStatus{}
	for _, s := range Statuses {
		b[s] = 0
	}
	for i := 0; i < len(pairs); i += 2 {
		b[pairs[i].(string)] = pairs[i+1].(int)
	}
	return b
}

func TestFold(t *testing.T) {
	input := func() map[string]byStatus {
		return map[string]byStatus{
			"a": cardCounts("queued", 5),
			"b": cardCounts("queued", 1, "closed", 3), // total 4
			"c": cardCounts("picked", 2),
			"d": cardCounts("picked", 2), // ties with c: c wins by name
			"e": cardCounts("onhold", 1),
		}
	}
	tests := []struct {
		name       string
		m          map[string]byStatus
		limit      int
		wantKept   []string // besides the overflow value
		wantOver   byStatus // nil: no overflow value expected
		wantFolded int
	}{
		{"no limit", input(), 0, []string{"a", "b", "c", "d", "e"}, nil, 0},
		{"under the limit", input(), 5, []string{"a", "b", "c", "d", "e"}, nil, 0},
		{"largest kept", input(), 2, []string{"a", "b"}, cardCounts("picked", 4, "onhold", 1), 3},
		{"tie broken by value", input(), 3, []string{"a", "b", "c"}, cardCounts("picked", 2, "onhold", 1), 2},
		{"limit one", input(), 1, []string{"a"}, cardCounts("queued", 1, "closed", 3, "picked", 4, "onhold", 1), 4},
		{"undocumented status kept in the sum", map[string]byStatus{
			"x": cardCounts("queued", 9), "y": cardCounts("escalated", 2), "z": cardCounts("closed", 1),
		}, 1, []string{"x"}, cardCounts("escalated", 2, "closed", 1), 2},
		{"a real value spelled like the overflow value is merged", map[string]byStatus{
			OverflowLabelValue: cardCounts("queued", 9), "y": cardCounts("picked", 2), "z": cardCounts("closed", 1),
		}, 2, []string{"y"}, cardCounts("queued", 9, "closed", 1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneByStatus(tt.m)
			out, n := fold(tt.m, tt.limit, OverflowLabelValue, strings.Compare)
			if n != tt.wantFolded {
				t.Errorf("folded %d, want %d", n, tt.wantFolded)
			}
			var kept []string
			for k := range out {
				if k != OverflowLabelValue {
					kept = append(kept, k)
				}
			}
			slices.Sort(kept)
			if !slices.Equal(kept, tt.wantKept) {
				t.Errorf("kept %v, want %v", kept, tt.wantKept)
			}
			over, ok := out[OverflowLabelValue]
			switch {
			case tt.wantOver == nil && ok && tt.m[OverflowLabelValue] == nil:
				t.Errorf("unexpected overflow value %v", over)
			case tt.wantOver != nil && !maps.Equal(over, tt.wantOver):
				t.Errorf("overflow %v, want %v", over, tt.wantOver)
			}
			// Sums over the dimension are unchanged, status by status.
			if got, want := sumByStatus(out), sumByStatus(tt.m); !maps.Equal(got, want) {
				t.Errorf("sums %v, want %v", got, want)
			}
			for k, v := range before {
				if !maps.Equal(tt.m[k], v) {
					t.Errorf("input entity %q modified: %v, was %v", k, tt.m[k], v)
				}
			}
			if len(tt.m) != len(before) {
				t.Errorf("input map modified")
			}
		})
	}
}

func sumByStatus[K comparable](m map[K]byStatus) map[string]int {
	out := map[string]int{}
	for _, b := range m {
		for s, n := range b {
			out[s] += n
		}
	}
	return out
}

// TestFoldIsDeterministic: the same list must export the same values on
// every scrape, whatever the map's iteration order.
func TestFoldIsDeterministic(t *testing.T) {
	m := map[asset]byStatus{}
	for i := range 50 {
		m[asset{"sms", fmt.Sprint(i), "n"}] = cardCounts("queued", 1) // all tied
	}
	first, _ := fold(m, 10, overflowAsset, compareAsset)
	for range 20 {
		again, _ := fold(maps.Clone(m), 10, overflowAsset, compareAsset)
		if !slices.Equal(slices.SortedFunc(maps.Keys(first), compareAsset), slices.SortedFunc(maps.Keys(again), compareAsset)) {
			t.Fatal("the kept assets differ between two folds of the same counts")
		}
	}
}

// manyEntities is a tenant abusing every user-data dimension: each chat has
// its own agent, asset, flag and two tags of its own plus a shared one.
func manyEntities(n int) []apiclient.Chat {
	chats := make([]apiclient.Chat, n)
	for i := range chats {
		chats[i] = apiclient.Chat{
			ID: fmt.Sprint(i), Status: Statuses[i%len(Statuses)], Channel: Channels[i%len(Channels)],
			Assignee: fmt.Sprintf("agent%05d", i), Flag: fmt.Sprintf("flag%05d", i),
			Asset: apiclient.Asset{ID: fmt.Sprint(i), Name: fmt.Sprintf("asset %d", i)},
			Tags:  []string{fmt.Sprintf("t%05d", i), fmt.Sprintf("u%05d", i), "shared"},
		}
	}
	return chats
}

// gatherSeries collects c once and returns its families by name.
func gatherSeries(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// sumsByStatus adds up a family's values by its status label.
func sumsByStatus(mf *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "status" {
				out[lp.GetValue()] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestChatCollectorFoldsPastTheLimit(t *testing.T) {
	const n, limit = 1200, 100
	src := staticSource{snap: Snapshot{Counts: aggregate(manyEntities(n)), Pages: n / 10}}
	unlimited := gatherSeries(t, NewChatCollector(context.Background(), src, nil))

	ll := NewLabelLimit(limit)
	c := NewChatCollector(context.Background(), src, nil, WithLabelLimit(ll))
	got := gatherSeries(t, c)

	tests := []struct {
		family, dimension, label string
		entities                 int // distinct values in the list
	}{
		{"imichat_chats_by_assignee", DimensionAssignee, "assignee", n},
		{"imichat_chats_by_flag", DimensionFlag, "flag", n},
		{"imichat_chats_by_asset", DimensionAsset, "asset_id", n},
		{"imichat_chats_by_tag", DimensionTag, "tag", 2*n + 1},
	}
	for _, tt := range tests {
		t.Run(tt.dimension, func(t *testing.T) {
			mf := got[tt.family]
			values := map[string]bool{}
			for _, m := range mf.GetMetric() {
				values[labelOf(m, tt.label)] = true
			}
			if len(values) != limit+1 || !values[OverflowLabelValue] {
				t.Errorf("%d values (overflow present: %v), want %d plus %q", len(values), values[OverflowLabelValue], limit, OverflowLabelValue)
			}
			if len(mf.GetMetric()) != (limit+1)*len(Statuses) {
				t.Errorf("%d series, want %d", len(mf.GetMetric()), (limit+1)*len(Statuses))
			}
			if u, f := sumsByStatus(unlimited[tt.family]), sumsByStatus(mf); !maps.Equal(u, f) {
				t.Errorf("sums by status %v, unfolded %v", f, u)
			}
			if v := foldedValue(t, ll, tt.dimension); v != float64(tt.entities-limit) {
				t.Errorf("imichat_label_values_folded_total{dimension=%q} = %v, want %d", tt.dimension, v, tt.entities-limit)
			}
		})
	}
	if !slices.ContainsFunc(got["imichat_chats_by_tag"].GetMetric(), func(m *dto.Metric) bool { return labelOf(m, "tag") == "shared" }) {
		t.Error(`the largest tag ("shared", on every chat) was folded`)
	}
	// imichat_chats is not a user-data dimension: it is never folded.
	if u, f := len(unlimited["imichat_chats"].GetMetric()), len(got["imichat_chats"].GetMetric()); u != f {
		t.Errorf("imichat_chats has %d series, %d unfolded", f, u)
	}
	// The counter counts every exposition.
	gatherSeries(t, NewChatCollector(context.Background(), src, nil, WithLabelLimit(ll)))
	if v := foldedValue(t, ll, DimensionAssignee); v != 2*float64(n-limit) {
		t.Errorf("after two scrapes folded_total = %v, want %d", v, 2*(n-limit))
	}
}

func TestLabelLimitCounterStartsAtZero(t *testing.T) {
	ll := NewLabelLimit(DefaultMaxLabelValues)
	src := staticSource{snap: Snapshot{Counts: aggregate(population)}}
	gatherSeries(t, NewChatCollector(context.Background(), src, nil, WithLabelLimit(ll)))
	for _, d := range []string{DimensionAssignee, DimensionAsset, DimensionTag, DimensionFlag} {
		if v := foldedValue(t, ll, d); v != 0 {
			t.Errorf("folded_total{dimension=%q} = %v on a small tenant", d, v)
		}
	}
	mf := gatherSeries(t, ll)["imichat_label_values_folded_total"]
	if len(mf.GetMetric()) != 4 {
		t.Errorf("%d dimensions exported, want all 4 from the start", len(mf.GetMetric()))
	}
}

func foldedValue(t *testing.T, ll *LabelLimit, dimension string) float64 {
	t.Helper()
	mf := gatherSeries(t, ll)["imichat_label_values_folded_total"]
	for _, m := range mf.GetMetric() {
		if labelOf(m, "dimension") == dimension {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no folded_total for %q", dimension)
	return 0
}

func BenchmarkFold50kTags(b *testing.B) {
	m := map[string]byStatus{}
	for i := range 50000 {
		m[fmt.Sprintf("tag%06d", i)] = cardCounts("queued", i%7)
	}
	for b.Loop() {
		fold(m, DefaultMaxLabelValues, OverflowLabelValue, strings.Compare)
	}
}
