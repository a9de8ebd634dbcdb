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
//   - Broadcast, Lookup, NumSubscribers, Channels, NumChannels and
//     Local.NextSeq are safe from any goroutine.
//
// Lock order: Broadcast calls its deliver callback with the shard's read lock
// held, and the engine's callback takes the loop's inbox lock there; nothing
// takes a shard lock while holding an inbox lock. The engine may hold its
// broker's shard lock while it calls Subscribe or Broadcast (see
// engine/LOCKS.md).
package hub
