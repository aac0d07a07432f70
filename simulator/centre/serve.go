package centre

import (
	"container/heap"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// PageSize is the number of chats per page, as the API reference says.
const PageSize = 10

// ChatsPath is the endpoint a Server answers.
const ChatsPath = "/v3.1/chats"

// Stats are the centre's totals.
func (c *Centre) Stats() Stats { return c.stats }

// Channels are the channels' names, in the order of Config.Channels: the
// indices Cursor.Oldest and Snapshot use.
func (c *Centre) Channels() []string { return c.channels }

// Chats is the number of chats in the list at t (created at or before t).
func (c *Centre) Chats(t time.Time) int { return c.visible(t.UnixNano()) }

// visible is the number of chats created at or before t.
func (c *Centre) visible(t int64) int {
	n := len(c.chats)
	if n == 0 || c.chats[n-1].created <= t {
		return n
	}
	return sort.Search(n, func(i int) bool { return c.chats[i].created > t })
}

// ChannelOf is the channel of a chat, "" for an unknown id.
func (c *Centre) ChannelOf(id string) string {
	i, ok := c.byID[id]
	if !ok {
		return ""
	}
	return c.channels[c.chats[i].channel]
}

// Chat is one chat as it stands at an instant.
type Chat struct {
	ID                   string
	Position             int // in the list at that instant; 0 is the newest chat
	CreatedAt, UpdatedAt time.Time
	Status               string
	Channel              string
	Assignee             string // "" when unassigned
}

func (c *Centre) chatAt(i, visible int, t int64) Chat {
	ch := &c.chats[i]
	tr := ch.state(t)
	out := Chat{ID: ch.id, Position: visible - 1 - i, CreatedAt: time.Unix(0, ch.created).UTC(),
		UpdatedAt: time.Unix(0, tr.at).UTC(), Status: statusNames[tr.status], Channel: c.channels[ch.channel]}
	if tr.agent >= 0 {
		out.Assignee = c.agents[tr.agent]
	}
	return out
}

// Listing is the chats created in [since, t] as they stand at t, newest
// first, with their places in the list: what a clairvoyant reader needs to
// choose its pages. keep, when not nil, chooses the chats listed by their
// id and status at t.
func (c *Centre) Listing(t, since time.Time, keep func(id, status string) bool) []Chat {
	now := t.UnixNano()
	n := c.visible(now)
	from := sort.Search(n, func(i int) bool { return c.chats[i].created >= since.UnixNano() })
	var out []Chat
	if keep == nil {
		out = make([]Chat, 0, n-from)
	}
	for i := n - 1; i >= from; i-- {
		if keep != nil && !keep(c.chats[i].id, statusNames[c.chats[i].state(now).status]) {
			continue
		}
		out = append(out, c.chatAt(i, n, now))
	}
	return out
}

// Snapshot is what a reader of the chats created in [since, t] sees at t:
// the queued count, the creation time of the oldest queued chat of each
// channel (Unix ns, 0: none; indexed as Channels) and the pages such a
// read takes.
func (c *Centre) Snapshot(t, since time.Time) (queued int, oldest []int64, pages int) {
	now := t.UnixNano()
	n := c.visible(now)
	from := sort.Search(n, func(i int) bool { return c.chats[i].created >= since.UnixNano() })
	oldest = make([]int64, len(c.channels))
	for i := from; i < n; i++ {
		ch := &c.chats[i]
		if ch.state(now).status != stQueued {
			continue
		}
		queued++
		if oldest[ch.channel] == 0 {
			oldest[ch.channel] = ch.created // ascending: the first is the oldest
		}
	}
	return queued, oldest, (n - from + PageSize - 1) / PageSize
}

// Cursor follows the queue through time: the true queued count and the
// oldest queued chat of each channel, at instants that never go back.
type Cursor struct {
	c      *Centre
	next   int
	queued []bool
	n      int
	perCh  []int
	oldest []createdHeap
}

type createdEntry struct {
	created int64
	chat    int32
}

type createdHeap []createdEntry

func (h createdHeap) Len() int { return len(h) }
func (h createdHeap) Less(i, j int) bool {
	return h[i].created < h[j].created || (h[i].created == h[j].created && h[i].chat < h[j].chat)
}
func (h createdHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *createdHeap) Push(x any)   { *h = append(*h, x.(createdEntry)) }
func (h *createdHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// NewCursor returns a cursor before the first chat.
func (c *Centre) NewCursor() *Cursor {
	return &Cursor{c: c, queued: make([]bool, len(c.chats)), perCh: make([]int, len(c.channels)),
		oldest: make([]createdHeap, len(c.channels))}
}

// Advance moves the cursor to t; a t before the last one does nothing.
func (cur *Cursor) Advance(t time.Time) {
	now := t.UnixNano()
	for cur.next < len(cur.c.changes) && cur.c.changes[cur.next].at <= now {
		ch := cur.c.changes[cur.next]
		cur.next++
		chat := &cur.c.chats[ch.chat]
		if ch.enter == cur.queued[ch.chat] {
			continue
		}
		cur.queued[ch.chat] = ch.enter
		if ch.enter {
			cur.n++
			cur.perCh[chat.channel]++
			heap.Push(&cur.oldest[chat.channel], createdEntry{created: chat.created, chat: ch.chat})
		} else {
			cur.n--
			cur.perCh[chat.channel]--
		}
	}
}

// Queued is the number of queued chats.
func (cur *Cursor) Queued() int { return cur.n }

// QueuedOn is the number of queued chats of a channel (an index of Channels).
func (cur *Cursor) QueuedOn(ch int) int { return cur.perCh[ch] }

// Oldest is the creation time of the oldest queued chat of a channel (an
// index of Channels), and whether there is one.
func (cur *Cursor) Oldest(ch int) (time.Time, bool) {
	h := &cur.oldest[ch]
	for h.Len() > 0 && !cur.queued[(*h)[0].chat] {
		heap.Pop(h)
	}
	if h.Len() == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, (*h)[0].created).UTC(), true
}

// ServerConfig is what a Server needs besides the centre.
type ServerConfig struct {
	Token, TeamID string // the access_token and teamid headers it expects
	QuotaPerDay   int    // reset at 00:00 UTC of the clock; default 10,000
	Clock         func() time.Time
}

// Server answers GET /v3.1/chats with the centre at its clock's now. It is
// safe for concurrent use; each reader should have its own (its quota and
// request count).
type Server struct {
	c        *Centre
	cfg      ServerConfig
	requests atomic.Int64

	mu   sync.Mutex
	day  int64
	used int
	trx  uint64
}

// Server returns a server of the centre.
func (c *Centre) Server(cfg ServerConfig) *Server {
	if cfg.QuotaPerDay <= 0 {
		cfg.QuotaPerDay = 10000
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Server{c: c, cfg: cfg, day: -1}
}

// Requests is the number of requests answered so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

const timeLayout = "2006-01-02T15:04:05.0000000Z"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	now := s.cfg.Clock()
	day := now.Unix() / 86400
	s.mu.Lock()
	if day != s.day {
		s.day, s.used = day, 0
	}
	s.used++
	used := s.used
	s.trx++
	trx := s.trx
	s.mu.Unlock()
	h := w.Header()
	h.Set("Rate-Limit-Limit", strconv.Itoa(s.cfg.QuotaPerDay))
	h.Set("Rate-Limit-Remaining", strconv.Itoa(max(s.cfg.QuotaPerDay-used, 0)))
	h.Set("Rate-Limit-Reset", strconv.FormatInt((day+1)*86400, 10))
	h.Set("trxid", "centre-"+strconv.FormatUint(trx, 10))
	if used > s.cfg.QuotaPerDay {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte("rate limit exceeded\n"))
		return
	}
	switch {
	case r.Method != http.MethodGet:
		writeCode(w, http.StatusMethodNotAllowed, 2099, "Method not allowed")
		return
	case r.URL.Path != ChatsPath:
		http.NotFound(w, r)
		return
	case r.Header.Get("access_token") == "" || r.Header.Get("teamid") == "":
		writeCode(w, http.StatusBadRequest, 2002, "Mandatory header is missing")
		return
	case r.Header.Get("access_token") != s.cfg.Token:
		writeCode(w, http.StatusBadRequest, 2003, "Invalid access token")
		return
	case r.Header.Get("teamid") != s.cfg.TeamID:
		writeCode(w, http.StatusNotFound, 2010, "Could not find details of team based on the teamid passed in the header")
		return
	}
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		if p, err := strconv.Atoi(v); err == nil {
			page = p
		}
	}
	h.Set("Content-Type", "application/json")
	w.Write(s.c.appendPage(make([]byte, 0, 4096), page, now.UnixNano()))
}

func writeCode(w http.ResponseWriter, status, code int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write([]byte(`{"status_code":` + strconv.Itoa(code) + `,"description":"` + desc + `","response":{}}`))
}

// appendPage renders page p (the first is 1) of the list at now.
func (c *Centre) appendPage(b []byte, p int, now int64) []byte {
	b = append(b, `{"status_code":4305,"description":"Chat list retrieved successfully","response":[`...)
	n := c.visible(now)
	if p >= 1 && p-1 < (n+PageSize-1)/PageSize {
		top := n - 1 - (p-1)*PageSize
		for i := 0; i < PageSize && top-i >= 0; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.appendChat(b, top-i, now)
		}
	}
	return append(b, "]}"...)
}

// appendChat renders one chat: every value is generated here, none needs
// escaping.
func (c *Centre) appendChat(b []byte, i int, now int64) []byte {
	ch := &c.chats[i]
	tr := ch.state(now)
	name := c.channels[ch.channel]
	b = append(b, `{"chat_id":"`...)
	b = append(b, ch.id...)
	b = append(b, `","alias_id":"a-`...)
	b = append(b, ch.id[:12]...)
	b = append(b, `","created_at":"`...)
	b = time.Unix(0, ch.created).UTC().AppendFormat(b, timeLayout)
	b = append(b, `","updated_at":"`...)
	b = time.Unix(0, tr.at).UTC().AppendFormat(b, timeLayout)
	b = append(b, `","status":"`...)
	b = append(b, statusNames[tr.status]...)
	b = append(b, `","channel":"`...)
	b = append(b, name...)
	b = append(b, `","asset":{"id":"`...)
	b = append(b, name...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(ch.asset)+1, 10)
	b = append(b, `","name":"`...)
	b = append(b, name...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(ch.asset)+1, 10)
	b = append(b, `"},"customer_id":"cu-`...)
	b = append(b, ch.id[12:]...)
	b = append(b, `","assignee":"`...)
	if tr.agent >= 0 {
		b = append(b, c.agents[tr.agent]...)
	}
	b = append(b, `","flag":"","tag":[]}`...)
	return b
}
