package httpparse

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
)

// Realistic inputs shared by the table tests, the allocation tests, the benchmarks and
// the fuzz seeds.

// connectJSON is what centrifuge-js puts in cf_connect: a connect request with an HS256
// token (the one from captures/01-connect-get-hs256.txt), a client name and a
// subscription to recover; percent-encoded it is ~300 bytes.
const connectJSON = `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0NDM5OCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0.ubSMlzCmhndQXnAZHkohZO4El-PXSw-MCjjMvxHnmsw","name":"js","version":"2.0.0","subs":{"news":{"recover":true}}}`

// encodeURIComponent escapes like the browser function of that name, which is what an
// EventSource URL is built with: it leaves A–Z a–z 0–9 - _ . ! ~ * ' ( ) alone and
// writes space as %20, not '+'.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// browserSSEGet is a Chrome EventSource request for the uni_sse endpoint, with the
// headers Chrome really sends on a cross-origin EventSource.
var browserSSEGet = "GET /connection/uni_sse?cf_connect=" + encodeURIComponent(connectJSON) + " HTTP/1.1\r\n" +
	"Host: localhost:8000\r\n" +
	"Connection: keep-alive\r\n" +
	"Accept: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Origin: http://localhost:3000\r\n" +
	"Sec-Fetch-Site: same-site\r\n" +
	"Sec-Fetch-Mode: cors\r\n" +
	"Sec-Fetch-Dest: empty\r\n" +
	"Referer: http://localhost:3000/\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"\r\n"

const apiPublishBody = `{"channel":"news","data":{"text":"hello"}}`

// apiPost is a server API publish as an HTTP client library sends it, with its body.
var apiPost = "POST /api/publish HTTP/1.1\r\n" +
	"Host: 127.0.0.1:8000\r\n" +
	"User-Agent: Go-http-client/1.1\r\n" +
	"Content-Length: " + fmt.Sprint(len(apiPublishBody)) + "\r\n" +
	"Content-Type: application/json\r\n" +
	"X-Api-Key: secret-api-key\r\n" +
	"Accept-Encoding: gzip\r\n" +
	"\r\n" + apiPublishBody

// queryGet is how net/url would decode name from rawQuery: the reference AppendQuery
// must agree with.
func queryGet(rawQuery, name string) (string, bool) {
	v, _ := url.ParseQuery(rawQuery) // URL.Query() ignores the error the same way
	vs, ok := v[name]
	if !ok {
		return "", false
	}
	return vs[0], true
}

// headSummary is everything the accessors report, flattened so that two parses can be
// compared with ==.
func headSummary(r *Request) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%q %q %q %q 1.%d cl=%d chunked=%v ka=%v\n", r.Method(), r.Target(), r.Path(),
		r.RawQuery(), r.ProtoMinor(), r.ContentLength(), r.Chunked(), r.KeepAlive())
	r.VisitHeaders(func(name, value []byte) { fmt.Fprintf(&b, "%q: %q\n", name, value) })
	return b.String()
}
