package auth

import "errors"

// The outcomes of a failed VerifyConnectToken. Every error it returns
// matches exactly one of them with errors.Is; the wrapped detail is for logs
// only and must not be shown to clients. The engine maps them as Centrifugo's
// connect handler does (see doc.go for the full table):
//
//	ErrInvalidToken → disconnect 3500 "invalid token"
//	ErrTokenExpired → client error 109 "token expired" (uni default: 3005)
//	ErrInvalidInfo  → internal error 100 (uni default: 3004)
//	ErrKeyNotCached → no verdict yet: FetchKeys off the loop, then verify again
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

	// ErrKeyNotCached is not a verdict. It is returned only with
	// jwks_public_endpoint, when the key the token names ("kid") is not in
	// the cache or its cached copy has expired, so that the answer depends on
	// an HTTP fetch that VerifyConnectToken must not do on an event loop. The
	// engine then calls FetchKeys off the loop and VerifyConnectToken again;
	// the second answer is final (see doc.go). An unknown kid arriving soon
	// after a fetch of the endpoint is ErrInvalidToken instead, so random
	// kids cannot make the server hammer the endpoint.
	ErrKeyNotCached = errors.New("auth: verification key not cached")
)

// Internal causes, wrapped under ErrInvalidToken so logs say what went wrong.
var (
	errAlgDisabled     = errors.New("algorithm not enabled by configuration")
	errHeaderType      = errors.New("header field alg/typ/cty/kid is not a string")
	errHeaderAmbiguous = errors.New("header carries more than one alg key")
	errMalformed       = errors.New("token is not three base64url segments")
	errAudience        = errors.New("aud is neither a string nor an array of strings")

	// JWKS (jwks.go, jwk.go). All of them end up under ErrInvalidToken.
	errNoKid          = errors.New("token has no kid header (jwks_public_endpoint needs one)")
	errKidAmbiguous   = errors.New("header carries more than one kid key")
	errKidNotFound    = errors.New("kid not in the JWKS document")
	errJWKUnusable    = errors.New("JWK cannot verify signatures")
	errJWKAlg         = errors.New("JWK does not support the token's algorithm")
	errJWKSStatus     = errors.New("JWKS endpoint answered with a status other than 200")
	errJWKSTooLarge   = errors.New("JWKS document exceeds the size limit")
	errJWKSDecode     = errors.New("JWKS document does not decode")
	errJWKSURL        = errors.New("JWKS URL is invalid")
	errJWKSNotMatched = errors.New("iss/aud does not match the regex feeding the JWKS URL")
)
