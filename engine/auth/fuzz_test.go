package auth

import (
	"crypto/ed25519"
	"reflect"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// FuzzVerifyToken feeds arbitrary token strings to a verifying and a
// signature-skipping Verifier. Invariants: no panic; every error is exactly
// one of the three classes and comes with zero Credentials; whatever the
// verifying Verifier accepts, the skipping one accepts identically (skipping
// the signature can only let more through).
func FuzzVerifyToken(f *testing.F) {
	for _, seed := range []string{
		cap15BadSignature, cap16Expired, cap17Garbage, cap17AlgNone, cap17RS256NoKey, cap17SubNumber,
		cap17ExpString, cap17ChannelClaim, cap17UnknownNS, cap17BadB64Info, cap17EmptySecret,
		cap18NbfFuture, cap29ExpireAt, cap39Subs, cap39B64Info, cap40AudArray,
		"", ".", "..", "...", "a.b.c", "e30.e30.", "e30.bnVsbA.", "eyJhbGciOiJIUzI1NiJ9.bnVsbA.AAAA",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.\r\n", "eyJhbGciOiJIUzI1NiJ9..eyJzdWIiOiJ1MSJ9",
	} {
		f.Add(seed)
	}
	strict := newVerifier(f, config.Token{HMACSecretKey: secret})
	skip := newVerifier(f, config.Token{HMACSecretKey: secret}, WithSkipSignatureVerify())
	f.Fuzz(func(t *testing.T, token string) {
		c1, err1 := strict.VerifyConnectToken(token, now)
		c2, err2 := skip.VerifyConnectToken(token, now)
		checkResult(t, c1, err1)
		checkResult(t, c2, err2)
		if err1 == nil && (err2 != nil || !reflect.DeepEqual(c1, c2)) {
			t.Fatalf("verified token %q: skip mode disagrees: %+v, %v vs %+v", token, c2, err2, c1)
		}
	})
}

// FuzzVerifyClaims signs arbitrary claims JSON with the right key, so every
// input reaches claim decoding in both parse paths (golang-jwt's when
// verifying, the cristalhq-style one when skipping). With a valid signature
// the two must agree exactly: same class, same Credentials.
func FuzzVerifyClaims(f *testing.F) {
	for _, seed := range []string{
		`{"sub":"u1"}`, `{"sub":123}`, `{"exp":"bad"}`, `{"exp":"1800003600"}`, `{"exp":1.8e9}`, `{"nbf":1e300}`,
		`{"aud":null}`, `{"aud":["a",1]}`, `{"channel":"x"}`, `{"b64info":"!!"}`, `{"info":"s","b64info":"e30="}`,
		`{"subs":{"a":{"b64data":"!"}},"channels":["b"]}`, `{"subs":{},"channels":["b"]}`, `{"expire_at":0,"exp":1.8e9}`,
		`{"SUB":"x","sub":"y","Sub":"z"}`, `null`, `[]`, `{"sub":"u1"} `, `{"sub":"\ud800"}`, `{"uid":{"a":[1,2]}}`,
	} {
		f.Add(seed)
	}
	cfg := config.Token{HMACSecretKey: secret, UserIDClaim: "uid"}
	strict := newVerifier(f, cfg)
	skip := newVerifier(f, cfg, WithSkipSignatureVerify())
	f.Fuzz(func(t *testing.T, payload string) {
		token := signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"HS256","typ":"JWT"}`, payload)
		c1, err1 := strict.VerifyConnectToken(token, now)
		c2, err2 := skip.VerifyConnectToken(token, now)
		checkResult(t, c1, err1)
		checkResult(t, c2, err2)
		if classOf(err1) != classOf(err2) || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("payload %q: verifying %+v, %v; skipping %+v, %v", payload, c1, err1, c2, err2)
		}
	})
}

func checkResult(t *testing.T, c Credentials, err error) {
	t.Helper()
	switch cl := classOf(err); cl {
	case "ok":
	case "invalid", "expired", "info":
		if !reflect.DeepEqual(c, Credentials{}) {
			t.Fatalf("non-zero credentials %+v with error %v", c, err)
		}
	default:
		t.Fatalf("error %v is %s", err, cl)
	}
}

// FuzzParseJWKS feeds arbitrary bytes to the JWKS document parser, whose
// input comes from the network. Invariants: no panic; on success every kept
// key is of a known type and either usable or says why not, and picking a
// verification key for any algorithm does not panic.
func FuzzParseJWKS(f *testing.F) {
	k := keys()
	f.Add(jwksDoc(
		rsaJWK("rsa", "RS256", &k.rsa.PublicKey),
		ecJWK("ec", "", &k.ec["ES512"].PublicKey),
		edJWK("ed", "EdDSA", edKey().Public().(ed25519.PublicKey)),
		jwkJSON{"kty": "oct", "use": "sig", "kid": "o", "k": "c2VjcmV0"},
		jwkJSON{"kty": "OKP", "crv": "X25519", "use": "enc", "kid": "x", "x": ""},
	))
	for _, seed := range []string{
		``, `null`, `{}`, `{"keys":null}`, `{"keys":[{}]}`, `{"keys":[{"kty":"RSA","n":"","e":""}]}`,
		`{"keys":[{"kty":"RSA","use":"sig","n":"AQAB","e":"AQAB","d":"AQ","p":"AQ","q":"AQ"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`, `{"keys":[{"kty":"OKP","crv":"Ed448","x":""}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := parseJWKS(doc)
		if err != nil {
			if keys != nil {
				t.Fatalf("keys %v with error %v", keys, err)
			}
			return
		}
		for kid, key := range keys {
			switch key.kty {
			case "RSA", "EC", "OKP", "oct":
			default:
				t.Fatalf("kid %q: kty %q kept", kid, key.kty)
			}
			if (key.key == nil) == (key.bad == nil) {
				t.Fatalf("kid %q: key %v, bad %v: want exactly one", kid, key.key, key.bad)
			}
			for _, alg := range jwksMethods {
				if vk, err := key.verificationKey(alg); (vk == nil) == (err == nil) {
					t.Fatalf("kid %q alg %s: key %v, err %v", kid, alg, vk, err)
				}
			}
		}
	})
}
