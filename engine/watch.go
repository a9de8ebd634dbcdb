package engine

// stepWatch, when set, is told of every event-loop step — a drain slice, an
// OnOpen, OnTraffic or OnClose, the timer sweep — at its start and its end.
// Tests set it (before any server starts) to fail a run in which a loop step
// takes too long: a loop must never wait for a broker or another goroutine
// (see watchdog_test.go). Nil in production, where a step costs one nil
// check.
var stepWatch stepWatcher

type stepWatcher interface {
	start() stepMark
	end(step string, m stepMark)
}

// stepMark is what a watcher notes at a step's start (allocation-free, so
// that the alloc tests hold with the watchdog on).
type stepMark struct {
	tid       int
	wall, cpu int64
}
