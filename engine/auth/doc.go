// Package auth verifies Centrifugo connection JWTs (client.token) and turns
// them into Credentials, accepting and rejecting exactly the tokens that
// Centrifugo v6.9.1 accepts and rejects, with the same error class.
//
// # What it owns
//
// Signature verification (HS256/384/512 with hmac_secret_key and, during
// rotation, hmac_previous_secret_key; RS256/384/512 with rsa_public_key;
// ES256/384/512 with ecdsa_public_key, the one variant matching the key's
// curve), the aud/iss checks (exact or regex), exp/nbf, and decoding of the
// Centrifugo claims: sub (or user_id_claim), expire_at, info, b64info,
// channels, subs, meta. It does not own anything that needs the channel
// configuration: namespaces of "channels"/"subs" are checked by the engine.
//
// Signatures are checked with github.com/golang-jwt/jwt/v5: a Parser with
// WithValidMethods listing only the algorithms whose key is configured, and
// a Keyfunc that maps the algorithm family to the one key of that type, so
// an HS256 token can never be checked against RSA/ECDSA key material
// (algorithm confusion). The claims, though, are decoded into a struct that
// mirrors Centrifugo's ConnectTokenClaims type for type, because parity in
// what is accepted depends on encoding/json's behaviour for that shape.
//
// # Concurrency and hot path
//
// A *Verifier is immutable after NewVerifier and safe for concurrent use
// from any goroutine, without locks. VerifyConnectToken runs on the event
// loop's connect path: it does no I/O, never blocks and does no setup work
// (PEM keys are parsed and regexes compiled in NewVerifier; keys are boxed
// into interface values once). Its cost is one JWT parse plus one signature
// check; see auth_timing_test.go. Credentials are freshly allocated per call
// and owned by the caller.
//
// # Errors and what the engine does with them
//
// Every error from VerifyConnectToken matches exactly one sentinel. The
// engine maps them as Centrifugo's connect handler does:
//
//	ErrInvalidToken  → Disconnect 3500 "invalid token" (used as is)         [15][17][40]
//	ErrTokenExpired  → Error 109 "token expired"; for uni transports 109 is [16][18]
//	                   first looked up in client.connect_code_to_unidirectional_disconnect
//	                   (e.g. 109 → 4109 [42]), else becomes 3005 "connection expired"
//	ErrInvalidInfo   → Error 100 "internal server error" → uni default 3004 [17]
//
// With uni_sse.connect_code_to_http_response the resulting code is further
// turned into an HTTP response by the transport; that is not this package's
// concern. Other engine duties that follow from Centrifugo's handler: an
// empty token string means "no token" and never reaches the verifier; an
// empty UserID with client.disallow_anonymous_connection_tokens is 3507;
// under client.insecure the token is still verified (an expired one is still
// ErrTokenExpired [42]) but Credentials.ExpireAt is ignored.
//
// # Key sources and JWKS
//
// Keys come from a keySource (keys.go). The only implementation today,
// staticKeys, serves the configured HMAC/PEM keys. JWKS
// (jwks_public_endpoint) is not implemented: NewVerifier refuses such a
// config with ErrJWKSUnsupported rather than verifying with the static keys,
// which Centrifugo ignores in JWKS mode. A JWKS source plugs in as another
// keySource: it selects a key by the token's "kid" header (Centrifugo also
// feeds named groups of issuer_regex/audience_regex into the endpoint URL)
// and must serve from a cache refreshed by a background goroutine, since key
// lookups happen on the event loop and must not fetch.
//
// # Deliberate and known differences from Centrifugo
//
//   - user_id_claim: Centrifugo evaluates it as a gjson path. Plain paths
//     (dot-separated, backslash escapes, numeric array indexes) are evaluated
//     exactly like gjson, including its rendering of non-strings: a numeric
//     ID 42 becomes "42", an object becomes its raw JSON. gjson wildcards,
//     pipes, modifiers, queries and multipaths are refused by NewVerifier.
//   - A header whose algorithm key is spelled in another case ("ALG") is
//     rejected; encoding/json in Centrifugo would match it case-insensitively
//     and accept the token. Likewise a header with both "alg" and "Alg" is
//     rejected, where Centrifugo would use the last one. Only an issuer that
//     writes such headers by hand is affected; golang-jwt reads only "alg".
//   - A "subs" entry with invalid base64 is ErrInvalidToken here even when
//     its channel's namespace is unknown; Centrifugo checks the namespace
//     first (3004) and iterates subs in random map order, so with several
//     bad entries its own answer varies between 3004 and 3500.
//   - jwks_public_endpoint is refused (see above).
//
// Two points where the brief's prose and Centrifugo's source disagree follow
// the source: the previous HMAC key stays valid through the whole second
// hmac_previous_secret_key_valid_until (now.Unix() <= valid_until), and a
// valid_until of 0 (or negative) means the previous key never expires.
package auth
