// Package centre is an independent model of a contact centre's day: the
// yardstick the exporter's queued numbers are judged by (issue 16, the
// scenarios of the quota replay).
//
// It shares nothing with the project's simulator but the wire format: its
// own arrivals (an hourly profile and a Poisson process, plus campaigns),
// per-channel handling times, agents on shifts with a concurrency limit who
// pick the longest-waiting queued chat they are skilled for, holds,
// customers who give up waiting (abandon: the chat is closed), closed chats
// that the customer reopens (the chat goes back to queued, keeping its
// created_at and so its place in the list), and scenario events: a stall
// (no agent picks for a while) and campaigns.
//
// New simulates the whole span at once, as a discrete-event simulation:
// nothing the exporter does changes the centre, so every chat's history is
// known in advance and the state at any instant is a lookup. What the
// exporter reads is served by a Server, an http.Handler answering
// GET /v3.1/chats as the API does (10 chats a page, newest first, the
// status_code envelope, rate-limit headers and a daily quota) at the time
// of its clock; the truth comes from a Cursor (the queued count and the
// oldest queued chat of each channel at increasing instants) and from
// Window (what a reader of the whole window would see). Everything is
// deterministic for a seed.
package centre

import (
	"time"
)

// Statuses of a chat, as the wire spells them.
const (
	Queued = "queued"
	Picked = "picked"
	OnHold = "onhold"
	Closed = "closed"
)

var statusNames = [...]string{Queued, Picked, OnHold, Closed}

const (
	stQueued uint8 = iota
	stPicked
	stOnHold
	stClosed
)

// Channel is how chats arrive on one channel and how they are handled.
type Channel struct {
	Name  string  // as on the wire, lower case (whatsapp, livechat, email, ...)
	Share float64 // relative share of the arrivals
	// Handle is the mean time an agent works on a chat once picked, holds
	// excluded (log-normal).
	Handle time.Duration
	// Patience is the mean time a queued customer waits before giving up
	// (exponential); the chat is then closed unanswered. 0: never.
	Patience time.Duration
	// HoldShare of the picked chats are put on hold once, for Hold on
	// average (exponential); a held chat keeps its agent and its slot.
	HoldShare float64
	Hold      time.Duration
	// Reopen is the share of the chats an agent closed that the customer
	// reopens, ReopenAfter on average (exponential) after the close: the
	// chat is queued again, with its created_at. Once per chat.
	Reopen      float64
	ReopenAfter time.Duration
}

// Shift is a number of agents working from From to To every day, as times
// of day (UTC), 0 ≤ From < To ≤ 24h. Each shift has agents of its own.
type Shift struct {
	From, To time.Duration
	Agents   int
}

// Team is a group of agents with the same skills.
type Team struct {
	Name string
	// Channels the team's agents pick from; nil: every channel.
	Channels []string
	// Concurrency is how many chats an agent holds at once, picked or on
	// hold (default 1). An agent picks while on shift and below it, and
	// finishes the chats it holds after its shift ends.
	Concurrency int
	Shifts      []Shift
}

// Window is a span of time.
type Window struct{ From, To time.Time }

// Campaign adds Chats arrivals spread uniformly over [At, At+For).
type Campaign struct {
	At      time.Time
	For     time.Duration
	Chats   int
	Channel string // "": the channels' usual mix
}

// Config describes a centre. Channels and Teams are required.
type Config struct {
	Seed int64
	// Start is the first simulated instant, best a midnight (UTC): the
	// profile and the shifts go by the time of day.
	Start time.Time
	Days  int // simulated days from Start (default 3)
	// ArrivalsPerDay is the mean number of chats a day (campaigns apart),
	// shaped over the day by Profile: 24 relative hourly rates whose mean
	// the rate keeps; nil: flat.
	ArrivalsPerDay float64
	Profile        []float64
	Channels       []Channel
	Teams          []Team
	// History is a number of closed chats created in the week before Start:
	// the old part of the list a cold start reads through.
	History int
	// Stalls are spans in which no agent picks a chat.
	Stalls    []Window
	Campaigns []Campaign
}

// OfficeHours is a contact centre's arrival profile (UTC): a quiet night,
// a morning ramp, a lunch peak and a quieter evening.
var OfficeHours = []float64{
	0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.8, // 00–08
	1.5, 1.8, 1.9, 2.0, 2.6, 2.4, 1.9, 1.8, // 08–16
	1.6, 1.3, 0.9, 0.6, 0.4, 0.3, 0.2, 0.15, // 16–24
}

// Stats are the centre's totals over the simulated span, history apart.
type Stats struct {
	Arrived   int // chats created (campaigns included)
	Picked    int // picks by an agent (a reopened chat may be picked twice)
	Abandoned int // queued chats closed because the customer gave up
	Handled   int // chats closed by an agent
	Reopened  int // closed chats queued again
	Holds     int
}
