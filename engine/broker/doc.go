// Package broker owns the seam between "a publication was accepted" and
// "deliver it to this node's subscribers": the Broker interface, and Memory, the
// in-process implementation that is unisse's embedded default.
//
// A Broker decides a publication's place in its channel's stream (offset and
// epoch, for channels with history), suppresses duplicates by idempotency key,
// and then hands it to the node's Handler, which frames it once and fans it out.
// Memory is the only implementation today. Its calls complete synchronously
// (the engine makes some of them on event loops), so a broker a network hop
// away (Redis, NATS) needs an asynchronous seam first.
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
// Concurrency: every method is safe from any goroutine. Memory.Publish calls the
// Handler synchronously on the publishing goroutine. For a publication with
// history or an idempotency key it holds the channel's shard lock until the
// Handler returns, which is what delivers publications of one channel in offset
// order and makes WithPosition and WithHistory atomic with respect to them; a
// publication with neither is handed over without any lock.
package broker
