package httpparse

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type chunkCase struct {
	name string
	in   string
	max  int
	err  error
	body string
	// consumed 0 means len(in).
	consumed int
}

var chunkCases = []chunkCase{
	{name: "two chunks", in: "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", max: 64, body: "hello world"},
	{name: "empty body", in: "0\r\n\r\n", max: 64, body: ""},
	{name: "upper and lower hex, leading zeros", in: "000A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n", max: 64, body: "01234567890123456789"},
	{name: "extensions are ignored", in: "5;name=value;flag\r\nhello\r\n0;last\r\n\r\n", max: 64, body: "hello"},
	{name: "whitespace before ; (RFC 9112 BWS)", in: "5 \t;x=\"quoted\"\r\nhello\r\n0\r\n\r\n", max: 64, body: "hello"},
	{name: "trailing whitespace after the size", in: "5 \r\nhello\r\n0\r\n\r\n", max: 64, body: "hello"},
	{name: "trailers are skipped", in: "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n", max: 64, body: "hello"},
	{name: "bytes after the body are not consumed", in: "1\r\na\r\n0\r\n\r\nPOST / HTTP/1.1\r\n", max: 64, body: "a", consumed: len("1\r\na\r\n0\r\n\r\n")},
	{name: "exactly max", in: "4\r\nabcd\r\n0\r\n\r\n", max: 4, body: "abcd"},
	{name: "data may hold CR and LF", in: "4\r\n\r\n\r\n\r\n0\r\n\r\n", max: 64, body: "\r\n\r\n"},
	{name: "one byte over max", in: "4\r\nabcd\r\n1\r\ne\r\n0\r\n\r\n", max: 4, err: ErrBodyTooLarge},
	{name: "too large before the data arrives", in: "100\r\n", max: 64, err: ErrBodyTooLarge},
	{name: "too large before the size line ends", in: "fffffffffffffffffffffffff", max: 1 << 20, err: ErrBodyTooLarge},
	{name: "too large wins over a bare LF after the size", in: "100\n", max: 64, err: ErrBodyTooLarge},
	{name: "too large wins over a bad byte after the size", in: "100x\r\n", max: 64, err: ErrBodyTooLarge},
	{name: "too long line of hex digits", in: strings.Repeat("0", maxChunkLine+5) + "1\r\nx\r\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "too large within a too long line", in: strings.Repeat("f", maxChunkLine+5) + "\r\n", max: 64, err: ErrBodyTooLarge},
	{name: "max 0 allows only an empty body", in: "1\r\n", max: 0, err: ErrBodyTooLarge},
	{name: "negative max is 0", in: "0\r\n\r\n", max: -5, body: ""},
	{name: "incomplete size line", in: "5", max: 64, err: ErrIncomplete},
	{name: "incomplete data", in: "5\r\nhel", max: 64, err: ErrIncomplete},
	{name: "missing last chunk", in: "5\r\nhello\r\n", max: 64, err: ErrIncomplete},
	{name: "missing final CRLF", in: "5\r\nhello\r\n0\r\n", max: 64, err: ErrIncomplete},
	{name: "empty input", in: "", max: 64, err: ErrIncomplete},
	{name: "no size", in: "\r\nhello\r\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "non-hex size", in: "z\r\n", max: 64, err: ErrBadRequest},
	{name: "signed size", in: "-5\r\nhello\r\n", max: 64, err: ErrBadRequest},
	{name: "0x prefix", in: "0x5\r\nhello\r\n", max: 64, err: ErrBadRequest},
	{name: "space inside the size", in: "1 0\r\n", max: 64, err: ErrBadRequest},
	{name: "bare LF after the size", in: "5\nhello\r\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "bare LF after the data", in: "5\r\nhello\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "bare LF ending the trailers", in: "0\r\n\n", max: 64, err: ErrBadRequest},
	{name: "data longer than its size", in: "5\r\nhelloX\r\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "data overrun detected before the rest arrives", in: "5\r\nhelloX", max: 64, err: ErrBadRequest},
	{name: "CR inside the size line", in: "5\rx\r\nhello\r\n", max: 64, err: ErrBadRequest},
	{name: "control byte in an extension", in: "5;a\x00b\r\nhello\r\n", max: 64, err: ErrBadRequest},
	{name: "bad trailer", in: "0\r\nno colon here\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "obs-fold in trailers", in: "0\r\nX: a\r\n b\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "size line too long", in: "5;" + strings.Repeat("x", maxChunkLine) + "\r\nhello\r\n0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "size line too long, detected without its end", in: "5;" + strings.Repeat("x", maxChunkLine+10), max: 64, err: ErrBadRequest},
	{name: "longest size line", in: "5;" + strings.Repeat("x", maxChunkLine-2) + "\r\nhello\r\n0\r\n\r\n", max: 64, body: "hello"},
	{name: "tiny chunks with big extensions", in: strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 20) + "0\r\n\r\n", max: 64, err: ErrBadRequest},
	{name: "huge trailer section", in: "0\r\n" + strings.Repeat("X-T: "+strings.Repeat("v", 1000)+"\r\n", 20) + "\r\n", max: 64, err: ErrBadRequest},
}

func init() {
	// One-byte chunks are legitimate streaming: 1000 of them pass the overhead budget.
	var b strings.Builder
	for range 1000 {
		b.WriteString("1\r\nx\r\n")
	}
	b.WriteString("0\r\n\r\n")
	chunkCases = append(chunkCases, chunkCase{name: "1000 one-byte chunks", in: b.String(), max: 1000, body: strings.Repeat("x", 1000)})
}

func (tc chunkCase) check(t *testing.T, dst, body []byte, consumed int, err error) {
	t.Helper()
	if err != tc.err {
		t.Fatalf("err = %v, want %v", err, tc.err)
	}
	if err != nil {
		if consumed != 0 || !bytes.Equal(body, dst) || len(body) != len(dst) {
			t.Fatalf("on error: consumed %d, body %q (dst %q)", consumed, body, dst)
		}
		return
	}
	want := tc.consumed
	if want == 0 {
		want = len(tc.in)
	}
	if consumed != want {
		t.Errorf("consumed = %d, want %d", consumed, want)
	}
	if string(body) != string(dst)+tc.body {
		t.Errorf("body = %q, want %q", trunc(string(body)), trunc(string(dst)+tc.body))
	}
}

func TestChunkedBody(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("dst:")
			body, consumed, err := ChunkedBody(dst, []byte(tc.in), tc.max)
			tc.check(t, dst, body, consumed, err)
		})
	}
}

// TestChunkedBodySplitEverywhere checks that every prefix is ErrIncomplete until the
// outcome is decided, and that the outcome equals the one-shot outcome.
func TestChunkedBodySplitEverywhere(t *testing.T) {
	for _, tc := range chunkCases {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte("dst:")
			var (
				body     []byte
				consumed int
				err      error
			)
			for k := 0; k <= len(tc.in); k++ {
				body, consumed, err = ChunkedBody(dst, []byte(tc.in[:k]), tc.max)
				if err != ErrIncomplete {
					break
				}
			}
			tc.check(t, dst, body, consumed, err)
		})
	}
}

func TestChunkedBodyAfterHead(t *testing.T) {
	payload := `{"channel":"news","data":{"n":1}}`
	in := "POST /api/publish HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x\r\n%s\r\n", 10, payload[:10]) + fmt.Sprintf("%x\r\n%s\r\n", len(payload)-10, payload[10:]) +
		"0\r\n\r\n" + "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	buf := []byte(in)
	var r Request
	n, err := r.ParseHead(buf, Limits{})
	if err != nil || !r.Chunked() {
		t.Fatalf("head: %v chunked=%v", err, r.Chunked())
	}
	body, used, err := ChunkedBody(nil, buf[n:], 65536)
	if err != nil || string(body) != payload {
		t.Fatalf("body %q: %v", body, err)
	}
	if _, err := r.ParseHead(buf[n+used:], Limits{}); err != nil || !r.IsGet() {
		t.Fatalf("next request: %v", err)
	}
}
