package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// secret is the HMAC key the conformance captures were signed with.
const secret = "conformance-secret"

// now is the fixed verification time of the generated-token tests; tokens
// are built relative to it so that no test depends on the wall clock.
var now = time.Unix(1_800_000_000, 0)

// unix renders now+d as a JSON integer for hand-written payloads.
func unix(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }

type keyFixture struct {
	rsa, rsaOther    *rsa.PrivateKey
	rsaPEM           string                       // PKIX "PUBLIC KEY"
	rsaPKCS1PEM      string                       // "RSA PUBLIC KEY", which Centrifugo refuses
	rsaCertPEM       string                       // self-signed certificate carrying rsa's public key
	ec               map[string]*ecdsa.PrivateKey // by alg: ES256, ES384, ES512
	ecPEM            map[string]string
	ecOther256       *ecdsa.PrivateKey
	ec224PEM         string
	ecP256AsRSAField string // an EC key PEM, for "wrong key type" config tests
}

// keys generates the key material once per test binary: RSA generation is
// the slow part and the machine is shared.
var keys = sync.OnceValue(func() *keyFixture {
	f := &keyFixture{ec: map[string]*ecdsa.PrivateKey{}, ecPEM: map[string]string{}}
	f.rsa = mustRSA()
	f.rsaOther = mustRSA()
	f.rsaPEM = pkixPEM(&f.rsa.PublicKey)
	f.rsaPKCS1PEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&f.rsa.PublicKey)}))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unisse-test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &f.rsa.PublicKey, f.rsa)
	if err != nil {
		panic(err)
	}
	f.rsaCertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	for alg, curve := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		k := mustEC(curve)
		f.ec[alg] = k
		f.ecPEM[alg] = pkixPEM(&k.PublicKey)
	}
	f.ecOther256 = mustEC(elliptic.P256())
	f.ec224PEM = pkixPEM(&mustEC(elliptic.P224()).PublicKey)
	f.ecP256AsRSAField = f.ecPEM["ES256"]
	return f
})

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func pkixPEM(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw signs header and payload JSON byte for byte as given, with
// golang-jwt's signing method, so tests can build tokens that no
// well-behaved issuer would (duplicate keys, odd types, trailing bytes).
func signRaw(tb testing.TB, m jwt.SigningMethod, key any, header, payload string) string {
	tb.Helper()
	in := b64(header) + "." + b64(payload)
	sig, err := m.Sign(in, key)
	if err != nil {
		tb.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// sign signs payload with the standard header for m.
func sign(tb testing.TB, m jwt.SigningMethod, key any, payload string) string {
	tb.Helper()
	return signRaw(tb, m, key, `{"alg":"`+m.Alg()+`","typ":"JWT"}`, payload)
}

// hs signs payload with HS256 and the conformance secret.
func hs(tb testing.TB, payload string) string {
	tb.Helper()
	return sign(tb, jwt.SigningMethodHS256, []byte(secret), payload)
}

func newVerifier(tb testing.TB, tok config.Token, opts ...Option) *Verifier {
	tb.Helper()
	v, err := NewVerifier(tok, opts...)
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// classOf names the error class of a VerifyConnectToken result: "ok",
// "invalid", "expired", "info", "notcached", or "unclassified"/"ambiguous"
// when an error matches no sentinel or several, which the contract forbids.
func classOf(err error) string {
	if err == nil {
		return "ok"
	}
	var got []string
	for _, c := range []struct {
		name string
		err  error
	}{{"invalid", ErrInvalidToken}, {"expired", ErrTokenExpired}, {"info", ErrInvalidInfo}, {"notcached", ErrKeyNotCached}} {
		if errors.Is(err, c.err) {
			got = append(got, c.name)
		}
	}
	switch len(got) {
	case 0:
		return "unclassified"
	case 1:
		return got[0]
	}
	return "ambiguous"
}

// class is classOf that fails the test on an unclassified or ambiguous error.
func class(tb testing.TB, err error) string {
	tb.Helper()
	c := classOf(err)
	if c == "unclassified" || c == "ambiguous" {
		tb.Fatalf("error %q is %s: want exactly one sentinel", err, c)
	}
	return c
}
