//go:build race

package engine

// raceFactor scales the loop watchdog's budget under the race detector,
// which makes the code several (5–10) times slower.
const raceFactor = 10
