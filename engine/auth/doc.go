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
// A *Verifier is safe for concurrent use from any goroutine. Its
// configuration is immutable after NewVerifier; the one mutable part, the
// JWKS key cache, is an immutable map behind an atomic.Pointer that readers
// load once and FetchKeys replaces whole (under the package's only mutex,
// never held across I/O). VerifyConnectToken runs on the event loop's
// connect path: it does no I/O, takes no locks, never blocks and does no
// setup work (PEM keys are parsed, regexes compiled and the JWKS URL
// template parsed in NewVerifier; keys are boxed into interface values once,
// JWKs when fetched). Its cost is one JWT parse plus one signature check;
// see auth_timing_test.go. Credentials are freshly allocated per call and
// owned by the caller. FetchKeys blocks on HTTP and must run off the loops.
// Nothing in the package starts a goroutine.
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
//	ErrKeyNotCached  → no verdict yet (jwks_public_endpoint only), see below
//
// With uni_sse.connect_code_to_http_response the resulting code is further
// turned into an HTTP response by the transport; that is not this package's
// concern. Other engine duties that follow from Centrifugo's handler: an
// empty token string means "no token" and never reaches the verifier; an
// empty UserID with client.disallow_anonymous_connection_tokens is 3507;
// under client.insecure the token is still verified (an expired one is still
// ErrTokenExpired [42]) but Credentials.ExpireAt is ignored.
//
// ErrKeyNotCached is the JWKS contract between the loop and the verifier.
// Centrifugo fetches keys inside its verify call; here the answer for a
// token whose key is not cached (or whose cached copy is past its TTL) needs
// an HTTP fetch, which the loop must not wait for. So:
//
//  1. On the loop, VerifyConnectToken returns ErrKeyNotCached. Nothing is
//     sent to the client yet.
//  2. Off the loop (a worker goroutine, with a context that ends when the
//     connection goes away), the engine calls FetchKeys(ctx, token). It
//     blocks for at most JWKSOptions.Attempts × the client timeout (2 × 1 s
//     by default). Its error is for logs only.
//  3. Back on the loop (gnet Execute/AsyncWrite), the engine calls
//     VerifyConnectToken again and maps that answer as above; it is final.
//     ErrKeyNotCached a second time only happens when ctx ended before the
//     fetch did; map it like ErrInvalidToken.
//
// FetchKeys shares one HTTP request between all concurrent callers, so a
// burst of connections after a restart or a key rotation costs one fetch.
// A kid that is not in the cache asks for a fetch only when the endpoint
// was not fetched within JWKSOptions.MissCooldown (10 s); otherwise the
// token is ErrInvalidToken at once, so random kids cannot turn the server
// into a flood against the endpoint.
//
// # Key sources and JWKS
//
// Keys come from a keySource (keys.go): staticKeys serves the configured
// HMAC/PEM keys; jwksKeys (jwks.go, jwk.go) the keys of
// jwks_public_endpoint, which replace the static keys entirely, as in
// Centrifugo (internal/jwtverify/token_verifier_jwt.go, jwksManager.verify;
// internal/jwks/manager.go, cache_ttl.go; JWK parsing by
// rakutentech/jwk-go). What jwksKeys matches:
//
//   - The key is selected by the token's "kid"; a token without kid is
//     ErrInvalidToken, with no fetch. Only JWKs with "use":"sig" are kept.
//   - RSA keys verify RS256/384/512, EC keys (P-256/384/521) ES256/384/512,
//     OKP Ed25519 keys EdDSA. For RSA and EC the JWK's "alg", when present,
//     must equal the token's alg; when absent the token's alg is used within
//     the family (Centrifugo ≥ 6.2, PR #962). For Ed25519 the JWK's "alg" is
//     ignored, as Centrifugo ignores it. Private JWKs (RSA with d/p/q, EC with
//     d), X25519/Ed448 and "oct" keys verify nothing.
//   - One malformed JWK (unknown kty or curve, bad base64, EC point off the
//     curve, ...) fails the whole document, whatever its "use".
//   - Fetch: GET, status must be 200, 2 attempts without pause, 1 s timeout
//     each, no proxy. Keys live 1 h from the fetch (not extended by use);
//     every successful fetch replaces the endpoint's whole key set, so a key
//     the endpoint dropped is gone. When a refetch of an expired key fails
//     (not when the document lacks the kid), the old key is used for one
//     more minute before the next attempt.
//   - {{name}} placeholders in the URL are filled from the named groups of
//     issuer_regex/audience_regex (audience wins), unescaped; a resolved
//     path that is not clean ("..", trailing slash) is ErrInvalidToken. The
//     cache is keyed by (resolved URL, kid), so a key of one issuer never
//     verifies another's token (GHSA-g6vg-wj8f-48cj).
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
//   - JWKS: Centrifugo fetches for every uncached kid; here an unknown kid
//     within MissCooldown of the last fetch of its endpoint is
//     ErrInvalidToken without a fetch, so a key rotated in within 10 s of
//     a fetch is refused for the rest of those 10 s. The document is capped
//     at 1 MiB (Centrifugo reads any size). Only one fetch is in flight at a
//     time across all endpoint URLs (Centrifugo: one per URL and kid). The
//     stale fallback extends exactly the requested key, as Centrifugo's
//     GetStale does; there is no cleanup goroutine: an endpoint URL's keys
//     are dropped, once all expired more than a TTL ago, when another URL
//     is fetched (Centrifugo: a ticker drops keys unused for a TTL). A header with "kid" spelled twice
//     in different cases is refused (as for "alg"). HTTP connections are not
//     kept alive. A config reload starts with an empty cache.
//
// Two points where the brief's prose and Centrifugo's source disagree follow
// the source: the previous HMAC key stays valid through the whole second
// hmac_previous_secret_key_valid_until (now.Unix() <= valid_until), and a
// valid_until of 0 (or negative) means the previous key never expires.
package auth
