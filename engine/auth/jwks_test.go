package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// ---- fixtures -------------------------------------------------------------

var edKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

type jwkJSON = map[string]any

func rsaJWK(kid, alg string, pub *rsa.PublicKey) jwkJSON {
	m := jwkJSON{"kty": "RSA", "use": "sig", "kid": kid, "n": b64u(pub.N.Bytes()), "e": b64u(big.NewInt(int64(pub.E)).Bytes())}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func ecJWK(kid, alg string, pub *ecdsa.PublicKey) jwkJSON {
	b, err := pub.Bytes()
	if err != nil {
		panic(err)
	}
	size := (len(b) - 1) / 2
	m := jwkJSON{"kty": "EC", "use": "sig", "kid": kid, "crv": pub.Curve.Params().Name, "x": b64u(b[1 : 1+size]), "y": b64u(b[1+size:])}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func edJWK(kid, alg string, pub ed25519.PublicKey) jwkJSON {
	m := jwkJSON{"kty": "OKP", "use": "sig", "kid": kid, "crv": "Ed25519", "x": b64u(pub)}
	if alg != "" {
		m["alg"] = alg
	}
	return m
}

func jwksDoc(keys ...jwkJSON) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// kidToken signs payload with m and a header carrying kid (none when "").
func kidToken(tb testing.TB, m jwt.SigningMethod, key any, kid, payload string) string {
	tb.Helper()
	h := `{"alg":"` + m.Alg() + `","typ":"JWT"`
	if kid != "" {
		h += `,"kid":"` + kid + `"`
	}
	return signRaw(tb, m, key, h+"}", payload)
}

// jwtPayload is valid for a day after now, so clocks can move by hours.
func jwtPayload(sub string) string { return `{"sub":"` + sub + `","exp":` + unix(24*time.Hour) + `}` }

// jwksServer serves JWKS documents by path ("/" for the default) and counts
// requests. gate, when set, holds every request until closed.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64
	byPath   sync.Map // path → *atomic.Int64

	mu      sync.Mutex
	docs    map[string][]byte
	status  int
	delay   time.Duration
	gate    chan struct{}
	arrived chan struct{}
}

func newJWKSServer(t testing.TB, doc []byte) *jwksServer {
	s := &jwksServer{docs: map[string][]byte{"/": doc}, status: http.StatusOK, arrived: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	n, _ := s.byPath.LoadOrStore(r.URL.Path, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	s.mu.Lock()
	doc, ok := s.docs[r.URL.Path]
	status, delay, gate := s.status, s.delay, s.gate
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(doc)
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *jwksServer) pathRequests(p string) int64 {
	if n, ok := s.byPath.Load(p); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// testClock is the JWKSOptions.Now of the tests; VerifyConnectToken gets
// clk.Now() as its now.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(now.UnixNano())
	return c
}

func (c *testClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// set moves the clock to now+d.
func (c *testClock) set(d time.Duration) time.Time {
	c.ns.Store(now.Add(d).UnixNano())
	return c.Now()
}

func jwksVerifier(t *testing.T, srv *jwksServer, clk *testClock, tok config.Token, o JWKSOptions, opts ...Option) *Verifier {
	t.Helper()
	if tok.JWKSPublicEndpoint == "" {
		tok.JWKSPublicEndpoint = srv.URL + "/"
	}
	if o.Client == nil {
		c := *srv.Client()
		c.Timeout = 5 * time.Second
		o.Client = &c
	}
	if o.Now == nil {
		o.Now = clk.Now
	}
	return newVerifier(t, tok, append(opts, WithJWKS(o))...)
}

// verifyFetching does what the engine does: verify, and on ErrKeyNotCached
// fetch off the loop and verify again. It returns the final answer and the
// FetchKeys error, and fails the test on a second ErrKeyNotCached.
func verifyFetching(t *testing.T, v *Verifier, tok string, at time.Time) (Credentials, error, error) {
	t.Helper()
	c, err := v.VerifyConnectToken(tok, at)
	if !errors.Is(err, ErrKeyNotCached) {
		return c, err, nil
	}
	ferr := v.FetchKeys(context.Background(), tok)
	c, err = v.VerifyConnectToken(tok, at)
	if errors.Is(err, ErrKeyNotCached) {
		t.Fatalf("ErrKeyNotCached after FetchKeys (fetch error %v)", ferr)
	}
	return c, err, ferr
}

func wantRequests(t *testing.T, s *jwksServer, n int64) {
	t.Helper()
	// A request the client gave up on (a timeout) may reach the handler
	// after the client returned: wait for the count, then check it exactly.
	deadline := time.Now().Add(5 * time.Second)
	for s.requests.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := s.requests.Load(); got != n {
		t.Fatalf("JWKS requests = %d, want %d", got, n)
	}
}

// ---- tests ----------------------------------------------------------------

// TestJWKSFetchThenVerify: every key type Centrifugo takes from a JWKS (RSA
// with and without "alg", EC on P-256/384/521, Ed25519) verifies after one
// fetch; the first token meets an empty cache and gets ErrKeyNotCached.
func TestJWKSFetchThenVerify(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(
		rsaJWK("rsa", "RS256", &k.rsa.PublicKey),
		rsaJWK("rsa-noalg", "", &k.rsaOther.PublicKey),
		ecJWK("ec256", "ES256", &k.ec["ES256"].PublicKey),
		ecJWK("ec384", "", &k.ec["ES384"].PublicKey),
		ecJWK("ec521", "ES512", &k.ec["ES512"].PublicKey),
		edJWK("ed", "EdDSA", edKey().Public().(ed25519.PublicKey)),
	))
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})

	first := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", `{"sub":"u-rsa","info":{"a":1},"exp":`+unix(time.Hour)+`}`)
	c, err := v.VerifyConnectToken(first, clk.Now())
	if class(t, err) != "notcached" || err != ErrKeyNotCached {
		t.Fatalf("first verify: err %v, want ErrKeyNotCached itself", err)
	}
	if c.UserID != "" || c.Info != nil {
		t.Fatalf("credentials with ErrKeyNotCached: %+v", c)
	}
	wantRequests(t, srv, 0) // VerifyConnectToken never does I/O
	if err := v.FetchKeys(context.Background(), first); err != nil {
		t.Fatalf("FetchKeys: %v", err)
	}
	wantRequests(t, srv, 1)
	c, err = v.VerifyConnectToken(first, clk.Now())
	if err != nil || c.UserID != "u-rsa" || string(c.Info) != `{"a":1}` || c.ExpireAt != now.Add(time.Hour).Unix() {
		t.Fatalf("after fetch: %+v, %v", c, err)
	}

	for _, tc := range []struct {
		name, kid string
		m         jwt.SigningMethod
		key       any
	}{
		{"RS512 with a JWK without alg", "rsa-noalg", jwt.SigningMethodRS512, k.rsaOther},
		{"RS256 with a JWK without alg", "rsa-noalg", jwt.SigningMethodRS256, k.rsaOther},
		{"ES256 P-256", "ec256", jwt.SigningMethodES256, k.ec["ES256"]},
		{"ES384 P-384 JWK without alg", "ec384", jwt.SigningMethodES384, k.ec["ES384"]},
		{"ES512 P-521", "ec521", jwt.SigningMethodES512, k.ec["ES512"]},
		{"EdDSA Ed25519", "ed", jwt.SigningMethodEdDSA, edKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := kidToken(t, tc.m, tc.key, tc.kid, jwtPayload("u-"+tc.kid))
			c, err := v.VerifyConnectToken(tok, clk.Now()) // already cached by the first fetch
			if err != nil || c.UserID != "u-"+tc.kid {
				t.Fatalf("verify: %+v, %v", c, err)
			}
			if err := v.FetchKeys(context.Background(), tok); err != nil {
				t.Fatalf("FetchKeys of a cached key: %v", err)
			}
		})
	}
	wantRequests(t, srv, 1)
}

// TestJWKSUnknownKid: an unknown kid refetches once, then is invalid; more
// unknown kids within MissCooldown of a fetch are invalid without one.
func TestJWKSUnknownKid(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(rsaJWK("rsa", "RS256", &k.rsa.PublicKey)))
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{MissCooldown: 10 * time.Second})
	good := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1"))
	unknown := func(kid string) string { return kidToken(t, jwt.SigningMethodRS256, k.rsa, kid, jwtPayload("u1")) }

	if _, err, ferr := verifyFetching(t, v, good, clk.Now()); err != nil || ferr != nil {
		t.Fatalf("good token: %v (fetch %v)", err, ferr)
	}
	wantRequests(t, srv, 1)

	// Right after the fetch: invalid at once, and FetchKeys does not fetch.
	tok := unknown("nope")
	if _, err := v.VerifyConnectToken(tok, clk.set(time.Second)); class(t, err) != "invalid" || !errors.Is(err, errKidNotFound) {
		t.Fatalf("unknown kid within cooldown: %v", err)
	}
	if err := v.FetchKeys(context.Background(), tok); !errors.Is(err, errKidNotFound) {
		t.Fatalf("FetchKeys within cooldown: %v", err)
	}
	wantRequests(t, srv, 1)

	// After the cooldown: one refetch, then invalid.
	at := clk.set(11 * time.Second)
	if _, err := v.VerifyConnectToken(tok, at); class(t, err) != "notcached" {
		t.Fatalf("unknown kid after cooldown: %v", err)
	}
	_, err, ferr := verifyFetching(t, v, tok, at)
	if class(t, err) != "invalid" || !errors.Is(ferr, errKidNotFound) {
		t.Fatalf("after refetch: %v (fetch %v)", err, ferr)
	}
	wantRequests(t, srv, 2)
	for i, kid := range []string{"nope", "nope2", "nope3"} {
		if _, err, _ := verifyFetching(t, v, unknown(kid), clk.set(12*time.Second+time.Duration(i)*time.Second)); class(t, err) != "invalid" {
			t.Fatalf("%s: %v", kid, err)
		}
	}
	wantRequests(t, srv, 2)
	// The known kid is unaffected.
	if _, err := v.VerifyConnectToken(good, clk.Now()); err != nil {
		t.Fatal(err)
	}

	// No kid at all: invalid without a fetch (Centrifugo: kid is not provided).
	v2 := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
	nokid := kidToken(t, jwt.SigningMethodRS256, k.rsa, "", jwtPayload("u1"))
	if _, err := v2.VerifyConnectToken(nokid, clk.Now()); class(t, err) != "invalid" || !errors.Is(err, errNoKid) {
		t.Fatalf("no kid: %v", err)
	}
	if err := v2.FetchKeys(context.Background(), nokid); !errors.Is(err, ErrInvalidToken) || !errors.Is(err, errNoKid) {
		t.Fatalf("FetchKeys without kid: %v", err)
	}
	// Two spellings of kid are as ambiguous as two of alg.
	twoKids := signRaw(t, jwt.SigningMethodRS256, k.rsa, `{"alg":"RS256","kid":"rsa","KID":"rsa"}`, jwtPayload("u1"))
	if _, err := v2.VerifyConnectToken(twoKids, clk.Now()); class(t, err) != "invalid" {
		t.Fatalf("two kids: %v", err)
	}
	// A kid spelled in another case is still the kid (encoding/json).
	upper := signRaw(t, jwt.SigningMethodRS256, k.rsa, `{"alg":"RS256","Kid":"rsa"}`, jwtPayload("u1"))
	if _, err, _ := verifyFetching(t, v2, upper, clk.Now()); err != nil {
		t.Fatalf("Kid: %v", err)
	}
	// encoding/json folds Unicode too: a KELVIN SIGN (U+212A) spelling is the kid.
	kelvin := signRaw(t, jwt.SigningMethodRS256, k.rsa, "{\"alg\":\"RS256\",\"\u212aid\":\"rsa\"}", jwtPayload("u1"))
	if _, err, _ := verifyFetching(t, v2, kelvin, clk.Now()); err != nil {
		t.Fatalf("\u212aid: %v", err)
	}
	wantRequests(t, srv, 3)
}

// TestJWKSEndpointFailures: whatever goes wrong with the endpoint, the token
// is invalid and FetchKeys says why; transport errors and non-200 answers
// are tried twice (Centrifugo's retries), bad documents once.
func TestJWKSEndpointFailures(t *testing.T) {
	k := keys()
	good := rsaJWK("rsa", "RS256", &k.rsa.PublicKey)
	offCurve := ecJWK("ec", "ES256", &k.ec["ES256"].PublicKey)
	offCurve["y"] = offCurve["x"]
	for _, tc := range []struct {
		name     string
		setup    func(s *jwksServer)
		o        JWKSOptions
		down     bool
		requests int64
		check    func(error) bool
	}{
		{name: "endpoint down", down: true, check: func(err error) bool {
			var ne *net.OpError
			return errors.As(err, &ne)
		}},
		{name: "500", setup: func(s *jwksServer) { s.status = 500 }, requests: 2,
			check: func(err error) bool { return errors.Is(err, errJWKSStatus) && strings.Contains(err.Error(), "500") }},
		{name: "404", setup: func(s *jwksServer) { s.docs = nil }, requests: 2,
			check: func(err error) bool { return errors.Is(err, errJWKSStatus) }},
		{name: "201 is not 200", setup: func(s *jwksServer) { s.status = 201 }, requests: 2,
			check: func(err error) bool { return errors.Is(err, errJWKSStatus) }},
		{name: "malformed JSON", setup: func(s *jwksServer) { s.docs["/"] = []byte(`{"keys":[`) }, requests: 1,
			check: func(err error) bool { return errors.Is(err, errJWKSDecode) }},
		{name: "not an object", setup: func(s *jwksServer) { s.docs["/"] = []byte(`[]`) }, requests: 1,
			check: func(err error) bool { return errors.Is(err, errJWKSDecode) }},
		{name: "kid is a number", setup: func(s *jwksServer) { s.docs["/"] = []byte(`{"keys":[{"kid":1}]}`) }, requests: 1,
			check: func(err error) bool { return errors.Is(err, errJWKSDecode) }},
		{name: "one EC key off its curve spoils the document", setup: func(s *jwksServer) { s.docs["/"] = jwksDoc(good, offCurve) }, requests: 1,
			check: func(err error) bool {
				return errors.Is(err, errJWKSDecode) && strings.Contains(err.Error(), "kid \"ec\"")
			}},
		{name: "unknown kty spoils the document", setup: func(s *jwksServer) {
			s.docs["/"] = jwksDoc(good, jwkJSON{"kty": "HS", "use": "sig", "kid": "h"})
		}, requests: 1, check: func(err error) bool { return errors.Is(err, errJWKSDecode) }},
		{name: "padded base64 spoils the document", setup: func(s *jwksServer) {
			bad := rsaJWK("rsa2", "RS256", &k.rsaOther.PublicKey)
			bad["e"] = "AQAB=="
			s.docs["/"] = jwksDoc(good, bad)
		}, requests: 1, check: func(err error) bool { return errors.Is(err, errJWKSDecode) }},
		{name: "empty key set", setup: func(s *jwksServer) { s.docs["/"] = []byte(`{"keys":[]}`) }, requests: 1,
			check: func(err error) bool { return errors.Is(err, errKidNotFound) }},
		{name: "timeout", setup: func(s *jwksServer) { s.delay = 2 * time.Second }, requests: 2,
			o: JWKSOptions{Client: &http.Client{Timeout: 50 * time.Millisecond}},
			check: func(err error) bool {
				var ne net.Error
				return errors.As(err, &ne) && ne.Timeout()
			}},
		{name: "too large", setup: func(s *jwksServer) {}, o: JWKSOptions{MaxBodyBytes: 100}, requests: 1,
			check: func(err error) bool { return errors.Is(err, errJWKSTooLarge) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t, jwksDoc(good))
			if tc.setup != nil {
				srv.set(tc.setup)
			}
			if tc.down {
				srv.Close()
			}
			clk := newTestClock()
			v := jwksVerifier(t, srv, clk, config.Token{}, tc.o)
			tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1"))
			if _, err := v.VerifyConnectToken(tok, clk.Now()); class(t, err) != "notcached" {
				t.Fatalf("first verify: %v", err)
			}
			ferr := v.FetchKeys(context.Background(), tok)
			if ferr == nil || !tc.check(ferr) || !strings.HasPrefix(ferr.Error(), "auth: jwks") {
				t.Fatalf("FetchKeys error %v is not the expected one", ferr)
			}
			if _, err := v.VerifyConnectToken(tok, clk.Now()); class(t, err) != "invalid" {
				t.Fatalf("after failed fetch: %v", err)
			}
			if !tc.down {
				wantRequests(t, srv, tc.requests)
			}
			// The failure counts as a fetch: more unknown kids wait for the
			// cooldown instead of hammering a failing endpoint.
			before := srv.requests.Load()
			if _, err, _ := verifyFetching(t, v, tok, clk.set(time.Second)); class(t, err) != "invalid" {
				t.Fatalf("retry within cooldown: %v", err)
			}
			if !tc.down {
				wantRequests(t, srv, before)
			}
		})
	}
}

// TestJWKSKeyRotation: the issuer swaps keys; the new kid triggers a
// refetch, and the removed key is gone from the cache with it (Centrifugo
// replaces the endpoint's whole key set on every fetch).
func TestJWKSKeyRotation(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(rsaJWK("k1", "RS256", &k.rsa.PublicKey)))
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{MissCooldown: 10 * time.Second})
	tok1 := kidToken(t, jwt.SigningMethodRS256, k.rsa, "k1", jwtPayload("u1"))
	tok2 := kidToken(t, jwt.SigningMethodRS256, k.rsaOther, "k2", jwtPayload("u2"))
	tok3 := kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "k3", jwtPayload("u3"))

	if _, err, _ := verifyFetching(t, v, tok1, clk.Now()); err != nil {
		t.Fatal(err)
	}
	srv.set(func(s *jwksServer) { s.docs["/"] = jwksDoc(rsaJWK("k2", "RS256", &k.rsaOther.PublicKey)) })
	if _, err := v.VerifyConnectToken(tok1, clk.set(30*time.Second)); err != nil {
		t.Fatalf("k1 still cached: %v", err)
	}
	if c, err, _ := verifyFetching(t, v, tok2, clk.Now()); err != nil || c.UserID != "u2" {
		t.Fatalf("new kid k2: %+v, %v", c, err)
	}
	wantRequests(t, srv, 2)
	if _, err := v.VerifyConnectToken(tok1, clk.Now()); class(t, err) != "invalid" {
		t.Fatalf("k1 after rotation: %v, want invalid (removed from the endpoint)", err)
	}

	// A second rotation within the cooldown waits for it (the price of
	// bounding refetches), then goes through.
	srv.set(func(s *jwksServer) {
		s.docs["/"] = jwksDoc(rsaJWK("k2", "RS256", &k.rsaOther.PublicKey), ecJWK("k3", "ES256", &k.ec["ES256"].PublicKey))
	})
	if _, err, _ := verifyFetching(t, v, tok3, clk.set(35*time.Second)); class(t, err) != "invalid" {
		t.Fatalf("k3 within cooldown: %v", err)
	}
	if c, err, _ := verifyFetching(t, v, tok3, clk.set(41*time.Second)); err != nil || c.UserID != "u3" {
		t.Fatalf("k3 after cooldown: %+v, %v", c, err)
	}
	if _, err := v.VerifyConnectToken(tok2, clk.Now()); err != nil {
		t.Fatalf("k2 after second rotation: %v", err)
	}
	wantRequests(t, srv, 3)
}

// TestJWKSTTL: keys are refetched after TTL (Centrifugo: 1 h from the
// fetch, not extended by use); a key the endpoint dropped is then invalid;
// a refetch that fails keeps the expired key for StaleRetry (Centrifugo's
// GetStale), after which the next token tries again.
func TestJWKSTTL(t *testing.T) {
	k := keys()
	tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1"))
	doc := jwksDoc(rsaJWK("rsa", "RS256", &k.rsa.PublicKey))

	t.Run("expiry and refetch", func(t *testing.T) {
		srv := newJWKSServer(t, doc)
		clk := newTestClock()
		v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
		if _, err, _ := verifyFetching(t, v, tok, clk.Now()); err != nil {
			t.Fatal(err)
		}
		for _, d := range []time.Duration{time.Minute, 30 * time.Minute, time.Hour} {
			if _, err := v.VerifyConnectToken(tok, clk.set(d)); err != nil {
				t.Fatalf("at +%v: %v", d, err)
			}
		}
		wantRequests(t, srv, 1)
		if _, err := v.VerifyConnectToken(tok, clk.set(time.Hour+time.Nanosecond)); class(t, err) != "notcached" {
			t.Fatalf("after 1h: %v, want notcached", err)
		}
		if _, err, ferr := verifyFetching(t, v, tok, clk.Now()); err != nil || ferr != nil {
			t.Fatalf("refetch: %v (fetch %v)", err, ferr)
		}
		wantRequests(t, srv, 2)
		if _, err := v.VerifyConnectToken(tok, clk.set(2*time.Hour)); err != nil {
			t.Fatalf("TTL counts from the refetch: %v", err)
		}
		// The endpoint drops the key: after the TTL it is invalid, with no
		// stale fallback (the endpoint answered).
		srv.set(func(s *jwksServer) { s.docs["/"] = jwksDoc(rsaJWK("other", "RS256", &k.rsaOther.PublicKey)) })
		_, err, ferr := verifyFetching(t, v, tok, clk.set(2*time.Hour+time.Second))
		if class(t, err) != "invalid" || !errors.Is(ferr, errKidNotFound) {
			t.Fatalf("dropped key: %v (fetch %v)", err, ferr)
		}
		wantRequests(t, srv, 3)
	})

	t.Run("stale key while the endpoint is down", func(t *testing.T) {
		srv := newJWKSServer(t, doc)
		clk := newTestClock()
		v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
		if _, err, _ := verifyFetching(t, v, tok, clk.Now()); err != nil {
			t.Fatal(err)
		}
		srv.set(func(s *jwksServer) { s.status = 503 })
		c, err, ferr := verifyFetching(t, v, tok, clk.set(time.Hour+time.Second))
		if err != nil || c.UserID != "u1" || !errors.Is(ferr, errJWKSStatus) {
			t.Fatalf("stale fallback: %+v, %v (fetch %v)", c, err, ferr)
		}
		wantRequests(t, srv, 3) // 1 + two attempts
		if _, err := v.VerifyConnectToken(tok, clk.set(time.Hour+59*time.Second)); err != nil {
			t.Fatalf("within StaleRetry: %v", err)
		}
		wantRequests(t, srv, 3)
		if _, err := v.VerifyConnectToken(tok, clk.set(time.Hour+62*time.Second)); class(t, err) != "notcached" {
			t.Fatalf("after StaleRetry: %v, want notcached", err)
		}
		srv.set(func(s *jwksServer) { s.status = 200 })
		if _, err, ferr := verifyFetching(t, v, tok, clk.Now()); err != nil || ferr != nil {
			t.Fatalf("endpoint back: %v (fetch %v)", err, ferr)
		}
		if _, err := v.VerifyConnectToken(tok, clk.set(2*time.Hour+60*time.Second)); err != nil {
			t.Fatalf("fresh TTL after recovery: %v", err)
		}
		wantRequests(t, srv, 4)
	})
}

// TestJWKSPrunesDeadSets: with a templated endpoint, the key set of a URL
// that has not been fetched for long (all keys expired more than a TTL ago,
// cooldown over) is dropped when another URL is fetched; a set still within
// reach of the stale fallback is kept.
func TestJWKSPrunesDeadSets(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, nil)
	srv.set(func(s *jwksServer) {
		doc := jwksDoc(rsaJWK("k", "RS256", &k.rsa.PublicKey))
		s.docs = map[string][]byte{"/a/jwks.json": doc, "/b/jwks.json": doc, "/c/jwks.json": doc}
	})
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{
		IssuerRegex:        `^(?P<tenant>[a-z]+)$`,
		JWKSPublicEndpoint: srv.URL + "/{{tenant}}/jwks.json",
	}, JWKSOptions{TTL: time.Hour})
	fetchTenant := func(tenant string) {
		t.Helper()
		tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "k", `{"sub":"u","iss":"`+tenant+`","exp":`+unix(24*time.Hour)+`}`)
		if _, err, ferr := verifyFetching(t, v, tok, clk.Now()); err != nil || ferr != nil {
			t.Fatalf("tenant %s: %v (fetch %v)", tenant, err, ferr)
		}
	}
	cached := func() []string {
		var urls []string
		for u := range v.jwks.state.Load().sets {
			urls = append(urls, strings.TrimPrefix(u, srv.URL))
		}
		slices.Sort(urls)
		return urls
	}

	fetchTenant("a")
	clk.set(90 * time.Minute) // a's key expired 30 min ago: stale fallback still possible
	fetchTenant("b")
	if got := cached(); !slices.Equal(got, []string{"/a/jwks.json", "/b/jwks.json"}) {
		t.Fatalf("after b: cached %q, want a and b", got)
	}
	clk.set(2*time.Hour + time.Second) // a's key expired more than a TTL ago
	fetchTenant("c")
	if got := cached(); !slices.Equal(got, []string{"/b/jwks.json", "/c/jwks.json"}) {
		t.Fatalf("after c: cached %q, want b and c (a pruned)", got)
	}
	wantRequests(t, srv, 3)
}

// TestJWKSAlgorithms pins which token alg each JWK verifies: RSA → RS*,
// EC → ES*, Ed25519 → EdDSA; the JWK's "alg" must equal the token's when
// present (Centrifugo ignores it for OKP keys); keys that are not "sig",
// private, X25519 or symmetric verify nothing.
func TestJWKSAlgorithms(t *testing.T) {
	k := keys()
	edPub := edKey().Public().(ed25519.PublicKey)
	encKey := rsaJWK("enc", "RS256", &k.rsa.PublicKey)
	encKey["use"] = "enc"
	noUse := rsaJWK("no-use", "RS256", &k.rsa.PublicKey)
	delete(noUse, "use")
	rsaPriv := rsaJWK("rsa-priv", "RS256", &k.rsa.PublicKey)
	rsaPriv["d"], rsaPriv["p"], rsaPriv["q"] = b64u(k.rsa.D.Bytes()), b64u(k.rsa.Primes[0].Bytes()), b64u(k.rsa.Primes[1].Bytes())
	ecPriv := ecJWK("ec-priv", "ES256", &k.ec["ES256"].PublicKey)
	d, err := k.ec["ES256"].Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ecPriv["d"] = b64u(d)
	edPriv := edJWK("ed-priv", "EdDSA", edPub)
	edPriv["d"] = b64u(edKey().Seed())
	srv := newJWKSServer(t, jwksDoc(
		rsaJWK("rsa256", "RS256", &k.rsa.PublicKey),
		rsaJWK("rsa-noalg", "", &k.rsa.PublicKey),
		rsaJWK("ps", "PS256", &k.rsaOther.PublicKey),
		ecJWK("ec384", "ES384", &k.ec["ES384"].PublicKey),
		ecJWK("ec-noalg", "", &k.ec["ES256"].PublicKey),
		edJWK("ed", "EdDSA", edPub),
		edJWK("ed-noalg", "", edPub),
		edJWK("ed-odd-alg", "RS256", edPub),
		encKey, noUse, rsaPriv, ecPriv, edPriv,
		jwkJSON{"kty": "OKP", "crv": "X25519", "use": "sig", "kid": "x25519", "x": b64u(make([]byte, 32))},
		jwkJSON{"kty": "OKP", "crv": "Ed448", "use": "sig", "kid": "ed448", "x": b64u(make([]byte, 57))},
		jwkJSON{"kty": "oct", "use": "sig", "kid": "oct", "k": b64u([]byte("secret"))},
	))
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
	p := jwtPayload("u1")
	if _, err, ferr := verifyFetching(t, v, kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa256", p), clk.Now()); err != nil || ferr != nil {
		t.Fatalf("prime: %v (fetch %v)", err, ferr)
	}
	nBytes := k.rsa.N.Bytes()
	for _, tc := range []struct {
		name, token, want string
	}{
		{"RS256 with RS256 JWK", kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa256", p), "ok"},
		{"RS384 with RS256 JWK", kidToken(t, jwt.SigningMethodRS384, k.rsa, "rsa256", p), "invalid"},
		{"RS256 wrong signer", kidToken(t, jwt.SigningMethodRS256, k.rsaOther, "rsa256", p), "invalid"},
		{"RS384 with alg-less RSA JWK", kidToken(t, jwt.SigningMethodRS384, k.rsa, "rsa-noalg", p), "ok"},
		{"RS512 with alg-less RSA JWK", kidToken(t, jwt.SigningMethodRS512, k.rsa, "rsa-noalg", p), "ok"},
		{"ES256 against an RSA JWK", kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "rsa-noalg", p), "invalid"},
		{"EdDSA against an RSA JWK", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "rsa-noalg", p), "invalid"},
		{"HS256 keyed with the RSA modulus", kidToken(t, jwt.SigningMethodHS256, nBytes, "rsa-noalg", p), "invalid"},
		{"PS256 token", kidToken(t, jwt.SigningMethodPS256, k.rsaOther, "ps", p), "invalid"},
		{"RS256 with PS256 JWK", kidToken(t, jwt.SigningMethodRS256, k.rsaOther, "ps", p), "invalid"},
		{"ES384 with ES384 JWK", kidToken(t, jwt.SigningMethodES384, k.ec["ES384"], "ec384", p), "ok"},
		{"ES256 with ES384 JWK", kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "ec384", p), "invalid"},
		{"ES256 with alg-less P-256 JWK", kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "ec-noalg", p), "ok"},
		{"ES384 with alg-less P-256 JWK", kidToken(t, jwt.SigningMethodES384, k.ec["ES384"], "ec-noalg", p), "invalid"},
		{"RS256 against an EC JWK", kidToken(t, jwt.SigningMethodRS256, k.rsa, "ec-noalg", p), "invalid"},
		{"EdDSA with EdDSA JWK", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed", p), "ok"},
		{"EdDSA with alg-less Ed25519 JWK", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed-noalg", p), "ok"},
		{"EdDSA with Ed25519 JWK claiming RS256 (ignored, as in Centrifugo)", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed-odd-alg", p), "ok"},
		{"EdDSA with Ed25519 JWK carrying d", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed-priv", p), "ok"},
		{"RS256 against an Ed25519 JWK", kidToken(t, jwt.SigningMethodRS256, k.rsa, "ed-odd-alg", p), "invalid"},
		{"EdDSA wrong signer", kidToken(t, jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), "ed", p), "invalid"},
		{"use enc", kidToken(t, jwt.SigningMethodRS256, k.rsa, "enc", p), "invalid"},
		{"no use", kidToken(t, jwt.SigningMethodRS256, k.rsa, "no-use", p), "invalid"},
		{"RSA private JWK", kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa-priv", p), "invalid"},
		{"EC private JWK", kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "ec-priv", p), "invalid"},
		{"X25519 JWK", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "x25519", p), "invalid"},
		{"Ed448 JWK", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed448", p), "invalid"},
		{"oct JWK", kidToken(t, jwt.SigningMethodHS256, []byte("secret"), "oct", p), "invalid"},
		{"alg none", signRaw(t, jwt.SigningMethodHS256, []byte("x"), `{"alg":"none","kid":"rsa256"}`, p), "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, _ := verifyFetching(t, v, tc.token, clk.Now())
			if c := class(t, err); c != tc.want {
				t.Fatalf("class %s (err %v), want %s", c, err, tc.want)
			}
		})
	}
	wantRequests(t, srv, 1)
}

// TestJWKSClaimChecks: with JWKS the claim checks are unchanged; a token that
// fails aud/iss never asks for a fetch; the static keys are not used.
func TestJWKSClaimChecks(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(rsaJWK("rsa", "RS256", &k.rsa.PublicKey)))
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{Audience: "app", HMACSecretKey: secret}, JWKSOptions{})

	for _, tok := range []string{
		kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", `{"sub":"u","aud":"other"}`),
		kidToken(t, jwt.SigningMethodHS256, []byte(secret), "rsa", `{"sub":"u","aud":"app"}`), // static keys are ignored
		hs(t, `{"sub":"u","aud":"app"}`),
		"garbage",
	} {
		if _, err, _ := verifyFetching(t, v, tok, clk.Now()); class(t, err) != "invalid" {
			t.Fatalf("%q: %v", tok, err)
		}
	}
	wantRequests(t, srv, 0)

	expired := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", `{"sub":"u","aud":"app","exp":`+unix(-time.Second)+`}`)
	if _, err, _ := verifyFetching(t, v, expired, clk.Now()); class(t, err) != "expired" {
		t.Fatalf("expired: %v", err)
	}
	info := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", `{"sub":"u","aud":["x","app"],"b64info":"e30=","channels":["c"]}`)
	if c, err := v.VerifyConnectToken(info, clk.Now()); err != nil || string(c.Info) != "{}" || c.Channels[0] != "c" {
		t.Fatalf("claims: %+v, %v", c, err)
	}
	wantRequests(t, srv, 1)

	// client.insecure_skip_token_signature_verify: no key needed, no fetch.
	skip := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{}, WithSkipSignatureVerify())
	tok := kidToken(t, jwt.SigningMethodRS256, k.rsaOther, "unknown", jwtPayload("u9"))
	if c, err := skip.VerifyConnectToken(tok, clk.Now()); err != nil || c.UserID != "u9" {
		t.Fatalf("skip: %+v, %v", c, err)
	}
	if err := skip.FetchKeys(context.Background(), tok); err != nil {
		t.Fatalf("skip FetchKeys: %v", err)
	}
	wantRequests(t, srv, 1)
}

// TestJWKSConcurrentFetch: many connections with uncached kids at once make
// one HTTP request; readers verify throughout. Run with -race.
func TestJWKSConcurrentFetch(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(
		rsaJWK("rsa", "RS256", &k.rsa.PublicKey),
		ecJWK("ec", "ES256", &k.ec["ES256"].PublicKey),
		edJWK("ed", "EdDSA", edKey().Public().(ed25519.PublicKey)),
	))
	gate := make(chan struct{})
	srv.set(func(s *jwksServer) { s.gate = gate })
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
	tokens := []struct{ tok, want string }{
		{kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1")), "ok"},
		{kidToken(t, jwt.SigningMethodES256, k.ec["ES256"], "ec", jwtPayload("u2")), "ok"},
		{kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed", jwtPayload("u3")), "ok"},
		{kidToken(t, jwt.SigningMethodRS256, k.rsa, "unknown", jwtPayload("u4")), "invalid"},
	}

	// Every goroutine first meets the empty cache (the gate holds the one
	// fetch until all have), then fetches and verifies again.
	const goroutines = 16
	var ready, done sync.WaitGroup
	errs := make(chan string, goroutines)
	for g := range goroutines {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			tc := tokens[g%len(tokens)]
			_, err := v.VerifyConnectToken(tc.tok, clk.Now())
			ready.Done()
			if !errors.Is(err, ErrKeyNotCached) {
				errs <- "before the fetch: " + classOf(err)
				return
			}
			_ = v.FetchKeys(context.Background(), tc.tok)
			if _, err := v.VerifyConnectToken(tc.tok, clk.Now()); classOf(err) != tc.want {
				errs <- "after the fetch: " + classOf(err) + ", want " + tc.want
			}
		}()
	}
	ready.Wait()
	<-srv.arrived
	time.Sleep(20 * time.Millisecond) // let the others pile up behind the request
	close(gate)
	done.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	wantRequests(t, srv, 1)
}

// TestJWKSFetchCancel: a caller whose context ends stops waiting; an aborted
// fetch is not held against the endpoint (no cooldown, no failure), so the
// next caller fetches.
func TestJWKSFetchCancel(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, jwksDoc(rsaJWK("rsa", "RS256", &k.rsa.PublicKey)))
	gate := make(chan struct{})
	srv.set(func(s *jwksServer) { s.gate = gate })
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{}, JWKSOptions{})
	tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1"))

	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { leader <- v.FetchKeys(ctx, tok) }()
	<-srv.arrived

	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer wcancel()
	if err := v.FetchKeys(wctx, tok); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter: %v, want DeadlineExceeded", err)
	}
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: %v, want Canceled", err)
	}
	if _, err := v.VerifyConnectToken(tok, clk.Now()); class(t, err) != "notcached" {
		t.Fatalf("after an aborted fetch: %v, want notcached", err)
	}
	close(gate)
	if _, err, ferr := verifyFetching(t, v, tok, clk.Now()); err != nil || ferr != nil {
		t.Fatalf("next fetch: %v (fetch %v)", err, ferr)
	}
	wantRequests(t, srv, 2)
}

// TestJWKSTemplatedEndpoint: {{name}} in the URL is filled from the named
// groups of issuer_regex; the cache is per resolved URL, so tenant A's key
// never verifies a token claiming tenant B (GHSA-g6vg-wj8f-48cj), and a
// value that would walk the path is refused without a fetch.
func TestJWKSTemplatedEndpoint(t *testing.T) {
	k := keys()
	srv := newJWKSServer(t, nil)
	srv.set(func(s *jwksServer) {
		s.docs = map[string][]byte{
			"/a/jwks.json": jwksDoc(rsaJWK("shared", "RS256", &k.rsa.PublicKey)),
			"/b/jwks.json": jwksDoc(rsaJWK("shared", "RS256", &k.rsaOther.PublicKey)),
		}
	})
	clk := newTestClock()
	v := jwksVerifier(t, srv, clk, config.Token{
		IssuerRegex:        `^https://auth\.example\.com/(?P<tenant>[a-z.]+)$`,
		JWKSPublicEndpoint: srv.URL + "/{{tenant}}/jwks.json",
	}, JWKSOptions{})
	iss := func(tenant, sub string) string {
		return `{"sub":"` + sub + `","iss":"https://auth.example.com/` + tenant + `","exp":` + unix(time.Hour) + `}`
	}

	if c, err, _ := verifyFetching(t, v, kidToken(t, jwt.SigningMethodRS256, k.rsa, "shared", iss("a", "alice")), clk.Now()); err != nil || c.UserID != "alice" {
		t.Fatalf("tenant a: %+v, %v", c, err)
	}
	forged := kidToken(t, jwt.SigningMethodRS256, k.rsa, "shared", iss("b", "victim"))
	if _, err := v.VerifyConnectToken(forged, clk.Now()); class(t, err) != "notcached" {
		t.Fatalf("forged b before b's fetch: %v, want notcached (a's key must not be used)", err)
	}
	if _, err, _ := verifyFetching(t, v, forged, clk.Now()); class(t, err) != "invalid" {
		t.Fatalf("forged b: %v", err)
	}
	if c, err := v.VerifyConnectToken(kidToken(t, jwt.SigningMethodRS256, k.rsaOther, "shared", iss("b", "bob")), clk.Now()); err != nil || c.UserID != "bob" {
		t.Fatalf("tenant b: %+v, %v", c, err)
	}
	if srv.pathRequests("/a/jwks.json") != 1 || srv.pathRequests("/b/jwks.json") != 1 {
		t.Fatalf("requests a=%d b=%d, want 1 each", srv.pathRequests("/a/jwks.json"), srv.pathRequests("/b/jwks.json"))
	}
	for _, tc := range []struct{ name, payload string }{
		{"path traversal", iss("..", "x")},
		{"issuer not matching", `{"sub":"x","iss":"https://evil.example.com/a"}`},
		{"no issuer", `{"sub":"x"}`},
	} {
		tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "shared", tc.payload)
		if _, err, _ := verifyFetching(t, v, tok, clk.Now()); class(t, err) != "invalid" {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	wantRequests(t, srv, 2)
}

// TestURLTemplate pins the fasttemplate-like filling: audience_regex groups
// win over issuer_regex groups of the same name, unknown names are empty,
// and an untemplated URL with an unclean path fails every token, as in
// Centrifugo.
func TestURLTemplate(t *testing.T) {
	v := newVerifier(t, config.Token{
		IssuerRegex:        `^(?P<realm>\w+)\.(?P<env>\w+)$`,
		AudienceRegex:      `^aud-(?P<realm>\w+)$`,
		JWKSPublicEndpoint: "https://keys.example.com/{{realm}}/{{env}}/{{missing}}x",
	})
	url, err := v.jwks.tmpl.resolve(&tokenClaims{Issuer: "iss1.prod", Audience: audience{"nope", "aud-aud1"}}, v.issuerRe, v.audienceRe)
	if err != nil || url != "https://keys.example.com/aud1/prod/x" {
		t.Fatalf("resolve = %q, %v", url, err)
	}
	if _, err := v.jwks.tmpl.resolve(&tokenClaims{Issuer: "iss1.prod"}, v.issuerRe, v.audienceRe); !errors.Is(err, errJWKSNotMatched) {
		t.Fatalf("no aud: %v", err)
	}

	trailing := newVerifier(t, config.Token{JWKSPublicEndpoint: "https://keys.example.com/jwks/"})
	tok := kidToken(t, jwt.SigningMethodRS256, keys().rsa, "k", jwtPayload("u"))
	if _, err := trailing.VerifyConnectToken(tok, now); class(t, err) != "invalid" || !errors.Is(err, errJWKSURL) {
		t.Fatalf("unclean path: %v", err)
	}
}

// TestJWKSDefaultClientNoLeak: the default client keeps no connection (and
// so no goroutine) after a fetch, and the source starts none of its own.
func TestJWKSDefaultClientNoLeak(t *testing.T) {
	k := keys()
	base := runtime.NumGoroutine()
	srv := newJWKSServer(t, jwksDoc(rsaJWK("rsa", "RS256", &k.rsa.PublicKey)))
	v := newVerifier(t, config.Token{JWKSPublicEndpoint: srv.URL})
	tok := kidToken(t, jwt.SigningMethodRS256, k.rsa, "rsa", jwtPayload("u1"))
	if _, err, ferr := verifyFetching(t, v, tok, time.Now()); err != nil || ferr != nil {
		t.Fatalf("%v (fetch %v)", err, ferr)
	}
	srv.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, before: %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
