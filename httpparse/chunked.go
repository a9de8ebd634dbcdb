package httpparse

import (
	"bytes"
	"slices"
)

const (
	// maxChunkLine bounds a chunk-size line or trailer line (without its CRLF), as
	// net/http's chunked reader does with the same number.
	maxChunkLine = 4096

	// maxChunkOverhead bounds framing bytes that are not paid for by payload: each
	// chunk earns 16 bytes plus twice its size of allowance, and the surplus of
	// size lines, extensions, CRLFs and trailers over that may not pass 16 KiB. This is
	// the budget net/http uses against bodies of tiny chunks with huge extensions,
	// which would otherwise make us buffer far more than max to get max bytes.
	maxChunkOverhead = 16 << 10
)

// ChunkedBody decodes a chunked body (RFC 9112 §7.1) that starts at buf[0], right after
// the head, and appends the payload to dst.
//
//   - ErrIncomplete until the last chunk and the trailer section (whose fields are
//     checked for syntax and dropped) are all in buf; body is then dst unchanged. Call
//     again with a longer buf that starts with the same bytes.
//   - ErrBodyTooLarge as soon as a chunk size makes the payload exceed max bytes, even
//     before that chunk's data has arrived.
//   - ErrBadRequest on bad syntax: a size that is not hex, a line that does not end in
//     CRLF (a bare LF is refused in bodies, as net/http refuses it, because chunk
//     extensions are where smuggling hides), a line over 4096 bytes, data not followed
//     by CRLF, a bad trailer line, or framing (size lines, extensions, trailers) that
//     outweighs the payload by more than 16 KiB (net/http's budget against tiny chunks
//     with huge extensions).
//
// consumed is the number of bytes of buf the body occupied; the next request, if the
// connection is kept alive, starts at buf[consumed].
//
// Each call rescans the chunk-size lines from buf[0] but skips over chunk data without
// reading it, and copies only once the whole body is present: a call costs O(number of
// chunks), and the copy is paid once. Safe from any goroutine (no shared state);
// allocates only when dst has no room for the payload.
func ChunkedBody(dst, buf []byte, max int) (body []byte, consumed int, err error) {
	consumed, size, err := walkChunks(buf, max, nil)
	if err != nil {
		return dst, 0, err
	}
	body = slices.Grow(dst, size)
	_, _, _ = walkChunks(buf[:consumed], max, &body) // cannot fail: the same bytes just passed
	return body, consumed, nil
}

// walkChunks checks the chunked body at the start of buf and returns how many bytes
// it occupies and its payload size. If sink is not nil it also appends each chunk's
// data to *sink; ChunkedBody measures first (sink nil) and copies in a second walk
// once it knows the body is complete, so partial bodies are never copied.
func walkChunks(buf []byte, limit int, sink *[]byte) (consumed, size int, err error) {
	limit = max(limit, 0)
	pos, total, excess := 0, 0, 0
	for {
		// The size is judged before the line's end is even looked for, so that the
		// verdict on a too-large size cannot depend on whether the rest of its line
		// (which may be malformed) had arrived yet.
		if hexPrefixExceeds(buf[pos:], limit-total) {
			return 0, 0, ErrBodyTooLarge
		}
		line, next, err := crlfLine(buf, pos)
		if err != nil {
			return 0, 0, err
		}
		n, err := parseChunkSize(line, limit-total)
		if err != nil {
			return 0, 0, err
		}
		// The size line with its CRLF and the CRLF after the data are overhead; the
		// chunk's own size pays for some of it.
		excess += len(line) + 4 - 16 - 2*min(n, maxChunkOverhead)
		excess = max(excess, 0)
		if excess > maxChunkOverhead {
			return 0, 0, ErrBadRequest
		}
		pos = next
		if n == 0 {
			return skipTrailers(buf, pos, total, excess)
		}
		if avail := len(buf) - pos; avail-2 < n {
			if avail > n && buf[pos+n] != '\r' {
				return 0, 0, ErrBadRequest // fail now rather than wait for a CRLF that cannot come
			}
			return 0, 0, ErrIncomplete
		}
		if buf[pos+n] != '\r' || buf[pos+n+1] != '\n' {
			return 0, 0, ErrBadRequest
		}
		if sink != nil {
			*sink = append(*sink, buf[pos:pos+n]...)
		}
		total += n
		pos += n + 2
	}
}

// skipTrailers checks and skips the trailer section after the last chunk: field lines
// up to an empty line, each ending in CRLF. Trailer fields are dropped, never merged
// into the head: nothing we serve reads them, and merging is how a trailer could
// smuggle a header past a proxy.
func skipTrailers(buf []byte, pos, total, excess int) (consumed, size int, err error) {
	for {
		line, next, err := crlfLine(buf, pos)
		if err != nil {
			return 0, 0, err
		}
		excess += len(line) + 2
		if excess > maxChunkOverhead {
			return 0, 0, ErrBadRequest
		}
		pos = next
		if len(line) == 0 {
			return pos, total, nil
		}
		if _, ok := splitFieldLine(line); !ok {
			return 0, 0, ErrBadRequest
		}
	}
}

// crlfLine returns the line starting at buf[pos] without its CRLF, and the offset after
// the CRLF. A line must end in CRLF; one longer than maxChunkLine is ErrBadRequest as
// soon as that many bytes are buffered, so the search never looks further than that.
func crlfLine(buf []byte, pos int) (line []byte, next int, err error) {
	rest := buf[pos:]
	window := rest[:min(len(rest), maxChunkLine+2)]
	i := bytes.IndexByte(window, '\n')
	if i < 0 {
		if len(window) == maxChunkLine+2 {
			return nil, 0, ErrBadRequest
		}
		return nil, 0, ErrIncomplete
	}
	if i == 0 || rest[i-1] != '\r' {
		return nil, 0, ErrBadRequest
	}
	return rest[:i-1], pos + i + 1, nil
}

// parseChunkSize parses `chunk-size [ BWS ";" chunk-ext ]` (RFC 9112 §7.1.1). The size
// is hex of any length (leading zeros are fine); it is ErrBodyTooLarge the moment it
// passes remaining, which also rules out overflow. Extensions are checked only for
// forbidden bytes and ignored: no extension means anything to us.
func parseChunkSize(line []byte, remaining int) (int, error) {
	n, i, tooLarge := hexPrefix(line, remaining)
	if tooLarge {
		return 0, ErrBodyTooLarge
	}
	if i == 0 {
		return 0, ErrBadRequest
	}
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i == len(line) {
		return n, nil
	}
	if line[i] != ';' {
		return 0, ErrBadRequest
	}
	for _, c := range line[i+1:] {
		if !isFieldByte[c] {
			return 0, ErrBadRequest
		}
	}
	return n, nil
}

// hexPrefix parses the hex digits at the start of b: their value, how many there are,
// and whether the value passes limit (parsing stops there).
func hexPrefix(b []byte, limit int) (n, digits int, tooLarge bool) {
	for digits < len(b) {
		d, ok := unhex(b[digits])
		if !ok {
			break
		}
		// n*16 + d > limit, written so that it cannot overflow.
		if limit-int(d) < 0 || n > (limit-int(d))/16 {
			return 0, digits, true
		}
		n = n*16 + int(d)
		digits++
	}
	return n, digits, false
}

// hexPrefixExceeds reports whether the chunk size at the start of a (possibly partial)
// line passes limit: more digits can only make it larger. Only the first maxChunkLine
// bytes count, as a longer line is refused for its length alone.
func hexPrefixExceeds(b []byte, limit int) bool {
	_, _, tooLarge := hexPrefix(b[:min(len(b), maxChunkLine)], limit)
	return tooLarge
}
