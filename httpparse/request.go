package httpparse

import (
	"bytes"
	"math"
)

// DefaultMaxHeadSize is the head limit used when Limits.MaxHeadSize is 0: net/http's
// DefaultMaxHeaderBytes plus the 4096 bytes of slack its server adds, so that a head
// Centrifugo accepts is one we accept (PROTOCOL.md §2.2: 100 KB cf_connect URLs work).
const DefaultMaxHeadSize = 1<<20 + 4096

// MaxHeaders is how many header lines a Request holds inline. One more is
// ErrHeadTooLarge: the array is what lets ParseHead run without allocating.
const MaxHeaders = 64

// maxSpan bounds every offset so that it fits the uint32 spans; a larger
// Limits.MaxHeadSize is clamped to it.
const maxSpan = math.MaxInt32

// Limits bounds what a client can make us hold.
type Limits struct {
	// MaxHeadSize caps the request head in bytes: any empty lines skipped before the
	// request line, the request line, the header lines, and the empty line that ends the
	// head. ParseHead returns ErrHeadTooLarge as soon as this many bytes are buffered
	// without a complete head, so a client that never finishes its head (slowloris)
	// cannot make us buffer more. 0 or negative means DefaultMaxHeadSize.
	MaxHeadSize int
}

func (l Limits) maxHeadSize() int {
	switch n := l.MaxHeadSize; {
	case n <= 0:
		return DefaultMaxHeadSize
	case n > maxSpan:
		return maxSpan
	default:
		return n
	}
}

// span is a half-open byte range [off, end) of the buffer given to ParseHead. Offsets
// rather than slices keep a Request small: a span is 8 bytes, a slice 24.
type span struct{ off, end uint32 }

// in returns the bytes of s in buf, with the capacity clipped so that a caller who
// appends to a returned slice reallocates instead of overwriting the bytes after it.
func (s span) in(buf []byte) []byte { return buf[s.off:s.end:s.end] }

type field struct{ name, value span }

// progress is everything ParseHead learns about one head. It is reset as a whole
// before each parse; the header array lives outside it so that a reset does not have
// to clear 1 KiB of spans nobody reads (nHeaders says how many are live).
type progress struct {
	method, target, path, query span
	// slashPath marks an absolute-form target with an empty path ("http://h?q"), whose
	// path is "/" (RFC 9112 §3.2.1) but has no '/' byte in the buffer to point at.
	slashPath bool
	minor     uint8
	nHeaders  uint8

	contentLength int64
	clValue       span // the first Content-Length value, to compare repeats against
	clSeen        bool
	hostCount     uint8 // saturates at 2: only 0, 1 and "more than one" matter
	teCount       uint8 // saturates at 2
	teChunked     bool  // the (first) Transfer-Encoding value is "chunked"
	connClose     bool  // a Connection header lists "close"
	connKeepAlive bool  // a Connection header lists "keep-alive"
	keepAlive     bool
}

// Request is one parsed request head.
//
// A Request belongs to one goroutine at a time (in the server, the connection's event
// loop); it has no locks. Its zero value is ready to use. It holds up to MaxHeaders
// headers inline and never allocates.
//
// Every []byte a Request returns aliases the buffer last given to ParseHead (except the
// constant "/" of Path for an absolute-form target with an empty path). The slices stay
// valid until that buffer is modified or reused, and must not be modified: copy what
// must outlive the buffer. Their capacity is clipped, so appending to one copies.
//
// Accessors report the head of the last ParseHead call that returned nil; after an
// error or before the first success their results are unspecified (but never panic).
type Request struct {
	buf     []byte
	p       progress
	headers [MaxHeaders]field
}

// Reset forgets the last head and drops the reference to its buffer so that the
// buffer can be collected. ParseHead starts afresh by itself.
func (r *Request) Reset() {
	r.buf = nil
	r.p = progress{}
}

// ParseHead parses the request head at the start of buf.
//
// On success it returns the head length: the bytes up to and including the empty line
// that ends the head (CRLF CRLF, LF LF or a mix), plus any empty lines skipped before
// the request line. The body, if any, starts at buf[headLen]; pipelined requests are
// parsed by calling again with buf[headLen+bodyLen:].
//
// ErrIncomplete means buf holds no complete head yet and nothing in it is already
// wrong. Each call parses buf from its start and keeps nothing from earlier calls: a
// caller receiving a head in pieces finds its end with HeadEnd, which resumes where it
// stopped, and parses once, so a head arriving one byte per packet costs O(length).
// Any other error is final for this head; Status gives the answer to send.
//
// Only on the Request's own goroutine (see Request). Zero allocations.
func (r *Request) ParseHead(buf []byte, lim Limits) (headLen int, err error) {
	limit := lim.maxHeadSize()
	view := buf
	if len(view) > limit {
		view = view[:limit]
	}
	r.p = progress{}
	r.buf = buf
	headers := false // the request line is parsed; header lines follow
	for start := 0; ; {
		i := bytes.IndexByte(view[start:], '\n')
		if i < 0 {
			if !headers {
				if err := checkPartialRequestLine(view[start:]); err != nil {
					return 0, err
				}
			}
			if len(buf) >= limit {
				return 0, ErrHeadTooLarge
			}
			return 0, ErrIncomplete
		}
		lf := start + i
		line := view[start:lf]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		switch {
		case !headers && len(line) == 0:
			// An empty line before the request line: RFC 9112 §2.2 says a server SHOULD
			// ignore at least one (old clients send CRLF after a POST body). We ignore
			// any number, as fasthttp does; together they still count against the limit.
		case !headers:
			if err := r.parseRequestLine(line, start); err != nil {
				return 0, err
			}
			headers = true
		case len(line) == 0:
			if err := r.finish(); err != nil {
				return 0, err
			}
			return lf + 1, nil
		default:
			if err := r.parseHeaderLine(line, start); err != nil {
				return 0, err
			}
		}
		start = lf + 1
	}
}

// checkPartialRequestLine rejects a request line whose method is already invalid
// before its LF arrives, so that a TLS handshake or other non-HTTP bytes on the port
// are refused at once rather than after MaxHeadSize bytes or a timeout. The verdict
// equals what parseRequestLine gives for the completed line, so the result does not
// depend on how the bytes were split.
func checkPartialRequestLine(line []byte) error {
	for i, c := range line {
		switch {
		case isTchar[c]:
		case c == ' ' && i > 0:
			return nil // a whole valid method: the rest waits for the LF
		case c == '\r' && i == 0 && len(line) == 1:
			// Maybe the first half of an empty line's CRLF; decided when the next
			// byte comes.
			return nil
		default:
			return ErrBadRequest
		}
	}
	return nil
}

// parseRequestLine parses `method SP request-target SP HTTP-version` (RFC 9112 §3),
// separated by exactly one SP each, as net/http does. off is the line's offset in buf.
func (r *Request) parseRequestLine(line []byte, off int) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrBadRequest
	}
	for _, c := range line[:sp1] {
		if !isTchar[c] {
			return ErrBadRequest
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 {
		return ErrBadRequest // HTTP/0.9 "GET /" or a target with no version
	}
	target, proto := rest[:sp2], rest[sp2+1:]
	minor, versionErr := parseVersion(proto)
	if versionErr == ErrBadRequest {
		return versionErr
	}
	r.p.method = span{uint32(off), uint32(off + sp1)}
	targetOff := off + sp1 + 1
	r.p.target = span{uint32(targetOff), uint32(targetOff + len(target))}
	if err := r.parseTarget(target, targetOff); err != nil {
		return err
	}
	if versionErr != nil {
		// Reported only once the rest of the line is known to be well-formed: a garbled
		// line is a 400 whatever its version says.
		return versionErr
	}
	r.p.minor = minor
	return nil
}

// parseVersion accepts exactly "HTTP/1.0" and "HTTP/1.1" (case-sensitive, RFC 9112
// §2.3). Any other "HTTP/d.d" is well-formed but unsupported (505); anything else is
// malformed (400).
func parseVersion(proto []byte) (minor uint8, err error) {
	if len(proto) != len("HTTP/1.1") || string(proto[:5]) != "HTTP/" ||
		proto[6] != '.' || !isDigit(proto[5]) || !isDigit(proto[7]) {
		return 0, ErrBadRequest
	}
	if proto[5] != '1' || (proto[7] != '0' && proto[7] != '1') {
		return 0, ErrVersionNotSupported
	}
	return proto[7] - '0', nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseTarget accepts the three request-target forms a server must handle (RFC 9112
// §3.2): origin-form "/path?query", absolute-form "scheme://authority/path?query", and
// asterisk-form "*" for OPTIONS. authority-form (CONNECT host:port) is refused: we are
// not a proxy. The target is not percent-decoded; a '#' is kept as a literal byte, as
// net/http's ParseRequestURI keeps it.
func (r *Request) parseTarget(target []byte, off int) error {
	if len(target) == 0 {
		return ErrBadRequest
	}
	for _, c := range target {
		if isCTL(c) {
			return ErrBadRequest
		}
	}
	pathOff := 0
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*':
		if string(r.p.method.in(r.buf)) != "OPTIONS" {
			return ErrBadRequest
		}
		r.p.path = span{uint32(off), uint32(off + 1)}
		r.p.query = span{uint32(off + 1), uint32(off + 1)}
		return nil
	default:
		n := schemeLen(target)
		if n == 0 || len(target)-n < len("://") || string(target[n:n+3]) != "://" {
			return ErrBadRequest
		}
		authStart := n + len("://")
		authEnd := authStart
		for authEnd < len(target) && target[authEnd] != '/' && target[authEnd] != '?' {
			authEnd++
		}
		if authEnd == authStart {
			// RFC 9110 §4.2.1: an http URI with an empty host MUST be rejected.
			return ErrBadRequest
		}
		pathOff = authEnd
	}
	rest := target[pathOff:]
	pathEnd := len(rest)
	queryOff := len(rest)
	if q := bytes.IndexByte(rest, '?'); q >= 0 {
		pathEnd, queryOff = q, q+1
	}
	base := off + pathOff
	r.p.path = span{uint32(base), uint32(base + pathEnd)}
	r.p.query = span{uint32(base + queryOff), uint32(base + len(rest))}
	r.p.slashPath = pathEnd == 0
	return nil
}

// schemeLen returns the length of the URI scheme at the start of b (RFC 3986 §3.1:
// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )) if a ':' follows it, else 0.
func schemeLen(b []byte) int {
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return i
		default:
			return 0
		}
	}
	return 0
}

// parseHeaderLine parses `field-name ":" OWS field-value OWS` (RFC 9112 §5). off is
// the line's offset in buf.
func (r *Request) parseHeaderLine(line []byte, off int) error {
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (a continuation of the previous header), or whitespace between the
		// request line and the first header. RFC 9112 §5.2 and §2.2 allow rejecting
		// both; joining folds would mean rewriting the buffer.
		return ErrBadRequest
	}
	colon, ok := splitFieldLine(line)
	if !ok {
		return ErrBadRequest
	}
	raw := line[colon+1:]
	lead := 0
	for lead < len(raw) && (raw[lead] == ' ' || raw[lead] == '\t') {
		lead++
	}
	value := trimOWS(raw[lead:])
	if int(r.p.nHeaders) == MaxHeaders {
		return ErrHeadTooLarge
	}
	valueOff := off + colon + 1 + lead
	f := field{
		name:  span{uint32(off), uint32(off + colon)},
		value: span{uint32(valueOff), uint32(valueOff + len(value))},
	}
	r.headers[r.p.nHeaders] = f
	r.p.nHeaders++
	return r.noteFraming(line[:colon], value, f.value)
}

// splitFieldLine checks a field line (a header, or a trailer in a chunked body) and
// returns the offset of its colon: a non-empty token name directly followed by ':', and
// a value of field bytes only. Whitespace before the colon is refused, as RFC 9112 §5.1
// says a server MUST: a proxy that strips it would see a different header than we do.
func splitFieldLine(line []byte) (colon int, ok bool) {
	colon = -1
	for i, c := range line {
		if c == ':' {
			colon = i
			break
		}
		if !isTchar[c] {
			return -1, false
		}
	}
	if colon <= 0 {
		return -1, false
	}
	for _, c := range line[colon+1:] {
		if !isFieldByte[c] {
			return -1, false
		}
	}
	return colon, true
}

// noteFraming records, as each header arrives, the fields that decide framing and
// connection reuse, so that finish does not have to look headers up again.
func (r *Request) noteFraming(name, value []byte, valueSpan span) error {
	switch len(name) {
	case len("host"):
		if equalFold(name, "host") {
			r.p.hostCount = min(r.p.hostCount+1, 2)
		}
	case len("connection"):
		if equalFold(name, "connection") {
			r.noteConnection(value)
		}
	case len("content-length"):
		if equalFold(name, "content-length") {
			return r.noteContentLength(value, valueSpan)
		}
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			if r.p.teCount == 0 {
				r.p.teChunked = equalFold(value, "chunked")
			}
			r.p.teCount = min(r.p.teCount+1, 2)
		}
	}
	return nil
}

// noteConnection scans a Connection value as the comma-separated token list it is
// (RFC 9110 §7.6.1): "Connection: Keep-Alive, Upgrade" lists keep-alive.
func (r *Request) noteConnection(value []byte) {
	for len(value) > 0 {
		tok := value
		if i := bytes.IndexByte(value, ','); i >= 0 {
			tok, value = value[:i], value[i+1:]
		} else {
			value = nil
		}
		tok = trimOWS(tok)
		switch {
		case equalFold(tok, "close"):
			r.p.connClose = true
		case equalFold(tok, "keep-alive"):
			r.p.connKeepAlive = true
		}
	}
}

// noteContentLength accepts 1*DIGIT only (RFC 9110 §8.6): no sign, no list, no
// overflow. A repeated Content-Length must repeat the same text, as net/http requires
// (a "5" then a "05" is refused: two parsers could disagree on which one counts).
func (r *Request) noteContentLength(value []byte, valueSpan span) error {
	if len(value) == 0 {
		return ErrBadRequest
	}
	var n int64
	for _, c := range value {
		if !isDigit(c) {
			return ErrBadRequest
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return ErrBadRequest
		}
		n = n*10 + d
	}
	if r.p.clSeen {
		if !bytes.Equal(value, r.p.clValue.in(r.buf)) {
			return ErrBadRequest
		}
		return nil
	}
	r.p.clSeen = true
	r.p.clValue = valueSpan
	r.p.contentLength = n
	return nil
}

// finish applies the rules that need the whole head.
func (r *Request) finish() error {
	// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host
	// header and to any request with more than one.
	if r.p.hostCount > 1 || (r.p.minor == 1 && r.p.hostCount == 0) {
		return ErrBadRequest
	}
	if r.p.teCount > 0 {
		switch {
		case r.p.minor == 0:
			// RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty
			// framing. (net/http ignores it instead; fasthttp also refuses.)
			return ErrBadRequest
		case r.p.teCount > 1 || !r.p.teChunked:
			// Only a single "chunked", like net/http and nginx: anything else is a
			// coding we cannot decode, or a list two parsers may read differently.
			return ErrNotImplemented
		case r.p.clSeen:
			// RFC 9112 §6.3: both present "ought to be handled as an error"; it is the
			// classic request-smuggling shape.
			return ErrBadRequest
		}
	}
	if r.p.minor == 1 {
		r.p.keepAlive = !r.p.connClose
	} else {
		r.p.keepAlive = r.p.connKeepAlive && !r.p.connClose
	}
	return nil
}

// Method returns the request method, e.g. "GET". Methods are case-sensitive.
func (r *Request) Method() []byte { return r.p.method.in(r.buf) }

// IsGet reports whether the method is GET.
func (r *Request) IsGet() bool { return string(r.Method()) == "GET" }

// IsPost reports whether the method is POST.
func (r *Request) IsPost() bool { return string(r.Method()) == "POST" }

// IsHead reports whether the method is HEAD.
func (r *Request) IsHead() bool { return string(r.Method()) == "HEAD" }

// Target returns the request-target exactly as sent.
func (r *Request) Target() []byte { return r.p.target.in(r.buf) }

// slash is Path's answer for "http://host" and "http://host?q". Its capacity is 1 so
// an append copies; callers must not write to it (the Request contract).
var slash = []byte{'/'}

// Path returns the path part of the request-target, not percent-decoded, without the
// '?' and query. For an absolute-form target it is the path after the authority ("/"
// if that is empty). It starts with '/', except for "OPTIONS *" where it is "*".
func (r *Request) Path() []byte {
	if r.p.slashPath {
		return slash[:1:1]
	}
	return r.p.path.in(r.buf)
}

// RawQuery returns the query part of the request-target without the '?', not decoded;
// empty when there is none. Use AppendQuery to read a parameter.
func (r *Request) RawQuery() []byte { return r.p.query.in(r.buf) }

// AppendQuery appends the decoded value of query parameter name to dst; see the
// package function AppendQuery for the exact rules.
func (r *Request) AppendQuery(dst []byte, name string) (out []byte, found bool) {
	return AppendQuery(dst, r.RawQuery(), name)
}

// ProtoMinor returns 1 for HTTP/1.1 and 0 for HTTP/1.0, the only versions accepted.
func (r *Request) ProtoMinor() int { return int(r.p.minor) }

// Header returns the value of the first header named name (ASCII case-insensitive),
// with leading and trailing whitespace removed, or nil if there is none. A header that
// is present with an empty value returns an empty non-nil slice. Zero allocations.
func (r *Request) Header(name string) []byte {
	for i := range int(r.p.nHeaders) {
		f := &r.headers[i]
		if int(f.name.end-f.name.off) == len(name) && equalFold(f.name.in(r.buf), name) {
			return f.value.in(r.buf)
		}
	}
	return nil
}

// HasHeader reports whether a header named name (ASCII case-insensitive) is present.
func (r *Request) HasHeader(name string) bool { return r.Header(name) != nil }

// VisitHeaders calls fn for each header line in the order received, with the name as
// sent and the trimmed value. The slices follow the Request contract.
func (r *Request) VisitHeaders(fn func(name, value []byte)) {
	for i := range int(r.p.nHeaders) {
		f := &r.headers[i]
		fn(f.name.in(r.buf), f.value.in(r.buf))
	}
}

// NumHeaders returns the number of header lines.
func (r *Request) NumHeaders() int { return int(r.p.nHeaders) }

// ContentLength returns the Content-Length, or -1 when the request has none (a
// chunked request never has one: both together are ErrBadRequest).
func (r *Request) ContentLength() int64 {
	if !r.p.clSeen {
		return -1
	}
	return r.p.contentLength
}

// Chunked reports whether the body is sent with Transfer-Encoding: chunked; decode it
// with ChunkedBody.
func (r *Request) Chunked() bool { return r.p.teCount == 1 && r.p.teChunked }

// KeepAlive reports whether the connection may carry another request after this one:
// for HTTP/1.1 unless a Connection header lists "close", for HTTP/1.0 only if one lists
// "keep-alive" and none lists "close" (RFC 9112 §9.3). Tokens are case-insensitive and
// all Connection headers count.
func (r *Request) KeepAlive() bool { return r.p.keepAlive }
