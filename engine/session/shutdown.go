package session

import (
	"context"
	"time"

	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
)

// Graceful stop without a reconnect storm.
//
// Every stream ends with disconnect 3001 "shutdown", whose advice is to
// reconnect: if a node with tens of thousands of streams sent them all at
// once, its whole fleet would land on the next node in the same instant.
// Stop spreads them instead over unisse.shutdown_spread: every spreadStep it
// tells each loop what fraction of the window has passed, and the loop ends
// streams until only that fraction of the ones it had is left. A loop never
// waits: the steps are operations posted to its inbox from Stop's goroutine,
// and each does a bounded batch. New connects are refused (3001) from the
// moment Stop begins, so the set only shrinks. At the end every loop ends
// whatever is left, as Stop always did.

const (
	// shutdownMinRate (streams per second, per node) is the slowest pace of
	// a spread: a node with few streams gains nothing by holding them, and
	// any node absorbs reconnects at this rate, so below window × rate
	// streams the window shrinks to streams / rate.
	shutdownMinRate = 1000
	// spreadStep is how often the loops are told to end another batch.
	spreadStep = 50 * time.Millisecond
)

// DisconnectAll ends every stream with 3001, spread over the shutdown window,
// and returns once every loop has ended its last ones (or ctx is done). It is
// Server.Stop's first half; BeginStop was called. Never call it on a loop.
func (s *Node) DisconnectAll(ctx context.Context) {
	if w := s.shutdownWindow(ctx, s.NumClients()); w > 0 {
		s.spreadDisconnects(ctx, w)
	}
	s.OnAllLoops(ctx, func(l *delivery.Loop) { l.FinishAll(protocol.DisconnectShutdown) })
}

// shutdownWindow is how long to spread n streams' disconnects over:
// unisse.shutdown_spread, shortened to n/shutdownMinRate and to half of
// what is left of ctx, so that the final flush and the loops' stop fit in
// the shutdown timeout.
func (s *Node) shutdownWindow(ctx context.Context, n int) time.Duration {
	w := s.opts.Own.ShutdownSpread
	rate := s.spreadMinRate
	if rate <= 0 {
		rate = shutdownMinRate
	}
	w = min(w, time.Duration(n)*time.Second/time.Duration(rate))
	if deadline, ok := ctx.Deadline(); ok {
		w = min(w, time.Until(deadline)/2)
	}
	return w
}

// spreadDisconnects posts a disconnect step to every loop each spreadStep
// until window has passed; the last step is posted with the whole window
// done. It waits only on a timer, never on the loops.
func (s *Node) spreadDisconnects(ctx context.Context, window time.Duration) {
	sp := delivery.NewSpread(s.numLoops)
	start := time.Now()
	t := time.NewTicker(spreadStep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done := min(1, float64(time.Since(start))/float64(window))
		for _, l := range *s.known.Load() {
			l.Post(func(l *delivery.Loop) { sp.Step(l, done) })
		}
		if done >= 1 {
			return
		}
	}
}
