package delivery

import (
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/httpwrite"
	"github.com/unisse/unisse/engine/kick"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/engine/sockopt"
	"github.com/unisse/unisse/engine/wheel"
	"github.com/unisse/unisse/httpparse"
	"github.com/unisse/unisse/sse"
)

// item is one unit of work posted to a loop: a frame of a channel, numbered
// in the channel's sequence for this loop, or an operation to run on the loop.
type item struct {
	ch    *Channel
	frame *sse.Frame
	seq   uint64
	// offset is a publication's offset in its stream (0 without one): a
	// parked subscriber drops frames at or below the position it gets.
	offset uint64
	kind   uint8       // FramePub, FrameJoin, FrameLeave, FrameNotJSON
	op     func(*Loop) // run on the loop (API operations, sweeps, shutdown)
	posted int64       // monoNow when a publication was posted (the delay histogram)
}

// Loop is unisse's state for one gnet event Loop. Fields under "inbox" are
// shared with other goroutines under mu; everything else belongs to the Loop
// goroutine.
type Loop struct {
	cfg *Config
	Idx int
	el  gnet.EventLoop

	// inbox
	mu        sync.Mutex
	inbox     []item
	scheduled bool // the loop has work queued or in progress and will drain it
	// inboxBytes is the size of the frames in inbox; past
	// unisse.loop_inbox_max_size further frames are not queued and their
	// channels go on lost instead (see postFrame).
	inboxBytes int
	lost       []*Channel

	// kick wakes the loop through its poller, like an I/O event, without
	// gnet's per-task allocations (engine/kick).
	kick kick.Socket

	// loop-owned
	drainState
	spare   []item // the inbox's other buffer
	q       sse.Queue
	dirty   []*Conn
	Out     []byte            // response scratch
	APIOut  []byte            // API reply body scratch
	Tmp     []byte            // decoding scratch (cf_connect, lower-cased origin)
	Body    []byte            // decoded chunked request bodies
	Req     httpparse.Request // shared by the loop's connections: a head is parsed once, when complete
	targets []*Conn
	Names   []string // connect scratch
	// idScratch is where a connection's SSE id is encoded before it is
	// queued (unisse.sse_event_ids).
	idScratch []byte
	streams   []*Conn
	// waiting are connections whose connect request waits for a later
	// slice; connectsInSlice counts connects served since the last drain.
	waiting         []*Conn
	connectsInSlice int
	// closesInSlice counts connections closed by their peers since the last
	// drain (see notePeerClose).
	closesInSlice int
	// watched are keep-alive connections polled during a storm of hang-ups
	// (watch.go); watchBuf is what those polls read into.
	watched  []*Conn
	watchBuf []byte
	users    map[string]*Conn // head of each user's list of streaming conns
	Wheel    wheel.Wheel[Conn, *Conn]
	// stalled are streaming connections whose socket did not take a whole
	// write: nothing more is handed to gnet for them (their backlog waits in
	// the channel logs) until the timer sweep sees gnet's buffer empty, or
	// disconnects them when it stays non-empty for write_stall_timeout.
	stalled []*Conn
	// overCap are channels whose log on this loop passed queue_max_size
	// bytes; shedLaggards handles them after the flush.
	overCap   []*Channel
	lostSpare []*Channel

	// counters, read by /metrics from another goroutine
	framesQueued atomic.Uint64
	writes       atomic.Uint64
	earlyServed  atomic.Uint64
	delay        delayStats   // publish → write delay (stats.go)
	pushes       pushStats    // pushes by kind (stats.go)
	scratch      []byte       // a disconnect push, to count its size
	backlog      atomic.Int64 // logBytes + inbox bytes, stored once per slice
	// logBytes is the size of the frames in l's channel logs (the sum of
	// their ChanState.bytes), kept beside them on the loop.
	logBytes int
}

// NewLoop returns the state of event loop idx (el), whose timing wheel
// starts at tick now. Its kick socket is registered by StartKick.
func NewLoop(cfg *Config, idx int, el gnet.EventLoop, now int64) *Loop {
	l := &Loop{cfg: cfg, Idx: idx, el: el, users: make(map[string]*Conn)}
	l.Wheel.Init(now)
	return l
}

// Push queues f for one connection (pings, pushes to a single client).
func (l *Loop) Push(c *Conn, f *sse.Frame) {
	if c.State != StateStreaming {
		return
	}
	if l.q.Push(&c.pending, f, c.Chunked) {
		l.dirty = append(l.dirty, c)
	}
	l.framesQueued.Add(1)
}

// FlushDirty writes everything queued, one write per connection, then resets
// the queue. A write may close a connection re-entrantly (gnet runs OnClose
// inside Write on a hard error); OnClose never touches l.dirty, so iterating
// it here is safe.
func (l *Loop) FlushDirty() {
	var writes uint64
	for i, c := range l.dirty {
		l.dirty[i] = nil
		if c.State != StateStreaming {
			l.q.Drop(&c.pending)
			continue
		}
		if c.pending.Empty() {
			continue // written meanwhile (flushConn, ahead of a direct write)
		}
		l.write(c)
		writes++
	}
	l.writes.Add(writes) // once per flush: the counter is shared with /metrics
	l.dirty = l.dirty[:0]
	l.q.Reset()
}

// flushConn writes whatever is queued for c now, ahead of a direct write.
func (l *Loop) flushConn(c *Conn) {
	if c.pending.Empty() {
		return
	}
	l.write(c)
	l.writes.Add(1)
}

// write writes what is queued for c (not empty) and notes a full socket.
func (l *Loop) write(c *Conn) {
	buffered, err := l.q.FlushBuffered(&c.pending, c.GC, c.Chunked, l.cfg.Opts.Client.QueueMaxSize)
	if err == sse.ErrSlow {
		l.CloseSlow(c)
		return
	}
	if buffered > 0 {
		l.noteStall(c)
	}
}

// noteStall puts c on the stalled list when gnet kept part of the write it
// was just given: the socket's send buffer is full. From then on the sweep
// leaves c's backlog in the channel logs, so gnet holds at most the tail of
// one write (at most maxWrite bytes) and closeSlow knows how much has to fit
// in the socket for the disconnect push to follow it.
func (l *Loop) noteStall(c *Conn) {
	if c.Stalled() || c.State != StateStreaming || c.GC.OutboundBuffered() == 0 {
		return
	}
	c.ReadDeadline = max(1, int32(l.Wheel.Tick())) // stalled since (see conn.readDeadline)
	if !c.onStallList {
		c.onStallList = true
		l.stalled = append(l.stalled, c)
	}
}

// writable reports whether a stalled c's socket has taken everything gnet
// held, and if so ends the stall at once: the sweep then delivers c's backlog
// with the next publication instead of waiting for the next tick
// (checkStalled), which would add up to a tick of latency every time a busy
// reader's socket fills. Only on the loop.
func (l *Loop) writable(c *Conn) bool {
	if c.Parked || c.GC.OutboundBuffered() > 0 {
		return false
	}
	c.ReadDeadline = 0
	return true
}

// CheckStalled runs every tick: a stalled connection whose socket took
// gnet's tail gets its backlog again; one whose socket took nothing for
// write_stall_timeout is disconnected with 3008.
func (l *Loop) CheckStalled(now int64) {
	limit := l.cfg.StallTicks()
	kept := l.stalled[:0]
	for _, c := range l.stalled {
		switch {
		case c.State != StateStreaming:
			c.onStallList = false
		case c.GC.OutboundBuffered() == 0:
			c.onStallList = false
			c.ReadDeadline = 0
			l.Resume(c)
		case !c.Stalled():
			// Resumed by the sweep (writable) and stalled again since
			// without a new start: keep watching it.
			c.ReadDeadline = max(1, int32(now))
			kept = append(kept, c)
		case now-int64(c.ReadDeadline) >= limit:
			c.onStallList = false
			l.CloseSlow(c)
		default:
			kept = append(kept, c)
		}
	}
	clear(l.stalled[len(kept):])
	l.stalled = kept
}

// Resume puts the channels in which c is behind back on the active list, so
// the sweep delivers its backlog.
func (l *Loop) Resume(c *Conn) {
	for _, sub := range c.Subs {
		loc := sub.Ch.Local(l.Idx)
		if loc.Entries[sub.Idx].Next < loc.X.head() {
			l.activate(sub.Ch, &loc.X)
		}
	}
}

// ForgetBacklog moves a leaving connection's cursors to the head of its
// channels' logs and has the sweep look at those channels again, so the
// frames only it was holding are released now rather than at the channel's
// next publication. Only inside drain (which reschedules itself while
// channels are active) or after schedule.
func (l *Loop) ForgetBacklog(c *Conn) {
	for _, sub := range c.Subs {
		loc := sub.Ch.Local(l.Idx)
		if e := &loc.Entries[sub.Idx]; e.Next < loc.X.head() {
			e.Next = loc.X.head()
			l.activate(sub.Ch, &loc.X)
		}
	}
}

// Schedule makes sure the loop drains soon. Only on the loop.
func (l *Loop) Schedule() {
	l.mu.Lock()
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if wake {
		l.Wake()
	}
}

// Finish ends a streaming connection: queued frames first, then the
// disconnect push and the end of the chunked response, then a close. A
// connection whose socket fills up before it has caught up gets the push
// without the rest of its backlog instead (closeWith), so gnet is never left
// holding more than closeWith can fit into the socket. Only on the loop.
func (l *Loop) Finish(c *Conn, d protocol.Disconnect) {
	if c.State != StateStreaming {
		return
	}
	if d == protocol.DisconnectSlow {
		l.CloseSlow(c)
		return
	}
	// Publications posted before the disconnect go out before it.
	caughtUp := l.CatchUp(c)
	if c.State != StateStreaming {
		return
	}
	if !caughtUp || c.GC.OutboundBuffered() > 0 {
		l.closeWith(c, d)
		return
	}
	// Not streaming any more: nothing else is pushed behind the disconnect.
	c.State = StateFlushing
	l.countDisconnect(d)
	out := httpwrite.AppendDisconnectEvent(l.Out[:0], d, c.Chunked)
	if c.Chunked {
		out = append(out, sse.Terminator...)
	}
	l.Out = out
	if _, err := c.GC.Write(out); err == nil {
		// Close once gnet has written it all: a close right after the write
		// would drop what the socket has not taken yet, the disconnect push
		// included.
		l.cfg.Host.CloseWhenSent(c, false)
	}
}

// CloseSlow disconnects a client that cannot keep up with 3008 "slow" (see
// closeWith). Only on the loop.
func (l *Loop) CloseSlow(c *Conn) {
	if c.State != StateStreaming {
		return
	}
	l.closeWith(c, protocol.DisconnectSlow)
}

// countDisconnect counts a server disconnect of a stream with d where its
// push is written (once per stream, whatever path ends it).
func (l *Loop) countDisconnect(d protocol.Disconnect) {
	l.cfg.Disconnects.Inc(d.Code)
	l.CountDisconnectPush(d)
}

// closeWith disconnects a client whose socket may be full with d, in a way it
// can read once it reads again, and closes its socket now. The frames still
// waiting in user space or in the logs are dropped; gnet holds at most the
// rest of one write, which ends on a frame boundary. The socket's send buffer
// is grown by what that rest, the disconnect push and the terminating chunk
// need, they are written, and the socket is closed: the kernel keeps
// delivering what a closed socket holds, so the client reads whole frames and
// then the push. Only on the loop.
func (l *Loop) closeWith(c *Conn, d protocol.Disconnect) {
	if c.State != StateStreaming {
		return
	}
	l.q.Drop(&c.pending)
	c.State = StateClosing
	l.ForgetBacklog(c)
	l.countDisconnect(d)
	out := httpwrite.AppendDisconnectEvent(l.Out[:0], d, c.Chunked)
	if c.Chunked {
		out = append(out, sse.Terminator...)
	}
	l.Out = out
	if held := c.GC.OutboundBuffered(); held > 0 {
		sockopt.GrowSendBuffer(c.GC, held+len(out))
	}
	if _, err := c.GC.Write(out); err != nil {
		return // gnet closed it
	}
	if held := c.GC.OutboundBuffered(); held > 0 {
		// Written into a full socket: make sure the rest fits (a no-op
		// when it was grown above), then hand it to the kernel.
		sockopt.GrowSendBuffer(c.GC, held)
		_ = c.GC.Flush()
	}
	if c.State == StateClosing && c.GC.OutboundBuffered() > 0 {
		// The kernel refused the room (a buffer at the system's maximum, or
		// TCP memory under pressure): closing now would discard the push.
		// Keep the socket until the client takes the rest; one that takes
		// nothing for read_timeout is closed then (closeWhenSent). It holds
		// at most one write and the push meanwhile.
		l.cfg.PushWaits.Inc()
		c.State = StateFlushing
		l.cfg.Host.CloseWhenSent(c, false)
		return
	}
	_ = c.GC.Close()
}

// WriteEvent sends one push to c right away, after anything queued for it.
// A connection whose socket fills up before it has caught up cannot get the
// push in order: it is disconnected with 3008, as when its backlog passes
// queue_max_size.
func (l *Loop) WriteEvent(c *Conn, kind PushKind, json []byte) {
	if !l.CatchUp(c) {
		l.CloseSlow(c)
		return
	}
	if c.State != StateStreaming {
		return
	}
	l.Out = sse.AppendEvent(l.Out[:0], json, c.Chunked)
	_, _ = c.GC.Write(l.Out)
	l.writes.Add(1)
	l.CountPush(kind, len(json))
	l.noteStall(c)
}

// AddStream registers a connection that just started streaming.
func (l *Loop) AddStream(c *Conn) {
	c.streamIdx = int32(len(l.streams))
	l.streams = append(l.streams, c)
	head := l.users[c.User]
	c.userNext = head
	c.userPrev = nil
	if head != nil {
		head.userPrev = c
	}
	l.users[c.User] = c
}

// RemoveStream undoes addStream.
func (l *Loop) RemoveStream(c *Conn) {
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
		l.users[c.User] = c.userNext
	} else {
		delete(l.users, c.User)
	}
	if c.userNext != nil {
		c.userNext.userPrev = c.userPrev
	}
	c.userNext, c.userPrev = nil, nil
}

// Find appends to l.targets the streaming connections matching a selector:
// user (all of the user's connections), optionally narrowed to one client id
// or session. With user empty and no client/session it selects anonymous
// connections; with user empty and a client or session, it searches all.
func (l *Loop) Find(user, client, session string) []*Conn {
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
	match := func(c *Conn) bool {
		return c.State == StateStreaming && (!hasC || c.Client == cid) && (!hasS || c.Session == sid)
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
