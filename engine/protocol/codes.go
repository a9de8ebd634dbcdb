package protocol

// Disconnect is a reason for the server to end a client's stream. Code and
// Reason are what the client sees in {"disconnect":{"code":…,"reason":…}}.
type Disconnect struct {
	Code   uint32
	Reason string
}

// Reconnect reports whether a client is advised to reconnect after d, using
// Centrifugo's rule: 3000–3499, 4000–4499 and ≥5000 reconnect; 3500–3999 and
// 4500–4999 do not. uni_sse never sends the flag, but logs and tests use it.
func (d Disconnect) Reconnect() bool {
	switch {
	case d.Code >= 3500 && d.Code < 4000, d.Code >= 4500 && d.Code < 5000:
		return false
	}
	return true
}

// The disconnects unisse sends, with Centrifugo's codes and reasons.
var (
	DisconnectConnectionClosed      = Disconnect{3000, "connection closed"} // internal only, never pushed
	DisconnectShutdown              = Disconnect{3001, "shutdown"}
	DisconnectServerError           = Disconnect{3004, "internal server error"}
	DisconnectExpired               = Disconnect{3005, "connection expired"}
	DisconnectSubExpired            = Disconnect{3006, "subscription expired"}
	DisconnectSlow                  = Disconnect{3008, "slow"}
	DisconnectWriteError            = Disconnect{3009, "write error"}
	DisconnectInsufficientState     = Disconnect{3010, "insufficient state"}
	DisconnectForceReconnect        = Disconnect{3011, "force reconnect"}
	DisconnectNoPong                = Disconnect{3012, "no pong"}
	DisconnectTooManyRequests       = Disconnect{3013, "too many requests"}
	DisconnectStateInvalidated      = Disconnect{3014, "state invalidated"}
	DisconnectInvalidToken          = Disconnect{3500, "invalid token"}
	DisconnectBadRequest            = Disconnect{3501, "bad request"}
	DisconnectStale                 = Disconnect{3502, "stale"}
	DisconnectForceNoReconnect      = Disconnect{3503, "force disconnect"}
	DisconnectConnectionLimit       = Disconnect{3504, "connection limit"}
	DisconnectChannelLimit          = Disconnect{3505, "channel limit"}
	DisconnectInappropriateProtocol = Disconnect{3506, "inappropriate protocol"}
	DisconnectPermissionDenied      = Disconnect{3507, "permission denied"}
	DisconnectNotAvailable          = Disconnect{3508, "not available"}
	DisconnectTooManyErrors         = Disconnect{3509, "too many errors"}
)

// Error is a Centrifugo client/API error: {"error":{"code":…,"message":…}}.
type Error struct {
	Code    uint32
	Message string
}

func (e *Error) Error() string { return "protocol: error " + e.Message }

// The errors of Centrifugo's server API and connect path.
var (
	ErrorInternal              = &Error{100, "internal server error"}
	ErrorUnauthorized          = &Error{101, "unauthorized"}
	ErrorUnknownChannel        = &Error{102, "unknown channel"}
	ErrorPermissionDenied      = &Error{103, "permission denied"}
	ErrorNotFound              = &Error{104, "not found"}
	ErrorAlreadySubscribed     = &Error{105, "already subscribed"}
	ErrorLimitExceeded         = &Error{106, "limit exceeded"}
	ErrorBadRequest            = &Error{107, "bad request"}
	ErrorNotAvailable          = &Error{108, "not available"}
	ErrorTokenExpired          = &Error{109, "token expired"}
	ErrorExpired               = &Error{110, "expired"}
	ErrorTooManyRequests       = &Error{111, "too many requests"}
	ErrorUnrecoverablePosition = &Error{112, "unrecoverable position"}
	ErrorConflict              = &Error{113, "conflict"}
)

// DefaultDisconnectForError is the disconnect a unidirectional client gets when
// its connect fails with e and no configured transform matches (centrifuge's
// built-in mapping): token expired and expired → 3005, too many requests → 3013,
// permission denied → 3507, anything else → 3004.
func DefaultDisconnectForError(e *Error) Disconnect {
	switch e.Code {
	case ErrorTokenExpired.Code, ErrorExpired.Code:
		return DisconnectExpired
	case ErrorTooManyRequests.Code:
		return DisconnectTooManyRequests
	case ErrorPermissionDenied.Code:
		return DisconnectPermissionDenied
	}
	return DisconnectServerError
}

// TransportStatus is the HTTP status of e in the API's "transport" error mode.
func TransportStatus(e *Error) int {
	switch e.Code {
	case 102, 104:
		return 404
	case 107, 108:
		return 400
	case 112:
		return 416
	case 113:
		return 409
	}
	return 500
}
