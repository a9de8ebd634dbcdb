package session

import (
	"runtime"
	"testing"

	"github.com/unisse/unisse/engine/config"
)

// TestEventLoopsFollowGOMAXPROCS: without unisse.event_loops a node runs one
// loop per CPU it may use (GOMAXPROCS, which Go takes from a container's CPU
// limit and an operator sets per node when nodes share a machine), not one
// per CPU of the machine. Not parallel: it changes GOMAXPROCS while no
// parallel test runs.
func TestEventLoopsFollowGOMAXPROCS(t *testing.T) {
	for _, tc := range []struct{ procs, loops, want int }{
		{procs: 1, loops: 0, want: 1},
		{procs: 3, loops: 0, want: 3},
		{procs: 1, loops: 4, want: 4}, // an explicit count wins
	} {
		prev := runtime.GOMAXPROCS(tc.procs)
		opts := config.Default()
		opts.Client.Token.HMACSecretKey = "x"
		opts.Own.EventLoops = tc.loops
		s, err := New(Config{Opts: opts})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.broker.Close()
		if s.numLoops != tc.want {
			t.Errorf("GOMAXPROCS %d, event_loops %d: %d loops, want %d", tc.procs, tc.loops, s.numLoops, tc.want)
		}
	}
}
