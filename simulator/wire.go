package simulator

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Descriptions for the documented status codes. The texts are ours; the
// reference only gives their meaning.
var codeInfo = map[int]struct {
	http int
	desc string
}{
	4305: {200, "Chat list retrieved successfully"},
	2002: {400, "Mandatory header is missing"},
	2003: {400, "Invalid access token"},
	2004: {401, "Access token expired"},
	2007: {500, "Internal server error"},
	2010: {404, "Could not find details of team based on the teamid passed in the header"},
	2099: {405, "Method not allowed"},
	3454: {500, "Chat list could not be retrieved"},
}

const okPrefix = `{"status_code":4305,"description":"Chat list retrieved successfully","response":[`

// appendEnvelope renders an error envelope. The reference does not say what
// "response" holds on errors; an empty object is what similar APIs send.
func appendEnvelope(b []byte, code int, desc string) []byte {
	b = append(b, `{"status_code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"description":`...)
	b = appendString(b, desc)
	return append(b, `,"response":{}}`...)
}

// appendPageLocked renders the 4305 envelope of one page: O(PageSize).
func (t *Tenant) appendPageLocked(b []byte, page int, now int64) []byte {
	b = append(b, okPrefix...)
	n := t.visibleLocked(now)
	// Page p lists indices n-1-(p-1)*10 downwards; guard the product
	// against huge page numbers.
	if page-1 < (n+PageSize-1)/PageSize {
		top := n - 1 - (page-1)*PageSize
		for i := 0; i < PageSize && top-i >= 0; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.appendChat(b, t.recs[top-i], now)
		}
	}
	return append(b, "]}"...)
}

// numericAsset says whether asset.id goes on the wire as a JSON number: the
// spec types it integer, but only these channels' ids are really numeric.
func numericAsset(chLower, id string) bool {
	switch chLower {
	case "sms", "facebook", "twitter":
	default:
		return false
	}
	if id == "" || (id[0] == '0' && len(id) > 1) { // JSON numbers have no leading zero
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// appendChat renders one chat. Everything but updated_at, status and
// assignee is fixed per chat, so it is rendered once (on the first page
// that shows the chat) and copied afterwards: serving a page is then a few
// memmoves instead of escaping every string again.
func (t *Tenant) appendChat(b []byte, r *rec, now int64) []byte {
	if r.raw != nil {
		return append(b, r.raw...)
	}
	if r.wire == nil {
		t.renderStatic(r)
	}
	status, updated, assignee := r.state(now)
	b = append(b, r.wire[:r.cut[0]]...)
	b = appendTime(b, updated, int(r.digits))
	b = append(b, `","status":`...)
	b = appendString(b, status)
	b = append(b, r.wire[r.cut[0]:r.cut[1]]...)
	b = appendString(b, assignee)
	return append(b, r.wire[r.cut[1]:]...)
}

func (t *Tenant) renderStatic(r *rec) {
	b := make([]byte, 0, 512)
	b = append(b, `{"chat_id":`...)
	b = appendString(b, r.id)
	b = append(b, `,"alias_id":`...)
	b = appendString(b, r.alias)
	b = append(b, `,"created_at":"`...)
	b = appendTime(b, r.created, int(r.digits))
	b = append(b, `","updated_at":"`...)
	r.cut[0] = int32(len(b))
	b = append(b, `,"channel":`...)
	b = appendString(b, r.channel)
	b = append(b, `,"asset":{"id":`...)
	if numericAsset(r.chLower, r.assetID) {
		b = append(b, r.assetID...)
	} else {
		b = appendString(b, r.assetID)
	}
	b = append(b, `,"name":`...)
	b = appendString(b, r.assetName)
	b = append(b, `},"customer_id":`...)
	b = appendString(b, r.customer)
	b = append(b, `,"destination_id":`...)
	b = appendString(b, r.dest)
	b = append(b, `,"assignee":`...)
	r.cut[1] = int32(len(b))
	b = append(b, `,"flag":`...)
	b = appendString(b, r.flag)
	b = append(b, `,"tag":`...)
	if r.tags == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, tg := range r.tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, tg)
		}
		b = append(b, ']')
	}
	b = append(b, `,"other_details":{},"team_id":`...)
	b = strconv.AppendInt(b, t.teamNum, 10)
	b = append(b, `,"team_name":`...)
	b = appendString(b, t.teamName)
	if r.extraKey != "" {
		b = append(b, ',')
		b = appendString(b, r.extraKey)
		b = append(b, ':')
		b = appendString(b, r.extraVal)
	}
	b = append(b, '}')
	r.wire = b[:len(b):len(b)]
}

// appendTime renders RFC 3339 UTC with exactly d fractional digits, the
// way upstream varies them (2 to 7) from chat to chat.
func appendTime(b []byte, ns int64, d int) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	// Hand-rolled: time.AppendFormat's layout parsing was a fifth of a page.
	tm := time.Unix(sec, 0).UTC()
	y, mo, dd := tm.Date()
	h, mi, s := tm.Clock()
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+dd/10), byte('0'+dd%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
	if d > 0 {
		var f [9]byte
		for i := 8; i >= 0; i-- {
			f[i] = byte('0' + frac%10)
			frac /= 10
		}
		b = append(b, '.')
		b = append(b, f[:d]...)
	}
	return append(b, 'Z')
}

const hexDigits = "0123456789abcdef"

// appendString is a JSON string encoder equivalent to encoding/json's
// (minus HTML escaping), without its reflection and allocations.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
