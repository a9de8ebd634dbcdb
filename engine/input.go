package engine

import "sync"

// input is a connection's unserved input once a request spans more than one
// read. gnet keeps unconsumed bytes in its own ring, but its Peek(-1) copies
// the whole ring on every call once the ring is not empty: a 16 MiB body
// arriving in 64 KiB reads cost O(n²) copying, and a 1 MiB head trickled a
// byte at a time copied up to 1 MiB per byte. Taking the bytes out of gnet
// once, into a buffer the connection owns until the request is complete, makes
// each read cost its own length. Connections whose requests arrive whole in
// one read never have one (no buffer per idle connection).
type input struct {
	b   []byte
	off int // b[off:] is unserved; served bytes are dropped lazily
	// need is how long b[off:] must be before the pending request can make
	// progress (head plus Content-Length once the head is parsed); 0 when
	// unknown. Reads that leave it short are only appended.
	need int
	// scanned is where httpparse.HeadEnd resumes in b[off:], so a head arriving in
	// pieces is scanned once.
	scanned int
}

// maxPooledInput is the largest buffer returned to the pool; bigger ones (a
// large API body) go back to the garbage collector with the request.
const maxPooledInput = 64 << 10

var inputPool = sync.Pool{New: func() any { return &input{b: make([]byte, 0, 4096)} }}

// takeInput returns all of c's unserved input: its own buffer with whatever
// gnet has buffered since appended, or gnet's bytes as they are (no copy when
// they all came in this read).
func takeInput(c *conn) []byte {
	gc := c.gc
	in := c.in
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

// bufferedInput is how many unserved input bytes c holds, in gnet and in
// its own buffer.
func bufferedInput(c *conn) int {
	n := c.gc.InboundBuffered()
	if c.in != nil {
		n += len(c.in.b) - c.in.off
	}
	return n
}

// consumeInput drops the first n bytes of what takeInput returned. When
// keep is set and bytes remain (a partial request, or requests left for
// later), they are moved out of gnet so that the next read does not make gnet
// copy them again.
func consumeInput(c *conn, n int, keep bool) {
	in := c.in
	if in == nil {
		if !keep || n >= c.gc.InboundBuffered() {
			_, _ = c.gc.Discard(n)
			return
		}
		buf, _ := c.gc.Peek(-1)
		in = inputPool.Get().(*input)
		in.b = append(in.b[:0], buf[n:]...)
		c.in = in
		_, _ = c.gc.Discard(-1)
		return
	}
	if n > 0 {
		in.off += n
		in.need, in.scanned = 0, 0
	}
	switch rest := len(in.b) - in.off; {
	case rest == 0:
		releaseInput(c)
	case in.off > rest:
		// Compact once the served part outweighs the rest: each byte is
		// moved O(1) times overall.
		in.b = in.b[:copy(in.b, in.b[in.off:])]
		in.off = 0
	}
}

// growInput makes room for the rest of a request of need bytes in one
// allocation, instead of doubling towards it.
func growInput(in *input, need int) {
	if cap(in.b)-in.off >= need {
		return
	}
	b := make([]byte, len(in.b)-in.off, need)
	copy(b, in.b[in.off:])
	in.b, in.off = b, 0
}

// dropInput discards every unserved byte of c.
func dropInput(c *conn) {
	_, _ = c.gc.Discard(-1)
	releaseInput(c)
}

// releaseInput gives c's own buffer back.
func releaseInput(c *conn) {
	in := c.in
	if in == nil {
		return
	}
	c.in = nil
	if cap(in.b) > maxPooledInput {
		return
	}
	in.b, in.off, in.need, in.scanned = in.b[:0], 0, 0, 0
	inputPool.Put(in)
}
