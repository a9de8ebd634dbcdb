package session

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/input"
	"github.com/unisse/unisse/engine/internal/stepwatch"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// events is the node as gnet sees it (gnet.EventHandler, Node.Handler): its
// callbacks run on the event loops, and are kept off Node so that they are
// not part of the session's API.
type events struct {
	gnet.BuiltinEventEngine
	*Node
}

// OnOpen sets up a new connection: no buffer, no timer object, one wheel slot
// for its read deadline (gnet.EventHandler; on the connection's loop).
func (s *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if stepwatch.Hook != nil {
		defer stepwatch.Hook.End("OnOpen", stepwatch.Hook.Start())
	}
	if _, ok := gc.Context().(delivery.KickContext); ok {
		return nil, gnet.None
	}
	l := s.loopFor(gc)
	c := delivery.NewConn(gc, uint8(l.Idx))
	if s.internalPort != 0 {
		if a, ok := gc.LocalAddr().(*net.TCPAddr); ok && a.Port == s.internalPort {
			c.Internal = true
		}
	}
	gc.SetContext(c)
	s.armReadDeadline(l, c)
	s.metrics.accepted.Inc()
	return nil, gnet.None
}

// armReadDeadline gives a connection waiting for a request read_timeout to
// deliver it whole (Centrifugo's HTTP server: ReadTimeout, and the same for an
// idle keep-alive connection).
func (s *Node) armReadDeadline(l *delivery.Loop, c *delivery.Conn) {
	ticks := int64(s.opts.Own.ReadTimeout / delivery.TickInterval)
	if ticks <= 0 {
		ticks = 1
	}
	c.ReadDeadline = int32(l.Wheel.Tick() + ticks)
	l.Wheel.Schedule(c, int64(c.ReadDeadline))
}

// OnTraffic handles input (gnet.EventHandler; on the connection's loop).
func (s *events) OnTraffic(gc gnet.Conn) gnet.Action {
	if stepwatch.Hook != nil {
		defer stepwatch.Hook.End("OnTraffic", stepwatch.Hook.Start())
	}
	c, ok := gc.Context().(*delivery.Conn)
	if !ok {
		if k, ok := gc.Context().(delivery.KickContext); ok {
			_, _ = gc.Discard(-1)
			k.Loop.Drain()
			return gnet.None
		}
		return gnet.Close
	}
	switch c.State {
	case delivery.StateReading:
		s.serveInput(c)
		if c.In == nil && gc.InboundBuffered() == 0 {
			// Served whole (or being served off the loop) and kept open for
			// the next request, as an API client does: polled during a
			// storm of hang-ups (delivery/watch.go).
			s.loops[c.LoopIdx].Watch(c)
		}
	case delivery.StatePaused:
		s.checkPaused(c)
	case delivery.StateAwaiting:
		// An API reply is being prepared off the loop; keep the input for
		// later, within bounds.
		if input.Buffered(c.GC, c.In) > s.maxBuffered() {
			c.State = delivery.StateClosing
			_ = gc.Close()
		}
	case delivery.StateDeferred:
		// The request waits for its turn; more input waits behind it.
	default:
		// Draining and flushing connections are closing; streaming ones send
		// nothing we act on (Centrifugo ignores further requests on them
		// too). Drop it so it cannot pile up.
		input.Drop(c.GC, &c.In)
	}
	return gnet.None
}

// maxBuffered is the most input a connection may have buffered at once.
func (s *Node) maxBuffered() int {
	return s.opts.Own.MaxRequestHeadSize + max(s.opts.Own.APIMaxRequestBodySize, s.opts.UniSSE.MaxRequestBodySize)
}

// OnClose forgets a connection (gnet.EventHandler; on its loop, possibly
// re-entrantly from inside a Write that failed).
func (s *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	if stepwatch.Hook != nil {
		defer stepwatch.Hook.End("OnClose", stepwatch.Hook.Start())
	}
	c, ok := gc.Context().(*delivery.Conn)
	if !ok {
		if k, ok := gc.Context().(delivery.KickContext); ok {
			k.Loop.StopKick()
			// Only a loop that ends closes its kick connection: without
			// Stop that loop's connections are gone and the connections
			// handed to it would never be served.
			s.fail(fmt.Errorf("event loop %d stopped", k.Loop.Idx))
		}
		return gnet.None
	}
	l := s.loops[c.LoopIdx]
	wasStreaming := c.InStreams()
	l.Closed(c) // its backlog, timer, queue and place among the streams
	input.Release(&c.In)
	s.releaseUserSlot(c)
	s.releaseNodeSlot(c)
	if wasStreaming {
		for i := range c.Subs {
			if c.Subs[i].Flags&delivery.SubJoinLeave != 0 {
				s.broadcastJoinLeave(c, c.Subs[i].Ch.Name(), false)
			}
		}
		s.removeStreamPresence(c) // presence.go
		s.unsubscribeAll(l, c)
		s.numClients.Add(-1)
		s.metrics.streamEnded(c)
	} else if len(c.Subs) > 0 {
		s.unsubscribeAll(l, c) // a connect parked for the broker
	}
	if err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("connection closed", "err", err)
	}
	if delivery.ClosedByPeer(err) {
		if wasStreaming {
			// The client is gone and nothing more can reach it: end with a
			// reset rather than the FIN exchange, which on a storm of
			// hang-ups is most of what each close(2) costs the loop.
			_ = unix.SetsockoptLinger(gc.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}
		l.NotePeerClose()
	}
	return gnet.None
}

// unsubscribeAll removes c from every channel it is subscribed to.
func (s *Node) unsubscribeAll(l *delivery.Loop, c *delivery.Conn) {
	for i := range c.Subs {
		s.unsubscribeAt(l, c, i)
	}
	clear(c.Subs)
	c.Subs = c.Subs[:0]
}

// unsubscribeAt removes the hub entry of c.subs[i] (the caller fixes c.subs).
func (s *Node) unsubscribeAt(l *delivery.Loop, c *delivery.Conn, i int) {
	sub := c.Subs[i]
	moved, ok := s.hub.Unsubscribe(sub.Ch, l.Idx, int(sub.Idx))
	if !ok {
		return
	}
	for j := range moved.Subs {
		if moved.Subs[j].Ch == sub.Ch {
			moved.Subs[j].Idx = sub.Idx
			break
		}
	}
}

// tickLoop is the per-tick work of a loop: fire due timers, and look at the
// stalled sockets.
func (s *Node) tickLoop(l *delivery.Loop) {
	if stepwatch.Hook != nil {
		defer stepwatch.Hook.End("timer sweep", stepwatch.Hook.Start())
	}
	now := s.tickNow()
	l.CheckStalled(now)
	for _, c := range l.Wheel.Advance(now) {
		s.onTimer(l, c, now)
	}
	l.FlushDirty()
}

// onTimer handles a connection whose wheel slot came due.
func (s *Node) onTimer(l *delivery.Loop, c *delivery.Conn, now int64) {
	switch c.State {
	case delivery.StatePaused:
		if c.GC.OutboundBuffered() <= maxUnsent {
			s.checkPaused(c)
			return
		}
		if s.checkUnsent(l, c, now) {
			l.Wheel.Schedule(c, now+1)
		}
	case delivery.StateFlushing:
		if s.checkUnsent(l, c, now) {
			l.Wheel.Schedule(c, now+1)
		}
	case delivery.StateReading, delivery.StateAwaiting, delivery.StateDraining, delivery.StateDeferred:
		if c.ReadDeadline != 0 && now >= int64(c.ReadDeadline) {
			c.State = delivery.StateClosing
			_ = c.GC.Close()
			return
		}
		l.Wheel.Schedule(c, int64(c.ReadDeadline))
	case delivery.StateStreaming:
		if c.CloseAt > 0 && now >= int64(c.CloseAt) {
			l.Finish(c, protocol.DisconnectExpired)
			return
		}
		if now >= int64(c.NextPing) {
			if !c.Stalled() { // a full socket takes no ping; checkStalled decides
				l.Push(c, sse.Ping)
				l.CountPush(delivery.PushPing, len(sse.Ping.JSON()))
			}
			c.NextPing = int32(now + s.pingTicks())
		}
		s.refreshPresence(c) // presence.go
		s.scheduleStream(l, c, now)
	}
}

// scheduleStream puts a streaming connection in the wheel for its next ping,
// its expiry close or its presence refresh (presence.go), whichever is
// first.
func (s *Node) scheduleStream(l *delivery.Loop, c *delivery.Conn, now int64) {
	at := int64(c.NextPing)
	if c.CloseAt > 0 && int64(c.CloseAt) < at {
		at = int64(c.CloseAt)
	}
	if p := s.presenceDeadline(c, now); p > 0 && p < at {
		at = p
	}
	l.Wheel.Schedule(c, at)
}

// ticksAfter converts a delay to the first tick at or after now+d (rounding up,
// so nothing fires early).
func (s *Node) ticksAfter(d time.Duration) int64 {
	return int64((time.Since(s.tickStart) + d + delivery.TickInterval - 1) / delivery.TickInterval)
}

func (s *Node) pingTicks() int64 {
	t := int64(s.opts.Client.PingInterval / delivery.TickInterval)
	if t <= 0 {
		t = 1
	}
	return t
}

func uuidString(u [16]byte) string { return string(protocol.AppendUUID(nil, u)) }
