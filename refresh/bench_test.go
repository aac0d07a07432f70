package refresh

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// heapInUse is the heap in use after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// BenchmarkWindowHeap measures the heap the merged state of a 200,000-chat
// tenant holds once its 24-hour window is covered, at two arrival rates: the
// window, not the history, sets the size.
func BenchmarkWindowHeap(b *testing.B) {
	for _, arrivals := range []float64{3000, 30000} {
		b.Run(fmt.Sprintf("history=200000/arrivals=%.0f", arrivals), func(b *testing.B) {
			for b.Loop() {
				tt := newTestTenant(b, simulator.Config{Seed: 31, History: 200000, ArrivalsPerDay: arrivals, QuotaPerDay: 1 << 30})
				before := heapInUse()
				r := tt.refresher(Options{FirstPage: 1, Concurrency: 4, MaxPages: 1000, QuotaShare: 1, DailyBudget: 1 << 30})
				for range 1000 {
					if _, err := r.Snapshot(context.Background()); err != nil {
						b.Fatal(err)
					}
					if r.eng.state.complete {
						break
					}
				}
				if !r.eng.state.complete {
					b.Fatal("the window was not covered")
				}
				after := heapInUse()
				chats := len(r.eng.state.list)
				b.ReportMetric(float64(after-before)/(1<<20), "MiB")
				b.ReportMetric(float64(after-before)/float64(chats), "B/chat")
				b.ReportMetric(float64(chats), "chats")
				runtime.KeepAlive(r)
				runtime.KeepAlive(tt)
			}
		})
	}
}

// BenchmarkPullDecision measures what a pull costs the engine without a
// read, at two arrival rates: the plan (pricing the open pages) and the
// served numbers (the nowcast), on a team warmed by two hours of pulls.
func BenchmarkPullDecision(b *testing.B) {
	for _, arrivals := range []float64{3000, 30000} {
		b.Run(fmt.Sprintf("arrivals=%.0f", arrivals), func(b *testing.B) {
			env := newReplayEnv(b, workload{arrivals: arrivals, history: 10000})
			r := env.refresher(Options{Fetcher: env.client, FirstPage: 1, Concurrency: 4,
				MinInterval: 15 * time.Second, QuotaShare: replayQuotaShare, DailyBudget: replayQuota})
			for at := env.coldStart; at.Before(env.coldStart.Add(2 * time.Hour)); at = at.Add(15 * time.Second) {
				env.clock.Advance(at.Sub(env.clock.Now()))
				if _, err := r.Snapshot(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			now := env.clock.Now()
			for b.Loop() {
				now = now.Add(time.Second)
				r.eng.plan(now)
				r.eng.served(now)
			}
			b.ReportMetric(float64(len(r.eng.state.open)), "open_chats")
		})
	}
}
