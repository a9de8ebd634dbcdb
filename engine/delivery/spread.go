package delivery

import (
	"math"

	"github.com/unisse/unisse/engine/protocol"
)

// Spread is one graceful stop's spreading state: the server tells each loop
// (Step, posted to it) what fraction of the shutdown window has passed, and
// the loop ends streams with 3001 until only that fraction of the ones it
// had is left, so that a node's clients do not all reconnect at once.
type Spread struct {
	// total is, per loop index, how many streams the loop had at its first
	// step (-1 before it). Each entry is touched only by its own loop.
	total []int
}

// NewSpread returns the state of a stop spread over loops loops.
func NewSpread(loops int) *Spread {
	sp := &Spread{total: make([]int, loops)}
	for i := range sp.total {
		sp.total[i] = -1
	}
	return sp
}

// Step ends streams on l until at most (1-done) of the ones it had at its
// first step are left. Only on l.
func (sp *Spread) Step(l *Loop, done float64) {
	if sp.total[l.Idx] < 0 {
		sp.total[l.Idx] = l.streamingCount()
	}
	total := sp.total[l.Idx]
	keep := total - int(math.Ceil(float64(total)*done))
	excess := l.streamingCount() - keep
	if excess <= 0 {
		return
	}
	// Collect first: finishing one may close it re-entrantly (a failed
	// write runs OnClose), which swap-removes from l.streams.
	l.targets = l.targets[:0]
	for _, c := range l.streams {
		if len(l.targets) == excess {
			break
		}
		if c.State == StateStreaming {
			l.targets = append(l.targets, c)
		}
	}
	for _, c := range l.targets {
		l.Finish(c, protocol.DisconnectShutdown)
	}
	clear(l.targets)
	l.targets = l.targets[:0]
	l.FlushDirty()
}

// streamingCount is how many of l's streams are still streaming (those ended
// stay in l.streams until gnet runs their OnClose). Only on l.
func (l *Loop) streamingCount() int {
	n := 0
	for _, c := range l.streams {
		if c.State == StateStreaming {
			n++
		}
	}
	return n
}
