package apiclient

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimit is what a response's rate-limit headers said. A header that was
// missing or unparseable leaves its Has* field false.
type RateLimit struct {
	Limit, Remaining       int64
	Reset                  time.Time
	HasLimit, HasRemaining bool
	HasReset               bool
}

// epochThreshold separates the two undocumented forms of Rate-Limit-Reset:
// a value at or above it is an epoch timestamp (it is 2001-09-09), a value
// below it a number of seconds until the reset (a day is 86,400).
const epochThreshold = 1e9

// maxReset rejects values no clock will reach (epoch milliseconds of the
// year 33658) before they overflow a time.Time.
const maxReset = 1e15

// parseRateLimit reads Rate-Limit-Limit, Rate-Limit-Remaining and
// Rate-Limit-Reset. now anchors a reset given in seconds from now.
func parseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	rl.Limit, rl.HasLimit = parseCount(h.Get("Rate-Limit-Limit"))
	rl.Remaining, rl.HasRemaining = parseCount(h.Get("Rate-Limit-Remaining"))
	rl.Reset, rl.HasReset = parseRateLimitReset(h.Get("Rate-Limit-Reset"), now)
	return rl
}

// parseRateLimitReset reads a Rate-Limit-Reset value: epoch seconds (or
// milliseconds), or seconds until the reset counted from now.
func parseRateLimitReset(v string, now time.Time) (time.Time, bool) {
	f, ok := parseNumber(v)
	if !ok || f < 0 || f > maxReset {
		return time.Time{}, false
	}
	switch {
	case f >= epochThreshold*1000: // epoch milliseconds
		return time.UnixMilli(int64(f)).UTC(), true
	case f >= epochThreshold:
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	default:
		return now.Add(time.Duration(f * float64(time.Second))).UTC(), true
	}
}

func parseCount(v string) (int64, bool) {
	f, ok := parseNumber(v)
	if !ok || f < 0 || f > math.MaxInt64/2 {
		return 0, false
	}
	return int64(f), true
}

// parseNumber accepts an integer or decimal, and nothing else: no NaN, no
// infinities, no hex.
func parseNumber(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 32 {
		return 0, false
	}
	for _, r := range v {
		if (r < '0' || r > '9') && r != '.' && r != '-' && r != '+' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
