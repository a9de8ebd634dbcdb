// Package client holds unisse-bench's subscriber connections: thousands of
// uni_sse streams per OS thread, on raw non-blocking sockets driven by one
// epoll loop, with no goroutine, timer or bufio reader per connection.
//
// A Loop owns a range of connections (global indices First..First+Count-1;
// index i is subscribed to channel i mod Channels and connects to
// Servers[Config.ServerOf(i)], so that with several servers — a cluster's
// nodes — each channel's subscribers are spread round-robin over them). It
// opens them at a paced rate from source addresses spread round-robin over
// Sources (binding the
// source address before connect, with IP_BIND_ADDRESS_NO_PORT so that the
// port is chosen per 4-tuple), writes each one's request, parses its chunked
// SSE stream in place (package ssestream), and accounts every publication
// per connection and publisher (package track): distinct deliveries,
// duplicates, reorderings, losses, publish→receive latency from the payload's
// send time (package payload) and connect latency (connect() to connect push).
//
// With Config.Recover every connection of the loop is a recovering one: the
// parser hands its connect push over in pieces (ssestream.Parser.SetPieces)
// to a recovery.Checker taken from a small pool for the time of the
// connect, whatever the push's length. SetWindow splits the latency
// histogram by the publications' send time (Result.Windows).
//
// Concurrency: a Loop's state is touched only by its Run goroutine, locked to
// its OS thread. Other goroutines reach it through Counters (a copy refreshed
// every SnapshotEvery), MarkStart, SetWindow, StartChurn, Drain and Stop,
// which are safe from any goroutine; commands are picked up within one epoll
// wait (≤ 50 ms). A Pool is several Loops splitting one Config, and merges
// them the same way.
//
// Linux only (epoll, IP_BIND_ADDRESS_NO_PORT).
package client
