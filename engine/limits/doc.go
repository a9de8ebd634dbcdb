// Package limits admits connections against the node's configured limits:
// client.user_connection_limit (UserSlots, a sharded count of each user's
// streams), client.connection_limit and client.connection_rate_limit
// (Admission: an exact slot count and a GCRA token bucket, answered 503 by
// the engine as Centrifugo's ConnLimit middleware does).
//
// Concurrency: every type is safe from any goroutine. Admission is
// lock-free (atomics with compare-and-swap), since every event loop admits
// connects at once; UserSlots takes one of 16 shard mutexes for a map
// update (a leaf lock: nothing else is taken under it).
package limits
