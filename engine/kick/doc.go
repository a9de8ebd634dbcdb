// Package kick wakes a gnet event loop from any goroutine without gnet's
// per-task allocations: a socket pair whose read end is registered with the
// loop's poller, so that writing one byte to the other end wakes the loop as
// an I/O event would (the engine's OnTraffic sees the marker context and
// drains the loop's inbox).
//
// Concurrency: Kick is safe from any goroutine and never blocks but for a
// read lock that only Stop and the end of registration contend for; Start
// and Stop are called once each. A full socket is fine: the loop will wake
// anyway. Until registration completes (gnet's Enroll is asynchronous) Kick
// reports false and the caller falls back to gnet's Execute.
package kick
