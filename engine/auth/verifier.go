package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// Verifier checks connection JWTs against client.token. Its configuration
// is immutable after NewVerifier returns; the only mutable part is the JWKS
// key cache, which readers load with one atomic load and FetchKeys replaces
// whole. So one Verifier is safe for concurrent use by any number of
// goroutines (every event loop shares one), and VerifyConnectToken takes no
// locks. A config reload builds a new Verifier and swaps the pointer (the
// new one starts with an empty JWKS cache).
type Verifier struct {
	parser  *jwt.Parser
	keyfunc jwt.Keyfunc // v.keyFor, bound once so a call does not allocate a closure
	keys    keySource
	jwks    *jwksKeys // == keys with jwks_public_endpoint, else nil
	skipSig bool

	jwksOpts JWKSOptions // from WithJWKS, read by NewVerifier only

	audience   string
	audienceRe *regexp.Regexp
	issuer     string
	issuerRe   *regexp.Regexp

	userIDPath []string // nil: UserID is "sub"
}

// Option tunes a Verifier.
type Option func(*Verifier)

// WithSkipSignatureVerify implements client.insecure_skip_token_signature_verify:
// the signature is not checked, so neither are "alg" nor the keys (alg
// "none", unknown algorithms and missing keys all pass), exactly as in
// Centrifugo. Everything else still applies: the token must be three
// base64url segments with a JSON header and claims, aud/iss, the channel
// claim, exp/nbf and b64info are checked as usual. Development only.
func WithSkipSignatureVerify() Option {
	return func(v *Verifier) { v.skipSig = true }
}

// NewVerifier prepares a Verifier from the client.token config: PEM keys are
// parsed, regexes compiled and the JWKS URL template parsed here, once, so
// that VerifyConnectToken does no setup work. Errors name the offending key
// and wrap the cause. It refuses configs Centrifugo refuses (audience
// together with audience_regex, issuer together with issuer_regex, bad PEM,
// bad regex, a jwks_public_endpoint that is not an http(s) URL or has "{{"
// without "}}"). With jwks_public_endpoint the static keys are still parsed
// (and refused when bad) but not used: Centrifugo verifies with the JWKS
// only. NewVerifier does no I/O; the JWKS cache starts empty.
func NewVerifier(tok config.Token, opts ...Option) (*Verifier, error) {
	if tok.Audience != "" && tok.AudienceRegex != "" {
		return nil, fmt.Errorf("auth: audience and audience_regex are mutually exclusive")
	}
	if tok.Issuer != "" && tok.IssuerRegex != "" {
		return nil, fmt.Errorf("auth: issuer and issuer_regex are mutually exclusive")
	}
	v := &Verifier{audience: tok.Audience, issuer: tok.Issuer}
	var err error
	if tok.AudienceRegex != "" {
		if v.audienceRe, err = regexp.Compile(tok.AudienceRegex); err != nil {
			return nil, fmt.Errorf("auth: compile audience_regex: %w", err)
		}
	}
	if tok.IssuerRegex != "" {
		if v.issuerRe, err = regexp.Compile(tok.IssuerRegex); err != nil {
			return nil, fmt.Errorf("auth: compile issuer_regex: %w", err)
		}
	}
	if tok.UserIDClaim != "" {
		if v.userIDPath, err = parseUserIDPath(tok.UserIDClaim); err != nil {
			return nil, err
		}
	}
	for _, o := range opts {
		o(v)
	}
	static, err := newStaticKeys(tok)
	if err != nil {
		return nil, err
	}
	v.keys = static
	if tok.JWKSPublicEndpoint != "" {
		v.jwks, err = newJWKSKeys(tok.JWKSPublicEndpoint, v.issuerRe, v.audienceRe, v.checkAudienceIssuer, v.jwksOpts)
		if err != nil {
			return nil, err
		}
		v.keys = v.jwks
	}
	v.keyfunc = v.keyFor
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.keys.methods()),
		// exp/nbf/aud/iss are checked below with Centrifugo's rules and
		// error classes; golang-jwt's validator differs at the boundaries.
		jwt.WithoutClaimsValidation(),
	)
	return v, nil
}

// VerifyConnectToken verifies a connection token at time now and returns the
// credentials it grants. Safe from any goroutine; it does no I/O, takes no
// locks and never blocks. With jwks_public_endpoint it may answer
// ErrKeyNotCached instead of a verdict: call FetchKeys off the event loop,
// then VerifyConnectToken again (see doc.go); now is also compared with the
// fetch times of cached keys, so pass the wall clock. The order of checks is
// Centrifugo's, which decides the error class when several things are wrong
// at once:
//
//  1. split, base64url-decode and JSON-decode header and claims (ErrInvalidToken)
//  2. algorithm allowed and signature valid (ErrInvalidToken)
//  3. aud / iss against the configuration (ErrInvalidToken)
//  4. no "channel" claim (ErrInvalidToken)
//  5. exp after now, nbf before now (ErrTokenExpired)
//  6. base64 of every "subs" entry (ErrInvalidToken)
//  7. base64 of "b64info" (ErrInvalidInfo)
//
// Centrifugo checks aud/iss regexes before the signature and exact aud/iss
// after it; both fail with ErrInvalidToken, so the order is not observable.
func (v *Verifier) VerifyConnectToken(token string, now time.Time) (Credentials, error) {
	c := &tokenClaims{now: now}
	var err error
	if v.skipSig {
		err = parseUnverified(token, c)
	} else {
		_, err = v.parser.ParseWithClaims(token, c, v.keyfunc)
	}
	if err != nil {
		if errors.Is(err, ErrKeyNotCached) {
			return Credentials{}, ErrKeyNotCached
		}
		return Credentials{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}

	if err := v.checkAudienceIssuer(c); err != nil {
		return Credentials{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Channel != "" {
		return Credentials{}, fmt.Errorf("%w: connection token carries a channel claim", ErrInvalidToken)
	}
	// cristalhq/jwt: valid iff exp.After(now) and nbf.Before(now), so exp ==
	// now is expired and nbf == now is not yet valid. A future nbf is
	// "expired" too (capture 18: 3005, not 3500).
	if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		return Credentials{}, fmt.Errorf("%w: exp %d is not after %d", ErrTokenExpired, c.ExpiresAt.Unix(), now.Unix())
	}
	if c.NotBefore != nil && !c.NotBefore.Before(now) {
		return Credentials{}, fmt.Errorf("%w: nbf %d is not before %d", ErrTokenExpired, c.NotBefore.Unix(), now.Unix())
	}

	creds := Credentials{Meta: c.Meta}
	if len(c.Subs) > 0 {
		for _, s := range c.Subs {
			if _, err := s.ChannelInfo(); err != nil {
				return Credentials{}, err
			}
			if _, err := s.SubscribeData(); err != nil {
				return Credentials{}, err
			}
		}
		creds.Subs = c.Subs
	} else {
		creds.Channels = c.Channels
	}

	switch {
	case c.ExpireAt != nil:
		if *c.ExpireAt > 0 {
			creds.ExpireAt = *c.ExpireAt
		}
	case c.ExpiresAt != nil:
		creds.ExpireAt = c.ExpiresAt.Unix()
	}

	if c.B64Info != "" {
		info, err := base64.StdEncoding.DecodeString(c.B64Info)
		if err != nil {
			return Credentials{}, fmt.Errorf("%w: %w", ErrInvalidInfo, err)
		}
		creds.Info = info
	} else {
		creds.Info = c.Info
	}

	if v.userIDPath == nil {
		creds.UserID = c.Subject
	} else {
		// Re-decode the payload only in this rarely configured mode; the
		// default path never needs the raw claims. The token already parsed,
		// so the segment exists and decodes.
		seg := token[strings.IndexByte(token, '.')+1 : strings.LastIndexByte(token, '.')]
		if payload, err := base64.RawURLEncoding.DecodeString(seg); err == nil {
			creds.UserID = lookupUserID(payload, v.userIDPath)
		}
	}
	return creds, nil
}

// checkAudienceIssuer checks aud/iss against the configuration. Its errors
// are causes; callers wrap them under ErrInvalidToken.
func (v *Verifier) checkAudienceIssuer(c *tokenClaims) error {
	if v.audience != "" && !slices.Contains(c.Audience, v.audience) {
		return fmt.Errorf("aud does not contain %q", v.audience)
	}
	if v.issuer != "" && c.Issuer != v.issuer {
		return fmt.Errorf("iss is not %q", v.issuer)
	}
	// Regexes are unanchored (FindStringSubmatch in Centrifugo): a pattern
	// matches anywhere unless it carries its own ^ and $.
	if v.issuerRe != nil && !v.issuerRe.MatchString(c.Issuer) {
		return errors.New("iss does not match issuer_regex")
	}
	if v.audienceRe != nil && !slices.ContainsFunc(c.Audience, v.audienceRe.MatchString) {
		return errors.New("no aud matches audience_regex")
	}
	return nil
}

// keyFor is the jwt.Keyfunc. golang-jwt has already decoded the header and
// claims and checked the algorithm against WithValidMethods; this adds the
// header checks Centrifugo's stricter header decoding implies, then asks the
// key source. It must not block (see keySource).
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if err := checkHeader(t.Header); err != nil {
		return nil, err
	}
	c, ok := t.Claims.(*tokenClaims)
	if !ok {
		// Only VerifyConnectToken calls the parser, always with *tokenClaims;
		// without it there is no verification time, so fail closed.
		return nil, fmt.Errorf("auth: internal: claims of type %T", t.Claims)
	}
	return v.keys.key(t, c)
}

// checkHeader rejects what Centrifugo's header decoding rejects although
// golang-jwt's map decoding lets it through: a non-string alg/typ/cty/kid
// (matched case-insensitively, as encoding/json matches struct fields). More
// than one alg key differing only in case is rejected as well: encoding/json
// would use the last in document order, which the map has lost.
func checkHeader(h map[string]any) error {
	algs := 0
	for k, val := range h {
		isAlg := strings.EqualFold(k, "alg")
		if !isAlg && !strings.EqualFold(k, "typ") && !strings.EqualFold(k, "cty") && !strings.EqualFold(k, "kid") {
			continue
		}
		if isAlg {
			algs++
		}
		if val == nil {
			continue // null leaves a Go string field empty; not an error
		}
		if _, ok := val.(string); !ok {
			return errHeaderType
		}
	}
	if algs > 1 {
		return errHeaderAmbiguous
	}
	return nil
}

// jwsHeader is cristalhq/jwt's Header, decoded strictly in skip mode.
type jwsHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Cty string `json:"cty"`
	Kid string `json:"kid"`
}

// parseUnverified is cristalhq/jwt's ParseNoVerify, which Centrifugo uses
// when signature verification is skipped: header = up to the first dot,
// signature = after the last dot, all three base64url (unpadded), header and
// claims JSON. The algorithm is not looked at.
func parseUnverified(token string, c *tokenClaims) error {
	dot1 := strings.IndexByte(token, '.')
	dot2 := strings.LastIndexByte(token, '.')
	if dot1 < 0 || dot2 <= dot1 {
		return errMalformed
	}
	header, err := base64.RawURLEncoding.DecodeString(token[:dot1])
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	var h jwsHeader
	if err := json.Unmarshal(header, &h); err != nil {
		return fmt.Errorf("header: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(token[dot1+1 : dot2])
	if err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	if _, err := base64.RawURLEncoding.DecodeString(token[dot2+1:]); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if err := json.Unmarshal(payload, c); err != nil {
		return fmt.Errorf("claims: %w", err)
	}
	return nil
}

// errLocated stops FetchKeys' parse once the key's place is known.
var errLocated = errors.New("auth: internal: key located")

// FetchKeys fetches the JWKS document that token's key comes from and
// updates the cache, so that the next VerifyConnectToken for token has an
// answer other than ErrKeyNotCached. It blocks on HTTP (at most
// JWKSOptions.Attempts times the client's timeout, or until ctx ends) and
// must never run on an event loop; it is safe from any goroutine.
//
// Concurrent calls share one request: only one fetch is in flight at a time,
// and calls for the same endpoint URL wait for it instead of starting their
// own. It does not fetch when the key is cached and fresh, when the token is
// invalid whatever its key (no kid, aud/iss mismatch, malformed), or when the
// kid is unknown and the endpoint was fetched within
// JWKSOptions.MissCooldown. Without jwks_public_endpoint, or under
// WithSkipSignatureVerify, it does nothing.
//
// The error says why the key could not be had (the endpoint is down,
// answered non-200 or a bad document, the kid is not in it, ctx ended) and
// is for logs only: whatever FetchKeys returns, the verdict is the next
// VerifyConnectToken's. An error does not always mean that verdict is
// ErrInvalidToken: when refreshing an expired key fails, the old key stays
// usable for JWKSOptions.StaleRetry, as in Centrifugo.
func (v *Verifier) FetchKeys(ctx context.Context, token string) error {
	if v.jwks == nil || v.skipSig {
		return nil
	}
	// Parse exactly as VerifyConnectToken does, stopping where the key is
	// looked up: the same tokens are refused early, and the URL and kid are
	// the ones it will look up.
	var url, kid string
	_, err := v.parser.ParseWithClaims(token, &tokenClaims{}, func(t *jwt.Token) (any, error) {
		if err := checkHeader(t.Header); err != nil {
			return nil, err
		}
		c := t.Claims.(*tokenClaims)
		var err error
		if url, kid, err = v.jwks.target(t.Header, c); err != nil {
			return nil, err
		}
		if err := v.checkAudienceIssuer(c); err != nil {
			return nil, err
		}
		return nil, errLocated
	})
	if !errors.Is(err, errLocated) {
		return fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return v.jwks.fetch(ctx, url, kid)
}
