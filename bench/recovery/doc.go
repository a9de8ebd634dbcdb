// Package recovery checks, as it streams in, the connect push of a uni_sse
// client that asked to recover a channel: that the channel's subscribe result
// says "recovered":true, carries the expected epoch, and holds exactly the
// publications missed, with consecutive offsets from the one after the
// recovery position (PROTOCOL.md §4):
//
//	{"connect":{…,"subs":{"hist:x":{"recoverable":true,"epoch":"E",
//	  "publications":[{"data":…,"offset":1,"epoch":"E"},{"data":…,"offset":2},…],
//	  "recovered":true,…}},…}}
//
// Such a push is one SSE data line of tens of kilobytes, spread over several
// reads and HTTP chunks. A Checker is fed the line's bytes in whatever pieces
// they arrive (see ssestream.Parser.SetPieces) and scans them with a small
// JSON state machine that keeps only what it checks: the path of containers
// down to the publications, the current key, the offsets. It does not buffer
// the line and does not allocate; after Reset it can check the next push.
//
// Key order, whitespace and unknown fields do not matter; keys are compared
// as raw bytes (a channel name sent with JSON escapes would not match). A
// Checker is used by one goroutine at a time.
package recovery
