package refresh

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/imichat-exporter/imichat_exporter/collector"
	"github.com/imichat-exporter/imichat_exporter/simulator"
)

// serviceHour is one hour's service level: what the simulator did, or what
// the exported series say (their increase over the hour, as PromQL's
// increase() computes it between two scrapes).
type serviceHour struct {
	arrivals  float64
	answered  float64 // picked chats
	within60  float64 // of those, picked within 60 s
	waitSum   float64 // their queue waits, seconds
	abandoned float64
}

// servedHours is the increase of the served series over each hour between
// consecutive samples (every channel summed).
func servedHours(samples []*collector.ServiceLevel) []serviceHour {
	total := func(s *collector.ServiceLevel) serviceHour {
		var h serviceHour
		if s == nil {
			return h
		}
		for _, n := range s.Created {
			h.arrivals += float64(n)
		}
		for k, n := range s.LeftQueue {
			if k.Outcome == collector.OutcomeClosed {
				h.abandoned += float64(n)
			}
		}
		for _, w := range s.QueueWait {
			h.answered += float64(w.Count)
			h.waitSum += w.Sum
			h.within60 += float64(w.Cumulative()[60])
		}
		return h
	}
	var out []serviceHour
	for i := 1; i < len(samples); i++ {
		a, b := total(samples[i-1]), total(samples[i])
		out = append(out, serviceHour{arrivals: b.arrivals - a.arrivals, answered: b.answered - a.answered,
			within60: b.within60 - a.within60, waitSum: b.waitSum - a.waitSum, abandoned: b.abandoned - a.abandoned})
	}
	return out
}

// trueHours is the simulator's service level over each of the n hours
// from start: arrivals by creation, answers and abandonments by when they
// left the queue.
func trueHours(exits []simulator.QueueExit, start time.Time, n int) []serviceHour {
	out := make([]serviceHour, n)
	hourOf := func(t time.Time) int {
		if t.Before(start) {
			return -1
		}
		return int(t.Sub(start) / time.Hour)
	}
	for _, x := range exits {
		if h := hourOf(x.Created); h >= 0 && h < n {
			out[h].arrivals++
		}
		h := hourOf(x.Left)
		if h < 0 || h >= n {
			continue
		}
		if x.Abandoned {
			out[h].abandoned++
			continue
		}
		wait := x.Left.Sub(x.Created).Seconds()
		out[h].answered++
		out[h].waitSum += wait
		if wait <= 60 {
			out[h].within60++
		}
	}
	return out
}

// serviceErrors compares the served hours with the truth.
type serviceErrors struct {
	hours                      int
	arrivalsDay, arrivalsHour  float64 // |served − true| arrivals over the day; the worst hour's
	sl60Max, sl60Mean, sl60Day float64 // |served − true| share answered within 60 s, percentage points
	asaMax, asaDay             float64 // |served ÷ true − 1| average speed of answer, per cent
	abandonedMax               float64 // |served ÷ true − 1| abandoned, per cent, over hours with ≥ 20
	abandonedHours             int
	abandonedDay               float64 // the same over the day
}

func compareService(served, truth []serviceHour) serviceErrors {
	e := serviceErrors{hours: min(len(served), len(truth)), abandonedMax: math.NaN()}
	var sDay, tDay serviceHour
	var sl []float64
	for i := range e.hours {
		s, t := served[i], truth[i]
		sDay.arrivals += s.arrivals
		tDay.arrivals += t.arrivals
		sDay.answered += s.answered
		tDay.answered += t.answered
		sDay.within60 += s.within60
		tDay.within60 += t.within60
		sDay.waitSum += s.waitSum
		tDay.waitSum += t.waitSum
		sDay.abandoned += s.abandoned
		tDay.abandoned += t.abandoned
		e.arrivalsHour = max(e.arrivalsHour, math.Abs(s.arrivals-t.arrivals))
		if s.answered > 0 && t.answered > 0 {
			d := 100 * math.Abs(s.within60/s.answered-t.within60/t.answered)
			sl = append(sl, d)
			e.sl60Max = max(e.sl60Max, d)
			e.asaMax = max(e.asaMax, 100*math.Abs((s.waitSum/s.answered)/(t.waitSum/t.answered)-1))
		}
		if t.abandoned >= 20 {
			e.abandonedHours++
			d := 100 * math.Abs(s.abandoned/t.abandoned-1)
			if math.IsNaN(e.abandonedMax) || d > e.abandonedMax {
				e.abandonedMax = d
			}
		}
	}
	e.sl60Mean = mean(sl)
	e.arrivalsDay = math.Abs(sDay.arrivals - tDay.arrivals)
	if sDay.answered > 0 && tDay.answered > 0 {
		e.sl60Day = 100 * math.Abs(sDay.within60/sDay.answered-tDay.within60/tDay.answered)
		e.asaDay = 100 * math.Abs((sDay.waitSum/sDay.answered)/(tDay.waitSum/tDay.answered)-1)
	}
	e.abandonedDay = math.NaN()
	if tDay.abandoned > 0 {
		e.abandonedDay = 100 * math.Abs(sDay.abandoned/tDay.abandoned-1)
	}
	return e
}

// measureService compares what the exporter served of the service level
// over the measured day with the simulator's truth.
func measureService(env *replayEnv, exporter outcome) serviceErrors {
	served := servedHours(exporter.service)
	exits := env.QueueExits(env.measureFrom.Add(-24*time.Hour), env.measureTo)
	truth := trueHours(exits, env.measureFrom, len(served))
	return compareService(served, truth)
}

// The workloads and shares of the quota on which make replay measures the
// service level again: those where the default share does not follow it.
var (
	serviceShareWorkloads = []workload{{arrivals: 10000, history: 50000}, {arrivals: 10000, history: 50000, office: true}}
	serviceShares         = []float64{0.65, 0.8}
)

func (e serviceErrors) line(w workload) string { return e.lineAt(w, replayQuotaShare) }

// lineAt is the service line of a run at a share of the quota.
func (e serviceErrors) lineAt(w workload, share float64) string {
	return strings.Join([]string{"service", w.String(),
		"quota_share=" + num(share),
		"hours=" + strconv.Itoa(e.hours),
		"arrivals_err_day=" + num(e.arrivalsDay),
		"arrivals_err_hour_max=" + num(e.arrivalsHour),
		"sl60_err_pp_max=" + num(e.sl60Max),
		"sl60_err_pp_mean=" + num(e.sl60Mean),
		"sl60_err_pp_day=" + num(e.sl60Day),
		"asa_err_pct_max=" + num(e.asaMax),
		"asa_err_pct_day=" + num(e.asaDay),
		"abandoned_hours_20=" + strconv.Itoa(e.abandonedHours),
		"abandoned_err_pct_max=" + num(e.abandonedMax),
		"abandoned_err_pct_day=" + num(e.abandonedDay),
	}, " ")
}
