package httpwrite

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

func init() { RefreshDate(time.Now()) }

// RefreshDate updates the cached Date header if the second changed.
func RefreshDate(now time.Time) {
	b := make([]byte, 0, 64)
	b = append(b, "Date: "...)
	b = now.UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, '\r', '\n')
	if old := dateHeader.Load(); old != nil && string(*old) == string(b) {
		return
	}
	dateHeader.Store(&b)
}

// AppendDate appends the cached "Date: ...\r\n" header line.
func AppendDate(dst []byte) []byte { return append(dst, *dateHeader.Load()...) }

// AppendDateAndLength ends the header lines of a status line or the last
// header before it and adds Date and Content-Length, in Go's order.
func AppendDateAndLength(dst []byte, n int) []byte {
	dst = append(dst, '\r', '\n')
	dst = AppendDate(dst)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

// FixProto makes a response built by the functions below an HTTP/1.0 one.
func FixProto(out []byte, http10 bool) {
	if http10 && len(out) > 8 {
		out[7] = '0'
	}
}

// AppendStatusLine appends "HTTP/1.1 " and status with its reason phrase, no
// line end: the header lines that follow each begin with "\r\n".
func AppendStatusLine(dst []byte, status int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	return append(dst, http.StatusText(status)...)
}

// CORS is the outcome of the origin check for one uni_sse request.
type CORS struct {
	Allowed      bool
	Origin       []byte // echoed verbatim; empty when the request had none
	AllowHeaders []byte // Access-Control-Request-Headers to echo, if any
}

// AppendCORS appends the CORS headers of an allowed request, in Go's sorted
// header order (Credentials, Headers, Origin).
func AppendCORS(dst []byte, cr *CORS) []byte {
	if !cr.Allowed {
		return dst
	}
	dst = append(dst, "\r\nAccess-Control-Allow-Credentials: true"...)
	if len(cr.AllowHeaders) > 0 {
		dst = append(dst, "\r\nAccess-Control-Allow-Headers: "...)
		dst = append(dst, cr.AllowHeaders...)
	}
	dst = append(dst, "\r\nAccess-Control-Allow-Origin: "...)
	return append(dst, cr.Origin...)
}

// AppendEmpty appends a response with no body as Go's net/http writes
// it: status, sorted headers, Date, Content-Length: 0 (omitted for HEAD).
func AppendEmpty(dst []byte, status int, cr *CORS, closeConn, head bool) []byte {
	dst = AppendStatusLine(dst, status)
	if cr != nil {
		dst = AppendCORS(dst, cr)
	}
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, '\r', '\n')
	dst = AppendDate(dst)
	if !head {
		dst = append(dst, "Content-Length: 0\r\n"...)
	}
	return append(dst, '\r', '\n')
}

// AppendBody appends a response with a body: status, Content-Type and
// any extra headers (sorted as Go would), Date, Content-Length, body.
func AppendBody(dst []byte, status int, contentType string, nosniff bool, body []byte, head, closeConn bool) []byte {
	dst = AppendStatusLine(dst, status)
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	if nosniff {
		dst = append(dst, "\r\nX-Content-Type-Options: nosniff"...)
	}
	dst = AppendDateAndLength(dst, len(body))
	dst = append(dst, '\r', '\n')
	if head {
		return dst
	}
	return append(dst, body...)
}

// AppendNotFound is Go's http.NotFound.
func AppendNotFound(dst []byte, head, closeConn bool) []byte {
	return AppendBody(dst, 404, "text/plain; charset=utf-8", true, notFoundBody, head, closeConn)
}

var notFoundBody = []byte("404 page not found\n")

// AppendProtocolError is what Go's server writes for a request it cannot parse,
// before closing: no Date, no Content-Length.
func AppendProtocolError(dst []byte, status int) []byte {
	body := strconv.Itoa(status) + " " + http.StatusText(status)
	switch status {
	case 501:
		body = "Unsupported transfer encoding"
	}
	dst = AppendStatusLine(dst, status)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"...)
	return append(dst, body...)
}

// AppendConnectError is a connect error turned into a plain response by
// uni_sse.connect_code_to_http_response: CORS, Date, Content-Length and, as
// Go sniffs it on the first write, Content-Type last.
func AppendConnectError(dst []byte, status int, cr *CORS, body string, closeConn bool) []byte {
	dst = AppendStatusLine(dst, status)
	dst = AppendCORS(dst, cr)
	if closeConn {
		dst = append(dst, "\r\nConnection: close"...)
	}
	dst = AppendDateAndLength(dst, len(body))
	dst = append(dst, "Content-Type: text/plain; charset=utf-8\r\n\r\n"...)
	return append(dst, body...)
}

// AppendStreamHead appends the headers of a uni_sse stream exactly as
// Centrifugo sends them, and the "\r\n" primer chunk.
func AppendStreamHead(dst []byte, cr *CORS, closeConn, chunked bool) []byte {
	dst = append(dst, "HTTP/1.1 200 OK"...)
	dst = AppendCORS(dst, cr)
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
	dst = AppendDate(dst)
	if chunked {
		dst = append(dst, "Transfer-Encoding: chunked\r\n\r\n"...)
		return append(dst, sse.Primer...)
	}
	return append(dst, "\r\n\r\n"...)
}

// AppendDisconnectEvent appends a disconnect push as one event.
func AppendDisconnectEvent(dst []byte, d protocol.Disconnect, chunked bool) []byte {
	var tmp [160]byte
	return sse.AppendEvent(dst, protocol.AppendDisconnectPush(tmp[:0], d), chunked)
}
