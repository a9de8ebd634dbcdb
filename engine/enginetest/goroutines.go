package enginetest

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Goroutines is a snapshot of the process's goroutines: id → stack.
type Goroutines map[uint64]string

// SnapshotGoroutines records every goroutine of the process.
func SnapshotGoroutines() Goroutines {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	g := make(Goroutines)
	for _, block := range bytes.Split(buf, []byte("\n\n")) {
		s := string(block)
		rest, ok := strings.CutPrefix(s, "goroutine ")
		if !ok {
			continue
		}
		idStr, _, _ := strings.Cut(rest, " ")
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil {
			continue
		}
		g[id] = s
	}
	return g
}

// idleWorker reports whether a goroutine is an idle worker of gnet's global
// goroutine pool (ants, used by gnet to register connections such as the
// loops' kick sockets). Idle workers belong to the process, not to a server:
// the pool keeps each one for about ten seconds after its last task and
// reuses it for the next, so a bounded number of them outlives any server.
// A worker running a task has that task's frames on top and is not idle.
//
// VictoriaMetrics' summary cron is the process's too: the first summary
// created (the API's duration summary, on a server's first API command)
// starts the one goroutine that rotates every summary's window, for good.
func idleWorker(stack string) bool {
	_, frames, _ := strings.Cut(stack, "\n")
	return strings.HasPrefix(frames, "github.com/panjf2000/ants/v2.(*goWorker).run.func1(") ||
		strings.Contains(frames, "github.com/VictoriaMetrics/metrics.summariesSwapCron(")
}

// NewGoroutines returns the stacks of the goroutines running now that are not
// in base, other than idle worker-pool goroutines (see idleWorker).
func NewGoroutines(base Goroutines) []string {
	var out []string
	for id, stack := range SnapshotGoroutines() {
		if _, ok := base[id]; !ok && !idleWorker(stack) {
			out = append(out, stack)
		}
	}
	return out
}

// ExpectNoNewGoroutines waits until every goroutine started since base (other
// than idle worker-pool goroutines) has exited, polling until timeout, and
// fails the test with their stacks otherwise. It also checks that the
// process's goroutine count is back to what base held, counting idle pool
// workers started since then as allowed. Comparing ids, not only counts,
// keeps a goroutine that exits from hiding one that leaked.
func ExpectNoNewGoroutines(t testing.TB, base Goroutines, timeout time.Duration) {
	t.Helper()
	var leaked []string
	ok := Poll(timeout, func() bool {
		leaked = NewGoroutines(base)
		return len(leaked) == 0
	})
	if !ok {
		t.Fatalf("%d goroutines started since the baseline are still running after %v:\n\n%s",
			len(leaked), timeout, strings.Join(leaked, "\n\n"))
	}
	idleNew := 0
	now := SnapshotGoroutines()
	for id, stack := range now {
		if _, ok := base[id]; !ok && idleWorker(stack) {
			idleNew++
		}
	}
	if n := runtime.NumGoroutine(); n > len(base)+idleNew {
		t.Fatalf("runtime.NumGoroutine() = %d, baseline %d (+%d idle pool workers)", n, len(base), idleNew)
	}
}

// SettledGoroutines returns a snapshot taken once the set of goroutines
// (other than idle worker-pool goroutines) has stopped changing for a few
// consecutive looks, or after timeout: goroutines that were just finishing
// when the caller got here do not end up in a baseline.
func SettledGoroutines(timeout time.Duration) Goroutines {
	deadline := time.Now().Add(timeout)
	prev, stable := SnapshotGoroutines(), 0
	for stable < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		cur := SnapshotGoroutines()
		if sameBusy(prev, cur) {
			stable++
		} else {
			stable = 0
		}
		prev = cur
	}
	return prev
}

func sameBusy(a, b Goroutines) bool {
	n := 0
	for id, stack := range b {
		if idleWorker(stack) {
			continue
		}
		if _, ok := a[id]; !ok {
			return false
		}
		n++
	}
	m := 0
	for _, stack := range a {
		if !idleWorker(stack) {
			m++
		}
	}
	return n == m
}
