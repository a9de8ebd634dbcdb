package auth

import "errors"

// The three outcomes of a failed VerifyConnectToken. Every error it returns
// matches exactly one of them with errors.Is; the wrapped detail is for logs
// only and must not be shown to clients. The engine maps them as Centrifugo's
// connect handler does (see doc.go for the full table):
//
//	ErrInvalidToken → disconnect 3500 "invalid token"
//	ErrTokenExpired → client error 109 "token expired" (uni default: 3005)
//	ErrInvalidInfo  → internal error 100 (uni default: 3004)
var (
	// ErrInvalidToken: the token is malformed, its signature does not verify
	// with any configured key, its algorithm is not enabled, a claim has the
	// wrong JSON type, aud/iss do not match the configuration, it carries a
	// "channel" claim, or a "subs" entry has invalid base64.
	ErrInvalidToken = errors.New("auth: invalid token")

	// ErrTokenExpired: "exp" is not after now, or "nbf" is not before now.
	// Only returned for tokens whose signature (and aud/iss) already checked
	// out, so a forged expired token is ErrInvalidToken.
	ErrTokenExpired = errors.New("auth: token expired")

	// ErrInvalidInfo: the "b64info" claim is not valid standard base64.
	// Centrifugo surfaces this as an internal error rather than as an invalid
	// token, so it is a class of its own.
	ErrInvalidInfo = errors.New("auth: invalid b64info")

	// ErrJWKSUnsupported is returned by NewVerifier when jwks_public_endpoint
	// is set. Centrifugo ignores the static keys in that case and fetches keys
	// by "kid"; accepting the config and silently verifying with the static
	// keys instead would accept and reject different tokens than Centrifugo.
	ErrJWKSUnsupported = errors.New("auth: jwks_public_endpoint is not supported yet")
)

// Internal causes, wrapped under ErrInvalidToken so logs say what went wrong.
var (
	errAlgDisabled     = errors.New("algorithm not enabled by configuration")
	errHeaderType      = errors.New("header field alg/typ/cty/kid is not a string")
	errHeaderAmbiguous = errors.New("header carries more than one alg key")
	errMalformed       = errors.New("token is not three base64url segments")
	errAudience        = errors.New("aud is neither a string nor an array of strings")
)
