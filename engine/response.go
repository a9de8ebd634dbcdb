package engine

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// dateHeader holds the current "Date: …\r\n" line, refreshed by the ticker, so
// responses never format a time.
var dateHeader atomic.Pointer[[]byte]

func init() { refreshDate(time.Now()) }

// refreshDate updates the cached Date header if the second changed.
func refreshDate(now time.Time) {
	b := make([]byte, 0, 64)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, '\r', '\n')
	if old := dateHeader.Load(); old != nil && string(*old) == string(b) {
		return
	}
	dateHeader.Store(&b)
}

func appendDate(dst []byte) []byte { return append(dst, *dateHeader.Load()...) }

// appendDateAndLength ends the header lines of a status line or the last
// header before it and adds Date and Content-Length, in Go's order.
func appendDateAndLength(dst []byte, n int) []byte {
	dst = append(dst, '\r', '\n')
	dst = appendDate(dst)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// sendResponse writes a complete response built at the start of out. Go's
// net/http answers an HTTP/1.0 request with an HTTP/1.0 status line; every
// builder here writes "HTTP/1.1", so the minor version is patched in place.
func sendResponse(c *conn, out []byte) error {
	fixProto(out, c.http10)
	_, err := c.gc.Write(out)
	return err
}

// fixProto makes a response built by the functions below an HTTP/1.0 one.
func fixProto(out []byte, http10 bool) {
	if http10 && len(out) > 8 {
		out[7] = '0'
	}
}

func appendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	return append(dst, http.StatusText(status)...)
}

// cors is the outcome of the origin check for one uni_sse request.
type cors struct {
	allowed      bool
	origin       []byte // echoed verbatim; empty when the request had none
	allowHeaders []byte // Access-Control-Request-Headers to echo, if any
}

// appendCORS appends the CORS headers of an allowed request, in Go's sorted
// header order (Credentials, Headers, Origin).
func appendCORS(dst []byte, cr *cors) []byte {
	if !cr.allowed {
		return dst
	}
	dst = append(dst, "\r\nAccess-Control-Allow-Credentials: true"...)
	if len(cr.allowHeaders) > 0 {
		dst = append(dst, "\r\nAccess-Control-Allow-Headers: "...)
		dst = append(dst, cr.allowHeaders...)
	}
	dst = append(dst, "\r\nAccess-Control-Allow-Origin: "...)
	return append(dst, cr.origin...)
}

// appendEmptyResponse appends a response with no body as Go's net/http writes
// it: status, sorted headers, Date, Content-Length: 0 (omitted for HEAD).
func appendEmptyResponse(dst []byte, status int, cr *cors, closeConn, head bool) []byte {
	dst = appendStatusLine(dst, status)
	if cr != nil {
		dst = appendCORS(dst, cr)
	}
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, '\r', '\n')
	dst = appendDate(dst)
	if !head {
		dst = append(dst, "Content-Length: 0\r\n"...)
	}
	return append(dst, '\r', '\n')
}

// appendBodyResponse appends a response with a body: status, Content-Type and
// any extra headers (sorted as Go would), Date, Content-Length, body.
func appendBodyResponse(dst []byte, status int, contentType string, nosniff bool, body []byte, head, closeConn bool) []byte {
	dst = appendStatusLine(dst, status)
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	if nosniff {
		dst = append(dst, "\r\nX-Content-Type-Options: nosniff"...)
	}
	dst = appendDateAndLength(dst, len(body))
	dst = append(dst, '\r', '\n')
	if head {
		return dst
	}
	return append(dst, body...)
}

// appendNotFound is Go's http.NotFound.
func appendNotFound(dst []byte, head, closeConn bool) []byte {
	return appendBodyResponse(dst, 404, "text/plain; charset=utf-8", true, notFoundBody, head, closeConn)
}

var notFoundBody = []byte("404 page not found\n")

// appendProtocolError is what Go's server writes for a request it cannot parse,
// before closing: no Date, no Content-Length.
func appendProtocolError(dst []byte, status int) []byte {
	body := strconv.Itoa(status) + " " + http.StatusText(status)
	switch status {
	case 501:
		body = "Unsupported transfer encoding"
	}
	dst = appendStatusLine(dst, status)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"...)
	return append(dst, body...)
}

// appendConnectHTTPError is a connect error turned into a plain response by
// uni_sse.connect_code_to_http_response: CORS, Date, Content-Length and, as
// Go sniffs it on the first write, Content-Type last.
func appendConnectHTTPError(dst []byte, status int, cr *cors, body string, closeConn bool) []byte {
	dst = appendStatusLine(dst, status)
	dst = appendCORS(dst, cr)
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = appendDateAndLength(dst, len(body))
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\n\r\n"...)
	return append(dst, body...)
}

// appendStreamHead appends the headers of a uni_sse stream exactly as
// Centrifugo sends them, and the "\r\n" primer chunk.
func appendStreamHead(dst []byte, cr *cors, closeConn, chunked bool) []byte {
	dst = append(dst, "HTTP/1.1 200 OK"...)
	dst = appendCORS(dst, cr)
	dst = append(dst, "\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0"...)
	switch {
	case !chunked:
		// HTTP/1.0: Go drops the Connection header and closes after the body.
	case closeConn:
		dst = append(dst, "\r\nConnection: close"...)
	default:
		dst = append(dst, "\r\nConnection: keep-alive"...)
	}
	dst = append(dst, "\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\n"...)
	dst = appendDate(dst)
	if chunked {
		dst = append(dst, "Transfer-Encoding: chunked\r\n\r\n"...)
		return append(dst, sse.Primer...)
	}
	return append(dst, "\r\n\r\n"...)
}

// appendDisconnectEvent appends a disconnect push as one event.
func appendDisconnectEvent(dst []byte, d protocol.Disconnect, chunked bool) []byte {
	var tmp [160]byte
	return sse.AppendEvent(dst, protocol.AppendDisconnectPush(tmp[:0], d), chunked)
}
