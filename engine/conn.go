package engine

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/hub"
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
	// stateStreaming: an SSE response is open; input is ignored.
	stateStreaming
	// stateClosing: the final bytes are written and Close is queued; nothing
	// more is sent.
	stateClosing
	// stateClosed: OnClose ran.
	stateClosed
)

// subscription is one channel a streaming connection is subscribed to, with
// the connection's index in that channel's list for its loop.
type subscription struct {
	ch  *hub.Channel[*conn]
	idx int32
}

// conn is everything unisse keeps per TCP connection. It is touched only on its
// event loop. Kept small on purpose: an idle subscriber costs this struct, its
// subscriptions and its user string, nothing else (no goroutine, timer or
// buffer).
type conn struct {
	c     gnet.Conn
	loop  *loop
	state connState

	internal bool // accepted on the internal port (API, health, metrics)
	chunked  bool // response uses chunked transfer encoding (HTTP/1.1)

	// Streaming state.
	client, session [16]byte
	user            string
	info            []byte // conn_info (raw JSON) for join/leave and presence
	subs            []subscription
	pending         sse.Pending
	// closeAt is when the connection is closed with 3005 because its token
	// expired (Unix ns): expiry plus client.expired_close_delay; 0 = never.
	closeAt  int64
	nextPing int64 // loop tick of the next ping

	// Timers: one slot in the loop's wheel, due at the earliest of next ping,
	// expiry close and read deadline.
	wheelNext, wheelPrev *conn
	wheelDue             int64 // tick
	wheelSlot            int32 // -1 when not scheduled
	readDeadline         int64 // tick; 0 = none (streaming)

	streamIdx          int32 // index in loop.streams; -1 when not streaming
	userNext, userPrev *conn

	// Parsing state: how far the loop's parser scanned this connection's
	// unfinished head, so a head arriving byte by byte is not rescanned.
	scanned int32
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
