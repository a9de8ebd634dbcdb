package auth

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// typicalClaims is the claim set of an ordinary connection token.
func typicalClaims() string {
	return `{"sub":"user-1234","exp":` + unix(time.Hour) + `,"info":{"name":"Alice","role":"admin"},"channels":["news","chat:room-1"]}`
}

type benchCase struct {
	name   string
	cfg    config.Token
	token  string
	key    any // for the golang-jwt baseline
	method string
}

func benchCases(b *testing.B) []benchCase {
	k := keys()
	claims := typicalClaims()
	return []benchCase{
		{"HS256", config.Token{HMACSecretKey: secret}, sign(b, jwt.SigningMethodHS256, []byte(secret), claims), []byte(secret), "HS256"},
		{"RS256", config.Token{RSAPublicKey: k.rsaPEM}, sign(b, jwt.SigningMethodRS256, k.rsa, claims), &k.rsa.PublicKey, "RS256"},
		{"ES256", config.Token{ECDSAPublicKey: k.ecPEM["ES256"]}, sign(b, jwt.SigningMethodES256, k.ec["ES256"], claims), &k.ec["ES256"].PublicKey, "ES256"},
	}
}

// BenchmarkVerifyConnectToken is the connect-path cost of one token with a
// typical claim set (sub, exp, info, channels), RSA 2048 and P-256 keys.
func BenchmarkVerifyConnectToken(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			v := newVerifier(b, bc.cfg)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyConnectToken(bc.token, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyConnectToken_Rejected is what a flood of bad tokens costs:
// garbage is refused before any crypto, a bad HS256 signature after it.
func BenchmarkVerifyConnectToken_Rejected(b *testing.B) {
	v := newVerifier(b, config.Token{HMACSecretKey: secret})
	for _, bc := range []struct{ name, token string }{
		{"Garbage", "not-a-jwt"},
		{"HS256BadSignature", sign(b, jwt.SigningMethodHS256, []byte("other"), typicalClaims())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyConnectToken(bc.token, now); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkBaselineGolangJWT verifies the same tokens with bare golang-jwt
// (MapClaims, fixed key, no Centrifugo semantics): the floor that
// BenchmarkVerifyConnectToken is measured against.
func BenchmarkBaselineGolangJWT(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			p := jwt.NewParser(jwt.WithValidMethods([]string{bc.method}), jwt.WithoutClaimsValidation())
			keyfunc := func(*jwt.Token) (any, error) { return bc.key, nil }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(bc.token, keyfunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyConnectToken_JWKS is the connect path with jwks_public_endpoint
// and the key already cached: BenchmarkVerifyConnectToken plus the kid lookup
// (one atomic load, two map reads).
func BenchmarkVerifyConnectToken_JWKS(b *testing.B) {
	k := keys()
	srv := newJWKSServer(b, jwksDoc(
		rsaJWK("rsa", "RS256", &k.rsa.PublicKey),
		ecJWK("ec", "ES256", &k.ec["ES256"].PublicKey),
		edJWK("ed", "EdDSA", edKey().Public().(ed25519.PublicKey)),
	))
	v := newVerifier(b, config.Token{JWKSPublicEndpoint: srv.URL}, WithJWKS(JWKSOptions{Client: srv.Client(), Now: func() time.Time { return now }}))
	claims := typicalClaims()
	for _, bc := range []struct {
		name, token string
	}{
		{"RS256", kidToken(b, jwt.SigningMethodRS256, k.rsa, "rsa", claims)},
		{"ES256", kidToken(b, jwt.SigningMethodES256, k.ec["ES256"], "ec", claims)},
		{"EdDSA", kidToken(b, jwt.SigningMethodEdDSA, edKey(), "ed", claims)},
	} {
		if err := v.FetchKeys(context.Background(), bc.token); err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyConnectToken(bc.token, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
