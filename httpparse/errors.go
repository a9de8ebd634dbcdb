package httpparse

import "errors"

// Sentinel errors. Compare with errors.Is; the parser returns them bare (never wrapped)
// because wrapping would allocate on the hot path. Status maps each to its HTTP answer.
var (
	// ErrIncomplete means the input ends before the element being parsed does: call
	// again with more bytes. It is the only error after which a retry can succeed.
	ErrIncomplete = errors.New("httpparse: incomplete input")

	// ErrHeadTooLarge means the request head exceeds Limits.MaxHeadSize or holds more
	// than MaxHeaders header lines (431 Request Header Fields Too Large).
	ErrHeadTooLarge = errors.New("httpparse: request head too large")

	// ErrBodyTooLarge means a chunked body decodes to more than the allowed size
	// (413 Content Too Large).
	ErrBodyTooLarge = errors.New("httpparse: request body too large")

	// ErrBadRequest means the bytes are not a request we accept: bad syntax, forbidden
	// characters, or framing that could be read two ways (400 Bad Request).
	ErrBadRequest = errors.New("httpparse: bad request")

	// ErrBadEscape means a percent-encoded string holds a '%' not followed by two hex
	// digits. Status maps it to 400 like ErrBadRequest; it is separate so that callers of
	// AppendUnescape can tell "bad escape" from "bad request framing".
	ErrBadEscape = errors.New("httpparse: invalid percent-encoding")

	// ErrNotImplemented means a Transfer-Encoding other than a single "chunked"
	// (501 Not Implemented, as net/http answers; RFC 9112 §6.1).
	ErrNotImplemented = errors.New("httpparse: transfer-encoding not implemented")

	// ErrVersionNotSupported means a well-formed HTTP-version other than HTTP/1.0 and
	// HTTP/1.1 (505 HTTP Version Not Supported). A malformed version is ErrBadRequest.
	ErrVersionNotSupported = errors.New("httpparse: HTTP version not supported")
)

// Status maps an error from this package to the status code the server must answer
// with before closing the connection. It returns 0 for nil and ErrIncomplete (nothing to
// answer yet), and 500 for an error that is not from this package: that is our fault,
// not the client's. Safe from any goroutine.
func Status(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrIncomplete):
		return 0
	case errors.Is(err, ErrHeadTooLarge):
		return 431
	case errors.Is(err, ErrBodyTooLarge):
		return 413
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadEscape):
		return 400
	case errors.Is(err, ErrNotImplemented):
		return 501
	case errors.Is(err, ErrVersionNotSupported):
		return 505
	}
	return 500
}
