//go:build !race

package httpparse

// raceEnabled is false in normal builds: the allocation tests run and must see 0.
const raceEnabled = false
