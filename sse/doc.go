// Package sse owns the bytes of a Server-Sent Events stream and the per-connection
// write path.
//
// Framing. Every event is "data: <json>\n\n" (no event: lines, and no id: or
// retry: unless unisse's options ask for them, as Centrifugo's uni_sse) and
// travels in its own HTTP/1.1 chunk
// ("<hex>\r\n…\r\n"). A Frame holds one event already wrapped in its chunk, so a
// publication is encoded once and the same immutable bytes go to every
// subscriber; Frame.Event gives the unchunked event for HTTP/1.0 peers.
//
// Writing. A connection never writes per event. Events for it are queued as
// references to shared frames (Queue.Push onto a Pending, a linked list
// threaded through a Queue that its event loop owns) and Queue.Flush (or
// FlushBuffered) writes everything pending for the connection in one call.
// A connection's own "id:" line (unisse.sse_event_ids) is queued with the
// frame it precedes (Queue.PushWithID: its bytes in the queue's arena, in a
// chunk of its own), so the shared frame is still never re-encoded. What the socket does not take at once is copied by the
// Sink (gnet's per-connection elastic ring, allocated from a pool on congestion
// and returned when drained), so a Pending is empty again after every flush and
// an idle connection holds no buffer at all. The bytes a connection may have
// waiting in the sink after a flush are capped; past the cap Flush reports
// ErrSlow and the caller disconnects the client with 3008.
//
// Frame lifetime. Frames come from a pool (NewFrame) and are reference counted:
// the broadcaster retains one reference per event loop it hands the frame to,
// and each loop keeps the frame in its channel log until every subscriber on
// the loop has been handed it and the pass that did so has flushed (by then
// every byte is either in the kernel or copied into a sink), then releases its
// reference, so the pool recycles frames without per-subscriber reference
// counts. StaticFrame builds frames that never return to the pool (Ping).
//
// Concurrency. A Frame's bytes are immutable once built and may be read from any
// goroutine; Retain/Release are atomic. A Queue and the Pendings threaded through
// it belong to one event loop and must only be used from it.
//
// Hot path: building a frame from a warm pool, queueing it to a connection and
// flushing allocate nothing (see the AllocsPerRun tests).
package sse
