//go:build race

package httpparse

// raceEnabled is true under -race, whose instrumentation allocates on its own: the
// allocation tests are compiled out rather than skipped at run time.
const raceEnabled = true
