package simulator

import (
	"net/http"
	"sync/atomic"
	"time"
)

// OrgConfig describes a simulated tenant with several teams. Token is required.
type OrgConfig struct {
	Token        string // access_token of the whole tenant, every team (required)
	QuotaPerDay  int    // the tenant's one rate-limit quota, shared by every team's requests; default 10000, reset at 00:00:00 UTC of the clock
	ResetAsDelta bool   // Rate-Limit-Reset as seconds-until-reset instead of epoch seconds
	Clock        Clock  // the one clock of every team; nil = time.Now. Must not call back into the Org
	// Teams are the teams, one Config each (TeamID required and unique;
	// Seed, History, ArrivalsPerDay, Profile, Start, Latency, ... as for
	// New). Their Token, QuotaPerDay, ResetAsDelta and Clock are ignored:
	// the Org's are used.
	Teams []Config
}

// Org is a simulated imi.chat tenant with several teams, as the real API has
// them: one URL, one access token, one daily rate-limit quota that every
// team's requests count against (the rate-limit headers of every team's
// responses show the tenant-wide remaining count), and each team its own
// chats, listed by GET /v3.1/chats for the team the teamid header names.
//
// Each team is a Tenant (Team) that holds its own population, truth, faults,
// latency, trxid sequence and request counter, and shares the Org's token,
// quota and clock. An Org is an http.Handler, so Listen and NewTransport
// serve it as they serve a Tenant. It is safe for concurrent use.
type Org struct {
	acct     *account
	clock    Clock
	teams    map[string]*Tenant
	ids      []string
	requests atomic.Int64
	trxSeq   atomic.Uint64
}

var _ http.Handler = (*Org)(nil)

// NewOrg builds an Org. It panics when Token is empty or a team's TeamID is
// empty or repeated. An Org without teams answers every request as the API
// answers an unknown team.
func NewOrg(cfg OrgConfig) *Org {
	if cfg.Token == "" {
		panic("simulator: OrgConfig.Token is required")
	}
	if cfg.QuotaPerDay <= 0 {
		cfg.QuotaPerDay = 10000
	}
	o := &Org{
		acct:  newAccount(cfg.Token, cfg.QuotaPerDay, cfg.ResetAsDelta, true),
		clock: cfg.Clock,
		teams: make(map[string]*Tenant, len(cfg.Teams)),
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	seq := uint64(0x4f7267) // "Org": the org's own trxids, reproducible from the teams' seeds
	for _, tc := range cfg.Teams {
		if tc.TeamID == "" {
			panic("simulator: every OrgConfig.Teams entry needs a TeamID")
		}
		if o.teams[tc.TeamID] != nil {
			panic("simulator: OrgConfig.Teams repeats TeamID " + tc.TeamID)
		}
		tc.Token, tc.QuotaPerDay, tc.ResetAsDelta, tc.Clock = cfg.Token, cfg.QuotaPerDay, cfg.ResetAsDelta, o.clock
		o.teams[tc.TeamID] = newWithAccount(tc, o.acct)
		o.ids = append(o.ids, tc.TeamID)
		seq = mix(seq, uint64(tc.Seed))
	}
	o.trxSeq.Store(seq)
	return o
}

// Team returns the team's simulated tenant, for its truth (Counts,
// CountsSince, Queued, Listing, ...) and to act on it (Add, SetStatus,
// SetFault, ...); nil for an unknown id. Its SetToken and ExpireToken act on
// the Org's one token, as does a Fault's RotateTokenAfterPage; its Requests
// counts the requests routed to that team only.
func (o *Org) Team(id string) *Tenant { return o.teams[id] }

// TeamIDs returns the team ids in the order of OrgConfig.Teams.
func (o *Org) TeamIDs() []string { return append([]string(nil), o.ids...) }

// Requests is the number of requests served to /v3.1/chats so far, all
// teams and all outcomes, including those naming no known team.
func (o *Org) Requests() int64 { return o.requests.Load() }

// ResetRequests sets the Org's request counter and every team's back to zero.
func (o *Org) ResetRequests() {
	o.requests.Store(0)
	for _, t := range o.teams {
		t.ResetRequests()
	}
}

// QuotaRemaining is the number of requests the shared quota still allows
// today at the clock's now: the Rate-Limit-Remaining of the last response,
// unless the day has turned since. It spends nothing.
func (o *Org) QuotaRemaining() int {
	return o.acct.consume(o.clock().UnixNano(), false).remaining
}

// SetToken rotates the token of every team: the old one answers 2003 (or
// 2004 if it had expired).
func (o *Org) SetToken(tok string) { o.acct.setToken(tok) }

// ExpireToken makes the current token answer 2004 on every team until SetToken.
func (o *Org) ExpireToken() { o.acct.expire() }

// ServeHTTP routes a request to the team its teamid header names; that
// team answers it as a Tenant does (against the shared token and quota).
// A request with a missing or unknown teamid is answered by the Org exactly
// as a Tenant answers one for a wrong team, with the same checks in the same
// order: it spends one request of the shared quota (the exhausted-quota
// answer once it is used up), then 2099 for a method other than GET, 2002
// for a missing header, 2004/2003 for an expired/invalid token, and 2010.
// Such answers carry no team's Latency. Paths other than /v3.1/chats get a
// 404 with the rate-limit headers and spend nothing, as on a Tenant.
func (o *Org) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != ChatsPath {
		rs := o.acct.consume(o.clock().UnixNano(), false)
		setRate(w.Header(), rs, o.trxid())
		http.NotFound(w, r)
		return
	}
	o.requests.Add(1)
	if t := o.teams[header(r.Header, "Teamid")]; t != nil {
		t.ServeHTTP(w, r)
		return
	}
	rs := o.acct.consume(o.clock().UnixNano(), true)
	setRate(w.Header(), rs, o.trxid())
	if rs.exhausted {
		writeExhausted(w, rs)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeCode(w, 2099, "")
		return
	}
	code, desc := o.acct.check(r.Header, "") // "" matches no team: 2010 once the token passes
	writeCode(w, code, desc)
}

func (o *Org) trxid() string { return trxidAt(o.trxSeq.Add(1)) }
