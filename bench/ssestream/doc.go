// Package ssestream parses one HTTP/1.1 response carrying a Server-Sent
// Events stream, incrementally, as bytes arrive from a non-blocking socket:
// status line, headers, chunked framing (chunk sizes, extensions, trailers)
// and SSE `data:` lines, with every boundary allowed to fall anywhere between
// two reads.
//
// It is built for many thousands of connections per thread: a Parser is a
// few dozen bytes, parses in place, and delivers each event's data as a
// slice of the input when the line is whole in it; only a line split across
// reads or chunks is copied, into a per-parser buffer of at most MaxLine
// bytes that is allocated once, on first need. Steady-state parsing does
// not allocate.
//
// Simplification: uni_sse sends one JSON document per event on a single
// `data:` line, so every `data:` line is delivered as an event when the line
// ends (not at the blank line), and multi-line data is not joined. Fields
// other than `data` and comment lines are skipped. Lines longer than MaxLine
// that span reads are delivered truncated to their first MaxLine bytes (with
// truncated=true): enough for the bench payload's sequence and timestamp,
// which come first. Pieces mode (Parser.SetPieces) is for the lines that
// must be read whole however long they are, such as a connect push carrying
// recovered publications: the line's value is handed over in pieces as it
// arrives, to be scanned incrementally, nothing copied.
//
// A Parser is used by one goroutine at a time.
package ssestream
