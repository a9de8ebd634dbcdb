package bench

import (
	"fmt"
	"time"

	"github.com/unisse/unisse/bench/probe"
)

// procSample is the sampled processes at one moment: the server's nodes
// (one, or a cluster's) and the Redis they share.
type procSample struct {
	sum   probe.Proc   // the nodes added up (sumProcs)
	nodes []probe.Proc // each node, in Config.ServerPIDs order
	redis probe.Proc   // zero without Config.RedisPID
}

// readProcs samples every server node and Redis. A node that cannot be
// read fails the sample: a sum missing a node would understate the cost.
func (r *runner) readProcs() (procSample, error) {
	var s procSample
	for _, pid := range r.cfg.pids() {
		p, err := probe.ReadProc(pid)
		if err != nil {
			return s, fmt.Errorf("bench: server pid %d: %w", pid, err)
		}
		s.nodes = append(s.nodes, p)
	}
	s.sum = sumProcs(s.nodes)
	if r.cfg.RedisPID != 0 {
		p, err := probe.ReadProc(r.cfg.RedisPID)
		if err != nil {
			return s, fmt.Errorf("bench: redis pid %d: %w", r.cfg.RedisPID, err)
		}
		s.redis = p
	}
	return s, nil
}

// sumProcs adds up samples of several processes, a cluster's nodes taken
// as one server: CPU, memory, threads and descriptors are summed (HWM is
// the sum of each one's peak, an upper bound of the peak of the sum); At
// is the latest sample's time, so that a window ends when its last sample
// was taken. One process comes back as it is.
func sumProcs(ps []probe.Proc) probe.Proc {
	if len(ps) == 1 {
		return ps[0]
	}
	var s probe.Proc
	for i, p := range ps {
		if p.At.After(s.At) {
			s.At = p.At
		}
		s.CPU += p.CPU
		s.RSS += p.RSS
		s.HWM += p.HWM
		s.Threads += p.Threads
		switch {
		case i == 0:
			s.FDs = p.FDs
		case s.FDs < 0 || p.FDs < 0:
			s.FDs = -1 // one unreadable: the sum is unknown
		default:
			s.FDs += p.FDs
		}
	}
	return s
}

// cpuOver is the CPU a process (or sum) used from a to b, and the cores
// it kept busy on average.
func cpuOver(a, b probe.Proc) (time.Duration, float64) {
	cpu := b.CPU - a.CPU
	if w := b.At.Sub(a.At); w > 0 {
		return cpu, float64(cpu) / float64(w)
	}
	return cpu, 0
}

// perMessage is cpu per delivered message, in µs.
func perMessage(cpu time.Duration, delivered uint64) float64 {
	if delivered == 0 {
		return 0
	}
	return float64(cpu) / 1e3 / float64(delivered)
}
