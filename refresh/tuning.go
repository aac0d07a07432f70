package refresh

import "time"

// The engine's tuning constants, in one place. Each says why it has its
// value: a measurement on the quota replay (make replay), or a guess and
// the range over which the replay was found insensitive to it.

// Spending the quota (pacer.go).
const (
	// coldStartShare is the part of a day's share that a cold start may
	// spend at once to cover the window; the pace after it is slower by as
	// much until it leaves the 24-hour window. 0.3 × 5,000 covers a window
	// of 15,000 chats in the first refresh (3,000 chats a day with their
	// long waiters) and leaves 70 % of the day for keeping it right.
	coldStartShare = 0.3
	// deepenShare is the part of the pace that deepens an incomplete
	// window once the cold start's grant is spent. The rest keeps the
	// numbers people are paged on right. A guess, not measured on the
	// replay: at a share of 5,000 a day it is 52 pages an hour.
	deepenShare = 0.25
	// sweepMaxShare bounds the rolling re-read's part of the pace: it
	// catches what no other part sees (a reopened or deleted chat), which
	// is rare. A guess, not measured: a tenth, for events that rare.
	sweepMaxShare = 0.1
	// capacityWindow is how much of its pace a bucket saves up: enough to
	// wait for a page worth reading, not enough to spend an hour in a
	// burst. A guess, not measured: a quarter of that hour.
	capacityWindow = 15 * time.Minute
	// minCapacity is the smallest shared bucket: a head read and a few
	// open pages, whatever the pace. A guess, not measured: one head page
	// and three open ones; it binds only below 16 requests an hour of
	// shared pace (15 minutes of it under 4).
	minCapacity = 4
	// floorShare is the part of the tenant's pace split evenly among its
	// teams whatever they need: a quiet team is still read, and its first
	// chats are seen. Measured on six idle teams beside a busy one
	// (TestIdleTeamsDoNotStarveABusyOne): the busy team's error 1.26
	// against 0.96 alone.
	floorShare = 0.2
)

// Retries and ages (engine.go).
const (
	// maxBackoff bounds the wait between retries after failed refreshes:
	// a rotated token is picked up within it. A guess, not measured: the
	// scale of a scrape interval, so an outage costs a scrape or two.
	maxBackoff = time.Minute
	// maxAge: served numbers older than this are refreshed whatever the
	// pages are expected to be worth, on the team's own part of the quota:
	// it bounds how late an expired token is noticed on a quiet tenant. A
	// guess, not measured: twice maxBackoff.
	maxAge = 2 * time.Minute
)

// The price of a page (pacer.go), in chat-seconds: the expected error of the
// served numbers (a queued chat counts 1) accumulated since the page was
// last read.
const (
	// minPrice is all but zero: a tenant whose quota affords every page
	// gets every page that may have changed. The price starts there: the
	// pacer bounds what is spent, and the price rises as soon as the
	// bucket runs low.
	minPrice = 1e-9
	// maxPrice only keeps the price finite. A guess: 10⁷ chat-seconds is
	// a page of ten queued chats all wrong for eleven and a half days, far
	// above what a page comes to be worth between two reads; the bound is
	// not meant to decide a read.
	maxPrice = 1e7
	// priceGain is how fast the price follows the bucket's level, per
	// minute: a full bucket divides it by e^0.15 a minute
	// (TestPacerPrice). A guess, not measured: a full or an empty bucket
	// moves the price by a factor of about ten (e^2.25) in 15 minutes, a
	// bucket's capacityWindow.
	priceGain = 0.3
)

// The worth of a read (worth.go): the queued count is what people are paged
// on.
const (
	// weightQueued is the unit of the worth: a queued chat counted wrongly
	// for a second is one chat-second.
	weightQueued = 1.0
	// weightOther weighs a change of any other status: it moves the
	// agents' and assets' gauges, which nobody is paged on. A guess, not
	// measured: a hundredth, so that a hundred such changes weigh as much
	// as one queued chat and never outbid it alone.
	weightOther = 0.01
	// headWeight discounts the head: an error there is corrected by the
	// next head read anyway, while one further down lasts until its page
	// is chosen. Measured on the quota replay: 1 gave a mean error of 1.30
	// at 3,000 chats a day, 0.5 gave 1.25, 2 gave 1.36.
	headWeight = 0.5
	// weightOldest is added for the oldest queued chat of a channel: a
	// phantom there holds a "queued too long" alert up. A guess, not
	// measured: it counts twice.
	weightOldest = 1.0
)

// What the engine learns (model.go, hazard.go, nowcast.go).
const (
	// hazardHalfLife is how fast the life tables forget: the time of day
	// changes how long chats wait. A guess, not measured: a quarter of a
	// day; a tenant of 3,000 chats a day keeps the weight of about 1,100
	// exits in its tables (125 an hour × 6 h ÷ ln 2).
	hazardHalfLife = 6 * time.Hour
	// arrivalHalfLife is how fast the arrival rate forgets: it follows an
	// office day's ramp within the hour. A guess, not measured.
	arrivalHalfLife = time.Hour
	// areaSteps is the resolution of the integrals of the worth of a read
	// (midpoint rule). Computed for a constant hazard against the exact
	// integral: 6 midpoints are within 0.2 % of it over a span of one mean
	// time in status, 1.2 % over ten, 2 % over thirty
	// (TestModelChangedArea checks the rule's bound); not measured on the
	// replay.
	areaSteps = 6
	// priorEvents and priorExposure are the life table's prior: as if
	// half an exit had been seen in five minutes of exposure in every
	// interval, so that an interval never observed is neither certain nor
	// impossible. A guess, not measured: a hazard of 1/600 s (a ten-minute
	// mean) where nothing was seen, weighing as much as five minutes of
	// exposure seen.
	priorEvents   = 0.5
	priorExposure = 300
	// parentExposure is the weight of the pooled queue table in a
	// channel's own, in seconds of exposure per interval: a channel's
	// table is its own once it has seen a few of its chats wait. A guess,
	// not measured: ten minutes of a channel's own exposure in an interval
	// weigh as much as the pooled rate (TestHazardParentPrior).
	parentExposure = 600
	// paceHalfLife is how fast the comparison of the queue exits seen with
	// those expected forgets: a queue that stops moving shows within
	// minutes. A guess, not measured.
	paceHalfLife = 10 * time.Minute
	// pacePrior is the comparison's prior, in expected exits: as if that
	// many had been expected and seen. Measured: at 10,000 chats a day
	// (make replay) 2 gave a mean error of 5.27, 10 gave 4.94, the noise of
	// a small count pushing the count up more than down; the scenarios
	// hardly moved (the stall 0.47 and 0.52, the night 3.51 and 2.50).
	pacePrior = 10.0
	// minQueueExits is how many queue exits the exporter must have seen
	// before it estimates the queued count: until then its life table is
	// mostly its prior, and the raw count is served. A guess, not
	// measured.
	minQueueExits = 20
)

// What the service level counts (service.go).
const (
	// servicePruneStep is how far the lookback moves before the service
	// log forgets what fell out of it: a walk of every chat it remembers,
	// not worth doing at each of a refresh's prunes. Any step well under
	// the lookback does; a minute is a guess.
	servicePruneStep = time.Minute
	// pickSteps is the grid datePick weighs the moments of a pick on. The
	// tables are piecewise constant on a doubling grid, so 32 steps resolve
	// a gap of minutes to seconds; the replay's service lines are the
	// measure (TestDatePickFollowsTheLifeTables checks the placement).
	pickSteps = 32
)

// hazardEdges are the lower edges of the life table's intervals, in seconds
// in status: doubling, so that a queue of seconds and one of hours are both
// resolved.
var hazardEdges = [...]float64{0, 15, 30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 61440, 122880}
