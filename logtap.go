package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/go-kit/log"
)

// logTap sees every log line before the level filter, with its ts and
// caller bound, and keeps what /probe?debug=true shows: the last lines of
// each team (those with tenant= and team= keys, debug ones included), and
// the lines of a debug probe in flight (its debug_probe= key).
type logTap struct {
	next log.Logger

	mu      sync.Mutex
	seq     uint64
	teams   map[[2]string]*tapRing
	probes  map[string]*[]tapLine
	probeID uint64
}

// tapLines is how many lines the tap keeps per team.
const tapLines = 60

// tapTeams bounds the teams the tap keeps lines of.
const tapTeams = 10000

type tapLine struct {
	seq  uint64
	text string
}

type tapRing struct{ lines []tapLine }

func newLogTap(next log.Logger) *logTap {
	return &logTap{next: next, teams: map[[2]string]*tapRing{}, probes: map[string]*[]tapLine{}}
}

// Log implements log.Logger.
func (t *logTap) Log(keyvals ...any) error {
	var tenant, team, probe string
	for i := 0; i+1 < len(keyvals); i += 2 {
		switch keyvals[i] {
		case "tenant":
			tenant = fmt.Sprint(keyvals[i+1])
		case "team":
			team = fmt.Sprint(keyvals[i+1])
		case "debug_probe":
			probe = fmt.Sprint(keyvals[i+1])
		}
	}
	if probe != "" || (tenant != "" && team != "") {
		var b bytes.Buffer
		tsFirst{log.NewLogfmtLogger(&b)}.Log(keyvals...) // as the log has it
		line := strings.TrimRight(b.String(), "\n")
		t.mu.Lock()
		t.seq++
		if probe != "" {
			if buf := t.probes[probe]; buf != nil && len(*buf) < 1000 {
				*buf = append(*buf, tapLine{t.seq, line})
			}
		}
		if tenant != "" && team != "" {
			k := [2]string{tenant, team}
			r := t.teams[k]
			if r == nil {
				if len(t.teams) >= tapTeams { // teams removed by reloads
					clear(t.teams)
				}
				r = &tapRing{}
				t.teams[k] = r
			}
			if len(r.lines) == tapLines {
				r.lines = append(r.lines[:0], r.lines[1:]...)
			}
			r.lines = append(r.lines, tapLine{t.seq, line})
		}
		t.mu.Unlock()
	}
	return t.next.Log(keyvals...)
}

// mark is the tap's position: teamLines(…, mark) are the lines since.
func (t *logTap) mark() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq
}

// teamLines returns a team's kept lines before and after mark.
func (t *logTap) teamLines(tenant, team string, mark uint64) (before, since []tapLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.teams[[2]string{tenant, team}]
	if r == nil {
		return nil, nil
	}
	for _, l := range r.lines {
		if l.seq > mark {
			since = append(since, l)
		} else {
			before = append(before, l)
		}
	}
	return before, since
}

// capture starts keeping the lines with debug_probe=ID; stop returns them
// and stops.
func (t *logTap) capture() (id string, stop func() []tapLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.probeID++
	id = fmt.Sprint(t.probeID)
	buf := &[]tapLine{}
	t.probes[id] = buf
	return id, func() []tapLine {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.probes, id)
		return *buf
	}
}
