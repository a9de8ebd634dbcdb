package httpparse

import "bytes"

// HeadEnd finds where the request head at the start of buf ends without parsing
// it: it returns the head's length through the empty line that ends it (CRLF
// CRLF, LF LF or a mix, as ParseHead accepts), or -1 and the offset to pass as
// from when more bytes have arrived.
//
// It is how a server that parses with one Request per event loop (not one per
// connection) frames heads that arrive in pieces: each connection keeps only
// the resume offset between reads, every byte is scanned once however the head
// is split, and ParseHead runs once, on buf[:end]. Whenever ParseHead accepts
// buf (or calls it incomplete), HeadEnd agrees (FuzzHeadEnd).
//
// buf must start at the request line: skip the empty lines a client may send
// between requests first (LeadingEmptyLines). from is 0 for a new head, else
// the resume offset of the last call on a prefix of the same bytes. Safe from
// any goroutine; allocation-free.
func HeadEnd(buf []byte, from int) (end, resume int) {
	for i := from; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			// Resume two bytes back: an LF there may be the first half of an
			// end whose "\n" or "\r\n" has not arrived yet.
			return -1, max(len(buf)-2, 0)
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1, 0
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2, 0
		case i >= len(buf)-1:
			return -1, max(i-1, 0)
		}
	}
}

// LeadingEmptyLines returns how many CR and LF bytes start buf: the empty
// lines a client may send before a request line (RFC 9112 §2.2), which a
// caller of HeadEnd skips so that they are not mistaken for the end of a head.
func LeadingEmptyLines(buf []byte) int {
	n := 0
	for n < len(buf) && (buf[n] == '\r' || buf[n] == '\n') {
		n++
	}
	return n
}
