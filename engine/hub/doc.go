// Package hub owns the map from channel name to subscribers.
//
// Channels are spread over shards by a hash of their name, each shard behind its
// own RWMutex, so subscribes on different loops and concurrent publishes rarely
// meet on a lock. Inside a channel, subscribers are grouped by event loop: the
// list for loop i is appended to, swap-removed from and iterated only by loop i,
// without any lock. The shard lock guards only the map and the per-loop counts,
// which is what Broadcast needs to decide which loops to wake: one task per
// loop that has subscribers, never one per subscriber.
//
// Each subscriber entry carries a cursor, the sequence number of the next item
// it is to receive, and each (channel, loop) numbers what is posted to it
// (NextSeq); a loop can then deliver a channel's items to its subscribers in
// any number of passes, whatever joins or leaves meanwhile, and a new
// subscriber starts exactly after what was posted before it subscribed.
//
// Concurrency contract:
//   - Subscribe and Unsubscribe run on the subscriber's own event loop (the
//     loop index passed in), and so do reads and writes of a loop's
//     Channel.Local(loop).Entries and X.
//   - Wait runs on the subscriber's loop too, between its Subscribe and
//     Unsubscribe.
//   - Broadcast, Lookup, NumSubscribers, Channels, NumChannels,
//     Local.NextSeq, Settle and BrokerState are safe from any goroutine.
//
// Broker subscriptions (WithBrokerHooks, for a broker a network hop away such
// as Redis, where the node subscribes to a channel only while it has local
// subscribers; the memory broker needs none and gets none):
//   - The subscribe hook is called when Subscribe creates a channel (its
//     first subscriber on this node) and when Subscribe joins a Failed one
//     (a retry); the unsubscribe hook when Unsubscribe removes the last
//     subscriber. Both run with the channel's shard write lock held, so for
//     one channel the hook calls are made in the order of the transitions,
//     whatever loops race: the broker, which keeps a desired state per
//     channel, sees the last call as the truth. Without hooks none of this
//     costs anything but a branch, and channels carry no broker state.
//   - A channel is born Pending and becomes Ready or Failed when the
//     broker's answer comes back through Settle with the Attempt the hook got.
//     An Attempt belongs to one Channel object and one try: an answer for a
//     channel that has since lost all its subscribers (and maybe been
//     created again, a new object) or for a superseded try changes nothing.
//   - Right after Subscribe the caller asks Wait whether the subscriber may
//     treat the channel as live: Ready; Pending, and the subscriber is
//     registered as a waiter (loop, subscriber, caller's token); or Failed
//     with the error of the try it joined. Settle hands each waiter back
//     once, for the caller to post to the waiter's loop. Unsubscribe drops
//     the leaving subscriber's waiter if it has not been handed back yet;
//     a notice already handed back and posted cannot be recalled, so the
//     engine checks on the loop that the subscriber still waits (token)
//     and ignores the notice otherwise.
//   - Failure: the waiters of the failed try get the error (Centrifugo
//     answers such a subscribe with an internal error and the client
//     retries); the channel stays Failed for its remaining subscribers, and
//     the next Subscribe to it retries the broker subscription. Publications
//     are broadcast whatever the state: readiness is for the joining
//     subscriber to decide when its stream is exact, not a filter.
//   - Resubscribing after a broker reconnect is the broker's job (it keeps
//     the desired set). Should the engine need to replay it, Channels lists
//     every channel under its shard's read lock, which excludes transitions:
//     a Subscribe issued to the broker from Channels' callback (only
//     enqueued, as from a hook) cannot be reordered with the hooks' calls
//     for that channel.
//
// Locks of broker subscriptions: shard lock → hook → the broker's own
// subscription queue lock. Each channel's broker state has its own small lock,
// taken under the shard lock or alone and never held around a hook call, and
// Settle and Wait take only it. So the broker's Subscribe and Unsubscribe may
// take their queue lock and must not block on anything else (no network
// wait, no lock that is held while the broker calls into the hub or the
// engine: HandlePublication takes shard locks, so the queue lock must never
// be held around it), nor call back into the hub. The done callback may come
// from any goroutine, even inline from within Subscribe (that is, inside the
// hook, under the shard lock: Settle does not take it), but without the
// broker's own locks held, because the engine posts the waiters Settle
// returns to the loops' inboxes from there.
//
// Lock order: Broadcast calls its deliver callback with the shard's read lock
// held, and the engine's callback takes the loop's inbox lock there; nothing
// takes a shard lock while holding an inbox lock. The engine may hold its
// broker's shard lock while it calls Subscribe or Broadcast (see
// engine/LOCKS.md).
package hub
