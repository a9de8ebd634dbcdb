package engine

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/internal/stepwatch"
)

// The loop watchdog: every test of this package runs with stepwatch.Hook set,
// which times every event-loop step — a drain slice, OnOpen, OnTraffic,
// OnClose, a timer sweep — against stepBudget (scaled by raceFactor under
// -race, where everything is several times slower), and records every
// blocking event of the run. It is what proves that no loop waits for the
// broker (brokertest.Slow answers in 10–60 ms) or for another goroutine.
//
// Waiting fails the run, always and exactly: with
// runtime.SetBlockProfileRate(1) every blocking event is recorded, and one
// inside a loop step on a channel, select, WaitGroup or Cond — how a loop
// would wait for the broker or another goroutine — fails it with its stack,
// however short the wait. Contention on the engine's mutexes (the inbox, the
// hub shards, LOCKS.md: short sections, never held across a wait) and the
// runtime's own waits (starting a GC) are allowed.
//
// Time is the CPU time of the loop's OS thread during the step
// (CLOCK_THREAD_CPUTIME_ID), not wall time, which on a shared machine says
// more about the machine than the loop. It is exact only while the loop's
// goroutine keeps its thread: a step that moves to another thread is
// counted (with its wall time) but not judged, and one that is preempted
// and resumes on the same thread is charged for whatever ran there
// meanwhile — which, with the package's parallel tests running, makes
// over-budget steps in the whole run a report, not a verdict. The verdict
// on time is given where it is honest:
//
//   - TestLoopStepsWithinBudget runs a slow-broker workload alone (not in
//     parallel) and fails when one of its steps exceeds the budget;
//   - UNISSE_LOOP_WATCHDOG=strict makes any over-budget step fail the run:
//     use it with -parallel 1, e.g. UNISSE_TEST_BROKER=slow
//     UNISSE_LOOP_WATCHDOG=strict go test -parallel 1 -run
//     'Conformance|Recover' ./engine/
//
// A test that drives a known over-budget path (a hostile input handled in
// one step; each a finding to fix, listed in the report) calls
// ExcuseLongSteps with the reason: while it runs, its long steps are
// reported as excused. Only tests that do not run in parallel may.
//
// UNISSE_LOOP_BUDGET overrides the budget (a duration);
// UNISSE_LOOP_WATCHDOG=off turns the watchdog off; benchmarks run without.
const stepBudget = 2 * time.Millisecond

type stepStats struct {
	mu      sync.Mutex
	steps   int
	worst   []stepSample // over budget
	max     time.Duration
	maxOf   string
	moved   map[string]int           // steps that moved threads
	excused map[string]time.Duration // the longest excused step per reason
	// window, when set, collects the over-budget steps of a test that runs
	// alone (watchWindow).
	window *[]stepSample
	// movedMax is the longest wall time of a step that moved threads.
	movedMax time.Duration
}

type stepSample struct {
	step string
	cpu  time.Duration
}

var watched = stepStats{moved: map[string]int{}, excused: map[string]time.Duration{}}

// excuse is the reason while a test excuses long steps (ExcuseLongSteps).
var excuse atomic.Pointer[string]

// ExcuseLongSteps lets the calling, non-parallel test take loop steps over
// the watchdog's budget, for the reason given; they are still reported.
func ExcuseLongSteps(t testing.TB, why string) {
	excuse.Store(&why)
	t.Cleanup(func() { excuse.Store(nil) })
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// watchdog implements stepwatch.Watcher.
type watchdog struct{ budget time.Duration }

func (watchdog) Start() stepwatch.Mark {
	return stepwatch.Mark{TID: unix.Gettid(), Wall: time.Now().UnixNano(), CPU: int64(threadCPU())}
}

func (w watchdog) End(step string, m stepwatch.Mark) {
	cpu := threadCPU() - time.Duration(m.CPU)
	moved := unix.Gettid() != m.TID
	elapsed := time.Duration(time.Now().UnixNano() - m.Wall)
	watched.mu.Lock()
	defer watched.mu.Unlock()
	watched.steps++
	if moved {
		watched.movedMax = max(watched.movedMax, elapsed)
		watched.moved[step]++
		return
	}
	if cpu > watched.max {
		watched.max, watched.maxOf = cpu, step
	}
	if cpu <= w.budget {
		return
	}
	if why := excuse.Load(); why != nil {
		watched.excused[*why] = max(watched.excused[*why], cpu)
		return
	}
	if watched.window != nil {
		*watched.window = append(*watched.window, stepSample{step, cpu})
	}
	if len(watched.worst) < 50 {
		watched.worst = append(watched.worst, stepSample{step, cpu})
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	budget := stepBudget * raceFactor
	if v := os.Getenv("UNISSE_LOOP_BUDGET"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			budget = d
		}
	}
	watch := flag.Lookup("test.bench").Value.String() == "" && os.Getenv("UNISSE_LOOP_WATCHDOG") != "off"
	if watch {
		stepwatch.Hook = watchdog{budget}
		runtime.SetBlockProfileRate(1)
	}
	code := m.Run()
	if watch {
		over := reportSteps(budget) != 0 && os.Getenv("UNISSE_LOOP_WATCHDOG") == "strict"
		if loopWaits() || over {
			code = 1
		}
	}
	os.Exit(code)
}

// reportSteps prints what the watchdog saw and returns 1 when a step went
// over budget or parked.
func reportSteps(budget time.Duration) int {
	w := &watched
	w.mu.Lock()
	defer w.mu.Unlock()
	moved := 0
	for _, n := range w.moved {
		moved += n
	}
	if testing.Verbose() || len(w.worst) > 0 {
		fmt.Printf("loop watchdog: %d steps, longest %v of CPU (%s), budget %v; %d steps moved threads, longest %v of wall time\n", w.steps, w.max, w.maxOf, budget, moved, w.movedMax)
	}
	for why, d := range w.excused {
		fmt.Printf("loop watchdog: excused: a step of %v of CPU (%s)\n", d, why)
	}
	if len(w.worst) == 0 {
		return 0
	}
	sort.Slice(w.worst, func(i, j int) bool { return w.worst[i].cpu > w.worst[j].cpu })
	for _, s := range w.worst {
		fmt.Printf("loop watchdog: over budget: %s took %v of thread CPU (budget %v)\n", s.step, s.cpu, budget)
	}
	return 1
}

// loopSteps are the functions whose frames mark a loop step on a stack.
var loopSteps = []string{
	"delivery.(*Loop).Drain",
	"engine.(*events).OnTraffic",
	"engine.(*events).OnOpen",
	"engine.(*events).OnClose",
	").tickLoop",
}

// allowedWaits are the blocking operations a loop step may reach: the
// engine's mutexes (LOCKS.md), held only for short sections.
var allowedWaits = []string{
	"sync.(*Mutex).Lock",
	"sync.(*RWMutex).Lock",
	"sync.(*RWMutex).RLock",
	// sync.Map's short internal lock, met by encoding/json's type cache when
	// two loops decode a type for the first time at once.
	"internal/sync.(*HashTrieMap[...]).LoadOrStore",
}

// loopWaits prints every recorded blocking event inside a loop step other
// than on a mutex (a channel, select, WaitGroup, Cond...), and reports
// whether there was one.
func loopWaits() bool {
	n, _ := runtime.BlockProfile(nil)
	recs := make([]runtime.BlockProfileRecord, n+64)
	n, ok := runtime.BlockProfile(recs)
	if !ok {
		fmt.Println("loop watchdog: block profile did not fit")
		return true
	}
	found := false
	for _, r := range recs[:n] {
		var op, step string
		var stack []string
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			stack = append(stack, fmt.Sprintf("%s:%d", f.Function, f.Line))
			if op == "" {
				op = f.Function // the blocking operation is the innermost frame
				for _, w := range allowedWaits {
					if strings.HasSuffix(f.Function, w) {
						op = "-"
					}
				}
			}
			for _, s := range loopSteps {
				if step == "" && strings.HasSuffix(f.Function, s) {
					step = s
				}
			}
			if !more {
				break
			}
		}
		if op == "-" || step == "" || runtimeWait(stack) {
			continue
		}
		found = true
		fmt.Printf("loop watchdog: FAIL a loop step (%s) waited on %s %d times (%d cycles in all):\n\t%s\n", step, op, r.Count, r.Cycles, strings.Join(stack, "\n\t"))
	}
	return found
}

// runtimeWait reports whether a blocking event is the runtime's own (a
// step that allocates may have to start a GC and wait for its workers).
func runtimeWait(stack []string) bool {
	for _, f := range stack {
		if strings.HasPrefix(f, "runtime.gcStart") {
			return true
		}
	}
	return false
}

// watchWindow collects the over-budget steps taken until the returned
// function is called, which returns them. Only for tests that do not run in
// parallel.
func watchWindow() (end func() []stepSample) {
	var got []stepSample
	watched.mu.Lock()
	watched.window = &got
	watched.mu.Unlock()
	return func() []stepSample {
		watched.mu.Lock()
		defer watched.mu.Unlock()
		watched.window = nil
		return got
	}
}

// WatchLoopSteps fails t when one of the event-loop steps taken from now
// until t ends (whatever test they serve) is over the watchdog's budget. t
// must not run in parallel with other tests.
func WatchLoopSteps(t *testing.T) {
	if stepwatch.Hook == nil {
		t.Skip("the loop watchdog is off")
	}
	end := watchWindow()
	t.Cleanup(func() {
		for _, s := range end() {
			t.Errorf("loop step %s took %v of thread CPU, budget %v", s.step, s.cpu, stepwatch.Hook.(watchdog).budget)
		}
	})
}
