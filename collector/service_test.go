package collector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestHistogramBucketsHoldTheirUpperBound(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want map[float64]uint64 // cumulative counts at some bounds
	}{
		{0, map[float64]uint64{10: 1, 3600: 1}},
		{10, map[float64]uint64{10: 1, 20: 1}},
		{10.001, map[float64]uint64{10: 0, 20: 1}},
		{60, map[float64]uint64{45: 0, 60: 1, 90: 1}},
		{3600, map[float64]uint64{1800: 0, 3600: 1}},
		{3601, map[float64]uint64{3600: 0}}, // +Inf only
	} {
		h := newHistogram(QueueWaitBuckets)
		h.Observe(tc.v)
		got := h.Cumulative()
		for bound, n := range tc.want {
			if got[bound] != n {
				t.Errorf("observed %g: bucket le=%g holds %d, want %d", tc.v, bound, got[bound], n)
			}
		}
		if h.Count != 1 || h.Sum != tc.v {
			t.Errorf("observed %g: count %d sum %g", tc.v, h.Count, h.Sum)
		}
	}
}

// serviceSample is a service level worked out by hand: two sms chats
// answered in 60 and 61 s, one abandoned, one handled in 300 s, and an
// arrival on a channel the API does not document.
func serviceSample() *ServiceLevel {
	s := NewServiceLevel()
	s.Arrived("sms")
	s.Arrived("sms")
	s.Arrived("pigeon")
	s.Left("sms", OutcomePicked, 60)
	s.Left("sms", OutcomePicked, 61)
	s.Left("sms", OutcomeClosed, 5)
	s.Handled("sms", 300)
	return s
}

func TestServiceLevelExposition(t *testing.T) {
	snap := Snapshot{Counts: NewCounts(), Service: serviceSample()}
	var created, left []string
	for _, ch := range append(slices.Clone(Channels), OtherChannel) {
		n := map[string]int{"sms": 2, OtherChannel: 1}[ch]
		created = append(created, fmt.Sprintf("imichat_chats_created_total{channel=%q} %d", ch, n))
		for _, o := range []string{OutcomeClosed, OutcomePicked} {
			n := map[string]int{"sms/" + OutcomePicked: 2, "sms/" + OutcomeClosed: 1}[ch+"/"+o]
			left = append(left, fmt.Sprintf("imichat_chats_left_queue_total{channel=%q,outcome=%q} %d", ch, o, n))
		}
	}
	slices.Sort(created)
	slices.Sort(left)
	want := "# HELP imichat_chats_created_total " + createdHelp + "\n# TYPE imichat_chats_created_total counter\n" +
		strings.Join(created, "\n") + "\n" +
		"# HELP imichat_chats_left_queue_total " + leftQueueHelp + "\n# TYPE imichat_chats_left_queue_total counter\n" +
		strings.Join(left, "\n") + "\n"
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewChatCollector(context.Background(), staticSource{snap: snap}, nil))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "imichat_chats_created_total", "imichat_chats_left_queue_total"); err != nil {
		t.Error(err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	hist := map[string]map[string]*dto.Histogram{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				if hist[f.GetName()] == nil {
					hist[f.GetName()] = map[string]*dto.Histogram{}
				}
				hist[f.GetName()][m.GetLabel()[0].GetValue()] = h
			}
		}
	}
	for _, name := range []string{"imichat_chat_queue_wait_seconds", "imichat_chat_handle_seconds"} {
		// Every documented channel is there from the start, empty.
		for _, ch := range Channels {
			if hist[name][ch] == nil {
				t.Errorf("%s{channel=%q} missing", name, ch)
			}
		}
	}
	wait := hist["imichat_chat_queue_wait_seconds"]["sms"]
	if wait.GetSampleCount() != 2 || wait.GetSampleSum() != 121 {
		t.Errorf("sms queue wait: count %d sum %g, want the two answered chats, 2 and 121 s", wait.GetSampleCount(), wait.GetSampleSum())
	}
	for _, b := range wait.GetBucket() {
		want := map[float64]uint64{45: 0, 60: 1, 90: 2}[b.GetUpperBound()]
		if b.GetUpperBound() >= 90 {
			want = 2
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("sms queue wait le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if h := hist["imichat_chat_handle_seconds"]["sms"]; h.GetSampleCount() != 1 || h.GetSampleSum() != 300 {
		t.Errorf("sms handle: count %d sum %g, want 1 and 300 s", h.GetSampleCount(), h.GetSampleSum())
	}
	if h := hist["imichat_chat_queue_wait_seconds"]["whatsapp"]; h.GetSampleCount() != 0 {
		t.Errorf("whatsapp queue wait: count %d, want 0", h.GetSampleCount())
	}
}

// A failed read serves imichat_up 0 and no service-level metrics, as for
// the chat gauges; a source that does not count them serves none.
func TestServiceLevelAbsentWithoutIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  staticSource
	}{
		{"failed read", staticSource{snap: Snapshot{Counts: NewCounts(), Service: serviceSample()}, err: fmt.Errorf("page 3: boom")}},
		{"source without a service level", staticSource{snap: Snapshot{Counts: NewCounts()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewChatCollector(context.Background(), tc.src, nil))
			n, err := testutil.GatherAndCount(reg, "imichat_chats_created_total", "imichat_chats_left_queue_total",
				"imichat_chat_queue_wait_seconds", "imichat_chat_handle_seconds")
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d service-level series, want none", n)
			}
		})
	}
}

func TestServiceLevelCloneIsIndependent(t *testing.T) {
	s := serviceSample()
	c := s.Clone()
	s.Arrived("sms")
	s.Left("sms", OutcomePicked, 1)
	s.Handled("sms", 1)
	if c.Created["sms"] != 2 || c.QueueWait["sms"].Count != 2 || c.QueueWait["sms"].Cumulative()[10] != 0 || c.Handle["sms"].Count != 1 {
		t.Errorf("the clone changed with the original: %+v", c)
	}
}
