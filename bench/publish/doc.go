// Package publish drives the server HTTP API for unisse-bench: several
// publisher goroutines, each with its own sequence numbers, calling
// /api/publish (one channel per call) or /api/broadcast (a group of channels
// per call) over fasthttp keep-alive connections, paced to a total rate or
// as fast as the server answers, and recording each call's latency. With
// several API bases (Config.Nodes: a cluster's nodes) publisher w calls the
// (w mod n)th only, on that base's keep-alive connections.
//
// Sequences: publisher w numbers its messages per publish group from 1, so
// that a subscriber can account deliveries per (publisher, group) without
// the publishers agreeing on an order. A call the server refuses outright
// (non-200, or an error reply to /api/publish) reuses its sequence: nothing
// was published. A call whose outcome is unknown (timeout, broken
// connection) or that /api/broadcast answered with an error for some
// channels consumes it, and is counted as such.
//
// A Run is bounded by its Duration (a call due or sent after it is not
// made, even when the publishers fell behind), MaxCalls and its context; Sent is safe
// from any goroutine while it runs.
package publish
