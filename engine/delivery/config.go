package delivery

import (
	"log/slog"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/protocol"
)

// TickInterval is the resolution of the loops' timing wheels (pings,
// expiry, read deadlines, write stalls): one ticker for the whole server
// posts a timer sweep to every loop at this rate.
const TickInterval = 100 * time.Millisecond

// Config is what every loop of a server shares.
type Config struct {
	// Opts are the server's options; the loops read client.queue_max_size,
	// unisse.loop_inbox_max_size and unisse.write_stall_timeout from them.
	Opts *config.Options
	Log  *slog.Logger
	// Disconnects counts the streams the loops end, by code (3008 slow
	// included); PushWaits the disconnects whose push a full socket could
	// not be made to hold at once.
	Disconnects *DisconnectCounts
	PushWaits   *metrics.Counter
	Host        Host
}

// Host is the part of the session the delivery runtime calls back into.
// Both run on the connection's loop.
type Host interface {
	// CloseWhenSent closes c once gnet has sent everything written to it
	// (lingering: the write side is shut and input drained first).
	CloseWhenSent(c *Conn, linger bool)
	// ServeInput serves the requests buffered on c: a connect that waited
	// for its turn (TakeConnectTurn).
	ServeInput(c *Conn)
}

// StallTicks is unisse.write_stall_timeout in ticks (at least one).
func (cfg *Config) StallTicks() int64 {
	return max(1, int64(cfg.Opts.Own.WriteStallTimeout/TickInterval))
}

// NewConn returns the state of a connection gnet just opened on loop
// loopIdx: reading its first request, not streaming.
func NewConn(gc gnet.Conn, loopIdx uint8) *Conn {
	return &Conn{GC: gc, LoopIdx: loopIdx, streamIdx: -1}
}

// InStreams reports whether c is on its loop's list of streams (from
// AddStream until Closed, even once it stops streaming).
func (c *Conn) InStreams() bool { return c.streamIdx >= 0 }

// EventLoop is the gnet event loop l runs on.
func (l *Loop) EventLoop() gnet.EventLoop { return l.el }

// Streams are l's streaming connections (and those ended whose close gnet
// has not reported yet). The slice is l's own: read it on the loop, and do
// not keep it across a Finish, which may remove from it.
func (l *Loop) Streams() []*Conn { return l.streams }

// AppendUsers appends the users with a stream on l. Only on the loop.
func (l *Loop) AppendUsers(dst []string) []string {
	for u := range l.users {
		dst = append(dst, u)
	}
	return dst
}

// FinishAll ends every stream on l with d. Only on the loop.
func (l *Loop) FinishAll(d protocol.Disconnect) {
	l.targets = append(l.targets[:0], l.streams...)
	for _, c := range l.targets {
		l.Finish(c, d)
	}
	clear(l.targets)
}

// Closed forgets c on its loop once gnet closed it: its backlog in the
// channel logs (a stalled or parked connection's), its timer, what is queued
// for it and its place among the streams. Its subscriptions are the
// session's to remove. Only from OnClose.
func (l *Loop) Closed(c *Conn) {
	if c.Held() {
		// Its backlog would otherwise stay until the channels' next
		// publications.
		l.ForgetBacklog(c)
		l.Schedule()
	}
	c.State = StateClosed
	l.Wheel.Remove(c)
	l.q.Drop(&c.pending)
	l.RemoveStream(c)
	l.unwatch(c)
}

// Cursor is the sequence number of the next frame subscriber idx of ch on
// l is to receive. Only on the loop.
func (l *Loop) Cursor(ch *Channel, idx int) uint64 {
	return ch.Local(l.Idx).Entries[idx].Next
}

// SkipThrough moves the cursor of c's subscription sub past the frames in
// the channel's log whose publication offset is at most offset: a parked
// subscriber (see Conn.Parked) that the broker told its position skips what
// the position already covers. It reports false, moving nothing, when the
// cursor is no longer at start (where it was when c was parked): frames c
// needed were shed meanwhile (queue_max_size). Only on the loop.
func (l *Loop) SkipThrough(sub Subscription, start, offset uint64) bool {
	loc := sub.Ch.Local(l.Idx)
	e := &loc.Entries[sub.Idx]
	if e.Next != start {
		return false
	}
	x := &loc.X
	for seq := max(e.Next, x.base); seq < x.head(); seq++ {
		if o := x.log[seq-x.base].offset; o != 0 && o <= offset {
			e.Next = seq + 1
		}
	}
	return true
}

// NotePosition tells the loop a position of ch's stream the broker gave a
// subscriber: what a check after a reconnect starts from when no
// publication of ch was logged here yet. It sets the loop's known position
// only when the loop knows none, or when that subscriber is the channel's
// only one here. Otherwise the known position is what the loop logged: a
// position read while the broker's PUB/SUB connection is already lost (but
// not yet known to be) can be past publications that never reached this
// node, and taking it would hide their loss from the check, while the
// subscribers already here missed them. Ignored while ch is held, for the
// same reason. Only on the loop.
func (l *Loop) NotePosition(ch *Channel, offset uint64, epoch string) {
	loc := ch.Local(l.Idx)
	st := &loc.X
	known := st.lastOffset != 0 || st.lastEpoch != ""
	switch {
	case st.holdID != 0, known && len(loc.Entries) > 1:
	case epoch != st.lastEpoch:
		st.lastOffset, st.lastEpoch = offset, epoch // offset 0 too: an empty stream
	case offset > st.lastOffset:
		st.lastOffset = offset
	}
}

// Hold stops the delivery of ch's frames logged from now on, until Unhold
// with the same id (not 0; a later Hold replaces it): the broker lost and
// is restoring its subscription to ch, and whether a publication went
// missing meanwhile is not known yet. The subscribers still get what was
// logged before. Only on the loop.
//
// A Hold while ch is already held (the broker lost its connection again
// before the first check ended) keeps the first hold's start, known
// position and any gap seen since: the frames held so far are not yet
// known to be complete, and the later check must answer for them too.
func (l *Loop) Hold(ch *Channel, id uint64) {
	st := &ch.Local(l.Idx).X
	if st.holdID == 0 {
		st.holdSeq = st.head()
		st.holdKnown = st.lastOffset != 0 || st.lastEpoch != ""
		st.holdGap = false
	}
	st.holdID = id
}

// HoldCheck compares what the loop logged of ch, held as id, with the
// stream position (offset, epoch) read once the broker's subscription was
// back. Held is false when id is no longer ch's hold. Intact: no
// publication is missing — the frames logged since the hold follow the last
// position known before it without a skipped offset, in the same epoch,
// and reach offset. Lost: one is — a skipped offset, another epoch, or no
// position known before the hold and a stream that is not empty. Neither:
// the publications up to offset have not all arrived yet (they may be on
// their way: the position was read after the SUBSCRIBE, and publications
// made in between reach the loop after the answer can). Only on the loop.
func (l *Loop) HoldCheck(ch *Channel, id uint64, offset uint64, epoch string) (held, intact, lost bool) {
	st := &ch.Local(l.Idx).X
	if st.holdID != id || id == 0 {
		return false, false, false
	}
	if !st.holdKnown {
		// Nothing known to compare with: only an empty stream is certain.
		ok := offset == 0 && (st.lastEpoch == "" || st.lastEpoch == epoch)
		return true, ok, !ok
	}
	if st.holdGap || epoch != "" && st.lastEpoch != "" && epoch != st.lastEpoch {
		return true, false, true
	}
	return true, st.lastOffset >= offset, false
}

// Unhold ends ch's hold id (if still in place) and has the sweep deliver
// what waited. Only on the loop.
func (l *Loop) Unhold(ch *Channel, id uint64) {
	loc := ch.Local(l.Idx)
	st := &loc.X
	if st.holdID != id {
		return
	}
	st.holdID, st.holdGap = 0, false
	for i := range loc.Entries {
		if loc.Entries[i].Next < st.head() {
			l.activate(ch, st)
			l.Schedule()
			break
		}
	}
}

// Logged is how many frames st's log holds.
func (st *ChanState) Logged() int { return len(st.log) }

// Scheduled reports whether l has a drain queued or in progress. For tests
// that drive a loop without gnet: they call Drain while it is true.
func (l *Loop) Scheduled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.scheduled
}

// HoldWakes marks a drain as queued, so that posting to l does not wake it:
// for tests that drive a loop without gnet and run Drain themselves.
func (l *Loop) HoldWakes() {
	l.mu.Lock()
	l.scheduled = true
	l.mu.Unlock()
}

// AttachKick makes fd l's kick socket, for tests that run a loop without
// gnet (see kick.Socket.Attach).
func (l *Loop) AttachKick(fd int) { l.kick.Attach(fd) }

// FramesQueued is how many events l has queued for connections, and Writes
// how many writes it made of them (their ratio is how many events share a
// write). Safe from any goroutine (/metrics).
func (l *Loop) FramesQueued() uint64 { return l.framesQueued.Load() }

// Writes: see FramesQueued.
func (l *Loop) Writes() uint64 { return l.writes.Load() }

// KickReady reports whether l's kick socket is registered with its poller.
func (l *Loop) KickReady() bool { return l.kick.Ready() }

// LoggedBytes is the size of the frames st's log holds (what
// client.queue_max_size caps).
func (st *ChanState) LoggedBytes() int { return st.bytes }

// Behind reports whether c has frames in its channels' logs that it has not
// received. Only on the loop.
func (l *Loop) Behind(c *Conn) bool { return l.behind(c) }

// TakeInbox logs the frames posted to l and runs the posted operations,
// without sweeping: what a drain does first. For tests that build a
// backlog. Only on the loop.
func (l *Loop) TakeInbox() { l.takeInbox() }

// InboxSize is how many bytes of frames and how many items wait in l's
// inbox. Safe from any goroutine.
func (l *Loop) InboxSize() (bytes, items int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inboxBytes, len(l.inbox)
}
