package broker

import (
	"context"
	"errors"
	"time"
)

// Publication is what a broker carries for one channel.
type Publication struct {
	Data   []byte            // raw JSON (or raw bytes when NotJSON)
	Tags   map[string]string // optional
	Info   []byte            // raw ClientInfo JSON of a client-side publisher; nil from the API
	Offset uint64            // position in the channel's history stream; 0 without history
	// NotJSON marks data that is not a JSON document (from b64data); JSON
	// clients cannot receive it.
	NotJSON bool
}

// StreamPosition is a place in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// PublishOptions are the per-publication settings.
type PublishOptions struct {
	// HistorySize and HistoryTTL enable history for the channel when both > 0.
	HistorySize int
	HistoryTTL  time.Duration
	// HistoryMetaTTL bounds how long a stream's epoch and offset survive after
	// its last publication (0: broker default).
	HistoryMetaTTL time.Duration
	// IdempotencyKey suppresses a repeat of the same publication within
	// IdempotentResultTTL (0: 5 minutes, Centrifugo's default).
	IdempotencyKey      string
	IdempotentResultTTL time.Duration
	// SkipHistory delivers without appending to history.
	SkipHistory bool
}

// HistoryFilter selects publications from a history stream.
type HistoryFilter struct {
	// Since, when set, selects publications after Since.Offset; its Epoch, if
	// not empty, must be the stream's (else ErrUnrecoverablePosition).
	Since *StreamPosition
	// Limit caps the number of publications: 0 returns none (position only),
	// a negative value all of them.
	Limit int
	// Reverse returns the newest first.
	Reverse bool
}

// HistoryResult is a stream's position and selected publications.
type HistoryResult struct {
	StreamPosition
	Publications []Publication
}

// ErrUnrecoverablePosition means a position from another epoch of the stream
// (the stream was lost and restarted since).
var ErrUnrecoverablePosition = errors.New("broker: unrecoverable position")

// Op names a broker operation, for Broker.Inline.
type Op uint8

// The broker operations.
const (
	OpPublish Op = iota
	OpHistory
	OpRemoveHistory
	OpSubscribe
	OpUnsubscribe
	OpControl
	OpPresence
)

// Deferred is work a Handler put off until the broker's locks are released
// (waking event loops): opaque to the broker, which passes it to
// Handler.Flush.
type Deferred uint64

// Handler receives what the broker delivers to this node.
type Handler interface {
	// HandlePublication queues a publication for this node's subscribers.
	// A broker calls it in offset order for each channel and may hold its
	// own locks meanwhile: the handler never blocks, and what can wait until
	// those locks are released it returns as Deferred. pub and its slices
	// must not be modified or retained after the call returns.
	HandlePublication(channel string, pub *Publication, sp StreamPosition) Deferred
	// Flush does deferred work; the broker calls it once it holds no lock,
	// before the publish completes.
	Flush(Deferred)
	// HandleControl receives a node-to-node command (PublishControl).
	HandleControl(data []byte)
	// HandleResubscribed says that the broker lost its connection to the
	// publications of channels and is about to subscribe them again (a
	// Redis PUB/SUB reconnect): publications made in between were not
	// delivered, so each channel may have a gap (one with history can
	// compare its stream position with the last offset it delivered).
	// Called from the broker's goroutine, holding no broker lock, before
	// the new subscription can deliver anything, so that what the handler
	// queues for the channels (ending their streams) comes ahead of every
	// publication after the gap; channels must not be retained. A broker
	// that never loses publications (Memory) never calls it.
	HandleResubscribed(channels []string)
	// HandleJoinLeave receives a client's join (join true) or leave of
	// channel, published by any node, this one included
	// (JoinLeavePublisher), for this node's subscribers that receive
	// join/leave pushes. A broker calls it in the channel's order with its
	// publications; it must not block, and info must not be retained.
	HandleJoinLeave(channel string, info *ClientInfo, join bool)
}

// Broker carries publications between nodes and keeps channel history. It
// is built for a broker a network hop away (Redis, NATS): every call
// completes asynchronously by calling its done callback exactly once, from
// any goroutine, possibly before the call returns (see Inline), and a call
// whose ctx ends first completes with ctx's error. Callbacks must not block:
// an event loop posts the result back to itself.
//
// Positions and subscriptions combine as Centrifugo's do: a node subscribes
// to a channel (Subscribe) before it reads the channel's position or history
// (History with Limit 0, or with Since), buffers live publications meanwhile
// and drops those at or below the position it got, so that nothing is
// delivered twice or skipped.
type Broker interface {
	// Run attaches the handler; call it once before the first Publish.
	Run(h Handler) error
	// Inline reports whether op always completes before the call returns
	// without waiting (no network, no lock held for long), so an event loop
	// may call it and use the result at once.
	Inline(op Op) bool
	// Publish accepts a publication for channel and completes with its
	// stream position (zero without history). A publication suppressed by
	// its idempotency key completes with the first one's position and is not
	// delivered. pub and its slices must stay unmodified until done.
	Publish(ctx context.Context, channel string, pub *Publication, opts PublishOptions, done func(StreamPosition, error))
	// History completes with the channel's stream position and the
	// publications filter selects (Limit 0: the position only; Since: the
	// publications after a position, or ErrUnrecoverablePosition when Since
	// names another epoch). A channel without a stream is at offset 0 of the
	// epoch its first publication will continue.
	History(ctx context.Context, channel string, opts PublishOptions, filter HistoryFilter, done func(HistoryResult, error))
	// RemoveHistory drops channel's publications; its epoch and offset stay.
	RemoveHistory(ctx context.Context, channel string, done func(error))
	// Subscribe and Unsubscribe start and stop delivery of channel's
	// publications to this node.
	Subscribe(ctx context.Context, channel string, done func(error))
	Unsubscribe(ctx context.Context, channel string, done func(error))
	// PublishControl sends a command to node (every node when empty),
	// delivered to its Handler.HandleControl.
	PublishControl(ctx context.Context, data []byte, node string, done func(error))
	// Close releases the broker's resources.
	Close() error
}

// ClientInfo is one connection in a channel's presence.
type ClientInfo struct {
	ClientID, UserID string
	ConnInfo         []byte
	ChanInfo         []byte
}

// JoinLeavePublisher is implemented by a broker that carries join and leave
// announcements between nodes (centrifuge's Broker.PublishJoin and
// PublishLeave): every node subscribed to the channel, the publishing one
// included, receives them through Handler.HandleJoinLeave, so the engine
// publishes instead of broadcasting to its own subscribers (each gets one
// push). Calls complete like Broker's; announcements of one channel are
// delivered in the order they were made (a client's leave never overtakes
// its join). Without it (Memory) the engine broadcasts them locally, which on
// a single node is everyone.
type JoinLeavePublisher interface {
	PublishJoin(ctx context.Context, channel string, info *ClientInfo, done func(error))
	PublishLeave(ctx context.Context, channel string, info *ClientInfo, done func(error))
}

// PresenceStats counts a channel's presence.
type PresenceStats struct {
	NumClients, NumUsers int
}

// PresenceManager keeps who is subscribed to presence-enabled channels
// across nodes, shaped as Centrifugo's; its calls complete like Broker's.
// A broker that implements it is asked for presence; without one (Memory)
// the engine answers from its own event loops, which on a single node is
// the same set.
type PresenceManager interface {
	Presence(ctx context.Context, channel string, done func(map[string]*ClientInfo, error))
	PresenceStats(ctx context.Context, channel string, done func(PresenceStats, error))
	AddPresence(ctx context.Context, channel, clientID string, info *ClientInfo, done func(error))
	RemovePresence(ctx context.Context, channel, clientID, userID string, done func(error))
}

// HealthChecker is implemented by a broker that can be cut off from what it
// needs (a Redis shard whose PUB/SUB connection is down): Healthy reports
// nil while it is not, else why. The engine's /health answers 503 with the
// reason meanwhile, so that a load balancer sends new
// clients to nodes that can deliver. Safe from any goroutine; cheap enough
// for every health probe.
type HealthChecker interface {
	Healthy() error
}

// ResubscribeConfirmer is implemented by a broker that follows each
// Handler.HandleResubscribed with a call to the handler's
// HandleResubscribeDone (when the handler is a ResubscribeDoneHandler)
// once the new subscription to those channels is in place, or has failed:
// from then on every publication reaches the handler, so a stream position
// read after it shows whether one was lost in between. ConfirmsResubscribe
// reports whether it does (a wrapper may embed one that does not).
type ResubscribeConfirmer interface {
	ConfirmsResubscribe() bool
}

// ResubscribeDoneHandler is a Handler that checks channels for lost
// publications after a reconnect (see ResubscribeConfirmer).
// HandleResubscribeDone says the channels of the last HandleResubscribed
// are subscribed again (err nil) or could not be (err); it is called from
// the broker's goroutine, holding no broker lock, must not block, and
// channels must not be retained.
type ResubscribeDoneHandler interface {
	HandleResubscribeDone(channels []string, err error)
}
