package collector

import (
	"testing"
	"time"

	"github.com/imichat-exporter/imichat_exporter/apiclient"
)

func TestRateLimitsKeepTheLowestRemainingOfAPeriod(t *testing.T) {
	reset := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	answer := func(remaining int64, reset time.Time) apiclient.RateLimit {
		return apiclient.RateLimit{Limit: 10000, HasLimit: true, Remaining: remaining, HasRemaining: true, Reset: reset, HasReset: true}
	}
	cases := []struct {
		name    string
		answers []apiclient.RateLimit
		want    int64
	}{
		{"in order", []apiclient.RateLimit{answer(9999, reset), answer(9998, reset), answer(9997, reset)}, 9997},
		{"out of order", []apiclient.RateLimit{answer(9997, reset), answer(9999, reset), answer(9998, reset)}, 9997},
		{"reset as a delta, a second apart", []apiclient.RateLimit{answer(9990, reset), answer(9995, reset.Add(time.Second))}, 9990},
		{"a new period", []apiclient.RateLimit{answer(12, reset), answer(9999, reset.Add(24*time.Hour))}, 9999},
		{"no reset header: the last", []apiclient.RateLimit{
			{Remaining: 50, HasRemaining: true}, {Remaining: 70, HasRemaining: true}}, 70},
		{"an answer without the header keeps it", []apiclient.RateLimit{answer(40, reset), {}}, 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &RateLimits{}
			for _, a := range c.answers {
				l.observe(a)
			}
			if got := l.Get(); !got.HasRemaining || got.Remaining != c.want {
				t.Errorf("remaining %v (present %v), want %v", got.Remaining, got.HasRemaining, c.want)
			}
		})
	}
}
