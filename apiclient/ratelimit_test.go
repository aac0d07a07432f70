package apiclient

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	midnight := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name              string
		limit, rem, reset string
		want              RateLimit
	}{
		{"epoch seconds", "10000", "9876", "1795651200",
			RateLimit{Limit: 10000, Remaining: 9876, Reset: midnight, HasLimit: true, HasRemaining: true, HasReset: true}},
		{"seconds until reset", "10000", "0", "50400",
			RateLimit{Limit: 10000, Remaining: 0, Reset: midnight, HasLimit: true, HasRemaining: true, HasReset: true}},
		{"epoch milliseconds", "10", "5", "1795651200000",
			RateLimit{Limit: 10, Remaining: 5, Reset: midnight, HasLimit: true, HasRemaining: true, HasReset: true}},
		{"decimal seconds", "10", "5", "0.5",
			RateLimit{Limit: 10, Remaining: 5, Reset: now.Add(500 * time.Millisecond), HasLimit: true, HasRemaining: true, HasReset: true}},
		{"missing headers", "", "", "", RateLimit{}},
		{"garbage", "lots", "-3", "tomorrow", RateLimit{}},
		{"not a finite number", "NaN", "Inf", "1e999", RateLimit{}},
		{"hex is not a number here", "0x10", "1_000", "0x5", RateLimit{}},
		{"far future overflow", "1", "1", "99999999999999999999", RateLimit{Limit: 1, Remaining: 1, HasLimit: true, HasRemaining: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.limit != "" {
				h.Set("Rate-Limit-Limit", tt.limit)
			}
			if tt.rem != "" {
				h.Set("Rate-Limit-Remaining", tt.rem)
			}
			if tt.reset != "" {
				h.Set("Rate-Limit-Reset", tt.reset)
			}
			got := parseRateLimit(h, now)
			if got.Limit != tt.want.Limit || got.Remaining != tt.want.Remaining || !got.Reset.Equal(tt.want.Reset) ||
				got.HasLimit != tt.want.HasLimit || got.HasRemaining != tt.want.HasRemaining || got.HasReset != tt.want.HasReset {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
