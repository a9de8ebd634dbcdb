package httpparse

import (
	"errors"
	"strings"
	"testing"
)

// FuzzHeadEnd checks head framing (LeadingEmptyLines, then HeadEnd resumed
// across reads) against ParseHead: wherever the packets are split, the head
// ends where the parser says it does, and a head the parser accepts is never
// reported incomplete.
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
		rest := data[LeadingEmptyLines(data):]
		end, _ := HeadEnd(rest, 0)

		// The same bytes arriving step bytes at a time, resuming the scan
		// where the last read left it, as the engine does.
		k := int(step%64) + 1
		got, resume := -1, 0
		for n := min(k, len(rest)); ; n = min(n+k, len(rest)) {
			got, resume = HeadEnd(rest[:n], resume)
			if got >= 0 || n == len(rest) {
				break
			}
		}
		if got != end {
			t.Fatalf("in reads of %d bytes: head end %d, in one: %d", k, got, end)
		}

		var req Request
		lim := Limits{MaxHeadSize: len(rest) + 1}
		n, err := req.ParseHead(rest, lim)
		switch {
		case err == nil:
			if end != n {
				t.Fatalf("parser took a %d-byte head, framing found %d", n, end)
			}
		case errors.Is(err, ErrIncomplete):
			if end >= 0 {
				t.Fatalf("framing found a %d-byte head the parser calls incomplete", end)
			}
		}
		if end >= 0 {
			// What the engine hands the parser: exactly the framed head.
			if n, err := req.ParseHead(rest[:end], lim); errors.Is(err, ErrIncomplete) || (err == nil && n != end) {
				t.Fatalf("framed head of %d bytes: parser n=%d err=%v", end, n, err)
			}
		}
	})
}

// TestHeadEndLongLineByteByByte feeds a 512 KiB request line one byte per
// call. A scan that restarted at the head's start each call would make ~1.4e11
// byte visits and not finish; resuming makes it 512 Ki short calls.
func TestHeadEndLongLineByteByByte(t *testing.T) {
	in := []byte("GET /?cf_connect=" + strings.Repeat("%7B", 512<<10/3) + " HTTP/1.1\r\nHost: h\r\n\r\n")
	resume := 0
	for k := 0; k < len(in); k++ {
		var end int
		if end, resume = HeadEnd(in[:k], resume); end >= 0 {
			t.Fatalf("%d bytes: head end %d", k, end)
		}
		if resume < k-2 {
			t.Fatalf("%d bytes: resumes at %d, rescanning what it saw", k, resume)
		}
	}
	if end, _ := HeadEnd(in, resume); end != len(in) {
		t.Fatalf("end %d, want %d", end, len(in))
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 27},
		{"GET / HTTP/1.1\n\nbody", 16},
		{"GET / HTTP/1.1\r\nA: b\n\r\n", 23},
		{"GET / HTTP/1.1\r\nA: b\r\n\r", -1},
		{"GET / HTTP/1.1\r\nA: b\r\n", -1},
		{"GET / HTTP/1.1\r\nX: \r\r\n\r\n", 24},
		{"", -1},
	} {
		if got, _ := HeadEnd([]byte(tc.in), 0); got != tc.want {
			t.Errorf("HeadEnd(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if n := LeadingEmptyLines([]byte("\r\n\n\r\nGET")); n != 5 {
		t.Errorf("LeadingEmptyLines = %d, want 5", n)
	}
}
