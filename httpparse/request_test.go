package httpparse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// absent marks a header that must not be found.
const absent = "\x00absent"

type headCase struct {
	name string
	in   string
	lim  Limits
	err  error

	// Checked only when err is nil. headLen 0 means "through the end of in".
	headLen       int
	method        string
	path, query   string
	minor         int
	contentLength int64
	chunked       bool
	keepAlive     bool
	headers       map[string]string
}

func ok(name, in string) headCase {
	return headCase{name: name, in: in, method: "GET", path: "/", minor: 1, contentLength: -1, keepAlive: true}
}

func bad(name, in string, err error) headCase { return headCase{name: name, in: in, err: err} }

func (c headCase) with(f func(*headCase)) headCase { f(&c); return c }

const host = "Host: h\r\n"

var headCases = []headCase{
	ok("minimal", "GET / HTTP/1.1\r\n"+host+"\r\n"),
	ok("browser EventSource GET with percent-encoded cf_connect", browserSSEGet).with(func(tc *headCase) {
		tc.path = "/connection/uni_sse"
		tc.query = "cf_connect=" + encodeURIComponent(connectJSON)
		tc.headers = map[string]string{
			"host": "localhost:8000", "ACCEPT": "text/event-stream", "Origin": "http://localhost:3000",
			"Accept-Language": "en-US,en;q=0.9", "Cookie": absent, "Content-Length": absent,
		}
	}),
	ok("API POST with Content-Length body", apiPost).with(func(tc *headCase) {
		tc.method, tc.path = "POST", "/api/publish"
		tc.headLen = len(apiPost) - len(apiPublishBody)
		tc.contentLength = int64(len(apiPublishBody))
		tc.headers = map[string]string{"X-API-Key": "secret-api-key", "content-type": "application/json"}
	}),
	ok("query without path params", "GET /p?a=1&b=2 HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/p", "a=1&b=2"
	}),
	ok("empty query", "GET /p? HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) { tc.path = "/p" }),
	ok("second ? belongs to the query", "GET /p?a=?b HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/p", "a=?b"
	}),
	ok("path is not decoded; # is kept as net/http keeps it", "GET /a%2Fb#frag?x HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/a%2Fb#frag", "x"
	}),
	ok("non-ASCII bytes in the target", "GET /\xc3\xa9?q=\xff HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/\xc3\xa9", "q=\xff"
	}),
	ok("absolute-form", "GET http://example.com:8000/connection/uni_sse?cf_connect=%7B%7D HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/connection/uni_sse", "cf_connect=%7B%7D"
	}),
	ok("absolute-form with empty path is /", "GET https://example.com HTTP/1.1\r\n"+host+"\r\n"),
	ok("absolute-form with empty path and a query", "GET HTTP://example.com?x=1 HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.query = "x=1"
	}),
	ok("asterisk-form for OPTIONS", "OPTIONS * HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.method, tc.path = "OPTIONS", "*"
	}),
	ok("origin-form starting with // is a path", "GET //x/y HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) { tc.path = "//x/y" }),
	ok("bare LF line endings", "GET / HTTP/1.1\nHost: h\nX: 1\n\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"x": "1", "Host": "h"}
	}),
	ok("mixed line endings", "GET / HTTP/1.1\r\nHost: h\nX: 1\r\n\n"),
	ok("leading empty lines are skipped and counted", "\r\n\n\r\nGET / HTTP/1.1\r\n"+host+"\r\n"),
	ok("bytes after the head are not consumed", "GET / HTTP/1.1\r\n"+host+"\r\nGET /next HTTP/1.1\r\n").with(func(tc *headCase) {
		tc.headLen = len("GET / HTTP/1.1\r\n" + host + "\r\n")
	}),
	ok("OWS around values is trimmed, inner whitespace kept", "GET / HTTP/1.1\r\n"+host+"X-A:  \t a \t b\t \r\nX-B:\r\nX-C:   \r\n\r\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"x-a": "a \t b", "X-B": "", "X-C": "", "X-D": absent}
	}),
	ok("obs-text and HTAB allowed in values", "GET / HTTP/1.1\r\n"+host+"X: caf\xc3\xa9\tok\r\n\r\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"X": "caf\xc3\xa9\tok"}
	}),
	ok("names are case-insensitive and the first occurrence wins", "GET / HTTP/1.1\r\n"+host+"x-dup: 1\r\nX-DUP: 2\r\n\r\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"X-Dup": "1"}
	}),
	ok("every tchar is allowed in a name", "GET / HTTP/1.1\r\n"+host+"!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"!#$%&'*+-.^_`|~09AZaz": "v"}
	}),
	ok("custom method", "M-SEARCH / HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) { tc.method = "M-SEARCH" }),

	// Versions and keep-alive (RFC 9112 §9.3).
	ok("HTTP/1.0 closes by default and needs no Host", "GET / HTTP/1.0\r\n\r\n").with(func(tc *headCase) {
		tc.minor, tc.keepAlive = 0, false
	}),
	ok("HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").with(func(tc *headCase) { tc.minor = 0 }),
	ok("HTTP/1.0 keep-alive in a token list", "GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n").with(func(tc *headCase) { tc.minor = 0 }),
	ok("HTTP/1.0 keep-alive and close: close wins", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").with(func(tc *headCase) {
		tc.minor, tc.keepAlive = 0, false
	}),
	ok("HTTP/1.0 keep-alive must be a whole token", "GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n").with(func(tc *headCase) {
		tc.minor, tc.keepAlive = 0, false
	}),
	ok("HTTP/1.1 close", "GET / HTTP/1.1\r\n"+host+"Connection: close\r\n\r\n").with(func(tc *headCase) { tc.keepAlive = false }),
	ok("HTTP/1.1 close in a token list, any case", "GET / HTTP/1.1\r\n"+host+"Connection: Upgrade,CLOSE\r\n\r\n").with(func(tc *headCase) { tc.keepAlive = false }),
	ok("HTTP/1.1 close in a second Connection header", "GET / HTTP/1.1\r\n"+host+"Connection: keep-alive\r\nconnection: close\r\n\r\n").with(func(tc *headCase) { tc.keepAlive = false }),
	ok("HTTP/1.1 closed is not close", "GET / HTTP/1.1\r\n"+host+"Connection: closed\r\n\r\n"),

	// Framing.
	ok("Content-Length 0", "POST / HTTP/1.1\r\n"+host+"Content-Length: 0\r\n\r\n").with(func(tc *headCase) {
		tc.method, tc.contentLength = "POST", 0
	}),
	ok("largest Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 9223372036854775807\r\n\r\n").with(func(tc *headCase) {
		tc.method, tc.contentLength = "POST", 1<<63-1
	}),
	ok("repeated identical Content-Length (net/http accepts)", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\nContent-Length:  5 \r\n\r\n").with(func(tc *headCase) {
		tc.method, tc.contentLength = "POST", 5
	}),
	ok("chunked", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: chunked\r\n\r\n").with(func(tc *headCase) {
		tc.method, tc.chunked = "POST", true
	}),
	ok("chunked is case-insensitive", "POST / HTTP/1.1\r\n"+host+"transfer-encoding: Chunked \r\n\r\n").with(func(tc *headCase) {
		tc.method, tc.chunked = "POST", true
	}),
	ok("empty Host is valid (RFC 9110 §7.2)", "GET / HTTP/1.1\r\nHost:\r\n\r\n"),

	// Request line.
	bad("empty method", " / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("bad method byte", "G(T / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("non-ASCII method", "G\xc3\x89T / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("TLS ClientHello is refused at its first byte", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", ErrBadRequest),
	bad("SSH banner is refused when its line ends", "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n", ErrBadRequest),
	bad("line starting with CR", "\rGET / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("leading whitespace", " GET / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("two spaces after the method", "GET  / HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("two spaces before the version", "GET /  HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("trailing space after the version", "GET / HTTP/1.1 \r\n"+host+"\r\n", ErrBadRequest),
	bad("HTTP/0.9 request line", "GET /\r\n\r\n", ErrBadRequest),
	bad("no target", "GET HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("lower-case protocol name", "GET / http/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("two-digit version", "GET / HTTP/11\r\n"+host+"\r\n", ErrBadRequest),
	bad("HTTP/1.2", "GET / HTTP/1.2\r\n"+host+"\r\n", ErrVersionNotSupported),
	bad("HTTP/2.0", "GET / HTTP/2.0\r\n"+host+"\r\n", ErrVersionNotSupported),
	bad("HTTP/0.9 as a version", "GET / HTTP/0.9\r\n"+host+"\r\n", ErrVersionNotSupported),
	bad("a bad target beats a bad version", "GET x HTTP/2.0\r\n"+host+"\r\n", ErrBadRequest),
	bad("relative target", "GET foo HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("asterisk-form for GET", "GET * HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("asterisk with a path", "OPTIONS */x HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("authority-form", "CONNECT example.com:443 HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("scheme without //", "GET mailto:x HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("bad scheme byte", "GET ht_tp://h/ HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("scheme starting with a digit", "GET 1http://h/ HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("absolute-form with empty host", "GET http:///p HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("control byte in target", "GET /a\x01b HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("HTAB in target", "GET /a\tb HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("DEL in target", "GET /a\x7f HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("CR inside the request line", "GET /a\rb HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),
	bad("NUL inside the request line", "GET /\x00 HTTP/1.1\r\n"+host+"\r\n", ErrBadRequest),

	// Header lines.
	bad("space before colon", "GET / HTTP/1.1\r\n"+host+"X-A : 1\r\n\r\n", ErrBadRequest),
	bad("tab before colon", "GET / HTTP/1.1\r\n"+host+"X-A\t: 1\r\n\r\n", ErrBadRequest),
	bad("space inside a name", "GET / HTTP/1.1\r\n"+host+"X A: 1\r\n\r\n", ErrBadRequest),
	bad("non-token byte in a name", "GET / HTTP/1.1\r\n"+host+"X(A): 1\r\n\r\n", ErrBadRequest),
	bad("empty name", "GET / HTTP/1.1\r\n"+host+": 1\r\n\r\n", ErrBadRequest),
	bad("no colon", "GET / HTTP/1.1\r\n"+host+"X-A\r\n\r\n", ErrBadRequest),
	bad("obs-fold", "GET / HTTP/1.1\r\n"+host+"X-A: 1\r\n 2\r\n\r\n", ErrBadRequest),
	bad("obs-fold with tab", "GET / HTTP/1.1\r\n"+host+"X-A: 1\r\n\t2\r\n\r\n", ErrBadRequest),
	bad("whitespace before the first header", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", ErrBadRequest),
	bad("control byte in a value", "GET / HTTP/1.1\r\n"+host+"X: a\x01b\r\n\r\n", ErrBadRequest),
	bad("NUL in a value", "GET / HTTP/1.1\r\n"+host+"X: a\x00\r\n\r\n", ErrBadRequest),
	bad("DEL in a value", "GET / HTTP/1.1\r\n"+host+"X: a\x7f\r\n\r\n", ErrBadRequest),
	bad("bare CR in a value", "GET / HTTP/1.1\r\n"+host+"X: a\rb\r\n\r\n", ErrBadRequest),
	bad("CR CR LF ending", "GET / HTTP/1.1\r\n"+host+"X: a\r\r\n\r\n", ErrBadRequest),
	bad("CR before the final LF of the head only", "GET / HTTP/1.1\r\n"+host+"\r\r\n", ErrBadRequest),
	bad("no Host in HTTP/1.1", "GET / HTTP/1.1\r\nX: 1\r\n\r\n", ErrBadRequest),
	bad("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", ErrBadRequest),
	bad("two Host headers in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", ErrBadRequest),

	// Content-Length and Transfer-Encoding.
	bad("negative Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: -1\r\n\r\n", ErrBadRequest),
	bad("signed Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: +1\r\n\r\n", ErrBadRequest),
	bad("non-digit Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 1a\r\n\r\n", ErrBadRequest),
	bad("hex Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 0x10\r\n\r\n", ErrBadRequest),
	bad("empty Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: \r\n\r\n", ErrBadRequest),
	bad("Content-Length list", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5, 5\r\n\r\n", ErrBadRequest),
	bad("Content-Length with inner space", "POST / HTTP/1.1\r\n"+host+"Content-Length: 1 2\r\n\r\n", ErrBadRequest),
	bad("overflowing Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 9223372036854775808\r\n\r\n", ErrBadRequest),
	bad("huge Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 99999999999999999999999999\r\n\r\n", ErrBadRequest),
	bad("conflicting Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", ErrBadRequest),
	bad("same length spelled differently", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\nContent-Length: 05\r\n\r\n", ErrBadRequest),
	bad("valid then invalid Content-Length", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\nContent-Length: x\r\n\r\n", ErrBadRequest),
	bad("Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\n"+host+"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadRequest),
	bad("Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrBadRequest),
	bad("Transfer-Encoding gzip", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: gzip\r\n\r\n", ErrNotImplemented),
	bad("Transfer-Encoding identity", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: identity\r\n\r\n", ErrNotImplemented),
	bad("Transfer-Encoding list", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: gzip, chunked\r\n\r\n", ErrNotImplemented),
	bad("Transfer-Encoding chunked twice", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrNotImplemented),
	bad("empty Transfer-Encoding", "POST / HTTP/1.1\r\n"+host+"Transfer-Encoding:\r\n\r\n", ErrNotImplemented),
	bad("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrBadRequest),

	// Limits.
	bad("head one byte over the limit", "GET / HTTP/1.1\r\n"+host+"\r\n", ErrHeadTooLarge).with(func(tc *headCase) {
		tc.lim = Limits{MaxHeadSize: len(tc.in) - 1}
	}),
	ok("head exactly at the limit", "GET / HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.lim = Limits{MaxHeadSize: len(tc.in)}
	}),
	ok("limit applies to the head, not to what follows it", "GET / HTTP/1.1\r\n"+host+"\r\n"+strings.Repeat("x", 100)).with(func(tc *headCase) {
		tc.lim = Limits{MaxHeadSize: len(tc.in) - 100}
		tc.headLen = len(tc.in) - 100
	}),
	bad("leading empty lines count against the limit", strings.Repeat("\r\n", 10)+"GET / HTTP/1.1\r\n"+host+"\r\n", ErrHeadTooLarge).with(func(tc *headCase) {
		tc.lim = Limits{MaxHeadSize: len(tc.in) - 1}
	}),
	ok("a 1 MiB cf_connect fits the default limit (Centrifugo accepts it)", "GET /connection/uni_sse?cf_connect="+strings.Repeat("a", 1<<20)+" HTTP/1.1\r\n"+host+"\r\n").with(func(tc *headCase) {
		tc.path, tc.query = "/connection/uni_sse", "cf_connect="+strings.Repeat("a", 1<<20)
	}),
	bad("over the default limit", "GET /"+strings.Repeat("a", DefaultMaxHeadSize)+" HTTP/1.1\r\n"+host+"\r\n", ErrHeadTooLarge),
	ok("64 headers", "GET / HTTP/1.1\r\n"+host+strings.Repeat("X: 1\r\n", MaxHeaders-1)+"\r\n").with(func(tc *headCase) {
		tc.headers = map[string]string{"x": "1"}
	}),
	bad("65 headers", "GET / HTTP/1.1\r\n"+host+strings.Repeat("X: 1\r\n", MaxHeaders)+"\r\n", ErrHeadTooLarge),
	bad("10000 headers", "GET / HTTP/1.1\r\n"+host+strings.Repeat("X: 1\r\n", 10000)+"\r\n", ErrHeadTooLarge),
}

func (tc headCase) check(t *testing.T, r *Request, n int, err error) {
	t.Helper()
	if err != tc.err {
		t.Fatalf("err = %v, want %v", err, tc.err)
	}
	if err != nil {
		if n != 0 {
			t.Errorf("headLen = %d on error", n)
		}
		return
	}
	wantLen := tc.headLen
	if wantLen == 0 {
		wantLen = len(tc.in)
	}
	if n != wantLen {
		t.Errorf("headLen = %d, want %d", n, wantLen)
	}
	if got := string(r.Method()); got != tc.method {
		t.Errorf("Method = %q, want %q", got, tc.method)
	}
	if got := string(r.Path()); got != tc.path {
		t.Errorf("Path = %q, want %q", trunc(got), trunc(tc.path))
	}
	if got := string(r.RawQuery()); got != tc.query {
		t.Errorf("RawQuery = %q, want %q", trunc(got), trunc(tc.query))
	}
	if r.ProtoMinor() != tc.minor {
		t.Errorf("ProtoMinor = %d, want %d", r.ProtoMinor(), tc.minor)
	}
	if r.ContentLength() != tc.contentLength {
		t.Errorf("ContentLength = %d, want %d", r.ContentLength(), tc.contentLength)
	}
	if r.Chunked() != tc.chunked {
		t.Errorf("Chunked = %v, want %v", r.Chunked(), tc.chunked)
	}
	if r.KeepAlive() != tc.keepAlive {
		t.Errorf("KeepAlive = %v, want %v", r.KeepAlive(), tc.keepAlive)
	}
	if r.IsGet() != (tc.method == "GET") || r.IsPost() != (tc.method == "POST") || r.IsHead() != (tc.method == "HEAD") {
		t.Errorf("IsGet/IsPost/IsHead = %v/%v/%v for %q", r.IsGet(), r.IsPost(), r.IsHead(), tc.method)
	}
	for name, want := range tc.headers {
		got := r.Header(name)
		if want == absent {
			if got != nil || r.HasHeader(name) {
				t.Errorf("Header(%q) = %q, want absent", name, got)
			}
			continue
		}
		if got == nil || string(got) != want || !r.HasHeader(name) {
			t.Errorf("Header(%q) = %q (nil: %v), want %q", name, got, got == nil, want)
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

func TestParseHead(t *testing.T) {
	for _, tc := range headCases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := r.ParseHead([]byte(tc.in), tc.lim)
			tc.check(t, &r, n, err)
		})
	}
}

// TestParseHeadSplitEverywhere parses every prefix of every case, as a caller that
// parsed after each packet would, and checks that the outcome is the one-shot outcome
// and that nothing is decided early. Each prefix is a fresh copy, because the caller
// may hand us a different array each time.
func TestParseHeadSplitEverywhere(t *testing.T) {
	for _, tc := range headCases {
		if len(tc.in) > 4<<10 {
			continue // each prefix is parsed from its start: quadratic in the length
		}
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			var n int
			var err error
			for k := 0; k <= len(tc.in); k++ {
				prefix := append([]byte(nil), tc.in[:k]...)
				if n, err = r.ParseHead(prefix, tc.lim); err != ErrIncomplete {
					break
				}
			}
			tc.check(t, &r, n, err)
		})
	}
}

// TestParseHeadSplitInTwo checks every two-piece split of the realistic heads, with the
// Request reused across heads.
func TestParseHeadSplitInTwo(t *testing.T) {
	var r Request
	for _, in := range []string{browserSSEGet, apiPost} {
		headLen, err := r.ParseHead([]byte(in), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		want := headSummary(&r)
		for k := 0; k < len(in); k++ {
			if _, err := r.ParseHead([]byte(in[:k]), Limits{}); err != ErrIncomplete && k < headLen {
				t.Fatalf("prefix %d: err = %v", k, err)
			}
			if _, err := r.ParseHead([]byte(in), Limits{}); err != nil {
				t.Fatalf("split at %d: %v", k, err)
			}
			if got := headSummary(&r); got != want {
				t.Fatalf("split at %d:\n%s\nwant\n%s", k, got, want)
			}
		}
	}
}

func TestParseHeadPipelined(t *testing.T) {
	third := "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	buf := []byte(browserSSEGet + apiPost + third)
	type want struct {
		method, path string
		body         string
		keepAlive    bool
	}
	wants := []want{
		{"GET", "/connection/uni_sse", "", true},
		{"POST", "/api/publish", apiPublishBody, true},
		{"GET", "/health", "", false},
	}
	var r Request
	for i, w := range wants {
		n, err := r.ParseHead(buf, Limits{})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(r.Method()) != w.method || string(r.Path()) != w.path || r.KeepAlive() != w.keepAlive {
			t.Fatalf("request %d: %s %s keepAlive=%v, want %+v", i, r.Method(), r.Path(), r.KeepAlive(), w)
		}
		bodyLen := int(max(r.ContentLength(), 0))
		if got := string(buf[n : n+bodyLen]); got != w.body {
			t.Fatalf("request %d: body %q, want %q", i, got, w.body)
		}
		buf = buf[n+bodyLen:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
	if _, err := r.ParseHead(buf, Limits{}); err != ErrIncomplete {
		t.Fatalf("empty buffer: %v", err)
	}
}

func TestParseHeadSlowloris(t *testing.T) {
	const limit = 256
	lim := Limits{MaxHeadSize: limit}
	in := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + strings.Repeat("a", 1000))
	var r Request
	for k := 0; k <= len(in); k++ {
		_, err := r.ParseHead(in[:k], lim)
		switch {
		case k < limit && err != ErrIncomplete:
			t.Fatalf("%d bytes: %v, want ErrIncomplete", k, err)
		case k == limit && err != ErrHeadTooLarge:
			t.Fatalf("%d bytes: %v, want ErrHeadTooLarge as soon as the limit is buffered", k, err)
		case k == limit:
			if Status(err) != 431 {
				t.Fatalf("Status = %d", Status(err))
			}
			return
		}
	}
}

func TestParseHeadReset(t *testing.T) {
	var r Request
	if _, err := r.ParseHead([]byte("GET /a HTTP/1.1\r\nHo"), Limits{}); err != ErrIncomplete {
		t.Fatal(err)
	}
	r.Reset()
	n, err := r.ParseHead([]byte("POST /b HTTP/1.0\r\n\r\n"), Limits{})
	if err != nil || string(r.Path()) != "/b" || !r.IsPost() || n != 20 {
		t.Fatalf("after Reset: n=%d err=%v path=%q", n, err, r.Path())
	}
	// Without Reset, each call starts afresh too: after an incomplete head,
	// unrelated bytes; after a final error, a good head.
	if _, err := r.ParseHead([]byte("GET /c HTTP/1.1\r\nHost: h\r\nX-Long: 1234567890"), Limits{}); err != ErrIncomplete {
		t.Fatal(err)
	}
	if _, err := r.ParseHead([]byte("GET /d HTTP/1.0\r\n\r\n"), Limits{}); err != nil || string(r.Path()) != "/d" {
		t.Fatalf("shorter buffer: err=%v path=%q", err, r.Path())
	}
	if _, err := r.ParseHead([]byte("BAD\x00"), Limits{}); err != ErrBadRequest {
		t.Fatal(err)
	}
	if _, err := r.ParseHead([]byte("GET /e HTTP/1.0\r\n\r\n"), Limits{}); err != nil || string(r.Path()) != "/e" {
		t.Fatalf("after error: err=%v path=%q", err, r.Path())
	}
}

// TestReturnedSlicesAreClipped checks that appending to a returned slice cannot
// overwrite the request bytes after it.
func TestReturnedSlicesAreClipped(t *testing.T) {
	buf := []byte("GET /p?q=1 HTTP/1.1\r\nHost: h\r\nX: v\r\n\r\n")
	orig := string(buf)
	var r Request
	if _, err := r.ParseHead(buf, Limits{}); err != nil {
		t.Fatal(err)
	}
	_ = append(r.Path(), "XXXX"...)
	_ = append(r.Method(), "XXXX"...)
	_ = append(r.Header("x"), "XXXX"...)
	_ = append(r.Header("host"), "XXXX"...)
	if string(buf) != orig {
		t.Fatalf("buffer changed: %q", buf)
	}
	abs := []byte("GET http://h HTTP/1.0\r\n\r\n")
	if _, err := r.ParseHead(abs, Limits{}); err != nil {
		t.Fatal(err)
	}
	p := append(r.Path(), 'x')
	if string(p) != "/x" || string(r.Path()) != "/" {
		t.Fatalf("slash path was shared: %q %q", p, r.Path())
	}
}

func TestVisitHeadersInOrder(t *testing.T) {
	var r Request
	if _, err := r.ParseHead([]byte("GET / HTTP/1.1\r\nHost: h\r\nB: 2\r\na: 1\r\nB: 3\r\n\r\n"), Limits{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	r.VisitHeaders(func(name, value []byte) { got = append(got, string(name)+"="+string(value)) })
	if strings.Join(got, ",") != "Host=h,B=2,a=1,B=3" || r.NumHeaders() != 4 {
		t.Fatalf("got %v (%d)", got, r.NumHeaders())
	}
}

// TestAccessorsBeforeParse checks the zero Request answers without panicking.
func TestAccessorsBeforeParse(t *testing.T) {
	var r Request
	if len(r.Method()) != 0 || len(r.Path()) != 0 || len(r.RawQuery()) != 0 || r.Header("Host") != nil ||
		r.ContentLength() != -1 || r.KeepAlive() || r.Chunked() || r.IsGet() || r.NumHeaders() != 0 {
		t.Fatalf("zero Request: %s", headSummary(&r))
	}
	if _, ok := r.AppendQuery(nil, "x"); ok {
		t.Fatal("zero Request has a query")
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{ErrIncomplete, 0},
		{ErrHeadTooLarge, 431},
		{ErrBodyTooLarge, 413},
		{ErrBadRequest, 400},
		{ErrBadEscape, 400},
		{ErrNotImplemented, 501},
		{ErrVersionNotSupported, 505},
		{fmt.Errorf("engine: %w", ErrHeadTooLarge), 431},
		{errors.New("something else"), 500},
	} {
		if got := Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestErrorsHavePrefix keeps the sentinel messages in the package-prefix style.
func TestErrorsHavePrefix(t *testing.T) {
	for _, err := range []error{ErrIncomplete, ErrHeadTooLarge, ErrBodyTooLarge, ErrBadRequest,
		ErrBadEscape, ErrNotImplemented, ErrVersionNotSupported} {
		if !strings.HasPrefix(err.Error(), "httpparse: ") {
			t.Errorf("%q lacks the package prefix", err)
		}
	}
}

// TestHeaderValueAliasesBuffer documents the lifetime contract: results are views of
// the caller's buffer, so they change when it does.
func TestHeaderValueAliasesBuffer(t *testing.T) {
	buf := []byte("GET / HTTP/1.1\r\nHost: abc\r\n\r\n")
	var r Request
	if _, err := r.ParseHead(buf, Limits{}); err != nil {
		t.Fatal(err)
	}
	v := r.Header("Host")
	copy(buf[bytes.Index(buf, []byte("abc")):], "xyz")
	if string(v) != "xyz" {
		t.Fatalf("Header value %q does not alias the buffer", v)
	}
}
