// Package stepwatch lets tests time every event-loop step: a drain slice,
// gnet's OnOpen, OnTraffic and OnClose, the timer sweep. Tests set Hook
// (before any server starts) to fail a run in which a loop step takes too
// long or waits: a loop must never wait for a broker or another goroutine
// (see the engine's watchdog_test.go). Nil in production, where a step
// costs one nil check.
package stepwatch

// Hook, when set, is told of every loop step at its start and its end.
var Hook Watcher

// Watcher times loop steps.
type Watcher interface {
	Start() Mark
	End(step string, m Mark)
}

// Mark is what a watcher notes at a step's start (allocation-free, so that
// the alloc tests hold with the watchdog on).
type Mark struct {
	TID       int
	Wall, CPU int64
}
