// Package httpparse parses HTTP/1.1 requests in place, from the bytes a connection has
// received so far, without allocating.
//
// # What it owns
//
// Framing request heads (HeadEnd, LeadingEmptyLines), the request head
// (Request.ParseHead and its accessors), query parameters and percent-decoding
// (AppendQuery, AppendUnescape), chunked request bodies (ChunkedBody), the head-size
// limit (Limits), and the mapping from a parse error to the status code to answer with
// (Status). It does not own reading from sockets, buffering, timeouts, routing or
// writing responses: those are the engine's. A Content-Length body needs no decoding;
// the engine takes Request.ContentLength bytes after the head.
//
// The engine has one Request per event loop, not per connection, so a connection keeps
// only HeadEnd's resume offset between reads, and parses once the head is complete:
//
//	in = in[httpparse.LeadingEmptyLines(in):]     // in: all unconsumed input
//	end, resume := httpparse.HeadEnd(in, resume) // resume: 0, or the last call's
//	if end < 0 {
//		// wait for more bytes (a long or non-HTTP start is checked separately)
//	}
//	_, err := req.ParseHead(in[:end], limits)
//	// err != nil: answer httpparse.Status(err), then close; else the body follows in[end:]
//
// # Concurrency
//
// A Request is used by one goroutine at a time — in the server, the event loop that
// owns it — and has no locks. The package functions (HeadEnd, LeadingEmptyLines,
// AppendQuery, AppendUnescape, ChunkedBody, Status) keep no state and are safe from any
// goroutine.
// The package has no mutable globals: its byte-class tables are filled at init and only
// read afterwards.
//
// # Lifetimes
//
// Every []byte a Request returns aliases the buffer given to ParseHead and is valid
// until that buffer is modified or reused (for gnet: until the bytes are discarded from
// the inbound buffer, or OnTraffic returns if they were only peeked). Callers must copy
// what they keep longer and must not write through returned slices; the slices' capacity
// is clipped, so an append copies instead of overwriting the buffer. AppendQuery,
// AppendUnescape and ChunkedBody append to a dst the caller owns.
//
// # Hot-path invariants
//
//   - Zero allocations: HeadEnd, LeadingEmptyLines, ParseHead, every Request accessor
//     including Header, AppendQuery and AppendUnescape when dst has spare capacity,
//     ChunkedBody when dst has room. alloc_test.go asserts exactly 0 allocs/op.
//   - Linear time: HeadEnd resumes two bytes before where it stopped, so a head
//     arriving one byte per packet costs O(length), not O(length²)
//     (TestHeadEndLongLineByteByByte); ParseHead keeps nothing between calls and runs
//     once per head. ChunkedBody rescans only chunk-size lines, never chunk data.
//   - Bounded memory: a head is ErrHeadTooLarge as soon as Limits.MaxHeadSize bytes are
//     buffered without its end (so a slowloris cannot make us hold more), or when it has
//     more than MaxHeaders lines. A Request is a fixed ~1.1 KiB.
//   - Never panics, whatever the bytes (fuzz_test.go); HeadEnd frames exactly the heads
//     ParseHead accepts, however the bytes are split (FuzzHeadEnd).
//
// # What is accepted
//
// RFC 9112 request syntax, strictly where leniency has been a smuggling vector and
// leniently where real clients need it. Lines may end in CRLF or a bare LF (as Go's
// textproto and fasthttp allow); any number of empty lines before the request line are
// skipped (RFC 9112 §2.2) and count in headLen and against MaxHeadSize. The request line
// is method SP target SP version with single spaces. The method is a token; the target
// is origin-form ("/p?q"), absolute-form ("http://host/p?q", with a non-empty authority)
// or "*" for OPTIONS, with no control bytes; the version is HTTP/1.0 or HTTP/1.1
// (another well-formed HTTP/d.d is ErrVersionNotSupported). Field names are tokens
// directly followed by ':'; values may hold any byte but controls other than HTAB.
// HTTP/1.1 requires exactly one Host header (RFC 9112 §3.2), HTTP/1.0 at most one.
// Content-Length is 1*DIGIT within int64; repeats must repeat the same text.
// Transfer-Encoding must be a single "chunked" (any case) in HTTP/1.1, without
// Content-Length. Refused: obs-fold, whitespace before or inside field names,
// authority-form targets. Chunked bodies need CRLF line ends (no bare LF, per RFC 9112
// erratum 7633 as net/http does), their trailers are checked and dropped.
//
// # Deliberate divergences from net/http
//
//   - Content-Length together with Transfer-Encoding is ErrBadRequest; net/http reads
//     the chunked body and drops Content-Length. RFC 9112 §6.3 says it "ought to be
//     handled as an error": it is the classic request-smuggling shape.
//   - Transfer-Encoding in an HTTP/1.0 request is ErrBadRequest (RFC 9112 §6.1, faulty
//     framing); net/http ignores the header.
//   - Any number of empty lines before a request are skipped; net/http skips up to four
//     CR/LF bytes, and only after a POST.
//   - The request-target is not percent-decoded nor checked for bad escapes ("/a%zz" is
//     accepted; routes compare raw bytes); net/http's url.ParseRequestURI refuses it. We
//     refuse "scheme:opaque" targets, absolute-form without an authority, and
//     authority-form (we are not a proxy), all of which net/http takes.
//   - The Host value is not validated, only counted; net/http checks its characters.
//   - At most 64 header lines (431 beyond); net/http only limits bytes.
//   - HTTP/1.2–1.9 are 505; net/http serves any HTTP/1.x (and "PRI * HTTP/2.0").
//   - Chunked bodies: whitespace before ';' and more than 16 hex digits (leading zeros)
//     are accepted, as RFC 9112's grammar allows, where net/http refuses them; control
//     bytes in chunk extensions are refused, where net/http ignores them; trailers are
//     dropped rather than exposed.
//   - Query parameters (AppendQuery) do not diverge: they follow net/url exactly,
//     including dropping pairs with ';' or bad escapes and its 10000-parameter limit.
//
// # Deliberate divergences from fasthttp
//
// Each is a named class in differential_test.go, with an input that shows it.
//
//   - We accept a head ended by a bare LF without any CRLFCRLF in the buffer; fasthttp
//     waits for a CRLFCRLF that a bare-LF client never sends.
//   - We accept repeated identical Content-Length headers (RFC 9110 §8.6, as net/http);
//     fasthttp refuses any repeat.
//   - We accept an empty Host value (RFC 9110 §7.2); fasthttp requires a non-empty one.
//   - We do not interpret the Trailer header; fasthttp refuses one naming a forbidden
//     field.
//   - We refuse whitespace inside a field name (RFC 9112 §5.1); fasthttp tolerates it.
//   - We refuse obs-fold; fasthttp joins continuation lines.
//   - We answer 505 to HTTP versions other than 1.0 and 1.1; fasthttp accepts HTTP/d.d.
//   - We answer 431 to more than 64 header lines; fasthttp has no count limit.
//   - We refuse authority-form (CONNECT host:port) and absolute-form with an empty
//     authority ("http:///p", which RFC 9110 §4.2.1 says MUST be rejected).
//   - We refuse Content-Length with Transfer-Encoding; fasthttp reads it as chunked and
//     closes the connection afterwards.
//   - We answer 501 to Transfer-Encoding "identity"; fasthttp ignores it.
//   - Path and RawQuery keep a '#' as a literal byte (as net/http does); fasthttp's URI
//     splits a fragment off. For a target starting with "//" ("//a://b") our Path is the
//     whole target (as net/http's); fasthttp's URI reads an authority in it.
package httpparse
