package engine

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/input"
	"github.com/unisse/unisse/engine/wheel"
	"github.com/unisse/unisse/sse"
)

// connState is where a connection is in its life. Transitions happen only on
// its event loop.
type connState uint8

const (
	// stateReading: accumulating the next request (API keep-alive included).
	stateReading connState = iota
	// stateAwaiting: an API request is being served off the loop; further
	// input stays buffered until the reply is written.
	stateAwaiting
	// stateDeferred: a complete connect request waits in the input buffer
	// for the loop's next slice (a connect storm is served a few connects per
	// slice, see drain.go).
	stateDeferred
	// stateStreaming: an SSE response is open; input is ignored.
	stateStreaming
	// statePaused: the responses not yet sent exceed maxUnsent, so the
	// connection's further requests wait (net/http serves one request at a
	// time and does not read the next while a response is unsent). gnet keeps
	// reading the socket, so buffered input is capped and the loop's tick
	// resumes the connection once gnet has written enough.
	statePaused
	// stateFlushing: the last response is written to gnet and the
	// connection closes once gnet's outbound buffer is empty (closing at once
	// would drop the unsent part).
	stateFlushing
	// stateDraining: an error response was written and the write side shut;
	// input is discarded until the client closes or a short deadline passes,
	// so unread bytes do not make the kernel reset the connection under the
	// response (Go's net/http does the same in closeWriteAndWait).
	stateDraining
	// stateClosing: the final bytes are written and Close is queued; nothing
	// more is sent.
	stateClosing
	// stateClosed: OnClose ran.
	stateClosed
)

// subscription is one channel a streaming connection is subscribed to, with
// the connection's index in that channel's list for its loop.
type subscription struct {
	ch    *channel
	idx   int32
	flags subFlags
}

// subFlags are the per-subscription channel options that matter after
// subscribing (namespace options, possibly overridden by the token's subs
// claim or an API subscribe).
type subFlags uint8

const (
	subPresence      subFlags = 1 << iota // counted in presence
	subJoinLeave                          // joining and leaving is announced to the channel
	subPushJoinLeave                      // receives join/leave pushes
)

// conn is everything unisse keeps per TCP connection. It is touched only on its
// event loop. Kept small on purpose (192 bytes): an idle subscriber costs this
// struct, its subscriptions and its user string, nothing else (no goroutine,
// timer or buffer). Times are loop ticks (tickInterval) in int32: 6.8 years.
type conn struct {
	gc   gnet.Conn
	user string
	subs []subscription
	// extra holds what few connections have (conn info); nil otherwise.
	extra   *connExtra
	pending sse.Pending

	client, session [16]byte

	// Timers: one slot in the loop's wheel, due at the earliest of next ping,
	// expiry close and read deadline.
	timer              wheel.Node[conn]
	userNext, userPrev *conn // the loop's list of this user's streams
	// in holds input a request spans more than one read of (nil otherwise).
	in *input.Buffer

	nextPing int32 // tick of the next ping
	closeAt  int32 // tick at which an expired token closes the stream (3005); 0 = never
	// readDeadline is the tick by which a request must be complete. A
	// streaming connection has none, so there the field says since when its
	// socket has been stalled (0 = it is not; see loop.noteStall): one int32
	// for both keeps conn small.
	readDeadline int32
	streamIdx    int32 // index in loop.streams; -1 when not streaming
	// unsent is gnet's outbound byte count at the last tick while paused or
	// flushing: a deadline is re-armed only when it shrinks.
	unsent   int32
	loopIdx  uint8 // index of the event loop in Server.loops
	state    connState
	internal bool // accepted on the internal port (API, health, metrics)
	chunked  bool // response uses chunked transfer encoding (HTTP/1.1)
	http10   bool // the current request is HTTP/1.0: answer with an HTTP/1.0 status line
	userSlot bool // holds a slot of client.user_connection_limit (released on close)
	nodeSlot bool // holds a slot of client.connection_limit (released when no stream follows, or on close)
	// parked: subscriptions wait for a broker answer (a position or
	// history); the sweep leaves its frames in the channel logs meanwhile,
	// as for a stalled connection (see held and unpark).
	parked bool
	// onStallList: c is on its loop's stalled list (it may have resumed
	// since; checkStalled drops it then), so noteStall adds it once.
	onStallList bool
}

// stalled reports whether a streaming connection's socket is full (gnet holds
// part of its last write).
func (c *conn) stalled() bool { return c.state == stateStreaming && c.readDeadline != 0 }

// held reports whether the sweep must leave c's frames in the logs: its
// socket is full, or it waits for the broker.
func (c *conn) held() bool { return c.parked || c.stalled() }

// connExtra is the part of a connection's state that most connections do not
// have, kept out of line so they do not pay for it.
type connExtra struct {
	info     []byte            // conn_info (raw JSON) for join/leave and presence
	chanInfo map[string][]byte // chan_info per channel (token subs claim, API subscribe)
}

// info returns the connection's conn_info, nil if none.
func (c *conn) info() []byte {
	if c.extra == nil {
		return nil
	}
	return c.extra.info
}

// setInfo sets conn_info.
func (c *conn) setInfo(info []byte) {
	if len(info) == 0 {
		if c.extra != nil {
			c.extra.info = nil
		}
		return
	}
	if c.extra == nil {
		c.extra = &connExtra{}
	}
	c.extra.info = info
}

// chanInfo returns the connection's chan_info for channel, nil if none.
func (c *conn) chanInfo(channel string) []byte {
	if c.extra == nil {
		return nil
	}
	return c.extra.chanInfo[channel]
}

// setChanInfo records chan_info for channel.
func (c *conn) setChanInfo(channel string, info []byte) {
	if len(info) == 0 {
		if c.extra != nil {
			delete(c.extra.chanInfo, channel)
		}
		return
	}
	if c.extra == nil {
		c.extra = &connExtra{}
	}
	if c.extra.chanInfo == nil {
		c.extra.chanInfo = make(map[string][]byte)
	}
	c.extra.chanInfo[channel] = info
}

// flagsFor returns the subscription flags for channel ch (0 if not subscribed).
func (c *conn) flagsFor(ch *channel) subFlags {
	for i := range c.subs {
		if c.subs[i].ch == ch {
			return c.subs[i].flags
		}
	}
	return 0
}

// subscribed returns the index in c.subs of the subscription to channel, or -1.
func (c *conn) subscribed(channel string) int {
	for i := range c.subs {
		if c.subs[i].ch.Name() == channel {
			return i
		}
	}
	return -1
}

// TimerNode is c's place in its loop's timing wheel (wheel.Item).
func (c *conn) TimerNode() *wheel.Node[conn] { return &c.timer }
