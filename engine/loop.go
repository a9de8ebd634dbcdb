package engine

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/httpparse"
	"github.com/unisse/unisse/sse"
)

// item is one unit of work posted to a loop: a frame of a channel, numbered
// in the channel's sequence for this loop, or an operation to run on the loop.
type item struct {
	ch    *channel
	frame *sse.Frame
	seq   uint64
	kind  uint8       // framePub, frameJoinLeave, frameNotJSON
	op    func(*loop) // run on the loop (API operations, sweeps, shutdown)
}

// loop is unisse's state for one gnet event loop. Fields under "inbox" are
// shared with other goroutines under mu; everything else belongs to the loop
// goroutine.
type loop struct {
	srv *Server
	idx int
	el  gnet.EventLoop

	// inbox
	mu        sync.Mutex
	inbox     []item
	scheduled bool // the loop has work queued or in progress and will drain it

	// kick is the write end of a socket pair whose other end is registered
	// with this loop: writing a byte wakes the loop through its poller, like an
	// I/O event, without gnet's per-task allocations (see drain.go).
	kickMu     sync.RWMutex // write: registering or closing kickFD; read: writing to it
	kickFD     int
	kickOn     atomic.Bool
	kickClosed bool // guarded by kickMu

	// loop-owned
	drainState
	spare        []item // the inbox's other buffer
	q            sse.Queue
	dirty        []*conn
	out          []byte            // response scratch
	apiOut       []byte            // API reply body scratch
	tmp          []byte            // decoding scratch (cf_connect, lower-cased origin)
	body         []byte            // decoded chunked request bodies
	req          httpparse.Request // shared by the loop's connections: a head is parsed once, when complete
	targets      []*conn
	names        []string            // connect scratch
	connectChans []connectChannel    // connect scratch
	connectSeen  map[string]struct{} // connect scratch: the channels in connectChans
	streams      []*conn
	// waiting are connections whose connect request waits for a later
	// slice; connectsInSlice counts connects served since the last drain.
	waiting         []*conn
	connectsInSlice int
	users           map[string]*conn // head of each user's list of streaming conns
	wheel           wheel

	// counters, read by /metrics from another goroutine
	framesQueued atomic.Uint64
	writes       atomic.Uint64
}

func newLoop(srv *Server, idx int, el gnet.EventLoop) *loop {
	l := &loop{srv: srv, idx: idx, el: el, users: make(map[string]*conn)}
	l.wheel.init(srv.tickNow())
	return l
}

// push queues f for one connection (pings, pushes to a single client).
func (l *loop) push(c *conn, f *sse.Frame) {
	if c.state != stateStreaming {
		return
	}
	if l.q.Push(&c.pending, f, c.chunked) {
		l.dirty = append(l.dirty, c)
	}
	l.framesQueued.Add(1)
}

// flushDirty writes everything queued, one write per connection, then resets
// the queue. A write may close a connection re-entrantly (gnet runs OnClose
// inside Write on a hard error); OnClose never touches l.dirty, so iterating
// it here is safe.
func (l *loop) flushDirty() {
	limit := l.srv.opts.Client.QueueMaxSize
	var writes uint64
	for i, c := range l.dirty {
		l.dirty[i] = nil
		if c.state != stateStreaming {
			l.q.Drop(&c.pending)
			continue
		}
		err := l.q.Flush(&c.pending, c.c, c.chunked, limit)
		writes++
		if err == sse.ErrSlow {
			l.srv.metrics.slowDisconnects.Inc()
			l.finish(c, protocol.DisconnectSlow)
		}
	}
	l.writes.Add(writes) // once per flush: the counter is shared with /metrics
	l.dirty = l.dirty[:0]
	l.q.Reset()
}

// flushConn writes whatever is queued for c now, ahead of a direct write.
func (l *loop) flushConn(c *conn) {
	if c.pending.Empty() {
		return
	}
	err := l.q.Flush(&c.pending, c.c, c.chunked, l.srv.opts.Client.QueueMaxSize)
	l.writes.Add(1)
	if err == sse.ErrSlow {
		l.srv.metrics.slowDisconnects.Inc()
		l.finish(c, protocol.DisconnectSlow)
	}
}

// finish ends a streaming connection: queued frames first, then the
// disconnect push and the end of the chunked response, then a close. Only on
// the loop.
func (l *loop) finish(c *conn, d protocol.Disconnect) {
	if c.state != stateStreaming {
		return
	}
	if d != protocol.DisconnectSlow {
		// Publications posted before the disconnect go out before it.
		l.catchUp(c)
		l.flushConn(c)
		if c.state != stateStreaming {
			return
		}
	} else {
		l.q.Drop(&c.pending)
	}
	c.state = stateClosing
	out := appendDisconnectEvent(l.out[:0], d, c.chunked)
	if c.chunked {
		out = append(out, sse.Terminator...)
	}
	l.out = out
	if _, err := c.c.Write(out); err == nil {
		_ = c.c.Close()
	}
}

// writeEvent sends one push to c right away, after anything queued for it.
func (l *loop) writeEvent(c *conn, json []byte) {
	l.catchUp(c)
	l.flushConn(c)
	if c.state != stateStreaming {
		return
	}
	l.out = sse.AppendEvent(l.out[:0], json, c.chunked)
	_, _ = c.c.Write(l.out)
	l.writes.Add(1)
}

// addStream registers a connection that just started streaming.
func (l *loop) addStream(c *conn) {
	c.streamIdx = int32(len(l.streams))
	l.streams = append(l.streams, c)
	head := l.users[c.user]
	c.userNext = head
	c.userPrev = nil
	if head != nil {
		head.userPrev = c
	}
	l.users[c.user] = c
}

// removeStream undoes addStream.
func (l *loop) removeStream(c *conn) {
	if c.streamIdx < 0 {
		return
	}
	last := len(l.streams) - 1
	moved := l.streams[last]
	l.streams[c.streamIdx] = moved
	moved.streamIdx = c.streamIdx
	l.streams[last] = nil
	l.streams = l.streams[:last]
	c.streamIdx = -1

	if c.userPrev != nil {
		c.userPrev.userNext = c.userNext
	} else if c.userNext != nil {
		l.users[c.user] = c.userNext
	} else {
		delete(l.users, c.user)
	}
	if c.userNext != nil {
		c.userNext.userPrev = c.userPrev
	}
	c.userNext, c.userPrev = nil, nil
}

// find appends to l.targets the streaming connections matching a selector:
// user (all of the user's connections), optionally narrowed to one client id
// or session. With user empty and no client/session it selects anonymous
// connections; with user empty and a client or session, it searches all.
func (l *loop) find(user, client, session string) []*conn {
	l.targets = l.targets[:0]
	var cid, sid [16]byte
	var hasC, hasS bool
	if client != "" {
		if cid, hasC = protocol.ParseUUID(client); !hasC {
			return l.targets
		}
	}
	if session != "" {
		if sid, hasS = protocol.ParseUUID(session); !hasS {
			return l.targets
		}
	}
	match := func(c *conn) bool {
		return c.state == stateStreaming && (!hasC || c.client == cid) && (!hasS || c.session == sid)
	}
	if user == "" && (hasC || hasS) {
		for _, c := range l.streams {
			if match(c) {
				l.targets = append(l.targets, c)
			}
		}
		return l.targets
	}
	for c := l.users[user]; c != nil; c = c.userNext {
		if match(c) {
			l.targets = append(l.targets, c)
		}
	}
	return l.targets
}
