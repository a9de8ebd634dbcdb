package engine

import (
	"errors"
	"testing"

	"github.com/unisse/unisse/httpparse"
)

// FuzzHeadEnd checks the loop's head framing (emptyLines, then findHeadEnd
// resumed across reads) against httpparse.ParseHead: wherever the packets
// are split, the head ends where the parser says it does, and a head the
// parser accepts is never reported incomplete.
func FuzzHeadEnd(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\n\n",
		"GET / HTTP/1.1\r\nA: b\n\r\nrest",
		"POST /api/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: \r\r\n\r\n",
		"\n",
	} {
		f.Add([]byte(seed), uint16(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		rest := data[emptyLines(data):]
		end, _ := findHeadEnd(rest, 0)

		// The same bytes arriving step bytes at a time, resuming the scan
		// where the last read left it, as serveInput does.
		k := int(step%64) + 1
		got, resume := -1, 0
		for n := min(k, len(rest)); ; n = min(n+k, len(rest)) {
			got, resume = findHeadEnd(rest[:n], resume)
			if got >= 0 || n == len(rest) {
				break
			}
		}
		if got != end {
			t.Fatalf("in reads of %d bytes: head end %d, in one: %d", k, got, end)
		}

		var req httpparse.Request
		lim := httpparse.Limits{MaxHeadSize: len(rest) + 1}
		n, err := req.ParseHead(rest, lim)
		switch {
		case err == nil:
			if end != n {
				t.Fatalf("parser took a %d-byte head, framing found %d", n, end)
			}
		case errors.Is(err, httpparse.ErrIncomplete):
			if end >= 0 {
				t.Fatalf("framing found a %d-byte head the parser calls incomplete", end)
			}
		}
		if end >= 0 {
			// What the loop hands the parser: exactly the framed head.
			req.Reset()
			if n, err := req.ParseHead(rest[:end], lim); errors.Is(err, httpparse.ErrIncomplete) || (err == nil && n != end) {
				t.Fatalf("framed head of %d bytes: parser n=%d err=%v", end, n, err)
			}
		}
	})
}
