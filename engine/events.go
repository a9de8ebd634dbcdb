package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/input"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

var disconnectShutdown = protocol.DisconnectShutdown

// events is the server as gnet sees it (gnet.EventHandler): its callbacks run
// on the event loops, and are kept off Server so that they are not part of
// the engine's API.
type events struct {
	gnet.BuiltinEventEngine
	*Server
}

// OnOpen sets up a new connection: no buffer, no timer object, one wheel slot
// for its read deadline (gnet.EventHandler; on the connection's loop).
func (s *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	if stepWatch != nil {
		defer stepWatch.end("OnOpen", stepWatch.start())
	}
	if _, ok := gc.Context().(kickContext); ok {
		return nil, gnet.None
	}
	l := s.loopFor(gc)
	c := &conn{gc: gc, loopIdx: uint8(l.idx), streamIdx: -1}
	if s.internalPort != 0 {
		if a, ok := gc.LocalAddr().(*net.TCPAddr); ok && a.Port == s.internalPort {
			c.internal = true
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
func (s *Server) armReadDeadline(l *loop, c *conn) {
	ticks := int64(s.opts.Own.ReadTimeout / tickInterval)
	if ticks <= 0 {
		ticks = 1
	}
	c.readDeadline = int32(l.wheel.Tick() + ticks)
	l.wheel.Schedule(c, int64(c.readDeadline))
}

// OnTraffic handles input (gnet.EventHandler; on the connection's loop).
func (s *events) OnTraffic(gc gnet.Conn) gnet.Action {
	if stepWatch != nil {
		defer stepWatch.end("OnTraffic", stepWatch.start())
	}
	c, ok := gc.Context().(*conn)
	if !ok {
		if k, ok := gc.Context().(kickContext); ok {
			_, _ = gc.Discard(-1)
			k.l.drain()
			return gnet.None
		}
		return gnet.Close
	}
	switch c.state {
	case stateReading:
		s.serveInput(c)
	case statePaused:
		s.checkPaused(c)
	case stateAwaiting:
		// An API reply is being prepared off the loop; keep the input for
		// later, within bounds.
		if input.Buffered(c.gc, c.in) > s.maxBuffered() {
			c.state = stateClosing
			_ = gc.Close()
		}
	case stateDeferred:
		// The request waits for its turn; more input waits behind it.
	default:
		// Draining and flushing connections are closing; streaming ones send
		// nothing we act on (Centrifugo ignores further requests on them
		// too). Drop it so it cannot pile up.
		input.Drop(c.gc, &c.in)
	}
	return gnet.None
}

// maxBuffered is the most input a connection may have buffered at once.
func (s *Server) maxBuffered() int {
	return s.opts.Own.MaxRequestHeadSize + max(s.opts.Own.APIMaxRequestBodySize, s.opts.UniSSE.MaxRequestBodySize)
}

// OnClose forgets a connection (gnet.EventHandler; on its loop, possibly
// re-entrantly from inside a Write that failed).
func (s *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	if stepWatch != nil {
		defer stepWatch.end("OnClose", stepWatch.start())
	}
	c, ok := gc.Context().(*conn)
	if !ok {
		if k, ok := gc.Context().(kickContext); ok {
			k.l.stopKick()
			// Only a loop that ends closes its kick connection: without
			// Stop that loop's connections are gone and the connections
			// handed to it would never be served.
			s.fail(fmt.Errorf("event loop %d stopped", k.l.idx))
		}
		return gnet.None
	}
	l := s.loops[c.loopIdx]
	wasStreaming := c.streamIdx >= 0
	if c.held() {
		// Its backlog in the logs (a stalled or parked connection's) would
		// otherwise stay until the channels' next publications.
		l.forgetBacklog(c)
		l.schedule()
	}
	c.state = stateClosed
	input.Release(&c.in)
	s.releaseUserSlot(c)
	s.releaseNodeSlot(c)
	l.wheel.Remove(c)
	l.q.Drop(&c.pending)
	if wasStreaming {
		for i := range c.subs {
			if c.subs[i].flags&subJoinLeave != 0 {
				s.broadcastJoinLeave(c, c.subs[i].ch.Name(), false)
			}
		}
		s.unsubscribeAll(l, c)
		l.removeStream(c)
		s.numClients.Add(-1)
	} else if len(c.subs) > 0 {
		s.unsubscribeAll(l, c) // a connect parked for the broker
	}
	if err != nil && s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("connection closed", "err", err)
	}
	if closedByPeer(err) {
		if wasStreaming {
			// The client is gone and nothing more can reach it: end with a
			// reset rather than the FIN exchange, which on a storm of
			// hang-ups is most of what each close(2) costs the loop.
			_ = unix.SetsockoptLinger(gc.Fd(), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		}
		l.notePeerClose()
	}
	return gnet.None
}

// unsubscribeAll removes c from every channel it is subscribed to.
func (s *Server) unsubscribeAll(l *loop, c *conn) {
	for i := range c.subs {
		s.unsubscribeAt(l, c, i)
	}
	clear(c.subs)
	c.subs = c.subs[:0]
}

// unsubscribeAt removes the hub entry of c.subs[i] (the caller fixes c.subs).
func (s *Server) unsubscribeAt(l *loop, c *conn, i int) {
	sub := c.subs[i]
	moved, ok := s.hub.Unsubscribe(sub.ch, l.idx, int(sub.idx))
	if !ok {
		return
	}
	for j := range moved.subs {
		if moved.subs[j].ch == sub.ch {
			moved.subs[j].idx = sub.idx
			break
		}
	}
}

// sweepOp is the per-tick work of a loop: fire due timers, and look at the
// stalled sockets.
func sweepOp(l *loop) {
	if stepWatch != nil {
		defer stepWatch.end("timer sweep", stepWatch.start())
	}
	s := l.srv
	now := s.tickNow()
	l.checkStalled(now)
	for _, c := range l.wheel.Advance(now) {
		s.onTimer(l, c, now)
	}
	l.flushDirty()
}

// onTimer handles a connection whose wheel slot came due.
func (s *Server) onTimer(l *loop, c *conn, now int64) {
	switch c.state {
	case statePaused:
		if c.gc.OutboundBuffered() <= maxUnsent {
			s.checkPaused(c)
			return
		}
		if s.checkUnsent(l, c, now) {
			l.wheel.Schedule(c, now+1)
		}
	case stateFlushing:
		if s.checkUnsent(l, c, now) {
			l.wheel.Schedule(c, now+1)
		}
	case stateReading, stateAwaiting, stateDraining, stateDeferred:
		if c.readDeadline != 0 && now >= int64(c.readDeadline) {
			c.state = stateClosing
			_ = c.gc.Close()
			return
		}
		l.wheel.Schedule(c, int64(c.readDeadline))
	case stateStreaming:
		if c.closeAt > 0 && now >= int64(c.closeAt) {
			l.finish(c, protocol.DisconnectExpired)
			return
		}
		if now >= int64(c.nextPing) {
			if !c.stalled() { // a full socket takes no ping; checkStalled decides
				l.push(c, sse.Ping)
			}
			c.nextPing = int32(now + s.pingTicks())
		}
		s.scheduleStream(l, c, now)
	}
}

// scheduleStream puts a streaming connection in the wheel for its next ping
// or its expiry close, whichever is first.
func (s *Server) scheduleStream(l *loop, c *conn, now int64) {
	at := int64(c.nextPing)
	if c.closeAt > 0 && int64(c.closeAt) < at {
		at = int64(c.closeAt)
	}
	l.wheel.Schedule(c, at)
}

// ticksAfter converts a delay to the first tick at or after now+d (rounding up,
// so nothing fires early).
func (s *Server) ticksAfter(d time.Duration) int64 {
	return int64((time.Since(s.tickStart) + d + tickInterval - 1) / tickInterval)
}

// stallTicks is unisse.write_stall_timeout in ticks (at least one).
func (s *Server) stallTicks() int64 {
	return max(1, int64(s.opts.Own.WriteStallTimeout/tickInterval))
}

func (s *Server) pingTicks() int64 {
	t := int64(s.opts.Client.PingInterval / tickInterval)
	if t <= 0 {
		t = 1
	}
	return t
}

func uuidString(u [16]byte) string { return string(protocol.AppendUUID(nil, u)) }

// gnetLogger routes gnet's logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }

// Infof is start-up chatter ("Starting gnet client…": gnet only runs the
// loops, engine/listen listens); the operator's line is the banner.
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: fatal: " + fmt.Sprintf(f, a...)) }
