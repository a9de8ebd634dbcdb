package bench

import (
	"testing"
	"time"

	"github.com/unisse/unisse/bench/probe"
)

func TestSumProcs(t *testing.T) {
	t0 := time.Now()
	a := probe.Proc{At: t0, CPU: time.Second, RSS: 100, HWM: 150, Threads: 3, FDs: 10}
	b := probe.Proc{At: t0.Add(time.Millisecond), CPU: 2 * time.Second, RSS: 200, HWM: 250, Threads: 4, FDs: 20}
	if s := sumProcs([]probe.Proc{a}); s != a {
		t.Fatalf("one process: %+v", s)
	}
	s := sumProcs([]probe.Proc{a, b})
	want := probe.Proc{At: b.At, CPU: 3 * time.Second, RSS: 300, HWM: 400, Threads: 7, FDs: 30}
	if s != want {
		t.Fatalf("sum %+v, want %+v", s, want)
	}
	// One unreadable descriptor count makes the sum unknown, wherever it is.
	for _, ps := range [][]probe.Proc{{a, {FDs: -1}, b}, {{FDs: -1}, a, b}, {a, b, {FDs: -1}}} {
		if s := sumProcs(ps); s.FDs != -1 {
			t.Fatalf("%+v: fds %d", ps, s.FDs)
		}
	}
}

func TestCPUOver(t *testing.T) {
	t0 := time.Now()
	a := probe.Proc{At: t0, CPU: time.Second}
	b := probe.Proc{At: t0.Add(2 * time.Second), CPU: 4 * time.Second}
	if cpu, util := cpuOver(a, b); cpu != 3*time.Second || util != 1.5 {
		t.Fatalf("cpu %v, %v cores", cpu, util)
	}
	if _, util := cpuOver(b, b); util != 0 {
		t.Fatalf("empty window: %v cores", util)
	}
	if us := perMessage(3*time.Second, 1_000_000); us != 3 {
		t.Fatalf("%v µs per message", us)
	}
	if us := perMessage(time.Second, 0); us != 0 {
		t.Fatalf("%v µs per message with none delivered", us)
	}
}

// TestValidateServerPIDs: one pid in the list is the single-server form;
// several keep the list with ServerPID its first.
func TestValidateServerPIDs(t *testing.T) {
	c := Default(Broadcast)
	c.ServerPIDs = []int{7}
	if err := c.Validate(); err != nil || c.ServerPID != 7 || c.ServerPIDs != nil {
		t.Fatalf("%v: pid %d, pids %v", err, c.ServerPID, c.ServerPIDs)
	}
	c.ServerPIDs = []int{7, 8, 9}
	if err := c.Validate(); err != nil || c.ServerPID != 7 || len(c.pids()) != 3 {
		t.Fatalf("%v: pid %d, pids %v", err, c.ServerPID, c.pids())
	}
	c.ServerPIDs = []int{7, 0}
	if err := c.Validate(); err == nil {
		t.Fatal("pid 0 accepted")
	}
}
