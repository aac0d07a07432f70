package apiclient

import (
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets check properties, not only the absence of panics. Their
// seed corpus is in testdata/fuzz/<target>/ (run as ordinary tests by go
// test) plus the f.Add calls below; `make fuzz` fuzzes each for a few
// seconds, and the README says how to run them longer.

// FuzzDecodePage: whatever the body, the decoder never returns chats
// together with an error or a non-4305 status, every string it returns is
// valid UTF-8 (they become label values), status and channel are
// normalised, timestamps are UTC, and a successful page holds exactly the
// response array's elements.
func FuzzDecodePage(f *testing.F) {
	for _, seed := range []string{
		`{"status_code":4305,"description":"ok","response":[]}`,
		`{"status_code":4305,"response":null}`,
		`{"status_code":"4305","response":[{"chat_id":1,"status":" Queued ","channel":"LiveChat","asset":"web","tag":"one"}]}`,
		`{"status_code":4305,"response":[{"asset":{"id":123456789012345678901234567890,"name":null},"tag":[{"name":"a"},"b",null,1]}]}`,
		`{"status_code":4305,"response":[null]}`,
		`{"status_code":4305,"response":{}}`,
		`{"status_code":2004,"description":"Access token expired"}`,
		`{"status_code":4305,"response":[{"created_at":"2020-07-06T07:11:33.2599382Z"}]}`,
		`{"status_code":4305,"response":[{"created_at":"2020-07-06 07:11:33"}]}`,
		"{\"status_code\":4305,\"response\":[{\"assignee\":\"a\xff\",\"tag\":[\"\xc3\"]}]}",
		`<html><body>502 Bad Gateway</body></html>`,
		`{"status_code":4305,"response":[{"chat_id":"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := decodePage(body)
		code, desc, chats := p.statusCode, p.description, p.chats
		if err != nil && chats != nil {
			t.Fatalf("%d chats returned with error %v", len(chats), err)
		}
		if code != StatusListRetrieved && chats != nil {
			t.Fatalf("%d chats returned with status_code %d", len(chats), code)
		}
		if !utf8.ValidString(desc) {
			t.Errorf("description %q is not valid UTF-8", desc)
		}
		for i, c := range chats {
			for _, s := range append([]string{c.ID, c.Status, c.Channel, c.Asset.ID, c.Asset.Name, c.Assignee, c.Flag}, c.Tags...) {
				if !utf8.ValidString(s) {
					t.Errorf("chat %d: %q is not valid UTF-8", i, s)
				}
			}
			for _, s := range []string{c.Status, c.Channel} {
				if s != strings.ToLower(strings.TrimSpace(s)) {
					t.Errorf("chat %d: %q is not normalised", i, s)
				}
			}
			for _, tag := range c.Tags {
				if tag == "" {
					t.Errorf("chat %d: an empty tag", i)
				}
			}
			if ts := c.CreatedAt; !ts.IsZero() && ts.Location() != time.UTC {
				t.Errorf("chat %d: time %v is not UTC", i, ts)
			}
		}
		if err == nil && code == StatusListRetrieved {
			// An independent count of the response array: a chat is
			// never dropped or invented.
			var env struct {
				Response json.RawMessage `json:"response"`
			}
			var elems []json.RawMessage
			if jerr := json.Unmarshal(body, &env); jerr != nil {
				t.Fatalf("decoded as a page, but encoding/json rejects the body: %v", jerr)
			}
			if r := strings.TrimSpace(string(env.Response)); r != "" && r != "null" {
				if jerr := json.Unmarshal(env.Response, &elems); jerr != nil {
					t.Fatalf("decoded as a page, but response is not an array: %v", jerr)
				}
			}
			if len(elems) != len(chats) {
				t.Errorf("%d chats decoded from %d elements", len(chats), len(elems))
			}
		}
		// Decoding is a pure function of the body.
		p2, err2 := decodePage(body)
		if !reflect.DeepEqual(p2, p) || (err2 == nil) != (err == nil) {
			t.Errorf("decoding the same body twice gave different results")
		}
	})
}

// FuzzParseTimestamp: a parsed time is UTC, surrounding white space does
// not matter, it survives a round trip through RFC 3339 with any number of
// fractional digits (the API sends 2 to 7), and a failure returns the zero
// time.
func FuzzParseTimestamp(f *testing.F) {
	for _, seed := range []string{
		"2020-07-06T07:11:33.2599382Z", "2020-07-06T07:11:33.25Z", "2020-07-06T07:11:33Z",
		"2020-07-06T07:11:33+05:30", "2020-07-06T07:11:33.123456789-08:00", "2020-07-06T07:11:33",
		"2020-07-06 07:11:33Z", "2020-07-06 07:11:33.5", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
		"", "yesterday", "2020-13-40T25:61:61Z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := parseTimestamp(s)
		if err != nil {
			if !ts.IsZero() {
				t.Fatalf("error %v with a non-zero time %v", err, ts)
			}
			return
		}
		if ts.Location() != time.UTC {
			t.Fatalf("%q parsed in %v, want UTC", s, ts.Location())
		}
		if again, err := parseTimestamp(" \t" + s + "\n"); err != nil || !again.Equal(ts) {
			t.Errorf("with white space around it %q parses as %v, %v; without, %v", s, again, err, ts)
		}
		// RFC 3339 has four-digit years only; a zone offset can move the
		// UTC time just outside them.
		if y := ts.Year(); y < 0 || y > 9999 {
			return
		}
		if back, err := parseTimestamp(ts.Format(time.RFC3339Nano)); err != nil || !back.Equal(ts) {
			t.Errorf("round trip of %v: %v, %v", ts, back, err)
		}
		for digits := 1; digits <= 9; digits++ {
			layout := "2006-01-02T15:04:05." + strings.Repeat("0", digits) + "Z07:00"
			unit := int(math.Pow10(9 - digits))
			want := ts.Add(-time.Duration(ts.Nanosecond() % unit))
			if back, err := parseTimestamp(ts.Format(layout)); err != nil || !back.Equal(want) {
				t.Errorf("%d fractional digits of %v: %v, %v; want %v", digits, ts, back, err, want)
			}
		}
	})
}

// FuzzParseRateLimit: parseRateLimit and parseRateLimitReset agree; counts
// are never negative and are zero when absent; a reset is UTC; in the delta
// form (a value below epochThreshold) it is never before now and exactly the
// given seconds after it; in the epoch form it does not depend on now.
func FuzzParseRateLimit(f *testing.F) {
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC).UnixNano()
	for _, seed := range [][3]string{
		{"10000", "9999", "1764115200"}, {"10000", "0", "52200"}, {"10000", "17", "1764115200000"},
		{"", "", ""}, {"-1", "NaN", "Inf"}, {" 10 ", "1e3", "0x10"}, {"1.5", "+3", "-0"},
		{"99999999999999999999", "9223372036854775807", "1e15"}, {"0", "0", "999999999.999"},
	} {
		f.Add(seed[0], seed[1], seed[2], now)
	}
	f.Fuzz(func(t *testing.T, limit, remaining, reset string, nowNanos int64) {
		now := time.Unix(0, nowNanos)
		h := http.Header{}
		h.Set("Rate-Limit-Limit", limit)
		h.Set("Rate-Limit-Remaining", remaining)
		h.Set("Rate-Limit-Reset", reset)
		rl := parseRateLimit(h, now)

		for _, c := range []struct {
			name string
			n    int64
			has  bool
		}{{"limit", rl.Limit, rl.HasLimit}, {"remaining", rl.Remaining, rl.HasRemaining}} {
			if c.n < 0 || (!c.has && c.n != 0) {
				t.Errorf("%s = %d (present %v)", c.name, c.n, c.has)
			}
		}

		at, ok := parseRateLimitReset(reset, now)
		if ok != rl.HasReset || !at.Equal(rl.Reset) {
			t.Fatalf("ParseRateLimit says reset %v (%v), parseRateLimitReset %v (%v)", rl.Reset, rl.HasReset, at, ok)
		}
		if !ok {
			if !at.IsZero() {
				t.Errorf("no reset, but a time %v", at)
			}
			return
		}
		if at.Location() != time.UTC {
			t.Errorf("reset %v is not UTC", at)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(reset), 64)
		if err != nil || v < 0 || v > maxReset {
			t.Fatalf("accepted %q (%v, %v)", reset, v, err)
		}
		if v < epochThreshold {
			if at.Before(now) {
				t.Errorf("delta reset %q is %v, before now %v", reset, at, now)
			}
			if d := at.Sub(now); d != time.Duration(v*float64(time.Second)) {
				t.Errorf("delta reset %q is %v after now", reset, d)
			}
			return
		}
		if later, _ := parseRateLimitReset(reset, now.Add(24*time.Hour)); !later.Equal(at) {
			t.Errorf("epoch reset %q depends on now: %v, then %v", reset, at, later)
		}
		// Seconds, or milliseconds from the year 33658 on.
		if want := int64(v); (v < epochThreshold*1000 && at.Unix() != want) || (v >= epochThreshold*1000 && at.UnixMilli() != want) {
			t.Errorf("epoch reset %q read as %v", reset, at)
		}
	})
}
