package refresh

import (
	"math"
	"time"
)

// hazard estimates how likely a chat is to leave its status within a given
// time, from the transitions the exporter has seen: a piecewise-constant
// hazard over the time spent in the status, on a doubling grid (the
// life-table estimate: events ÷ exposure in each interval). Observations
// decay with a half-life, so the estimate follows the time of day.
//
// A queued chat that has waited 30 s is far likelier to be picked in the
// next minute than one that has waited two hours; this is what lets the
// scheduler re-read the page of the young queued chat first.
type hazard struct {
	events, exposure [len(hazardEdges)]float64
	decayedAt        time.Time
	halfLife         time.Duration
	// cum[i] is the cumulative hazard at hazardEdges[i], kept up to date
	// by refreshCum.
	cum [len(hazardEdges)]float64
	// parent, when set, is the prior: its rates, worth parentExposure
	// seconds of exposure in every interval. A channel's queue table
	// starts as the pooled one and becomes its own as it sees its chats.
	parent *hazard
}

func newHazard(halfLife time.Duration) *hazard {
	h := &hazard{halfLife: halfLife}
	h.refreshCum()
	return h
}

// interval returns the index of the interval holding t seconds.
func interval(t float64) int {
	i := len(hazardEdges) - 1
	for i > 0 && t < hazardEdges[i] {
		i--
	}
	return i
}

// decay ages the observations to now.
func (h *hazard) decay(now time.Time) {
	if !h.decayedAt.IsZero() && now.After(h.decayedAt) {
		f := math.Exp2(-now.Sub(h.decayedAt).Seconds() / h.halfLife.Seconds())
		for i := range h.events {
			h.events[i] *= f
			h.exposure[i] *= f
		}
	}
	if now.After(h.decayedAt) {
		h.decayedAt = now
	}
}

// observe records that a chat was in the status from from to to seconds
// after entering it, and left it at to when left.
func (h *hazard) observe(from, to float64, left bool) {
	from, to = max(from, 0), max(to, 0)
	if to < from {
		return
	}
	for i := interval(from); i <= interval(to); i++ {
		lo, hi := hazardEdges[i], math.Inf(1)
		if i+1 < len(hazardEdges) {
			hi = hazardEdges[i+1]
		}
		h.exposure[i] += max(min(hi, to)-max(lo, from), 0)
	}
	if left {
		h.events[interval(to)]++
	}
}

// rate is the estimated hazard of interval i, per second.
func (h *hazard) rate(i int) float64 {
	if h.parent != nil {
		return (h.events[i] + parentExposure*h.parent.rate(i)) / (h.exposure[i] + parentExposure)
	}
	return (h.events[i] + priorEvents) / (h.exposure[i] + priorExposure)
}

// refreshCum recomputes the cumulative hazard at the edges.
func (h *hazard) refreshCum() {
	for i := 1; i < len(hazardEdges); i++ {
		h.cum[i] = h.cum[i-1] + h.rate(i-1)*(hazardEdges[i]-hazardEdges[i-1])
	}
}

// cumulative is the cumulative hazard at t seconds in status.
func (h *hazard) cumulative(t float64) float64 {
	if t <= 0 {
		return 0
	}
	i := interval(t)
	return h.cum[i] + h.rate(i)*(t-hazardEdges[i])
}

// leaveProbability is the probability that a chat still in the status
// after from seconds has left it by to seconds.
func (h *hazard) leaveProbability(from, to float64) float64 {
	if to <= from {
		return 0
	}
	return -math.Expm1(-(h.cumulative(to) - h.cumulative(from)))
}

// evidence is the (decayed) number of exits observed.
func (h *hazard) evidence() float64 {
	n := 0.0
	for _, e := range h.events {
		n += e
	}
	return n
}

// survival is the probability of staying in the status for t seconds.
func (h *hazard) survival(t float64) float64 { return math.Exp(-h.cumulative(t)) }
