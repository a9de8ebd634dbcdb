package delivery

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/eventid"

	"github.com/unisse/unisse/engine/input"
	"github.com/unisse/unisse/engine/wheel"
	"github.com/unisse/unisse/sse"
)

// State is where a connection is in its life. Transitions happen only on
// its event loop.
type State uint8

const (
	// StateReading: accumulating the next request (API keep-alive included).
	StateReading State = iota
	// StateAwaiting: an API request is being served off the loop; further
	// input stays buffered until the reply is written.
	StateAwaiting
	// StateDeferred: a complete connect request waits in the input buffer
	// for the loop's next slice (a connect storm is served a few connects per
	// slice, see drain.go).
	StateDeferred
	// StateStreaming: an SSE response is open; input is ignored.
	StateStreaming
	// StatePaused: the responses not yet sent exceed maxUnsent, so the
	// connection's further requests wait (net/http serves one request at a
	// time and does not read the next while a response is unsent). gnet keeps
	// reading the socket, so buffered input is capped and the loop's tick
	// resumes the connection once gnet has written enough.
	StatePaused
	// StateFlushing: the last response is written to gnet and the
	// connection closes once gnet's outbound buffer is empty (closing at once
	// would drop the unsent part).
	StateFlushing
	// StateDraining: an error response was written and the write side shut;
	// input is discarded until the client closes or a short deadline passes,
	// so unread bytes do not make the kernel reset the connection under the
	// response (Go's net/http does the same in closeWriteAndWait).
	StateDraining
	// StateClosing: the final bytes are written and Close is queued; nothing
	// more is sent.
	StateClosing
	// StateClosed: OnClose ran.
	StateClosed
)

// Subscription is one channel a streaming connection is subscribed to, with
// the connection's index in that channel's list for its loop.
type Subscription struct {
	Ch    *Channel
	Idx   int32
	Flags SubFlags
}

// SubFlags are the per-subscription channel options that matter after
// subscribing (namespace options, possibly overridden by the token's subs
// claim or an API subscribe).
type SubFlags uint8

const (
	SubPresence      SubFlags = 1 << iota // counted in presence
	SubJoinLeave                          // joining and leaving is announced to the channel
	SubPushJoinLeave                      // receives join/leave pushes
)

// Conn is everything unisse keeps per TCP connection. It is touched only on its
// event loop. Kept small on purpose (192 bytes): an idle subscriber costs this
// struct, its subscriptions and its user string, nothing else (no goroutine,
// timer or buffer). Times are loop ticks (tickInterval) in int32: 6.8 years.
type Conn struct {
	GC   gnet.Conn
	User string
	Subs []Subscription
	// extra holds what few connections have (conn info); nil otherwise.
	extra   *connExtra
	pending sse.Pending

	Client, Session [16]byte

	// Timers: one slot in the loop's wheel, due at the earliest of next ping,
	// expiry close and read deadline.
	timer              wheel.Node[Conn]
	userNext, userPrev *Conn // the loop's list of this user's streams
	// In holds input a request spans more than one read of (nil otherwise).
	In *input.Buffer

	NextPing int32 // tick of the next ping
	CloseAt  int32 // tick at which an expired token closes the stream (3005); 0 = never
	// ReadDeadline is the tick by which a request must be complete. A
	// streaming connection has none, so there the field says since when its
	// socket has been stalled (0 = it is not; see loop.noteStall): one int32
	// for both keeps conn small.
	ReadDeadline int32
	streamIdx    int32 // index in loop.streams; -1 when not streaming
	// Unsent is gnet's outbound byte count at the last tick while paused or
	// flushing: a deadline is re-armed only when it shrinks.
	Unsent   int32
	LoopIdx  uint8 // index of the event loop in Server.loops
	State    State
	Internal bool // accepted on the internal port (API, health, metrics)
	Chunked  bool // response uses chunked transfer encoding (HTTP/1.1)
	HTTP10   bool // the current request is HTTP/1.0: answer with an HTTP/1.0 status line
	UserSlot bool // holds a slot of client.user_connection_limit (released on close)
	// ClientLabels indexes the client_name and client_version label values
	// of its connect (/metrics: centrifugo_client_connections_*).
	ClientLabels uint8
	NodeSlot     bool // holds a slot of client.connection_limit (released when no stream follows, or on close)
	// Parked: subscriptions wait for a broker answer (a position or
	// history); the sweep leaves its frames in the channel logs meanwhile,
	// as for a stalled connection (see held and unpark).
	Parked bool
	// Gap: while c was parked, the broker lost and restored its
	// subscription to one of c's channels (a PUB/SUB reconnect), so the
	// position its parked subscriptions were told may be below publications
	// this node never received; unpark refuses it with 3010 (the session
	// sets it after a reconnect, resubscribe.go; unpark reads and clears it).
	Gap bool
	// onStallList: c is on its loop's stalled list (it may have resumed
	// since; checkStalled drops it then), so noteStall adds it once.
	onStallList bool
	// watched: c is on its loop's list of keep-alive connections polled
	// during a storm of hang-ups (watch.go).
	watched bool
}

// Stalled reports whether a streaming connection's socket is full (gnet holds
// part of its last write).
func (c *Conn) Stalled() bool { return c.State == StateStreaming && c.ReadDeadline != 0 }

// Held reports whether the sweep must leave c's frames in the logs: its
// socket is full, or it waits for the broker.
func (c *Conn) Held() bool { return c.Parked || c.Stalled() }

// connExtra is the part of a connection's state that most connections do not
// have, kept out of line so they do not pay for it.
type connExtra struct {
	info     []byte            // conn_info (raw JSON) for join/leave and presence
	chanInfo map[string][]byte // chan_info per channel (token subs claim, API subscribe)
	ids      *eventIDs         // positions sent as SSE ids (unisse.sse_event_ids); nil: no ids
}

// eventIDs are the stream positions a connection with SSE ids has reached
// in each of its recoverable subscriptions (at most eventid.MaxSubs): every
// publication that moves one is preceded by an "id:" line listing them all
// (eventid), which the browser sends back as Last-Event-ID when it
// reconnects by itself. Each position keeps its entry of the token encoded,
// so an event re-encodes only the entry it moves.
type eventIDs struct {
	pos []idPosition
}

type idPosition struct {
	ch     *Channel
	hash   uint32
	offset uint64
	epoch  string
	text   [maxIDEntry]byte // the entry as eventid.AppendEntry writes it
	n      uint8            // of text
}

// maxIDEntry is the longest token entry: ".hash.offset.epoch".
const maxIDEntry = 1 + 6 + 1 + 11 + 1 + eventid.MaxEpoch

func (p *idPosition) encode() {
	p.n = uint8(len(eventid.AppendEntry(p.text[:0], p.hash, p.offset, p.epoch)))
}

// TrackPosition adds ch, at offset in epoch, to the positions c's SSE ids
// carry, and turns the ids on. It reports false, turning them off, when c
// already tracks eventid.MaxSubs channels or the epoch cannot be written
// into an id: such a connection gets no ids. On c's loop, before its first
// publication.
func (c *Conn) TrackPosition(ch *Channel, offset uint64, epoch string) bool {
	if c.extra == nil {
		c.extra = &connExtra{}
	}
	ids := c.extra.ids
	if ids == nil {
		ids = &eventIDs{}
		c.extra.ids = ids
	}
	if len(ids.pos) == eventid.MaxSubs || !eventid.ValidEpoch(epoch) {
		c.extra.ids = nil
		return false
	}
	ids.pos = append(ids.pos, idPosition{ch: ch, hash: eventid.Hash(ch.Name()), offset: offset, epoch: epoch})
	ids.pos[len(ids.pos)-1].encode()
	return true
}

// StopEventIDs turns c's SSE ids off.
func (c *Conn) StopEventIDs() {
	if c.extra != nil {
		c.extra.ids = nil
	}
}

// eventIDs returns c's tracked positions, nil when it sends no ids.
func (c *Conn) eventIDs() *eventIDs {
	if c.extra == nil {
		return nil
	}
	return c.extra.ids
}

// AppendEventID appends c's current SSE id (its positions, see eventid);
// it reports false, appending nothing, when c sends no ids.
func (c *Conn) AppendEventID(dst []byte) ([]byte, bool) {
	ids := c.eventIDs()
	if ids == nil {
		return dst, false
	}
	return ids.appendToken(dst), true
}

func (ids *eventIDs) appendToken(dst []byte) []byte {
	dst = eventid.AppendVersion(dst)
	for i := range ids.pos {
		p := &ids.pos[i]
		dst = append(dst, p.text[:p.n]...)
	}
	return dst
}

// advance moves the position of ch to a publication at offset in epoch
// ("" when the frame does not say) and reports whether ch is tracked.
func (ids *eventIDs) advance(ch *Channel, offset uint64, epoch string) bool {
	for i := range ids.pos {
		p := &ids.pos[i]
		if p.ch != ch {
			continue
		}
		switch {
		case epoch != "" && epoch != p.epoch:
			// The stream was lost and restarted (offsets start over);
			// an epoch that cannot be written goes out empty, which a
			// recovery takes as the current one.
			p.offset, p.epoch = offset, epoch
		case offset > p.offset:
			p.offset = offset
		default:
			// A publication at or below the position the connection
			// already has (one that reached the loop after the connect's
			// position read): the id must not move back, or a resume
			// would ask for publications the client already has.
			return true
		}
		p.encode()
		return true
	}
	return false
}

// Info returns the connection's conn_info, nil if none.
func (c *Conn) Info() []byte {
	if c.extra == nil {
		return nil
	}
	return c.extra.info
}

// SetInfo sets conn_info.
func (c *Conn) SetInfo(info []byte) {
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

// ChanInfo returns the connection's chan_info for channel, nil if none.
func (c *Conn) ChanInfo(channel string) []byte {
	if c.extra == nil {
		return nil
	}
	return c.extra.chanInfo[channel]
}

// SetChanInfo records chan_info for channel.
func (c *Conn) SetChanInfo(channel string, info []byte) {
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

// FlagsFor returns the subscription flags for channel ch (0 if not subscribed).
func (c *Conn) FlagsFor(ch *Channel) SubFlags {
	for i := range c.Subs {
		if c.Subs[i].Ch == ch {
			return c.Subs[i].Flags
		}
	}
	return 0
}

// Subscribed returns the index in c.subs of the subscription to channel, or -1.
func (c *Conn) Subscribed(channel string) int {
	for i := range c.Subs {
		if c.Subs[i].Ch.Name() == channel {
			return i
		}
	}
	return -1
}

// TimerNode is c's place in its loop's timing wheel (wheel.Item).
func (c *Conn) TimerNode() *wheel.Node[Conn] { return &c.timer }
