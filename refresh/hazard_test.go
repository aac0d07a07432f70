package refresh

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// The life table's unit tests. Its prior alone is a constant hazard of
// priorEvents ÷ priorExposure (1/600 per second); everything else is
// compared with the distribution the observations were drawn from.

// TestHazardInterval: interval i holds [hazardEdges[i], hazardEdges[i+1]);
// the last one is open-ended, and a negative time is in the first.
func TestHazardInterval(t *testing.T) {
	last := len(hazardEdges) - 1
	for _, tc := range []struct {
		t    float64
		want int
	}{
		{-5, 0}, {0, 0}, {14.999, 0}, {15, 1}, {29.9, 1}, {30, 2}, {119.9, 3}, {120, 4},
		{hazardEdges[last] - 1, last - 1}, {hazardEdges[last], last}, {1e9, last},
	} {
		if got := interval(tc.t); got != tc.want {
			t.Errorf("interval(%g) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// TestHazardPriorOnly: a table that has seen nothing has the prior's
// constant hazard, r = priorEvents/priorExposure: H(t) = r t, S(t) =
// e^(−r t), and a chat still in the status at a leaves it by b with
// probability 1 − e^(−r (b − a)).
func TestHazardPriorOnly(t *testing.T) {
	h := newHazard(time.Hour)
	r := priorEvents / priorExposure
	for _, tc := range []struct{ from, to float64 }{
		{0, 10}, {0, 15}, {10, 100}, {100, 5000}, {3000, 200000}, {60, 60}, {60, 30},
	} {
		name := fmt.Sprintf("%g→%g", tc.from, tc.to)
		if got, want := h.cumulative(tc.to), r*tc.to; !relClose(got, want, 1e-12) {
			t.Errorf("%s: H(%g) = %.12g, want %.12g", name, tc.to, got, want)
		}
		if got, want := h.survival(tc.to), math.Exp(-r*tc.to); !relClose(got, want, 1e-12) {
			t.Errorf("%s: S(%g) = %.12g, want %.12g", name, tc.to, got, want)
		}
		want := 0.0
		if tc.to > tc.from {
			want = -math.Expm1(-r * (tc.to - tc.from))
		}
		if got := h.leaveProbability(tc.from, tc.to); !relClose(got, want, 1e-12) {
			t.Errorf("%s: leave probability %.12g, want %.12g", name, got, want)
		}
	}
	if got := h.cumulative(-3); got != 0 {
		t.Errorf("H(−3) = %g, want 0", got)
	}
}

// waitDistribution is a distribution of the time in status by its
// piecewise-constant hazard: rates[k] from starts[k] on.
type waitDistribution struct {
	starts, rates []float64
}

// H is the exact cumulative hazard at t.
func (d waitDistribution) H(t float64) float64 {
	sum := 0.0
	for k, s := range d.starts {
		end := math.Inf(1)
		if k+1 < len(d.starts) {
			end = d.starts[k+1]
		}
		if t > s {
			sum += d.rates[k] * (min(t, end) - s)
		}
	}
	return sum
}

// quantile is the time by which a part u of the chats has left.
func (d waitDistribution) quantile(u float64) float64 {
	y := -math.Log1p(-u) // H at the quantile
	for k := len(d.starts) - 1; k >= 0; k-- {
		if hk := d.H(d.starts[k]); y >= hk {
			return d.starts[k] + (y-hk)/d.rates[k]
		}
	}
	return 0
}

// rateAt is the hazard at t.
func (d waitDistribution) rateAt(t float64) float64 {
	r := d.rates[0]
	for k, s := range d.starts {
		if t >= s {
			r = d.rates[k]
		}
	}
	return r
}

// survivalIntegral is ∫ S over [a, b], exactly, S being exponential
// between the distribution's breaks.
func (d waitDistribution) survivalIntegral(a, b float64) float64 {
	cuts := []float64{a}
	for _, s := range d.starts {
		if s > a && s < b {
			cuts = append(cuts, s)
		}
	}
	cuts = append(cuts, b)
	sum := 0.0
	for k := 0; k+1 < len(cuts); k++ {
		lo, hi := cuts[k], cuts[k+1]
		r := d.rateAt(lo)
		sum += math.Exp(-d.H(lo)) * -math.Expm1(-r*(hi-lo)) / r
	}
	return sum
}

// TestHazardLifeTable feeds the table what reads every 20 s would show of
// n chats whose times in status follow a known distribution (a
// deterministic sample: its quantiles), optionally censored (the reads
// stop) at a time, and compares the cumulative hazard it estimates with
// the exact one.
//
// The life table estimates, in each interval, the occurrence ÷ exposure
// rate r_i = (S(lo) − S(hi)) ÷ ∫ S over the interval (censored at the
// reads' end): the distribution's hazard when it is constant within the
// interval (then H is the distribution's, checked too), its
// exposure-weighted mean when it is not (a break between edges). The
// expected H(t) is the sum of r_i over the intervals below t.
//
// The tolerance is derived, interval by interval: the estimate is
// (e_i + priorEvents)/(E_i + priorExposure), where a sample of quantiles
// holds the expected events e_i = n (S(lo) − S(hi)) to within one and the
// expected exposure E_i = n ∫ S to within one interval width w_i; so it is
// off r_i by at most (1 + priorEvents + r_i (priorExposure + w_i)) / E_i,
// times the part of the interval below t.
func TestHazardLifeTable(t *testing.T) {
	const n = 20000
	for _, tc := range []struct {
		name   string
		d      waitDistribution
		censor float64 // +Inf: every chat is seen to leave
		onGrid bool    // the hazard constant within each interval
		at     []float64
	}{
		{"exponential, mean 2 min", waitDistribution{[]float64{0}, []float64{1.0 / 120}}, math.Inf(1), true,
			[]float64{10, 30, 60, 120, 300, 600}},
		{"two-phase: mean 30 s, after 2 min mean 10 min", waitDistribution{[]float64{0, 120}, []float64{1.0 / 30, 1.0 / 600}}, math.Inf(1), true,
			[]float64{10, 60, 120, 200, 480, 900}},
		{"two-phase off the grid: after 100 s", waitDistribution{[]float64{0, 100}, []float64{1.0 / 30, 1.0 / 600}}, math.Inf(1), false,
			[]float64{10, 60, 90, 120, 480, 900}},
		{"exponential censored at 5 min", waitDistribution{[]float64{0}, []float64{1.0 / 120}}, 300, true,
			[]float64{30, 120, 240}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHazard(time.Hour)
			for j := range n {
				wait := tc.d.quantile((float64(j) + 0.5) / n)
				end := min(wait, tc.censor)
				for from := 0.0; ; from += 20 {
					if end <= from+20 {
						h.observe(from, end, wait <= tc.censor)
						break
					}
					h.observe(from, from+20, false)
				}
			}
			h.refreshCum()
			for _, at := range tc.at {
				want, tol := 0.0, 0.0
				for i := range hazardEdges {
					lo, hi := hazardEdges[i], math.Inf(1)
					if i+1 < len(hazardEdges) {
						hi = hazardEdges[i+1]
					}
					if lo >= at {
						break
					}
					top := min(hi, tc.censor, lo+100*3600) // the far tail holds nothing
					exposure := tc.d.survivalIntegral(lo, top)
					r := (math.Exp(-tc.d.H(lo)) - math.Exp(-tc.d.H(top))) / exposure
					part := min(hi, at) - lo
					want += r * part
					tol += part * (1 + priorEvents + r*(priorExposure+(top-lo))) / (n * exposure)
				}
				if exact := tc.d.H(at); tc.onGrid && !relClose(want, exact, 1e-9) {
					t.Fatalf("H(%g): the life table's expectation %.9f is not the distribution's %.9f", at, want, exact)
				}
				if got := h.cumulative(at); math.Abs(got-want) > tol {
					t.Errorf("H(%g) = %.5f, want %.5f ± %.5f", at, got, want, tol)
				}
			}
			if !math.IsInf(tc.censor, 1) {
				// Past the censoring, nothing seen: the prior's rate.
				i := interval(tc.censor) + 1
				r := priorEvents / priorExposure
				if got := h.rate(i); !relClose(got, r, 1e-12) {
					t.Errorf("rate of unobserved interval %d: %g, want the prior's %g", i, got, r)
				}
			}
		})
	}
}

// TestHazardDecay: observations decay with the half-life: after a time d
// the events and the exposure are multiplied by 2^(−d/halfLife), so the
// estimate moves back towards the prior, and a time before the last decay
// changes nothing.
func TestHazardDecay(t *testing.T) {
	const halfLife = 6 * time.Hour
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		elapsed time.Duration
		f       float64 // what remains of the observations
	}{
		{"no time", 0, 1},
		{"one half-life", halfLife, 0.5},
		{"three half-lives", 3 * halfLife, 0.125},
		{"ten minutes", 10 * time.Minute, math.Exp2(-10.0 / 360)},
		{"back in time: nothing", -time.Hour, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHazard(halfLife)
			h.decay(t0)
			for range 40 { // 40 exits at 60 s, 10 still in at 200 s
				h.observe(0, 60, true)
			}
			for range 10 {
				h.observe(0, 200, false)
			}
			events, exposure := h.events, h.exposure
			h.decay(t0.Add(tc.elapsed))
			// Again at the later of the two times: nothing more to decay.
			h.decay(t0.Add(max(tc.elapsed, 0)))
			if got, want := h.evidence(), 40*tc.f; !relClose(got, want, 1e-12) {
				t.Errorf("evidence %.9g, want %.9g", got, want)
			}
			for i := range hazardEdges {
				want := (events[i]*tc.f + priorEvents) / (exposure[i]*tc.f + priorExposure)
				if got := h.rate(i); !relClose(got, want, 1e-12) {
					t.Errorf("rate %d: %.9g, want %.9g", i, got, want)
				}
			}
		})
	}
}

// TestHazardParentPrior: a channel's table has its parent's rates, worth
// parentExposure seconds of exposure in each interval, as its prior: with
// no data of its own it is its parent; with as much exposure as the prior
// it is halfway; with much data it is its own, to within
// parentExposure × |parent − own| ÷ (E + parentExposure).
func TestHazardParentPrior(t *testing.T) {
	const parentRate, ownRate = 1.0 / 60, 1.0 / 600
	parent := newHazard(time.Hour)
	for i := range hazardEdges {
		parent.exposure[i] = 1e6
		parent.events[i] = 1e6 * parentRate
	}
	parent.refreshCum()
	pr := parent.rate(0) // 1/60 but for the parent's own prior
	for _, tc := range []struct {
		name     string
		exposure float64 // the child's own, in every interval
		want     float64 // its rate
		tol      float64 // relative
	}{
		{"no data: its parent", 0, pr, 1e-15},
		{"as much as the prior: halfway", parentExposure, (ownRate + pr) / 2, 1e-12},
		{"much data: its own", 1e7, ownRate, parentExposure * (pr - ownRate) / (1e7 + parentExposure) / ownRate * (1 + 1e-9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := newHazard(time.Hour)
			child.parent = parent
			for i := range hazardEdges {
				child.exposure[i] = tc.exposure
				child.events[i] = tc.exposure * ownRate
			}
			child.refreshCum()
			for i := range hazardEdges {
				if got := child.rate(i); !relClose(got, tc.want, tc.tol) {
					t.Errorf("rate %d: %.9g, want %.9g", i, got, tc.want)
				}
			}
			for _, at := range []float64{10, 100, 1000, 200000} {
				if got, want := child.cumulative(at), tc.want*at; !relClose(got, want, tc.tol+1e-12) {
					t.Errorf("H(%g) = %.9g, want %.9g", at, got, want)
				}
			}
		})
	}
}

// TestHazardLearnsQueueWaits feeds the estimator what reads would show of
// chats whose queue waits are exponential with a two-minute mean, read
// every 20 s: the survival it estimates is that of the waits.
func TestHazardLearnsQueueWaits(t *testing.T) {
	h := newHazard(time.Hour)
	const mean = 120.0
	for i := range 5000 {
		// A deterministic sample of the distribution: quantiles.
		wait := -mean * math.Log(1-(float64(i)+0.5)/5000)
		for from := 0.0; ; from += 20 {
			if wait <= from+20 {
				h.observe(from, wait, true)
				break
			}
			h.observe(from, from+20, false)
		}
	}
	h.refreshCum()
	for _, at := range []float64{30, 120, 300} {
		want := math.Exp(-at / mean)
		if got := h.survival(at); math.Abs(got-want) > 0.03 {
			t.Errorf("survival at %.0f s: %.3f, want %.3f", at, got, want)
		}
	}
}
