package session

import (
	"context"
	"log/slog"

	"github.com/unisse/unisse/engine/delivery"
)

// logRefusal logs, at debug level, one line for a request the server
// refused: the connect endpoint's HTTP refusals (400, 405, 413, 503) and
// connect refusals (a disconnect code such as 3500 or 3005, or the status an
// HTTP-mapped one got), and the other endpoints' HTTP errors (401 for a
// missing or wrong API key among them). Fields: client (the remote address:
// a refused connect has no client ID yet), user (when the token or the user
// limit named one), code and reason; err when the cause says more (why a
// token did not verify). Never a token, a cf_connect value or an API key:
// reasons are fixed strings and auth errors carry no token bytes.
//
// At any other level it costs one Enabled call and allocates nothing, so
// that a flood of bad requests costs the loop no more than answering them.
func (s *Node) logRefusal(c *delivery.Conn, msg, user string, code uint32, reason string) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, msg, refusalAttrs(c, user, code, reason)...)
}

func refusalAttrs(c *delivery.Conn, user string, code uint32, reason string) []slog.Attr {
	client := ""
	if c != nil && c.GC != nil {
		if a := c.GC.RemoteAddr(); a != nil {
			client = a.String()
		}
	}
	return []slog.Attr{
		slog.String("client", client), slog.String("user", user),
		slog.Int("code", int(code)), slog.String("reason", reason),
	}
}

// logConnectRefusal logs a refused connect (see logRefusal): the code and
// reason the client gets, the user when known, why its token failed, and
// the connect error's code (errCode, 0 if none) or the HTTP status an
// HTTP-mapped refusal got (status, 0 if none).
func (s *Node) logConnectRefusal(c *delivery.Conn, f *connectFailure, code uint32, reason string, errCode uint32, status int) {
	ctx := context.Background()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	user := f.user
	if user == "" {
		user = c.User // a connect refused after it waited for the broker
	}
	attrs := refusalAttrs(c, user, code, reason)
	if errCode != 0 {
		attrs = append(attrs, slog.Int("error_code", int(errCode)))
	}
	if status != 0 {
		attrs = append(attrs, slog.Int("status", status))
	}
	if f.cause != nil {
		attrs = append(attrs, slog.String("err", f.cause.Error()))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "connect refused", attrs...)
}

// httpReason is the reason logged for an HTTP error status.
func httpReason(status int) string {
	switch status {
	case 400:
		return "bad request"
	case 401:
		return "missing or wrong API key"
	case 404:
		return "not found"
	case 405:
		return "method not allowed"
	case 413:
		return "request body too large"
	case 431:
		return "request head too large"
	case 501:
		return "transfer-encoding not implemented"
	case 503:
		return "client.connection_limit or client.connection_rate_limit reached"
	case 505:
		return "HTTP version not supported"
	}
	return "error"
}
