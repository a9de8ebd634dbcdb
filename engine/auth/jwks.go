package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKSOptions tunes the key source for jwks_public_endpoint. A zero field
// takes its default, set in one place (withDefaults); the defaults are
// Centrifugo's (internal/jwks/manager.go) where it has one.
type JWKSOptions struct {
	// Client makes the requests. Default: a client with a 1 s timeout per
	// attempt, no proxy and no keep-alive (Centrifugo: 1 s timeout, a
	// transport without proxy; keep-alive buys nothing at one fetch per TTL).
	Client *http.Client

	// Attempts is how many times one fetch tries the endpoint when the
	// request fails or the status is not 200, without pause. Default 2
	// (Centrifugo's retries). A document that does not decode is not retried.
	Attempts int

	// TTL is how long fetched keys are used before the endpoint is asked
	// again; it is counted from the fetch and not extended by use, so a key
	// removed from the endpoint stops being trusted within one TTL.
	// Default 1 h (Centrifugo's _defaultTTL).
	TTL time.Duration

	// StaleRetry: when refetching an expired key fails for a reason other
	// than the key missing from a good document (endpoint down, non-200,
	// bad JSON), the expired key stays usable for this long, then the next
	// token using it triggers another attempt. Default 1 min (Centrifugo's
	// _defaultStaleRetryInterval).
	StaleRetry time.Duration

	// MissCooldown: a kid that is not in the cache triggers a fetch only if
	// the endpoint was not fetched within this long; otherwise the token is
	// ErrInvalidToken straight away. This bounds what random kids can make
	// the server send to the endpoint. Centrifugo has no such limit.
	// Default 10 s.
	MissCooldown time.Duration

	// MaxBodyBytes caps the JWKS document; a larger one fails the fetch.
	// Centrifugo reads any size. Default 1 MiB.
	MaxBodyBytes int64

	// Now is the clock that stamps fetches, for tests. Default time.Now.
	// VerifyConnectToken compares the stamps with its own now argument.
	Now func() time.Time
}

func (o JWKSOptions) withDefaults() JWKSOptions {
	if o.Client == nil {
		o.Client = &http.Client{
			Timeout:   time.Second,
			Transport: &http.Transport{DisableKeepAlives: true},
		}
	}
	if o.Attempts <= 0 {
		o.Attempts = 2
	}
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.StaleRetry <= 0 {
		o.StaleRetry = time.Minute
	}
	if o.MissCooldown <= 0 {
		o.MissCooldown = 10 * time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// WithJWKS tunes the jwks_public_endpoint key source; without it the
// defaults of JWKSOptions apply. Ignored when the endpoint is not set.
func WithJWKS(o JWKSOptions) Option {
	return func(v *Verifier) { v.jwksOpts = o }
}

// jwksKeys is the keySource for jwks_public_endpoint. It keys the cache by
// (resolved endpoint URL, kid), as Centrifugo does since its fix for
// GHSA-g6vg-wj8f-48cj, so that with a templated URL a key fetched for one
// issuer never verifies a token of another.
//
// Readers (key, on event loops) load the immutable state with one atomic
// load and never lock or block. Writers (FetchKeys, off the loops) build a
// new state under mu and publish it; mu is never held across I/O. mu is the
// only lock in the package.
type jwksKeys struct {
	tmpl urlTemplate
	// Named groups of these feed the URL template, as in Centrifugo.
	issuerRe, audienceRe *regexp.Regexp
	// precheck is Verifier.checkAudienceIssuer: a token that fails it is
	// invalid whatever its key, so it never asks for a fetch.
	precheck func(*tokenClaims) error

	opts  JWKSOptions // withDefaults applied
	state atomic.Pointer[jwksState]

	mu     sync.Mutex
	flight *jwksFlight // the one fetch in progress, nil when none
}

// jwksState is what readers see. Immutable once published.
type jwksState struct {
	sets map[string]*jwksSet // by resolved endpoint URL
}

// jwksSet is the cache for one endpoint URL. Immutable once published.
type jwksSet struct {
	keys      map[string]*jwksKey // by kid; use "sig" only
	fetchedAt time.Time           // last completed fetch, successful or not
}

// jwksFlight is a fetch in progress; done is closed when it is over.
type jwksFlight struct {
	url     string
	done    chan struct{}
	err     error // the fetch error, valid after done
	aborted bool  // its caller's context ended: the endpoint said nothing
}

func newJWKSKeys(rawURL string, issuerRe, audienceRe *regexp.Regexp, precheck func(*tokenClaims) error, o JWKSOptions) (*jwksKeys, error) {
	tmpl, err := parseURLTemplate(rawURL, issuerRe, audienceRe)
	if err != nil {
		return nil, err
	}
	s := &jwksKeys{tmpl: tmpl, issuerRe: issuerRe, audienceRe: audienceRe, precheck: precheck, opts: o.withDefaults()}
	s.state.Store(&jwksState{sets: map[string]*jwksSet{}})
	return s, nil
}

// jwksMethods are the algorithms a JWKS can verify in Centrifugo: RSA and EC
// keys through cristalhq/jwt's RS and ES verifiers, Ed25519 through EdDSA.
var jwksMethods = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"}

func (s *jwksKeys) methods() []string { return jwksMethods }

// lookup classes, from a cache point of view.
type lookupResult int

const (
	keyFresh   lookupResult = iota // cached and not expired: verify with it
	keyExpired                     // cached but expired: fetch
	keyMissing                     // not cached: fetch
	keyAbsent                      // not cached, and the endpoint was fetched recently: invalid
)

func (st *jwksState) lookup(url, kid string, now time.Time, cooldown time.Duration) (*jwksKey, lookupResult) {
	set := st.sets[url]
	if set == nil {
		return nil, keyMissing
	}
	if k := set.keys[kid]; k != nil {
		// Centrifugo's TTLCache: expired once expiration < now.
		if !k.expires.Before(now) {
			return k, keyFresh
		}
		return k, keyExpired
	}
	if !set.fetchedAt.IsZero() && now.Before(set.fetchedAt.Add(cooldown)) {
		return nil, keyAbsent
	}
	return nil, keyMissing
}

// key is the hot path: no I/O, no locks. It answers ErrKeyNotCached when
// only a fetch can tell, after checking everything that fails the token
// without one.
func (s *jwksKeys) key(t *jwt.Token, c *tokenClaims) (any, error) {
	url, kid, err := s.target(t.Header, c)
	if err != nil {
		return nil, err
	}
	k, res := s.state.Load().lookup(url, kid, c.now, s.opts.MissCooldown)
	switch res {
	case keyFresh:
		return k.verificationKey(t.Method.Alg())
	case keyAbsent:
		return nil, fmt.Errorf("%w: kid %q", errKidNotFound, kid)
	}
	if err := s.precheck(c); err != nil {
		return nil, err
	}
	return nil, ErrKeyNotCached
}

// target is where the token's key lives: the endpoint URL resolved for its
// claims, and its kid. Centrifugo refuses a token without kid before any
// fetch (jwks.ErrKeyIDNotProvided).
func (s *jwksKeys) target(h map[string]any, c *tokenClaims) (url, kid string, err error) {
	// encoding/json, which decodes the header in Centrifugo, matches "kid"
	// case-insensitively (with Unicode folding: "\u212aid" is a kid too, as
	// in checkHeader); more than one spelling is refused as for "alg".
	// checkHeader has already refused a non-string kid.
	n := 0
	for name, val := range h {
		if strings.EqualFold(name, "kid") {
			n++
			kid, _ = val.(string)
		}
	}
	if n > 1 {
		return "", "", errKidAmbiguous
	}
	if kid == "" {
		return "", "", errNoKid
	}
	url, err = s.tmpl.resolve(c, s.issuerRe, s.audienceRe)
	return url, kid, err
}

// urlTemplate is jwks_public_endpoint with {{name}} placeholders, filled as
// Centrifugo fills it with valyala/fasttemplate: each placeholder becomes the
// named group of that name from issuer_regex (matched against "iss") or
// audience_regex (matched against the first "aud" it matches; it wins over
// the issuer's group of the same name), or "" when neither regex has it.
// Values are inserted as they are, without escaping.
type urlTemplate struct {
	parts  []string // literal, name, literal, name, ..., literal
	issIdx []int    // per name: group index in issuer_regex, -1 if none
	audIdx []int    // per name: group index in audience_regex, -1 if none

	constURL string // the URL when there are no placeholders
	constErr error  // its validation error, reported per token like Centrifugo
}

func parseURLTemplate(raw string, issuerRe, audienceRe *regexp.Regexp) (urlTemplate, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return urlTemplate{}, fmt.Errorf("auth: jwks_public_endpoint: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return urlTemplate{}, fmt.Errorf("auth: jwks_public_endpoint must be an http:// or https:// URL, got %q", raw)
	}
	var t urlTemplate
	rest := raw
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.parts = append(t.parts, rest)
			break
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			// fasttemplate.New panics here, so Centrifugo does not start.
			return urlTemplate{}, fmt.Errorf("auth: jwks_public_endpoint %q: {{ without }}", raw)
		}
		name := rest[i+2 : i+2+j]
		t.parts = append(t.parts, rest[:i], name)
		t.issIdx = append(t.issIdx, groupIndex(issuerRe, name))
		t.audIdx = append(t.audIdx, groupIndex(audienceRe, name))
		rest = rest[i+2+j+2:]
	}
	if len(t.parts) == 1 {
		t.constURL, t.constErr = raw, validateJWKSURL(raw)
	}
	return t, nil
}

// groupIndex is the index of the last group called name (Centrifugo copies
// every named group into one map in order, so the last one wins), or -1.
func groupIndex(re *regexp.Regexp, name string) int {
	idx := -1
	if re == nil {
		return idx
	}
	for i, n := range re.SubexpNames() {
		if i != 0 && n != "" && n == name {
			idx = i
		}
	}
	return idx
}

func (t *urlTemplate) resolve(c *tokenClaims, issuerRe, audienceRe *regexp.Regexp) (string, error) {
	if len(t.parts) == 1 {
		return t.constURL, t.constErr
	}
	// Centrifugo collects the variables before the signature check, so a
	// token that does not match a configured regex is invalid outright.
	var iss, aud []string
	if issuerRe != nil {
		if iss = issuerRe.FindStringSubmatch(c.Issuer); iss == nil {
			return "", errJWKSNotMatched
		}
	}
	if audienceRe != nil {
		for _, a := range c.Audience {
			if aud = audienceRe.FindStringSubmatch(a); aud != nil {
				break
			}
		}
		if aud == nil {
			return "", errJWKSNotMatched
		}
	}
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		n := i / 2
		switch {
		case aud != nil && t.audIdx[n] >= 0:
			b.WriteString(aud[t.audIdx[n]])
		case iss != nil && t.issIdx[n] >= 0:
			b.WriteString(iss[t.issIdx[n]])
		}
	}
	u := b.String()
	return u, validateJWKSURL(u)
}

// validateJWKSURL is Centrifugo's check of a resolved URL: it must parse,
// and its path must be clean (no "..", ".", "//" or trailing slash), which
// stops token values from walking the path. Centrifugo applies it to
// untemplated URLs too.
func validateJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", errJWKSURL, err)
	}
	if u.Path != "" && path.Clean(u.Path) != u.Path {
		return fmt.Errorf("%w: path %q is not clean", errJWKSURL, u.Path)
	}
	return nil
}

// fetch brings the cache entry for (url, kid) up to date. Only one HTTP
// fetch is in flight at a time: callers for the same URL share it, callers
// for another URL wait for it to end. It never fetches for a kid that is
// fresh, or absent from a fetch within MissCooldown, and never twice for
// one call. The error is the fetch's, for logs.
func (s *jwksKeys) fetch(ctx context.Context, url, kid string) error {
	var lastErr error
	flown := false // a fetch of url completed during this call
	for {
		s.mu.Lock()
		now := s.opts.Now()
		_, res := s.state.Load().lookup(url, kid, now, s.opts.MissCooldown)
		if res == keyExpired && flown && lastErr != nil {
			// The refetch failed (a good document would have replaced the
			// key or dropped it): keep using the expired key for a while,
			// as Centrifugo's GetStale does, rather than fail its tokens.
			s.extend(url, kid, now)
			res = keyFresh
		}
		if res == keyFresh || res == keyAbsent || flown {
			s.mu.Unlock()
			if lastErr == nil && res != keyFresh {
				lastErr = fmt.Errorf("auth: jwks: %s: %w: kid %q", url, errKidNotFound, kid)
			}
			return lastErr
		}
		if f := s.flight; f != nil {
			s.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return fmt.Errorf("auth: jwks: waiting for a fetch: %w", context.Cause(ctx))
			}
			if f.url == url && !f.aborted {
				flown, lastErr = true, f.err
			}
			continue
		}
		f := &jwksFlight{url: url, done: make(chan struct{})}
		s.flight = f
		s.mu.Unlock()

		keys, err := s.download(ctx, url)

		s.mu.Lock()
		if err != nil && ctx.Err() != nil {
			f.aborted = true
		} else {
			s.publish(url, keys, s.opts.Now())
		}
		f.err = err
		s.flight = nil
		close(f.done)
		s.mu.Unlock()
		if f.aborted {
			return err
		}
		flown, lastErr = true, err
	}
}

// publish stores the result of a fetch of url at now: on success the new
// key set replaces the old one (keys the endpoint no longer lists are gone,
// as in Centrifugo's ReplacePrefix); on failure (keys == nil) the old keys
// stay as they are and only the fetch time moves. Sets of other URLs that
// are long expired and past their cooldown are dropped. Called with mu held.
func (s *jwksKeys) publish(url string, keys map[string]*jwksKey, now time.Time) {
	old := s.state.Load()
	sets := make(map[string]*jwksSet, len(old.sets)+1)
	for u, set := range old.sets {
		if u != url && s.dead(set, now) {
			continue
		}
		sets[u] = set
	}
	if keys != nil {
		exp := now.Add(s.opts.TTL)
		for _, k := range keys {
			k.expires = exp // not yet shared
		}
		sets[url] = &jwksSet{keys: keys, fetchedAt: now}
	} else {
		prev := old.sets[url]
		set := &jwksSet{fetchedAt: now}
		if prev != nil {
			set.keys = prev.keys
		}
		sets[url] = set
	}
	s.state.Store(&jwksState{sets: sets})
}

// dead: nothing in set is worth keeping (all keys expired more than a TTL
// ago, so no stale fallback is due, and the cooldown is over).
func (s *jwksKeys) dead(set *jwksSet, now time.Time) bool {
	if now.Before(set.fetchedAt.Add(s.opts.MissCooldown)) {
		return false
	}
	for _, k := range set.keys {
		if now.Before(k.expires.Add(s.opts.TTL)) {
			return false
		}
	}
	return true
}

// extend makes the expired key (url, kid) usable until now+StaleRetry.
// Called with mu held.
func (s *jwksKeys) extend(url, kid string, now time.Time) {
	old := s.state.Load()
	prev := old.sets[url]
	k := *prev.keys[kid]
	k.expires = now.Add(s.opts.StaleRetry)
	keys := make(map[string]*jwksKey, len(prev.keys))
	for id, pk := range prev.keys {
		keys[id] = pk
	}
	keys[kid] = &k
	sets := make(map[string]*jwksSet, len(old.sets))
	for u, set := range old.sets {
		sets[u] = set
	}
	sets[url] = &jwksSet{keys: keys, fetchedAt: prev.fetchedAt}
	s.state.Store(&jwksState{sets: sets})
}

// download GETs and parses the document, retrying a failed request or a
// non-200 answer as Centrifugo does (Attempts times, no pause), but not a
// document that is too large or does not decode.
func (s *jwksKeys) download(ctx context.Context, url string) (map[string]*jwksKey, error) {
	var body []byte
	var err error
	for range s.opts.Attempts {
		body, err = s.get(ctx, url)
		if err == nil || ctx.Err() != nil || errors.Is(err, errJWKSTooLarge) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: GET %s: %w", url, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %s: %w", url, err)
	}
	return keys, nil
}

func (s *jwksKeys) get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %d", errJWKSStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > s.opts.MaxBodyBytes {
		return nil, fmt.Errorf("%w (%d bytes)", errJWKSTooLarge, s.opts.MaxBodyBytes)
	}
	return body, nil
}
