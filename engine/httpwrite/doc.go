// Package httpwrite builds the engine's HTTP/1.1 responses byte for byte as
// Go's net/http (and so Centrifugo) writes them: status lines, headers in
// Go's order, a Date header cached once a second, CORS headers, error bodies
// and the uni_sse stream head.
//
// Every builder appends to a caller's buffer and allocates nothing, so an
// event loop can answer from its own scratch buffer. Concurrency: the
// functions are pure except for the cached Date line, which RefreshDate
// replaces atomically (one ticker calls it) and AppendDate reads from any
// goroutine.
package httpwrite
