//go:build !race

package engine

// raceFactor scales the loop watchdog's budget (see race_on_test.go).
const raceFactor = 1
