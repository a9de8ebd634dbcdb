package sse

import (
	"sync"
	"sync/atomic"
)

// maxChunkHeader is the room reserved in front of an event for its chunk-size
// line: up to 8 hex digits (4 GiB, far above any limit we accept) plus CRLF.
const maxChunkHeader = 10

// Frame is one SSE event inside its own HTTP chunk. Build it with NewFrame (or
// StaticFrame for frames that live forever, like the ping); after End it is
// immutable and may be shared by any number of connections and goroutines.
type Frame struct {
	buf   []byte // [pad][hex CRLF]["data: " json "\n\n"][CRLF]; pad is unused
	start int    // start of the chunk header inside buf
	head  int    // start of the event inside buf
	refs  atomic.Int32
	pool  bool // returned to framePool when the last reference is released
	// Epoch is the stream epoch of the publication the frame carries (""
	// for other events): connections that send SSE ids track it
	// (unisse.sse_event_ids). Set before the frame is shared.
	Epoch string
}

var framePool = sync.Pool{New: func() any { return &Frame{pool: true} }}

// NewFrame returns an empty pooled frame holding one reference. Append the event
// JSON to the slice returned by Begin, then call End with the result.
func NewFrame() *Frame {
	f := framePool.Get().(*Frame)
	f.refs.Store(1)
	f.Epoch = ""
	return f
}

// Begin starts the event and returns the slice to append its JSON to.
func (f *Frame) Begin() []byte {
	if cap(f.buf) < 256 {
		f.buf = make([]byte, 0, 256)
	}
	b := f.buf[:maxChunkHeader]
	return append(b, "data: "...)
}

// End finishes the event whose JSON was appended to b (the slice Begin
// returned, grown), wrapping it in its chunk.
func (f *Frame) End(b []byte) {
	b = append(b, "\n\n\r\n"...)
	n := len(b) - maxChunkHeader - 2 // event length
	// Write "<hex>\r\n" right-aligned in the reserved space so the frame is
	// contiguous without moving the event.
	i := maxChunkHeader
	i--
	b[i] = '\n'
	i--
	b[i] = '\r'
	if n == 0 {
		i--
		b[i] = '0'
	}
	for v := n; v > 0; v >>= 4 {
		i--
		b[i] = hexDigits[v&0xF]
	}
	f.buf = b
	f.start = i
	f.head = maxChunkHeader
}

const hexDigits = "0123456789abcdef"

// Chunk is the frame as one HTTP chunk: "<hex>\r\ndata: …\n\n\r\n".
func (f *Frame) Chunk() []byte { return f.buf[f.start:] }

// Event is the bare event "data: …\n\n", for peers that do not use chunked
// transfer encoding (HTTP/1.0).
func (f *Frame) Event() []byte { return f.buf[f.head : len(f.buf)-2] }

// Bytes is what a connection writes: the chunk, or the bare event.
func (f *Frame) Bytes(chunked bool) []byte {
	if chunked {
		return f.Chunk()
	}
	return f.Event()
}

// JSON is the event's JSON document, without "data: " and the blank line.
func (f *Frame) JSON() []byte { return f.buf[f.head+len("data: ") : len(f.buf)-4] }

// Retain adds n references. Safe from any goroutine.
func (f *Frame) Retain(n int32) {
	if f.pool {
		f.refs.Add(n)
	}
}

// Release drops one reference; the last one returns a pooled frame to the pool.
// The caller must not touch the frame afterwards. Safe from any goroutine.
func (f *Frame) Release() {
	if !f.pool {
		return
	}
	switch r := f.refs.Add(-1); {
	case r == 0:
		if cap(f.buf) > maxPooledFrame {
			f.buf = nil // don't let one huge publication pin its memory in the pool
		}
		framePool.Put(f)
	case r < 0:
		panic("sse: frame released more times than retained")
	}
}

// maxPooledFrame is the largest buffer a pooled frame keeps for reuse.
const maxPooledFrame = 64 << 10

// StaticFrame builds a frame that is never recycled (Retain/Release are no-ops),
// for events that are the same for everyone forever, like the ping.
func StaticFrame(json string) *Frame {
	f := &Frame{}
	b := f.Begin()
	b = append(b, json...)
	f.End(b)
	return f
}

// Ping is the ping event Centrifugo sends to unidirectional clients: data: {}.
var Ping = StaticFrame("{}")

// Primer is the first chunk of every stream: a lone CRLF, which Centrifugo
// writes with the headers so that proxies and clients see the stream start.
const Primer = "2\r\n\r\n\r\n"

// Terminator ends a chunked response.
const Terminator = "0\r\n\r\n"

// AppendChunk appends payload wrapped in one HTTP chunk.
func AppendChunk(dst, payload []byte) []byte {
	dst = appendHex(dst, len(payload))
	dst = append(dst, '\r', '\n')
	dst = append(dst, payload...)
	return append(dst, '\r', '\n')
}

// AppendEvent appends the event "data: <json>\n\n", chunked or not.
func AppendEvent(dst []byte, json []byte, chunked bool) []byte {
	n := len("data: ") + len(json) + 2
	if chunked {
		dst = appendHex(dst, n)
		dst = append(dst, '\r', '\n')
	}
	dst = append(dst, "data: "...)
	dst = append(dst, json...)
	dst = append(dst, '\n', '\n')
	if chunked {
		dst = append(dst, '\r', '\n')
	}
	return dst
}

// AppendEventWithID appends the event "id: <id>\ndata: <json>\n\n", chunked or
// not: an event whose lastEventId is id.
// The id line goes in its own chunk when chunked (AppendIDField), as it
// does before shared frames.
func AppendEventWithID(dst, id, json []byte, chunked bool) []byte {
	return AppendEvent(AppendIDField(dst, id, chunked), json, chunked)
}

// AppendIDField appends the line "id: <id>\n" on its own, in its own chunk
// when chunked: written right before an event's bytes it becomes that
// event's id. SSE parses lines across reads and HTTP chunks alike, and a
// field applies to the event whose blank line follows it, so a shared
// frame ("data: …\n\n") gets a per-connection id without being encoded
// again. The browser takes the id only when that event is dispatched (at
// its blank line): a stream cut between the two leaves its last id as it
// was, so id and data are applied together or not at all.
func AppendIDField(dst, id []byte, chunked bool) []byte {
	n := len("id: ") + len(id) + 1
	if chunked {
		dst = appendHex(dst, n)
		dst = append(dst, '\r', '\n')
	}
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	dst = append(dst, '\n')
	if chunked {
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func appendHex(dst []byte, n int) []byte {
	if n == 0 {
		return append(dst, '0')
	}
	var tmp [16]byte
	i := len(tmp)
	for ; n > 0; n >>= 4 {
		i--
		tmp[i] = hexDigits[n&0xF]
	}
	return append(dst, tmp[i:]...)
}
