package session

import (
	"math/rand/v2"
	"strconv"

	"github.com/unisse/unisse/sse"
)

// appendRetry appends, when unisse.sse_retry_max is set, an SSE block with
// only a "retry:" field: the EventSource's reconnection delay in
// milliseconds, drawn per connection uniformly in
// [unisse.sse_retry_min, unisse.sse_retry_max]. Browsers otherwise reconnect
// a dropped stream after a fixed delay (about 3 s in Chromium), so all the
// clients of a node that goes away come back in the same instant; with the
// jitter n clients come back at about n / (max - min) per second. The block
// has no data line, so it dispatches no event: clients see the same events
// as from Centrifugo. Off (the default) it appends nothing.
func (s *Node) appendRetry(dst []byte, chunked bool) []byte {
	u := &s.opts.Own
	if u.SSERetryMax <= 0 {
		return dst
	}
	lo, hi := u.SSERetryMin.Milliseconds(), u.SSERetryMax.Milliseconds()
	ms := lo
	if hi > lo {
		ms += rand.Int64N(hi - lo + 1)
	}
	// "retry: " + up to 7 digits (1 h) + "\n\n"
	var b [len("retry: ") + 20 + 2]byte
	block := append(b[:0], "retry: "...)
	block = strconv.AppendInt(block, ms, 10)
	block = append(block, '\n', '\n')
	if chunked {
		return sse.AppendChunk(dst, block)
	}
	return append(dst, block...)
}
