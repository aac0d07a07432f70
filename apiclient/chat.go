package apiclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// PageSize is the number of chats the API returns on a full page. A page
// holding fewer chats is the last one.
const PageSize = 10

// Chat is one chat as the exporter needs it. Fields the exporter does not use,
// and personal data such as destination_id, are not decoded at all.
type Chat struct {
	ID        string
	CreatedAt time.Time // zero when missing or unparseable
	// UpdatedAt is when the chat last changed (its status, as far as the
	// exporter can tell): the refresh engine learns from it how long chats
	// stay in each status. Zero when missing or unparseable.
	UpdatedAt time.Time
	Status    string // lower case
	Channel   string // lower case; unknown values are kept
	Asset     Asset
	Assignee  string // "" when unassigned
	Flag      string
	Tags      []string
}

// The documented statuses of a chat, as Chat.Status holds them. Every chat
// starts queued; closed is taken as final.
const (
	StatusQueued = "queued"
	StatusPicked = "picked"
	StatusOnHold = "onhold"
	StatusClosed = "closed"
)

// Asset is the channel asset a chat arrived on. The API documents id as an
// integer, but many assets (e-mail addresses, service keys) are not numbers,
// so it is kept as text.
type Asset struct {
	ID   string
	Name string
}

// wireChat mirrors the documented Chat object. Every field the exporter reads
// goes through a liberal type, so that a null, a number where a string was
// expected, or an unknown shape never rejects the page.
type wireChat struct {
	ChatID    text      `json:"chat_id"`
	CreatedAt timestamp `json:"created_at"`
	UpdatedAt timestamp `json:"updated_at"`
	Status    text      `json:"status"`
	Channel   text      `json:"channel"`
	Asset     wireAsset `json:"asset"`
	Assignee  text      `json:"assignee"`
	Flag      text      `json:"flag"`
	Tag       tags      `json:"tag"`
}

// chat converts the wire form to the exported one, normalising the values
// that become label values.
func (w *wireChat) chat() Chat {
	return Chat{
		ID:        string(w.ChatID),
		CreatedAt: time.Time(w.CreatedAt),
		UpdatedAt: time.Time(w.UpdatedAt),
		Status:    strings.ToLower(strings.TrimSpace(string(w.Status))),
		Channel:   strings.ToLower(strings.TrimSpace(string(w.Channel))),
		Asset:     Asset(w.Asset),
		Assignee:  strings.TrimSpace(string(w.Assignee)),
		Flag:      string(w.Flag),
		Tags:      []string(w.Tag),
	}
}

// chatsFromWire converts a decoded list. A null element makes the page
// untrustworthy, and is an error.
func chatsFromWire(wire []*wireChat) ([]Chat, error) {
	if len(wire) == 0 {
		return nil, nil
	}
	chats := make([]Chat, len(wire))
	for i, w := range wire {
		if w == nil {
			return nil, fmt.Errorf("chat %d is null", i)
		}
		chats[i] = w.chat()
	}
	return chats, nil
}

// text accepts a JSON string, number, boolean or null. Numbers keep their
// literal spelling so that large ids do not lose digits through float64.
type text string

func (t *text) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) >= 2 && data[0] == '"' && bytes.IndexByte(data, '\\') < 0 && utf8.Valid(data):
		// Fast path: a string without escapes is its own content.
		*t = text(data[1 : len(data)-1])
	case len(data) == 0 || isNull(data):
		*t = ""
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*t = text(s)
	case data[0] == '{' || data[0] == '[':
		// An object or array where text was expected carries no usable
		// value; it is ignored rather than failing the whole page.
		*t = ""
	default: // number, true, false
		*t = text(data)
	}
	return nil
}

// wireAsset accepts the documented object form and the plain string that the
// product's webhooks send. A plain string is taken as the asset's name.
type wireAsset Asset

func (a *wireAsset) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || isNull(data) {
		*a = wireAsset{}
		return nil
	}
	if data[0] != '{' {
		var name text
		if err := name.UnmarshalJSON(data); err != nil {
			return err
		}
		*a = wireAsset{Name: string(name)}
		return nil
	}
	var w struct {
		ID   text `json:"id"`
		Name text `json:"name"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*a = wireAsset{ID: string(w.ID), Name: string(w.Name)}
	return nil
}

// tags accepts an array whose elements are strings or objects carrying the
// tag in "name", a single string, or null.
type tags []string

func (t *tags) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	*t = nil
	if len(data) == 0 || isNull(data) {
		return nil
	}
	if data[0] != '[' {
		var one text
		if err := one.UnmarshalJSON(data); err != nil {
			return err
		}
		if one != "" {
			*t = tags{string(one)}
		}
		return nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return err
	}
	out := make(tags, 0, len(elems))
	for _, e := range elems {
		var name text
		if len(e) > 0 && e[0] == '{' {
			var obj struct {
				Name text `json:"name"`
			}
			if err := json.Unmarshal(e, &obj); err != nil {
				return err
			}
			name = obj.Name
		} else if err := name.UnmarshalJSON(e); err != nil {
			return err
		}
		if name != "" {
			out = append(out, string(name))
		}
	}
	if len(out) > 0 {
		*t = out
	}
	return nil
}

// timestamp accepts any RFC 3339 form (any number of fractional digits),
// and a few near misses seen in the wild. An unparseable value becomes the
// zero time rather than rejecting the page: counts do not depend on it.
type timestamp time.Time

func (ts *timestamp) UnmarshalJSON(data []byte) error {
	var s text
	if err := s.UnmarshalJSON(data); err != nil {
		return err
	}
	t, err := parseTimestamp(string(s))
	if err != nil {
		t = time.Time{}
	}
	*ts = timestamp(t)
	return nil
}

// timestampLayouts are tried in order. Go's parser accepts a fractional
// second of any length after the seconds field even when the layout has none.
var timestampLayouts = []string{
	time.RFC3339,
	"2006-01-02T15:04:05",       // no zone: the API documents UTC
	"2006-01-02 15:04:05Z07:00", // space instead of T
	"2006-01-02 15:04:05",
}

// parseTimestamp parses an API datetime. Values without a zone are UTC, as
// the API documents. The result is always in UTC.
func parseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty timestamp")
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is not RFC 3339", truncate(s, 64))
}

func isNull(data []byte) bool { return string(data) == "null" }

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
