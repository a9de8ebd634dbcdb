package delivery

import (
	"context"
	"io"
	"os"

	"github.com/unisse/unisse/engine/hub"
	"github.com/unisse/unisse/engine/internal/stepwatch"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// How a loop delivers.
//
// Publications are posted to a loop's inbox by any goroutine, numbered per
// channel (hub.Local.NextSeq) under the inbox lock. When the loop drains, it
// appends each frame to its channel's log on this loop (chanState.log) and
// runs operations in the order they were posted. Then it sweeps the channels
// that have undelivered frames: a pass visits every subscriber and queues
// everything past its cursor (hub.Entry.Next) — one frame when the loop
// keeps up, all that accumulated when it fell behind, which is where
// coalescing under load comes from, with no added delay otherwise. A
// subscriber's frames go out in one write at the end of the slice.
//
// A slice visits at most SliceBudget subscribers that have something to
// receive, then flushes and returns to gnet's poller, kicking itself to
// continue. That keeps a fan-out to tens of thousands of subscribers from
// delaying the loop's other work — API requests, new connects — by more than
// a millisecond or so, and it is what keeps publish latency independent of
// fan-out size.
//
// A pass tolerates subscribers joining and leaving (swap-removal can move an
// unvisited subscriber behind the cursor): when a pass ends, one scan of the
// cursors says whether everybody is caught up; if not, another pass runs.
// Frames every subscriber has passed are released after the flush that wrote
// them.

const (
	// SliceBudget is how many subscribers a loop writes to before it flushes
	// and yields to its poller (≈ 0.25 ms of writes at 7–9 µs per write):
	// an API request or a connect waits at most that long behind a fan-out,
	// for a yield that costs one kick and one epoll_wait.
	SliceBudget = 32
	// scanBudget bounds how many subscribers a slice looks at in all,
	// including those with nothing to receive.
	scanBudget = 16384
	// connectsPerSlice is how many connects a loop serves between slices. A
	// connect costs about as much as tens of writes (more with recovery), so
	// a storm of thousands is spread over slices instead of stalling the
	// loop's deliveries for as long as they all take.
	connectsPerSlice = 4
	// ClosesPerSlice is how many connections the peer closed that a loop
	// handles before it delivers again. gnet closes such a connection itself,
	// from its read path (close(2) is ~20 µs of it), and the kick that
	// would resume deliveries sits at the end of epoll's ready list behind
	// every hang-up already queued: thousands of clients leaving at once
	// would stall the loop's deliveries for all of them.
	ClosesPerSlice = 32
	// closeDrainSlices is how many slices of pending work a loop runs after
	// each ClosesPerSlice hang-ups (while there is work).
	closeDrainSlices = 4
	// MaxWrite is the most a sweep hands gnet for one connection in one
	// write (a single larger frame still goes whole). It keeps coalescing
	// (the gain is in the number of writes, flat past a few KiB) while
	// bounding what gnet can be left holding when the socket fills up: the
	// tail closeSlow must fit into the socket behind the 3008.
	MaxWrite = 64 << 10
)

// Channel is a hub Channel as the engine uses it.
type Channel = hub.Channel[*Conn, ChanState]

// What a logged frame is.
const (
	FramePub     uint8 = iota // a publication
	FrameJoin                 // a join push: for subscriptions that receive them
	FrameLeave                // a leave push: for subscriptions that receive them
	FrameNotJSON              // a publication whose data is not JSON: subscribers get 3506
)

// pushKindOf is the push a logged frame of each kind is.
var pushKindOf = [...]PushKind{FramePub: PushPublication, FrameJoin: PushJoin, FrameLeave: PushLeave, FrameNotJSON: PushPublication}

// logFrame is one entry of a channel's log on a loop.
type logFrame struct {
	frame  *sse.Frame // nil for frameNotJSON
	offset uint64     // the publication's offset in its stream; 0 without one
	posted int64      // monoNow when posted (FramePub only; 0 for others)
	kind   uint8
}

// ChanState is a loop's delivery state for one channel (hub.Local.X): the
// frames not yet delivered to every subscriber, and the sweep's position.
// Only the loop touches it.
type ChanState struct {
	log      []logFrame // oldest first; log[0] has sequence number base
	base     uint64
	released uint64 // frames below this may leave the log after the flush
	sweep    int    // next entry to visit in the current pass
	bytes    int    // size of the frames in log
	timed    uint64 // frames below this had their delay observed (sweep)
	active   bool   // on the loop's active list
	touched  bool   // on the loop's touched list (has frames to release)
	overCap  bool   // on the loop's overCap list
	// lost: a frame of this channel did not fit in the loop's inbox
	// (unisse.loop_inbox_max_size). Guarded by loop.mu, unlike the rest.
	lost bool

	// The last stream position this loop knows the channel at: the newest
	// publication logged, or a subscriber's position told by the broker
	// (NotePosition). A check after a broker reconnect compares it with the
	// stream's (see Hold).
	lastOffset uint64
	lastEpoch  string
	// A hold (Hold … Unhold): frames from sequence number holdSeq on are not
	// delivered; holdID names it, holdKnown says a position was known when
	// it began, holdGap that a frame logged since skipped an offset or
	// changed the epoch.
	holdID    uint64
	holdSeq   uint64
	holdKnown bool
	holdGap   bool
}

func (st *ChanState) head() uint64 { return st.base + uint64(len(st.log)) }

// ready is where delivery stops: the head, or where a hold began.
func (st *ChanState) ready() uint64 {
	if st.holdID != 0 {
		return min(st.holdSeq, st.head())
	}
	return st.head()
}

// noteFrame moves the known position to a logged publication's; while held
// it notes a frame that does not follow the last one known.
func (st *ChanState) noteFrame(offset uint64, epoch string) {
	switch {
	case offset == 0:
	case epoch != "" && epoch != st.lastEpoch:
		st.holdGap = st.holdGap || st.holdID != 0 && st.lastEpoch != ""
		st.lastOffset, st.lastEpoch = offset, epoch
	case offset > st.lastOffset:
		st.holdGap = st.holdGap || st.holdID != 0 && st.holdKnown && offset > st.lastOffset+1
		st.lastOffset = offset
	}
}

// frameSize is what a frame counts against the log and inbox caps.
func frameSize(f *sse.Frame) int {
	if f == nil {
		return 0
	}
	return len(f.Chunk())
}

// drainState is the loop's delivery state across its channels.
type drainState struct {
	active    []*Channel // channels with undelivered frames
	activeIdx int        // round-robin position in active
	touched   []*Channel // channels whose delivered frames await release
}

// Run drains the inbox (gnet.Runnable), used when the loop is woken with
// Execute before its kick socket is registered.
func (l *Loop) Run(context.Context) error {
	l.Drain()
	return nil
}

// Post queues an operation for the loop and wakes it if it is not already
// draining: op runs on the loop, after every frame posted before it is
// logged. Safe from any goroutine.
func (l *Loop) Post(op func(*Loop)) {
	l.mu.Lock()
	l.inbox = append(l.inbox, item{op: op})
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if wake {
		l.Wake()
	}
}

// PostFrame queues frame f of channel ch (a publication at offset, 0
// without one) for the loop, numbered in the channel's sequence under the
// same lock, so the loop logs frames in order. The caller has retained f for
// the loop. It does not wake the loop: it reports whether the caller must
// (wake), once it has released its own locks. posted is when a publication
// was handed to the hub (Now, read once for all the loops), 0 for frames
// whose delay is not measured. Safe from any goroutine.
//
// A loop that cannot keep up does not let its inbox grow past
// unisse.loop_inbox_max_size: a frame that does not fit is not queued (and not
// numbered), and its channel is marked lost instead, so the loop disconnects
// the channel's subscribers with 3008 — they missed a publication — rather
// than the publish failing or memory growing without bound.
func (l *Loop) PostFrame(ch *Channel, f *sse.Frame, kind uint8, offset uint64, posted int64) (wake bool) {
	size := frameSize(f)
	l.mu.Lock()
	loc := ch.Local(l.Idx)
	if l.inboxBytes+size > l.cfg.Opts.Own.LoopInboxMaxSize && l.inboxBytes > 0 {
		if !loc.X.lost {
			loc.X.lost = true
			l.lost = append(l.lost, ch)
		}
		wake := !l.scheduled
		l.scheduled = true
		l.mu.Unlock()
		if f != nil {
			f.Release()
		}
		return wake
	}
	l.inboxBytes += size
	seq := loc.NextSeq()
	l.inbox = append(l.inbox, item{ch: ch, frame: f, kind: kind, seq: seq, offset: offset, posted: posted})
	wake = !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	return wake
}

// Wake makes the loop call drain soon. Safe from any goroutine.
func (l *Loop) Wake() {
	if l.kick.Kick() {
		return
	}
	// gnet's Execute allocates a closure and a queue node per call; it is
	// only the fallback until the kick socket is registered.
	if err := l.el.Execute(context.Background(), l); err != nil {
		l.cfg.Log.Debug("loop execute failed", "loop", l.Idx, "err", err)
	}
}

// Drain does one slice of the loop's work and reschedules itself if work
// remains. Only on the loop.
func (l *Loop) Drain() {
	if stepwatch.Hook != nil {
		defer stepwatch.Hook.End("drain", stepwatch.Hook.Start())
	}
	l.connectsInSlice = 0
	l.closesInSlice = 0
	l.serveDeferred()
	lost := l.takeInbox()
	l.sweep()
	l.FlushDirty()
	l.releaseDelivered()
	if len(lost) > 0 || len(l.overCap) > 0 {
		l.shedLost(lost)
		l.shedLaggards()
		l.releaseDelivered()
	}
	l.mu.Lock()
	more := len(l.active) > 0 || len(l.inbox) > 0 || len(l.waiting) > 0 || len(l.lost) > 0
	if !more {
		l.scheduled = false
	}
	inbox := l.inboxBytes
	l.mu.Unlock()
	l.backlog.Store(int64(l.logBytes + inbox))
	if more {
		l.Wake()
	}
}

// takeInbox logs every posted frame with its channel and runs the posted
// operations, in posting order: an operation sees every frame posted before
// it logged (catchUp delivers them to the connections it acts on). It returns
// the channels that lost frames to a full inbox (valid until the next call).
func (l *Loop) takeInbox() (lost []*Channel) {
	l.mu.Lock()
	items := l.inbox
	l.inbox = l.spare[:0]
	l.inboxBytes = 0
	lost = l.lost
	l.lost = l.lostSpare[:0]
	l.lostSpare = lost
	for _, ch := range lost {
		ch.Local(l.Idx).X.lost = false
	}
	l.mu.Unlock()
	for i := range items {
		it := &items[i]
		if it.op != nil {
			it.op(l)
			continue
		}
		loc := it.ch.Local(l.Idx)
		st := &loc.X
		if len(st.log) == 0 {
			st.base = it.seq
			st.released = it.seq
		}
		st.log = append(st.log, logFrame{frame: it.frame, kind: it.kind, offset: it.offset, posted: it.posted})
		if it.offset != 0 && (it.kind == FramePub || it.kind == FrameNotJSON) {
			epoch := st.lastEpoch
			if it.frame != nil {
				epoch = it.frame.Epoch
			}
			st.noteFrame(it.offset, epoch)
		}
		st.bytes += frameSize(it.frame)
		l.logBytes += frameSize(it.frame)
		if st.bytes > l.cfg.Opts.Client.QueueMaxSize && !st.overCap {
			st.overCap = true
			l.overCap = append(l.overCap, it.ch)
		}
		l.activate(it.ch, st)
	}
	clear(items)
	if cap(items) > 1<<16 {
		items = nil // a burst should not pin a big inbox
	}
	l.spare = items[:0]
	return lost
}

// activate puts a channel with undelivered frames on the active list.
func (l *Loop) activate(ch *Channel, st *ChanState) {
	if !st.active {
		st.active = true
		st.sweep = 0
		l.active = append(l.active, ch)
	}
}

// sweep delivers logged frames to subscribers, channel by channel in the
// order they became active (so a connection on several channels gets their
// frames in posting order when the loop keeps up), within the slice's
// budgets; an unfinished pass resumes in the next slice.
func (l *Loop) sweep() {
	budget, scan := SliceBudget, scanBudget
	now := int64(0) // read once per slice, when a channel has new frames
	for visited := 0; visited < len(l.active) && budget > 0 && scan > 0; visited++ {
		if l.activeIdx >= len(l.active) {
			l.activeIdx = 0
		}
		ch := l.active[l.activeIdx]
		loc := ch.Local(l.Idx)
		st := &loc.X
		if st.timed < st.head() {
			l.observeDelays(st, st.head(), &now)
		}
		head := st.ready() // a held channel's frames past the hold wait
		queued := 0
		// Entries is re-read every step: delivering can close a connection
		// (gnet runs OnClose inside a failed write), which swap-removes it.
		for st.sweep < len(loc.Entries) && budget > 0 && scan > 0 {
			e := &loc.Entries[st.sweep]
			st.sweep++
			scan--
			if e.Next >= head {
				continue
			}
			c := e.Sub
			if c.Held() && !l.writable(c) {
				continue // its backlog waits in the log (checkStalled or unpark resumes it)
			}
			from := e.Next
			e.Next = head // before delivering: delivery may remove the entry
			n, to := l.deliver(c, ch, st, from, head, MaxWrite)
			if to < head && c.State == StateStreaming {
				// Stopped at MaxWrite: still at the same index (only its own
				// close removes it). The pass-end check keeps the channel active.
				loc.Entries[st.sweep-1].Next = to
			}
			queued += n
			budget--
		}
		l.framesQueued.Add(uint64(queued))
		if st.sweep < len(loc.Entries) {
			break // out of budget mid-pass; the next slice continues here
		}
		// The pass is over: is every subscriber caught up?
		// Stalled subscribers hold frames in the log but do not keep the
		// channel active: checkStalled resumes them.
		low, lowReady := head, head
		for i := range loc.Entries {
			e := &loc.Entries[i]
			if e.Next < lowReady {
				low = min(low, e.Next)
				if !e.Sub.Held() {
					lowReady = e.Next
				}
			}
		}
		scan -= len(loc.Entries)
		l.markReleased(ch, st, low)
		st.sweep = 0
		if lowReady >= head {
			st.active = false // caught up; compacted out below
		}
		l.activeIdx++
	}
	// Drop caught-up channels, keeping the others in order.
	kept := l.active[:0]
	resume := l.activeIdx
	for i, ch := range l.active {
		if ch.Local(l.Idx).X.active {
			kept = append(kept, ch)
		} else if i < resume {
			l.activeIdx-- // keep pointing at the same channel
		}
	}
	clear(l.active[len(kept):])
	l.active = kept
}

// deliver queues frames [from, to) of ch's log to c, stopping early once c
// has limit bytes queued, and returns how many it queued and the sequence
// number it stopped at (to when it delivered all).
func (l *Loop) deliver(c *Conn, ch *Channel, st *ChanState, from, to uint64, limit int) (int, uint64) {
	if c.State != StateStreaming {
		return 0, to
	}
	if from < st.base {
		from = st.base // cannot happen: a cursor never trails released frames
	}
	n := 0
	for seq := from; seq < to; seq++ {
		if c.pending.Bytes() >= limit {
			return n, seq
		}
		lf := &st.log[seq-st.base]
		switch lf.kind {
		case FrameJoin, FrameLeave:
			if c.FlagsFor(ch)&SubPushJoinLeave == 0 {
				continue
			}
		case FrameNotJSON:
			// Centrifugo disconnects a JSON client that would get binary
			// data: what came before is written first.
			l.Finish(c, protocol.DisconnectInappropriateProtocol)
			return n, to
		}
		if l.queue(c, ch, lf) {
			l.dirty = append(l.dirty, c)
		}
		l.CountPush(pushKindOf[lf.kind], len(lf.frame.JSON()))
		n++
	}
	return n, to
}

// queue queues a logged frame for c and reports whether c's queue was
// empty. A connection with SSE ids (unisse.sse_event_ids) gets, before each
// publication that moves one of its tracked positions, the id line listing
// them all; the frame itself stays the shared one.
func (l *Loop) queue(c *Conn, ch *Channel, lf *logFrame) bool {
	if ids := c.eventIDs(); ids != nil && lf.offset != 0 && lf.kind == FramePub && ids.advance(ch, lf.offset, lf.frame.Epoch) {
		l.idScratch = ids.appendToken(l.idScratch[:0])
		return l.q.PushWithID(&c.pending, lf.frame, c.Chunked, l.idScratch)
	}
	return l.q.Push(&c.pending, lf.frame, c.Chunked)
}

// CatchUp writes to c everything logged for its channels that it has not
// received, so that an operation acting on c (a disconnect, a push) comes
// after the publications posted before it, and reports whether c is caught
// up. Like the sweep, it hands gnet nothing while gnet holds part of an
// earlier write: it writes at most MaxWrite at a time and stops when the
// socket is full, leaving the rest in the logs (and c on the stalled list),
// so gnet never holds more than one write's tail — what closeWith must fit
// into the socket. Only on the loop.
func (l *Loop) CatchUp(c *Conn) bool {
	if c.Parked {
		// Its frames wait in the logs for the broker's position (unpark);
		// an operation acting now goes ahead of them.
		return true
	}
	for c.State == StateStreaming {
		if c.GC.OutboundBuffered() > 0 {
			l.noteStall(c)
			return !l.behind(c)
		}
		more := false
		for i := 0; i < len(c.Subs) && c.State == StateStreaming; i++ {
			sub := c.Subs[i]
			loc := sub.Ch.Local(l.Idx)
			head := loc.X.ready()
			if loc.Entries[sub.Idx].Next >= head {
				continue
			}
			if c.pending.Bytes() >= MaxWrite {
				more = true
				break
			}
			from := loc.Entries[sub.Idx].Next
			loc.Entries[sub.Idx].Next = head // before delivering: delivery may close c
			n, to := l.deliver(c, sub.Ch, &loc.X, from, head, MaxWrite)
			l.framesQueued.Add(uint64(n))
			if to < head && c.State == StateStreaming {
				loc.Entries[sub.Idx].Next = to
				more = true
			}
		}
		if c.State != StateStreaming {
			return false
		}
		l.flushConn(c)
		if !more {
			return c.State == StateStreaming
		}
	}
	return false
}

// behind reports whether c has frames in its channels' logs that it has not
// received.
func (l *Loop) behind(c *Conn) bool {
	for _, sub := range c.Subs {
		loc := sub.Ch.Local(l.Idx)
		if loc.Entries[sub.Idx].Next < loc.X.ready() {
			return true
		}
	}
	return false
}

// releaseDelivered drops frames every subscriber has passed from their logs.
// Call it only right after flushDirty: then each was written or copied into
// the connections' outbound buffers and nothing queued still points at it.
func (l *Loop) releaseDelivered() {
	for _, ch := range l.touched {
		st := &ch.Local(l.Idx).X
		st.touched = false
		n := int(st.released - st.base)
		for i := range n {
			if f := st.log[i].frame; f != nil {
				st.bytes -= frameSize(f)
				l.logBytes -= frameSize(f)
				f.Release()
			}
		}
		switch {
		case n == len(st.log):
			clear(st.log)
			st.log = st.log[:0]
			if cap(st.log) > 1024 {
				st.log = nil // a burst should not pin a big log on a quiet channel
			}
		case n > 0:
			rest := copy(st.log, st.log[n:])
			clear(st.log[rest:])
			st.log = st.log[:rest]
		}
		st.base = st.released
	}
	clear(l.touched)
	l.touched = l.touched[:0]
}

// shedLaggards enforces client.queue_max_size on the logs: when a channel's
// log on this loop holds more bytes than that, the subscribers still behind
// the oldest frames past the cap are the slow ones, and they are
// disconnected with 3008 so that the frames can go; publications are never
// dropped for them. Call it right after releaseDelivered: nothing queued
// then points into a log.
func (l *Loop) shedLaggards() {
	limit := l.cfg.Opts.Client.QueueMaxSize
	for _, ch := range l.overCap {
		loc := ch.Local(l.Idx)
		st := &loc.X
		st.overCap = false
		if st.bytes <= limit {
			continue
		}
		// Keep the newest frames that fit (at least one).
		cut, b := 0, st.bytes
		for b > limit && cut < len(st.log)-1 {
			b -= frameSize(st.log[cut].frame)
			cut++
		}
		cutoff := st.base + uint64(cut)
		// Backwards: a close inside closeSlow swap-removes an entry, moving
		// an already visited one into its place.
		for i := len(loc.Entries) - 1; i >= 0; i-- {
			if i >= len(loc.Entries) {
				continue
			}
			e := &loc.Entries[i]
			if e.Next >= cutoff {
				continue
			}
			e.Next = cutoff
			l.CloseSlow(e.Sub)
		}
		l.markReleased(ch, st, cutoff)
	}
	clear(l.overCap)
	l.overCap = l.overCap[:0]
}

// markReleased lets frames below seq leave ch's log at the next
// releaseDelivered.
func (l *Loop) markReleased(ch *Channel, st *ChanState, seq uint64) {
	if seq > st.released {
		st.released = seq
		if !st.touched {
			st.touched = true
			l.touched = append(l.touched, ch)
		}
	}
}

// shedLost disconnects with 3008 this loop's subscribers of channels whose
// publications did not fit in the loop's inbox: each of them missed one.
func (l *Loop) shedLost(lost []*Channel) {
	for _, ch := range lost {
		loc := ch.Local(l.Idx)
		head := loc.X.head()
		for i := len(loc.Entries) - 1; i >= 0; i-- {
			if i >= len(loc.Entries) {
				continue
			}
			e := &loc.Entries[i]
			e.Next = head
			l.CloseSlow(e.Sub)
		}
		l.markReleased(ch, &loc.X, head)
	}
	clear(lost)
}

// NotePeerClose counts a connection that gnet closed from its read path
// (the peer closed or reset it) and, every ClosesPerSlice of them, runs a
// slice of the loop's pending work right there instead of after the rest of
// the hang-ups gnet has queued. Only from OnClose, and only for such a close:
// gnet's read path is never inside unisse's own code, so nothing on the loop
// is half done (a close inside a failed Write, which can be, reports a write
// error).
func (l *Loop) NotePeerClose() {
	l.closesInSlice++
	if l.closesInSlice < ClosesPerSlice {
		return
	}
	// Up to closeDrainSlices slices while work is pending: delivering to a
	// subscriber (one write) costs a fraction of a close, so a slice per
	// ClosesPerSlice hang-ups alone would let a storm of closes hold back a
	// fan-out for as many slices as it has subscribers to write to.
	l.closesInSlice = 0
	// A request waiting on a keep-alive connection (a publish) is served
	// now rather than behind the rest of the ready list (watch.go); what it
	// posts goes out in the slices below.
	l.pollWatched()
	for range closeDrainSlices {
		l.mu.Lock()
		pending := l.scheduled
		l.mu.Unlock()
		if !pending {
			return
		}
		l.Drain()
	}
}

// ClosedByPeer reports whether OnClose's error says gnet closed the
// connection from its read path: end of stream or a failed read.
func ClosedByPeer(err error) bool {
	if err == io.EOF {
		return true
	}
	se, ok := err.(*os.SyscallError) // as gnet passes it, unwrapped
	return ok && se.Syscall == "read"
}

// TakeConnectTurn reports whether c's connect may be served in this slice
// (connectsPerSlice). If not, c waits for a later slice with its request in
// its input buffer (StateDeferred), and the loop serves it then through
// Host.ServeInput. Only on the loop.
func (l *Loop) TakeConnectTurn(c *Conn) bool {
	if l.connectsInSlice < connectsPerSlice {
		l.connectsInSlice++
		return true
	}
	c.State = StateDeferred
	l.waiting = append(l.waiting, c)
	l.Schedule()
	return false
}

// ReturnConnectTurn gives back the turn of a connect that was not served
// after all (its body is still arriving). Only on the loop.
func (l *Loop) ReturnConnectTurn() { l.connectsInSlice-- }

// serveDeferred serves parked connects, oldest first, up to this slice's
// share. Only on the loop.
func (l *Loop) serveDeferred() {
	n := 0
	for n < len(l.waiting) && l.connectsInSlice < connectsPerSlice {
		c := l.waiting[n]
		n++
		if c.State != StateDeferred {
			continue // closed meanwhile
		}
		c.State = StateReading
		l.cfg.Host.ServeInput(c)
	}
	if n > 0 {
		rest := copy(l.waiting, l.waiting[n:])
		clear(l.waiting[rest:])
		l.waiting = l.waiting[:rest]
	}
}

// StartKick registers the loop's kick socket (engine/kick). Until it is
// ready the loop is woken with Execute.
func (l *Loop) StartKick() { l.kick.Start(l.el, KickContext{l}, l.cfg.Log) }

// KickContext marks a loop's kick connection in gnet callbacks.
type KickContext struct{ Loop *Loop }

// StopKick closes the write end (the read end is closed by gnet).
func (l *Loop) StopKick() { l.kick.Stop() }
