package payload

import (
	"bytes"
	"strconv"
)

// MinSize is the size of a payload with no padding and the widest numbers;
// smaller requested sizes are rounded up to what the numbers need.
const MinSize = len(`{"s":4294967295,"w":65535,"t":1000000000000000000,"p":""}`)

// Append appends the payload for publisher w's message seq sent at t (unix
// ns), padded with 'x' to size bytes when it is shorter.
func Append(dst []byte, w uint16, seq uint32, t int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"s":`...)
	dst = strconv.AppendUint(dst, uint64(seq), 10)
	dst = append(dst, `,"w":`...)
	dst = strconv.AppendUint(dst, uint64(w), 10)
	dst = append(dst, `,"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"p":"`...)
	for pad := size - (len(dst) - start) - 2; pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// Kind is what a received event is.
type Kind uint8

// Event kinds.
const (
	Other      Kind = iota // anything else (join, leave, foreign publication…)
	Connect                // {"connect":…}
	Disconnect             // {"disconnect":{"code":N…}}
	Ping                   // {}
	Pub                    // a publication carrying a bench payload
)

var (
	connectPrefix    = []byte(`{"connect":`)
	disconnectPrefix = []byte(`{"disconnect":{"code":`)
	pubMarker        = []byte(`"pub":{"data":{"s":`)
	wKey             = []byte(`,"w":`)
	tKey             = []byte(`,"t":`)
)

// Event is what Parse found in an event's data.
type Event struct {
	Kind   Kind
	Code   uint32 // disconnect code
	W      uint16 // publisher
	Seq    uint32
	SentNs int64
}

// Parse classifies one event's data (an SSE `data:` line's value, possibly
// truncated after the payload's numbers).
func Parse(data []byte) Event {
	switch {
	case len(data) == 2 && data[0] == '{' && data[1] == '}':
		return Event{Kind: Ping}
	case bytes.HasPrefix(data, connectPrefix):
		return Event{Kind: Connect}
	case bytes.HasPrefix(data, disconnectPrefix):
		code, _, ok := number(data[len(disconnectPrefix):])
		if !ok {
			return Event{}
		}
		return Event{Kind: Disconnect, Code: uint32(code)}
	}
	i := bytes.Index(data, pubMarker)
	if i < 0 {
		return Event{}
	}
	rest := data[i+len(pubMarker):]
	seq, rest, ok := number(rest)
	if !ok || seq > 1<<32-1 || !bytes.HasPrefix(rest, wKey) {
		return Event{}
	}
	w, rest, ok := number(rest[len(wKey):])
	if !ok || w > 1<<16-1 || !bytes.HasPrefix(rest, tKey) {
		return Event{}
	}
	t, _, ok := number(rest[len(tKey):])
	if !ok {
		return Event{}
	}
	return Event{Kind: Pub, W: uint16(w), Seq: uint32(seq), SentNs: int64(t)}
}

// number reads a decimal at the start of b (at most 19 digits, followed by
// something: a number cut at the end of b may be incomplete).
func number(b []byte) (n uint64, rest []byte, ok bool) {
	i := 0
	for ; i < len(b) && i < 19 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + uint64(b[i]-'0')
	}
	if i == 0 || i == len(b) {
		return 0, b, false
	}
	return n, b[i:], true
}
