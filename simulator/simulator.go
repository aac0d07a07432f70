// Package simulator is an in-process twin of an imi.chat v3.1 tenant: it
// answers GET /v3.1/chats exactly as ../shared/api/chats-v3.1.md describes
// (header checks, the status_code envelope, every documented status code,
// rate-limit headers and a daily quota, 10 chats a page newest first) over a
// plausible, deterministic population that evolves with a clock.
//
// It exists so that the exporter can be tested and demonstrated without a
// real tenant: tests get a known truth (Chats, Counts) to compare against and
// can inject every failure the spec warns about (Fault), and `--demo` gets a
// live-looking tenant on loopback. It renders the wire format itself and
// never imports the exporter's apiclient, so that decoding tests exercise a
// real, independent encoder.
//
// A Tenant is one team behind its own token and quota; an Org is a tenant as
// the real API has it, several teams behind one URL, one token and one quota.
//
// A chat's status is a pure function of the clock (each generated chat
// carries its whole lifecycle schedule), so the tenant evolves without a
// ticker and a virtual clock may jump a day in one step.
package simulator

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ChatsPath is the only endpoint the simulator serves.
const ChatsPath = "/v3.1/chats"

// PageSize is the number of chats per page, as the upstream reference says.
const PageSize = 10

// Clock returns the simulated "now". nil means time.Now.
type Clock func() time.Time

// Config describes a simulated tenant. Only Token and TeamID are required.
type Config struct {
	Token          string        // access_token expected in the header (required)
	TeamID         string        // teamid expected in the header (required)
	Seed           int64         // population is deterministic for a given seed
	History        int           // chats already present at Start (created before Start)
	ArrivalsPerDay float64       // new chats per day after Start (Poisson, deterministic from seed); 0 = none
	Agents         int           // number of agents (default 40)
	Assets         int           // number of assets (default 30, at least 8), spread over all 8 channels
	Start          time.Time     // zero = clock() at New
	Clock          Clock         // must not call back into the Tenant (it is called under its lock)
	QuotaPerDay    int           // rate-limit quota, default 10000; reset at 00:00:00 UTC of the clock
	ResetAsDelta   bool          // Rate-Limit-Reset as seconds-until-reset instead of epoch seconds
	Latency        time.Duration // real (wall-clock) delay added to every page response
	// Profile, when set, shapes the arrivals over the day: 24 relative
	// rates, one per hour of the day (in Zone), whose mean ArrivalsPerDay
	// keeps. nil: a flat rate. History is generated flat either way.
	Profile []float64
	// Zone is the contact centre's time zone, whose hours Profile follows;
	// nil: UTC. Timestamps on the wire stay UTC.
	Zone *time.Location
	// QueueWaits, when set, gives each channel (lower case) its own mean
	// queue wait, exponentially distributed; a channel it lacks is picked
	// at once. nil: most chats wait a couple of minutes, 8% tens of
	// minutes and 2% one to six hours, on every channel.
	QueueWaits map[string]time.Duration
}

// OfficeHours is an arrival profile of a contact centre: a quiet night, a
// morning ramp, a lunch peak and a quieter evening.
var OfficeHours = []float64{
	0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.8, // 00–08
	1.5, 1.8, 1.9, 2.0, 2.6, 2.4, 1.9, 1.8, // 08–16
	1.6, 1.3, 0.9, 0.6, 0.4, 0.3, 0.2, 0.15, // 16–24
}

// Chat is one chat as the tenant knows it. Chats() fills it with the state
// at the clock's now; Add and Replace take it as a fixed chat.
type Chat struct {
	ID, AliasID          string
	CreatedAt, UpdatedAt time.Time
	Status               string // queued, picked, onhold, closed (any string allowed for tests)
	Channel              string // as sent on the wire (tests may use "LiveChat")
	AssetID              string // sent as a JSON number when it is all digits and the channel is sms/facebook/twitter, else as a string
	AssetName            string

	CustomerID, DestinationID, Assignee, Flag string

	Tags []string        // nil is sent as "tag": null, empty as []
	Raw  json.RawMessage // if set, sent verbatim instead of the rendered object (fault tests)
}

// Counts is the aggregated truth at the clock's now.
type Counts struct {
	ByStatusChannel map[[2]string]int       // {status, channel lower-case}
	OldestCreated   map[[2]string]time.Time // {status, channel}: oldest created_at, for queued/picked/onhold only
	Total           int
}

// FaultKind selects what a faulty page answers.
type FaultKind int

// The fault kinds. Each reproduces one thing the spec says a client must survive.
const (
	FaultNone           FaultKind = iota
	FaultStatusCode               // envelope with Fault.StatusCode, Fault.HTTPStatus (default from the spec's table; 500 for unknown codes) and a description
	FaultHTMLGateway              // text/html gateway page with Fault.HTTPStatus (default 502), no JSON
	FaultNotJSON                  // HTTP 200, body "this is not json"
	FaultTruncated                // HTTP 200, a valid page cut in half (Content-Length matches the cut body)
	FaultOversized                // HTTP 200, a valid-looking JSON body of Fault.Size bytes (default 8 MiB), streamed without Content-Length
	FaultHang                     // never answers until the request's context is done
	FaultResetMidBody             // writes half a body then closes the connection abruptly (hijack; Content-Length of the full body)
	FaultResponseNull             // envelope 4305 with "response": null
	FaultResponseObject           // "response": {}
	FaultResponseString           // "response": "oops"
	FaultSlow                     // valid page after Fault.Delay (real time), honouring request cancellation
)

var faultNames = [...]string{"none", "status_code", "html_gateway", "not_json", "truncated", "oversized", "hang", "reset_mid_body", "response_null", "response_object", "response_string", "slow"}

func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "fault(" + strconv.Itoa(int(k)) + ")"
}

// Fault is the one active fault of a tenant.
type Fault struct {
	Kind                 FaultKind
	Pages                []int // pages the fault applies to; empty = every page
	StatusCode           int
	HTTPStatus           int
	Delay                time.Duration
	Size                 int
	ArrivalsAfterPage    int    // if > 0 (with any Kind incl. FaultNone): after serving each matching page, this many new queued chats arrive (created now), pushing older chats down
	RotateTokenAfterPage int    // if > 0: after serving this page the token is rotated to RotatedToken (then the old token answers 2003); one-shot
	RotatedToken         string // the token in force after RotateTokenAfterPage
}

func (f *Fault) matches(page int) bool {
	if len(f.Pages) == 0 {
		return true
	}
	for _, p := range f.Pages {
		if p == page {
			return true
		}
	}
	return false
}

// Tenant is a simulated imi.chat tenant. It is safe for concurrent use.
type Tenant struct {
	cfg      Config
	clock    Clock
	requests atomic.Int64
	trxSeq   atomic.Uint64

	// acct holds the token and the quota: the Tenant's own, or its Org's.
	acct *account

	mu         sync.Mutex
	recs       []*rec // sorted by (created, seq) ascending; the wire order is the reverse
	seq        uint64
	fault      Fault
	gen        generator
	arrivalsOn bool
	nextArr    int64 // created_at (ns) of the next generated arrival
	arrIndex   uint64
	faultArr   uint64 // counter for chats added by ArrivalsAfterPage

	teamNum  int64
	teamName string

	// For CountQueued: no generated chat stays queued longer than
	// maxQueueWait; fixed chats (any status) are counted by a full scan.
	maxQueueWait int64
	fixedRecs    int
}

// New builds a tenant. It panics when Token or TeamID is empty: a tenant
// without credentials would make every header test meaningless.
func New(cfg Config) *Tenant { return newWithAccount(cfg, nil) }

// newWithAccount builds a tenant on acct (the teams of an Org share one);
// nil gives it an account of its own made from cfg.
func newWithAccount(cfg Config, acct *account) *Tenant {
	if cfg.Token == "" || cfg.TeamID == "" {
		panic("simulator: Config.Token and Config.TeamID are required")
	}
	if cfg.Agents <= 0 {
		cfg.Agents = 40
	}
	if cfg.Assets <= 0 {
		cfg.Assets = 30
	}
	if cfg.Assets < len(channels) {
		cfg.Assets = len(channels) // every channel has at least one asset
	}
	if cfg.QuotaPerDay <= 0 {
		cfg.QuotaPerDay = 10000
	}
	if acct == nil {
		acct = newAccount(cfg.Token, cfg.QuotaPerDay, cfg.ResetAsDelta, false)
	}
	t := &Tenant{cfg: cfg, clock: cfg.Clock, acct: acct}
	if t.clock == nil {
		t.clock = time.Now
	}
	if t.cfg.Start.IsZero() {
		t.cfg.Start = t.clock()
	}
	t.teamNum, t.teamName = teamIdentity(cfg.TeamID)
	t.trxSeq.Store(uint64(cfg.Seed) * 0x9e3779b97f4a7c15)
	t.gen = newGenerator(cfg)
	t.recs = t.gen.history(cfg.History, t.cfg.Start.UnixNano())
	for _, r := range t.recs {
		t.seq++
		r.seq = t.seq
	}
	if cfg.ArrivalsPerDay > 0 {
		t.arrivalsOn = true
		t.nextArr = t.cfg.Start.UnixNano() + t.gen.arrivalGap()
	}
	return t
}

// teamIdentity derives the integer team_id and the team_name the wire
// carries as unknown fields: the teamid header is a string, team_id a number.
func teamIdentity(teamID string) (int64, string) {
	if n, err := strconv.ParseInt(teamID, 10, 64); err == nil && n >= 0 {
		return n, "Team " + teamID
	}
	h := fnv.New64a()
	h.Write([]byte(teamID))
	return int64(h.Sum64() % 1000000), "Team " + teamID
}

// nowLocked returns the clock's now and materialises every generated arrival
// up to it, so that everything after sees a complete population.
func (t *Tenant) nowLocked() int64 {
	now := t.clock().UnixNano()
	for t.arrivalsOn && t.nextArr <= now {
		if !t.gen.accept(t.nextArr) {
			t.nextArr += t.gen.arrivalGap()
			continue
		}
		r := t.gen.chat(arrivalKey(t.arrIndex), t.nextArr)
		t.arrIndex++
		t.insertLocked(r)
		t.nextArr += t.gen.arrivalGap()
	}
	return now
}

// insertLocked keeps recs sorted; generated arrivals come in time order, so
// the common case is an append.
func (t *Tenant) insertLocked(r *rec) {
	t.seq++
	r.seq = t.seq
	if r.gen {
		t.maxQueueWait = max(t.maxQueueWait, r.picked-r.created)
	} else {
		t.fixedRecs++
	}
	n := len(t.recs)
	if n == 0 || t.recs[n-1].created <= r.created {
		t.recs = append(t.recs, r)
		return
	}
	i := sort.Search(n, func(i int) bool { return t.recs[i].created > r.created })
	t.recs = append(t.recs, nil)
	copy(t.recs[i+1:], t.recs[i:])
	t.recs[i] = r
}

// visibleLocked is the number of chats created at or before now: the
// prefix of recs the API lists. Binary search keeps paging O(log n).
func (t *Tenant) visibleLocked(now int64) int {
	n := len(t.recs)
	if n == 0 || t.recs[n-1].created <= now {
		return n
	}
	return sort.Search(n, func(i int) bool { return t.recs[i].created > now })
}

// Requests is the number of requests served to /v3.1/chats so far (all outcomes).
func (t *Tenant) Requests() int64 { return t.requests.Load() }

// ResetRequests sets the request counter back to zero.
func (t *Tenant) ResetRequests() { t.requests.Store(0) }

// Chats returns the truth at the clock's now, newest first (visible chats only).
func (t *Tenant) Chats() []Chat {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	n := t.visibleLocked(now)
	out := make([]Chat, 0, n)
	for i := n - 1; i >= 0; i-- {
		out = append(out, t.recs[i].chat(now))
	}
	return out
}

// Counts aggregates the truth at the clock's now in one pass, no sorting.
func (t *Tenant) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	n := t.visibleLocked(now)
	return countRecs(t.recs[:n], now)
}

// countRecs aggregates recs at now.
func countRecs(recs []*rec, now int64) Counts {
	c := Counts{ByStatusChannel: map[[2]string]int{}, OldestCreated: map[[2]string]time.Time{}, Total: len(recs)}
	oldest := map[[2]string]int64{}
	for _, r := range recs {
		st, _, _ := r.state(now)
		k := [2]string{st, r.chLower}
		c.ByStatusChannel[k]++
		switch st {
		case "queued", "picked", "onhold":
			if o, ok := oldest[k]; !ok || r.created < o {
				oldest[k] = r.created
			}
		}
	}
	for k, ns := range oldest {
		c.OldestCreated[k] = time.Unix(0, ns).UTC()
	}
	return c
}

// CountsSince aggregates the truth at the clock's now over the chats
// created at or after since: what an exporter with a lookback window counts.
func (t *Tenant) CountsSince(since time.Time) Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	n := t.visibleLocked(now)
	from := sort.Search(n, func(i int) bool { return t.recs[i].created >= since.UnixNano() })
	return countRecs(t.recs[from:n], now)
}

// Listed is a chat's place in the list at the clock's now.
type Listed struct {
	ID        string
	Position  int // 0 is the newest chat: the first chat of the first page
	Status    string
	CreatedAt time.Time
}

// Listing returns the chats created at or after since, newest first, with
// their positions: what a reader that knows the truth (the quota replay's
// clairvoyant reference) needs to choose its pages.
func (t *Tenant) Listing(since time.Time) []Listed {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	n := t.visibleLocked(now)
	from := sort.Search(n, func(i int) bool { return t.recs[i].created >= since.UnixNano() })
	out := make([]Listed, 0, n-from)
	for i := n - 1; i >= from; i-- {
		st, _, _ := t.recs[i].state(now)
		out = append(out, Listed{ID: t.recs[i].id, Position: n - 1 - i, Status: st, CreatedAt: time.Unix(0, t.recs[i].created).UTC()})
	}
	return out
}

// QueueExit is a generated chat's passage through the queue: the truth
// the service-level metrics are measured against.
type QueueExit struct {
	Channel   string    // lower-case
	Created   time.Time // it entered the queue
	Left      time.Time // it was picked, or abandoned
	Abandoned bool      // closed while queued, never picked
	Closed    time.Time
}

// QueueExits returns the passages of the generated chats created in
// [from, to) and by now, oldest first, whether or not they have happened
// by now.
func (t *Tenant) QueueExits(from, to time.Time) []QueueExit {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nowLocked() // the arrivals up to now
	lo := sort.Search(len(t.recs), func(i int) bool { return t.recs[i].created >= from.UnixNano() })
	var out []QueueExit
	for _, r := range t.recs[lo:] {
		if r.created >= to.UnixNano() {
			break
		}
		if !r.gen {
			continue
		}
		out = append(out, QueueExit{Channel: r.chLower, Created: time.Unix(0, r.created).UTC(),
			Left: time.Unix(0, r.picked).UTC(), Abandoned: r.picked == r.closed, Closed: time.Unix(0, r.closed).UTC()})
	}
	return out
}

// CountQueued returns the number of queued chats at now, the figure the
// quota replay compares with what the exporter serves at every pull. Only
// the chats young enough to be still queued are looked at.
func (t *Tenant) CountQueued() int {
	n, _ := t.Queued()
	return n
}

// Queued returns the number of queued chats at now and the creation time
// of the oldest of them (zero when there is none). Only the chats young
// enough to be still queued are looked at.
func (t *Tenant) Queued() (n int, oldest time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	visible := t.visibleLocked(now)
	from := 0
	if t.fixedRecs == 0 {
		from = sort.Search(visible, func(i int) bool { return t.recs[i].created >= now-t.maxQueueWait })
	}
	for _, r := range t.recs[from:visible] {
		if st, _, _ := r.state(now); st == "queued" {
			if n == 0 {
				oldest = time.Unix(0, r.created).UTC()
			}
			n++
		}
	}
	return n, oldest
}

// Add adds fixed chats. Their Status never changes unless set via SetStatus.
// A zero CreatedAt means now; a zero UpdatedAt means CreatedAt; an empty ID
// gets a generated one. A chat created after now stays invisible until then.
func (t *Tenant) Add(chats ...Chat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	for i := range chats {
		t.insertLocked(t.fixedRec(chats[i], now))
	}
}

// Replace drops the whole population, stops generated arrivals and uses
// exactly these fixed chats, for tests with known populations.
func (t *Tenant) Replace(chats ...Chat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	t.recs = nil
	t.arrivalsOn = false
	for i := range chats {
		t.insertLocked(t.fixedRec(chats[i], now))
	}
}

func (t *Tenant) fixedRec(c Chat, now int64) *rec {
	r := &rec{
		id: c.ID, alias: c.AliasID, channel: c.Channel, chLower: strings.ToLower(c.Channel),
		assetID: c.AssetID, assetName: c.AssetName, customer: c.CustomerID, dest: c.DestinationID,
		flag: c.Flag, tags: c.Tags, status: c.Status, assignee: c.Assignee,
	}
	if c.Raw != nil {
		r.raw = append(json.RawMessage(nil), c.Raw...)
	}
	if r.id == "" {
		t.faultArr++
		r.id = fmt.Sprintf("%024x", mix(uint64(t.cfg.Seed)^0x5eed, t.faultArr))
	}
	r.created = now
	if !c.CreatedAt.IsZero() {
		r.created = c.CreatedAt.UnixNano()
	}
	r.updated = r.created
	if !c.UpdatedAt.IsZero() {
		r.updated = c.UpdatedAt.UnixNano()
	}
	// Fixed chats keep their exact times: render as many digits as needed,
	// at least the per-chat 2..7 the upstream shows.
	r.digits = int8(2 + fnvString(r.id)%6)
	r.digits = max(r.digits, neededDigits(r.created), neededDigits(r.updated))
	return r
}

// SetStatus fixes a chat's status from now on (e.g. reopens a closed chat);
// its updated_at becomes now. It reports whether the chat exists.
func (t *Tenant) SetStatus(chatID, status string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowLocked()
	for _, r := range t.recs {
		if r.id == chatID {
			_, _, assignee := r.state(now)
			if r.gen {
				t.fixedRecs++
			}
			r.gen = false
			r.status, r.assignee = status, assignee
			r.updated = max(truncDigits(now, int(r.digits)), r.created)
			return true
		}
	}
	return false
}

// Delete removes a chat. It reports whether the chat existed.
func (t *Tenant) Delete(chatID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nowLocked()
	for i, r := range t.recs {
		if r.id == chatID {
			t.recs = append(t.recs[:i], t.recs[i+1:]...)
			return true
		}
	}
	return false
}

// SetToken rotates the token: the old one answers 2003 (or 2004 if it had expired).
// On a team of an Org it rotates the Org's one token, for every team.
func (t *Tenant) SetToken(tok string) { t.acct.setToken(tok) }

// ExpireToken makes the current token answer 2004 until SetToken.
// On a team of an Org it expires the Org's one token, for every team.
func (t *Tenant) ExpireToken() { t.acct.expire() }

// SetFault installs f as the one active fault, replacing any previous one.
func (t *Tenant) SetFault(f Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f.Pages = append([]int(nil), f.Pages...)
	t.fault = f
}

// ClearFault removes the active fault.
func (t *Tenant) ClearFault() { t.SetFault(Fault{}) }

// mix is splitmix64 over two words: cheap, well-distributed ids and seeds.
func mix(a, b uint64) uint64 {
	z := a + b*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func fnvString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// neededDigits is the number of fractional digits that render ns exactly.
func neededDigits(ns int64) int8 {
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
	}
	if frac == 0 {
		return 0
	}
	d := int8(9)
	for frac%10 == 0 {
		frac /= 10
		d--
	}
	return d
}

// truncDigits drops the sub-second digits a timestamp will not show, so the
// rendered time and the truth (Chats) are the same instant.
func truncDigits(ns int64, d int) int64 {
	if d >= 9 || ns == math.MaxInt64 {
		return ns
	}
	p := int64(math.Pow10(9 - d))
	return ns - ((ns%p)+p)%p
}
