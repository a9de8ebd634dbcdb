// Package broker owns the seam between the engine and whatever carries
// publications between nodes: the Broker and PresenceManager interfaces,
// the Handler the engine implements, and Memory, the in-process
// implementation that is unisse's embedded default. brokertest has a broker
// for tests that answers like one across a network; redisbroker is the Redis
// implementation, compatible with Centrifugo's Redis engine; natsbroker
// carries publications and commands (no history, no presence) over NATS,
// compatible with Centrifugo's NATS broker.
//
// The seam is built for a broker a network hop away (Redis, NATS; shaped
// after centrifuge's Broker and PresenceManager): publish, history (the
// position is history with Limit 0; history since a position is
// HistoryFilter.Since), removal of history, subscribe and unsubscribe of
// this node to a channel, node-to-node commands (PublishControl, received
// by Handler.HandleControl) and presence all complete asynchronously: each
// call takes a context and a done callback, called exactly once from any
// goroutine. Broker.Inline says which calls complete before they return;
// only those may be made on an event loop and used at once, and the engine
// decides with it whether an API publish runs on the loop. Ordering between
// live publications and a position is the subscriber's: it subscribes
// first, buffers what arrives, and drops what is at or below the position
// it then reads (the engine's parked connect).
//
// A Broker decides a publication's place in its channel's stream (offset and
// epoch, for channels with history), suppresses duplicates by idempotency key,
// and then hands it to the node's Handler, which frames it once and queues it
// for the loops. The handler may be called under the broker's locks, so it
// only queues and returns its deferred work (waking loops, a Deferred) for
// Handler.Flush, which the broker calls once its locks are released.
//
// A broker that can lose publications (Redis PUB/SUB across a reconnect)
// says so with Handler.HandleResubscribed, naming the channels it subscribed
// again; Memory never calls it (the engine ends those channels' streams
// with 3010, so that clients recover instead of missing publications). A
// ResubscribeConfirmer (redisbroker) also tells a ResubscribeDoneHandler
// when the new subscription is in place, so the engine can read a
// positioned channel's stream position then and end its streams only when
// a publication is really missing. A broker that can be cut off implements
// HealthChecker, for /health.
//
// Join/leave: a broker that carries them between nodes implements
// JoinLeavePublisher (redisbroker, as centrifuge's PublishJoin and
// PublishLeave) and delivers every node's announcements, its own included,
// to Handler.HandleJoinLeave in the channel's order with its publications;
// the engine then publishes instead of pushing to its own subscribers, so
// each subscriber gets one push. Memory does not implement it: on a single
// node the engine pushes them itself.
//
// Presence: Memory does not implement PresenceManager; on a single node the
// engine answers presence from its own event loops, each loop reporting its
// connections.
//
// History streams (Memory): only a publication creates a channel's stream. A
// read of a channel without one — a positioned subscription, a recovery, an
// API history call — stores nothing and answers offset 0 in the channel's
// derived epoch: a hash, keyed per broker, of the channel and its slot's
// generation (one of 65536 slots). The first publication creates the stream in
// that same epoch, so a subscriber positioned before it recovers it. A stream
// lives until history_meta_ttl after its last publication; when it is
// forgotten its slot's generation goes up, so the channel's next epoch is new
// and positions in the lost stream are unrecoverable. Unpublished channels
// sharing that slot move to a new epoch too: a client positioned on one then
// reconnects "not recovered", the conservative answer. Centrifugo instead
// creates the stream on the first read and keeps it for the meta TTL (30
// days by default), so memory grows with every channel ever subscribed to;
// here it grows only with channels published to.
//
// Expiry (Memory): a publish or read looks only at its own channel's stream
// (an expired stream is forgotten when touched, expired publications are
// trimmed from it); the scan of a whole shard for expired streams and
// idempotency results runs once a second on the background sweep, never on
// the publish path.
//
// Concurrency: every method is safe from any goroutine, and every Memory
// call completes before it returns (Inline is true for all). Memory.Publish
// calls the Handler on the publishing goroutine, under the channel's shard
// lock for channels with history or an idempotency key (so publications of
// one channel reach the Handler in offset order) and without any lock
// otherwise, then Flush after releasing it.
package broker
