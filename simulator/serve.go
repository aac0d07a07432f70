package simulator

import (
	"bufio"
	"context"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bufPool recycles page buffers: a page is a few KB and is rendered on
// every request, so the benchmark replay would otherwise churn the GC.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

type rateState struct {
	limit, remaining int
	reset            int64
	exhausted        bool
}

// account is what every team of one tenant (one URL) shares: the access
// token and the daily quota. A Tenant made by New has an account of its own;
// the teams of an Org share the Org's. Its mutex is a leaf lock: it may be
// taken under a Tenant's mu, never the other way round.
type account struct {
	quotaPerDay  int
	resetAsDelta bool
	// forwardOnly: the quota day never moves back. Teams read the clock
	// under their own locks, so on a shared account a request stamped just
	// before midnight may arrive after one stamped just after it: it counts
	// against the new day instead of resetting the quota a second time.
	forwardOnly bool

	mu        sync.Mutex
	token     string
	expired   map[string]bool
	quotaDay  int64
	quotaUsed int
}

func newAccount(token string, quotaPerDay int, resetAsDelta, forwardOnly bool) *account {
	return &account{quotaPerDay: quotaPerDay, resetAsDelta: resetAsDelta, forwardOnly: forwardOnly,
		token: token, expired: map[string]bool{}, quotaDay: math.MinInt64}
}

func (a *account) setToken(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token = tok
	delete(a.expired, tok)
}

func (a *account) expire() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expired[a.token] = true
}

// consume takes one request from the day's quota (take) or just reads it.
// The day is the UTC day of now, so a virtual clock crossing midnight resets it.
func (a *account) consume(now int64, take bool) rateState {
	const daySec = 86400
	sec := now / 1e9
	if now < 0 && now%1e9 != 0 {
		sec--
	}
	d := sec / daySec
	if sec < 0 && sec%daySec != 0 {
		d--
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if d != a.quotaDay && !(a.forwardOnly && d < a.quotaDay) {
		a.quotaDay, a.quotaUsed = d, 0
	}
	if take {
		a.quotaUsed++
	}
	rs := rateState{limit: a.quotaPerDay, remaining: max(0, a.quotaPerDay-a.quotaUsed)}
	rs.exhausted = a.quotaUsed > a.quotaPerDay
	next := (a.quotaDay + 1) * daySec
	if a.resetAsDelta {
		rs.reset = (next*1e9 - now + 1e9 - 1) / 1e9
	} else {
		rs.reset = next
	}
	return rs
}

// check returns the status code of a failed header check, or 0. Checks run
// in the API's order: missing headers, expired token, wrong token, wrong
// team. teamID is the team this handler serves; "" matches no team.
func (a *account) check(h http.Header, teamID string) (int, string) {
	tok, team := header(h, "Access_token"), header(h, "Teamid")
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case tok == "" && team == "":
		return 2002, "Mandatory headers are missing: access_token, teamid"
	case tok == "":
		return 2002, "Mandatory header is missing: access_token"
	case team == "":
		return 2002, "Mandatory header is missing: teamid"
	case a.expired[tok]:
		return 2004, ""
	case tok != a.token:
		return 2003, ""
	case team != teamID:
		return 2010, ""
	}
	return 0, ""
}

// trxid is random-ish but reproducible per seed: a UUID-shaped string.
func (t *Tenant) trxid() string { return trxidAt(t.trxSeq.Add(1)) }

// trxidAt renders the n-th transaction id of a sequence.
func trxidAt(n uint64) string {
	a, b := mix(n, 0x7e), mix(n, 0x1d)
	var buf [36]byte
	j := 0
	for _, v := range [2]uint64{a, b} {
		for k := 60; k >= 0; k -= 4 {
			if j == 8 || j == 13 || j == 18 || j == 23 {
				buf[j] = '-'
				j++
			}
			buf[j] = hexDigits[(v>>uint(k))&0xf]
			j++
		}
	}
	return string(buf[:])
}

func setRate(h http.Header, rs rateState, trx string) {
	// Canonical keys assigned directly: no re-canonicalisation per request.
	h["Rate-Limit-Limit"] = []string{strconv.Itoa(rs.limit)}
	h["Rate-Limit-Remaining"] = []string{strconv.Itoa(rs.remaining)}
	h["Rate-Limit-Reset"] = []string{strconv.FormatInt(rs.reset, 10)}
	h["Trxid"] = []string{trx}
}

// parsePage reads the page query parameter without building url.Values:
// missing, empty or 0 is page 1; negative or non-numeric is an error.
func parsePage(rawQuery string) (int, bool) {
	q := rawQuery
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != "page" {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				return 0, false
			}
		}
		if v == "" {
			return 1, true
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, false
		}
		return max(n, 1), true
	}
	return 1, true
}

// ServeHTTP answers GET /v3.1/chats?page=N as the spec describes. Checks run
// in this order: quota, method, missing header, token, team, page.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ChatsPath {
		rs := t.acct.consume(t.clock().UnixNano(), false)
		setRate(w.Header(), rs, t.trxid())
		http.NotFound(w, r)
		return
	}
	t.requests.Add(1)
	ctx := r.Context()
	if t.cfg.Latency > 0 && !sleepCtx(ctx, t.cfg.Latency) {
		return
	}
	trx := t.trxid()

	t.mu.Lock()
	now := t.nowLocked()
	rs := t.acct.consume(now, true)
	setRate(w.Header(), rs, trx)
	if rs.exhausted {
		t.mu.Unlock()
		writeExhausted(w, rs)
		return
	}
	if r.Method != http.MethodGet {
		t.mu.Unlock()
		w.Header().Set("Allow", http.MethodGet)
		writeCode(w, 2099, "")
		return
	}
	if code, desc := t.acct.check(r.Header, t.cfg.TeamID); code != 0 {
		t.mu.Unlock()
		writeCode(w, code, desc)
		return
	}
	page, ok := parsePage(r.URL.RawQuery)
	if !ok {
		t.mu.Unlock()
		writeCode(w, 3454, "")
		return
	}
	f := t.fault
	matched := f.matches(page)
	kind := FaultNone
	if matched {
		kind = f.Kind
	}

	bp := bufPool.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; bufPool.Put(bp) }()
	body := (*bp)[:0]
	switch kind {
	case FaultHang:
		t.mu.Unlock()
		<-ctx.Done()
		return
	case FaultSlow:
		t.mu.Unlock()
		if !sleepCtx(ctx, f.Delay) {
			return
		}
		t.mu.Lock()
		now = t.nowLocked()
		body = t.appendPageLocked(body, page, now)
	case FaultNone, FaultTruncated, FaultResetMidBody:
		body = t.appendPageLocked(body, page, now)
	case FaultOversized:
		// Real chats make the oversized body look like a page.
		body = t.appendPageLocked(body, 1, now)
	}
	t.afterPageLocked(page, matched, now)
	t.mu.Unlock()
	*bp = body

	h := w.Header()
	switch kind {
	case FaultNone, FaultSlow:
		writeJSON(w, http.StatusOK, body)
	case FaultStatusCode:
		info, known := codeInfo[f.StatusCode]
		status := f.HTTPStatus
		if status == 0 {
			status = http.StatusInternalServerError
			if known {
				status = info.http
			}
		}
		desc := info.desc
		if !known {
			desc = "Unknown error"
		}
		writeJSON(w, status, appendEnvelope(body, f.StatusCode, desc))
	case FaultHTMLGateway:
		status := f.HTTPStatus
		if status == 0 {
			status = http.StatusBadGateway
		}
		line := strconv.Itoa(status) + " " + http.StatusText(status)
		h.Set("Content-Type", "text/html")
		w.WriteHeader(status)
		w.Write([]byte("<html>\r\n<head><title>" + line + "</title></head>\r\n<body>\r\n<center><h1>" + line +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"))
	case FaultNotJSON:
		writeJSON(w, http.StatusOK, []byte("this is not json"))
	case FaultTruncated:
		writeJSON(w, http.StatusOK, body[:len(body)/2])
	case FaultOversized:
		size := f.Size
		if size <= 0 {
			size = 8 << 20
		}
		writeOversized(w, body, size)
	case FaultResetMidBody:
		resetMidBody(w, body)
	case FaultResponseNull:
		writeJSON(w, http.StatusOK, append(body, `{"status_code":4305,"description":"Chat list retrieved successfully","response":null}`...))
	case FaultResponseObject:
		writeJSON(w, http.StatusOK, append(body, `{"status_code":4305,"description":"Chat list retrieved successfully","response":{}}`...))
	case FaultResponseString:
		writeJSON(w, http.StatusOK, append(body, `{"status_code":4305,"description":"Chat list retrieved successfully","response":"oops"}`...))
	default:
		writeCode(w, 2007, "")
	}
}

// writeExhausted answers a request over the day's quota. No status code for
// an exhausted quota is documented, so this is deliberately not an
// envelope: clients must cope with plain text.
func writeExhausted(w http.ResponseWriter, rs rateState) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write([]byte("rate limit exceeded: daily quota of " + strconv.Itoa(rs.limit) + " requests used up\n"))
}

// header is Header.Get for an already canonical key, without
// re-canonicalising it on every request.
func header(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// afterPageLocked applies the fault's side effects of serving a page.
func (t *Tenant) afterPageLocked(page int, matched bool, now int64) {
	f := &t.fault
	if matched && f.ArrivalsAfterPage > 0 {
		for range f.ArrivalsAfterPage {
			t.faultArr++
			r := t.gen.chat(faultArrivalKey(t.faultArr), now)
			// A fixed queued chat created "now", never before the newest
			// visible chat, so it lands on top and pushes the others down.
			if n := t.visibleLocked(now); n > 0 && t.recs[n-1].created > r.created {
				r.created = t.recs[n-1].created
				r.digits = max(r.digits, neededDigits(r.created))
			}
			r.gen, r.status, r.updated, r.assignee = false, "queued", r.created, ""
			t.insertLocked(r)
		}
	}
	if f.RotateTokenAfterPage > 0 && page == f.RotateTokenAfterPage {
		t.acct.setToken(f.RotatedToken)
		f.RotateTokenAfterPage = 0
	}
}

func writeCode(w http.ResponseWriter, code int, desc string) {
	info := codeInfo[code]
	if desc == "" {
		desc = info.desc
	}
	writeJSON(w, info.http, appendEnvelope(nil, code, desc))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	w.Write(body)
}

// writeOversized streams exactly size bytes (when size allows) of a body
// that starts like a page and stays valid JSON, without holding it: the
// client's read bound is what is being tested, so no Content-Length either.
func writeOversized(w http.ResponseWriter, page []byte, size int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	items := splitItems(page)
	if len(items) == 0 {
		items = [][]byte{[]byte(`{"chat_id":"0","status":"queued","channel":"sms","tag":null}`)}
	}
	const tailOpen, tailClose = `],"padding":"`, `"}`
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(okPrefix)
	left := size - len(okPrefix) - len(tailOpen) - len(tailClose)
	for i := 0; ; i++ {
		it := items[i%len(items)]
		need := len(it)
		if i > 0 {
			need++
		}
		if need > left {
			break
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(it)
		left -= need
	}
	bw.WriteString(tailOpen)
	for ; left > 0; left-- {
		bw.WriteByte('x')
	}
	bw.WriteString(tailClose)
	bw.Flush()
}

// splitItems cuts a rendered page into its chat objects by brace depth
// (strings are skipped, so braces inside values do not count).
func splitItems(page []byte) [][]byte {
	body := page[len(okPrefix) : len(page)-2]
	var items [][]byte
	depth, start, inStr, esc := 0, 0, false, false
	for i, c := range body {
		switch {
		case inStr:
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			if depth == 0 {
				start = i
			}
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				items = append(items, body[start:i+1])
			}
		}
	}
	return items
}

// resetMidBody promises the full body, sends half and drops the connection.
// Over TCP it hijacks and sets linger 0 so the peer sees a reset; where the
// writer cannot be hijacked (HTTP/2, NewTransport) it aborts the handler,
// which net/http and NewTransport both turn into a broken body.
func resetMidBody(w http.ResponseWriter, body []byte) {
	half := body[:len(body)/2]
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(half)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	rw.WriteString("HTTP/1.1 200 OK\r\n")
	h := w.Header().Clone()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Write(rw)
	rw.WriteString("\r\n")
	rw.Write(half)
	rw.Flush()
}

// sleepCtx waits d of real time; false when the request was given up first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
