package input

import (
	"sync"

	"github.com/panjf2000/gnet/v2"
)

// Buffer is a connection's unserved input once a request spans more than
// one read. gnet keeps unconsumed bytes in its own ring, but its Peek(-1) copies
// the whole ring on every call once the ring is not empty: a 16 MiB body
// arriving in 64 KiB reads cost O(n²) copying, and a 1 MiB head trickled a
// byte at a time copied up to 1 MiB per byte. Taking the bytes out of gnet
// once, into a buffer the connection owns until the request is complete, makes
// each read cost its own length. Connections whose requests arrive whole in
// one read never have one (no buffer per idle connection).
type Buffer struct {
	b   []byte
	off int // b[off:] is unserved; served bytes are dropped lazily
	// Need is how long the unserved input must be before the pending
	// request can make progress (head plus Content-Length once the head is
	// parsed); 0 when unknown. Reads that leave it short are only appended.
	// Consume resets it.
	Need int
	// Scanned is where httpparse.HeadEnd resumes in the unserved input, so a
	// head arriving in pieces is scanned once. Consume resets it.
	Scanned int
}

// maxPooledInput is the largest buffer returned to the pool; bigger ones (a
// large API body) go back to the garbage collector with the request.
const maxPooledInput = 64 << 10

var pool = sync.Pool{New: func() any { return &Buffer{b: make([]byte, 0, 4096)} }}

// Take returns all of a connection's unserved input: its own buffer in
// (nil if it has none) with whatever gnet has buffered since appended, or
// gnet's bytes as they are (no copy when they all came in this read).
func Take(gc gnet.Conn, in *Buffer) []byte {
	if in == nil {
		buf, _ := gc.Peek(-1)
		return buf
	}
	if gc.InboundBuffered() > 0 {
		buf, _ := gc.Peek(-1)
		in.b = append(in.b, buf...)
		_, _ = gc.Discard(-1)
	}
	return in.b[in.off:]
}

// Append adds p, bytes read from the connection's socket outside gnet's
// read path, to its unserved input: into its own buffer in *inp (taken from
// the pool if nil), behind whatever gnet has buffered, which moves there
// first, so that the request stream stays in order whichever reads next.
func Append(gc gnet.Conn, inp **Buffer, p []byte) {
	in := *inp
	if in == nil {
		in = pool.Get().(*Buffer)
		*inp = in
	}
	if gc.InboundBuffered() > 0 {
		buf, _ := gc.Peek(-1)
		in.b = append(in.b, buf...)
		_, _ = gc.Discard(-1)
	}
	in.b = append(in.b, p...)
}

// Buffered is how many unserved input bytes a connection holds, in gnet and
// in its own buffer in.
func Buffered(gc gnet.Conn, in *Buffer) int {
	n := gc.InboundBuffered()
	if in != nil {
		n += len(in.b) - in.off
	}
	return n
}

// Consume drops the first n bytes of what Take returned. When keep is set
// and bytes remain (a partial request, or requests left for later), they are
// moved out of gnet into *inp (taken from a pool if nil) so that the next
// read does not make gnet copy them again.
func Consume(gc gnet.Conn, inp **Buffer, n int, keep bool) {
	in := *inp
	if in == nil {
		if !keep || n >= gc.InboundBuffered() {
			_, _ = gc.Discard(n)
			return
		}
		buf, _ := gc.Peek(-1)
		in = pool.Get().(*Buffer)
		in.b = append(in.b[:0], buf[n:]...)
		*inp = in
		_, _ = gc.Discard(-1)
		return
	}
	if n > 0 {
		in.off += n
		in.Need, in.Scanned = 0, 0
	}
	switch rest := len(in.b) - in.off; {
	case rest == 0:
		Release(inp)
	case in.off > rest:
		// Compact once the served part outweighs the rest: each byte is
		// moved O(1) times overall.
		in.b = in.b[:copy(in.b, in.b[in.off:])]
		in.off = 0
	}
}

// Grow makes room for the rest of a request of need bytes in one
// allocation, instead of doubling towards it.
func (in *Buffer) Grow(need int) {
	if cap(in.b)-in.off >= need {
		return
	}
	b := make([]byte, len(in.b)-in.off, need)
	copy(b, in.b[in.off:])
	in.b, in.off = b, 0
}

// Drop discards every unserved byte of a connection.
func Drop(gc gnet.Conn, inp **Buffer) {
	_, _ = gc.Discard(-1)
	Release(inp)
}

// Release gives the connection's own buffer back and sets *inp to nil.
func Release(inp **Buffer) {
	in := *inp
	if in == nil {
		return
	}
	*inp = nil
	if cap(in.b) > maxPooledInput {
		return
	}
	in.b, in.off, in.Need, in.Scanned = in.b[:0], 0, 0, 0
	pool.Put(in)
}
