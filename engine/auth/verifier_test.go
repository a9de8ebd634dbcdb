package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

type verifyCase struct {
	name  string
	token string
	at    time.Time // verification time; zero means now
	want  string    // "ok", "invalid", "expired" or "info"
	check func(t *testing.T, c Credentials)
}

func runCases(t *testing.T, v *Verifier, cases []verifyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			if at.IsZero() {
				at = now
			}
			got, err := v.VerifyConnectToken(tc.token, at)
			if c := class(t, err); c != tc.want {
				t.Fatalf("class = %s (err %v), want %s", c, err, tc.want)
			}
			if err != nil {
				if !reflect.DeepEqual(got, Credentials{}) {
					t.Fatalf("credentials on error = %+v, want zero", got)
				}
				return
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// flipSignatureBit returns tok with one bit of its decoded signature
// flipped, re-encoded so that the token stays well formed.
func flipSignatureBit(tb testing.TB, tok string) string {
	tb.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		tb.Fatalf("signature of %q: %v", tok, err)
	}
	sig[len(sig)/2] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func wantUser(user string) func(*testing.T, Credentials) {
	return func(t *testing.T, c Credentials) {
		t.Helper()
		if c.UserID != user {
			t.Fatalf("UserID = %q, want %q", c.UserID, user)
		}
	}
}

func wantExpireAt(at int64) func(*testing.T, Credentials) {
	return func(t *testing.T, c Credentials) {
		t.Helper()
		if c.ExpireAt != at {
			t.Fatalf("ExpireAt = %d, want %d", c.ExpireAt, at)
		}
	}
}

func wantInfo(info string) func(*testing.T, Credentials) {
	return func(t *testing.T, c Credentials) {
		t.Helper()
		if string(c.Info) != info || (info == "") != (c.Info == nil) {
			t.Fatalf("Info = %q (nil %v), want %q", c.Info, c.Info == nil, info)
		}
	}
}

// TestAlgorithms signs a typical claim set with every supported algorithm,
// each against a verifier configured with only the matching key.
func TestAlgorithms(t *testing.T) {
	k := keys()
	exp := now.Add(time.Hour)
	cases := []struct {
		method jwt.SigningMethod
		sign   any
		cfg    config.Token
	}{
		{jwt.SigningMethodHS256, []byte(secret), config.Token{HMACSecretKey: secret}},
		{jwt.SigningMethodHS384, []byte(secret), config.Token{HMACSecretKey: secret}},
		{jwt.SigningMethodHS512, []byte(secret), config.Token{HMACSecretKey: secret}},
		{jwt.SigningMethodRS256, k.rsa, config.Token{RSAPublicKey: k.rsaPEM}},
		{jwt.SigningMethodRS384, k.rsa, config.Token{RSAPublicKey: k.rsaPEM}},
		{jwt.SigningMethodRS512, k.rsa, config.Token{RSAPublicKey: k.rsaPEM}},
		{jwt.SigningMethodES256, k.ec["ES256"], config.Token{ECDSAPublicKey: k.ecPEM["ES256"]}},
		{jwt.SigningMethodES384, k.ec["ES384"], config.Token{ECDSAPublicKey: k.ecPEM["ES384"]}},
		{jwt.SigningMethodES512, k.ec["ES512"], config.Token{ECDSAPublicKey: k.ecPEM["ES512"]}},
		// A certificate PEM is accepted for the public key, as in Centrifugo.
		{jwt.SigningMethodRS256, k.rsa, config.Token{RSAPublicKey: k.rsaCertPEM}},
	}
	for _, tc := range cases {
		t.Run(tc.method.Alg(), func(t *testing.T) {
			v := newVerifier(t, tc.cfg)
			tok, err := jwt.NewWithClaims(tc.method, jwt.MapClaims{
				"sub": "u1", "exp": exp.Unix(), "info": map[string]any{"n": "x"}, "channels": []string{"a", "b"},
			}).SignedString(tc.sign)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.VerifyConnectToken(tok, now)
			if err != nil {
				t.Fatalf("VerifyConnectToken: %v", err)
			}
			want := Credentials{UserID: "u1", ExpireAt: exp.Unix(), Info: json.RawMessage(`{"n":"x"}`), Channels: []string{"a", "b"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			// One flipped signature bit must fail: proves the signature is
			// actually checked for this algorithm.
			if _, err := v.VerifyConnectToken(flipSignatureBit(t, tok), now); class(t, err) != "invalid" {
				t.Fatalf("tampered signature: err = %v, want invalid", err)
			}
		})
	}
}

// TestRejectedAlgorithms covers alg none, unknown and unconfigured
// algorithms, wrong keys, curve mismatch and algorithm confusion.
func TestRejectedAlgorithms(t *testing.T) {
	k := keys()
	payload := `{"sub":"u1"}`
	all := newVerifier(t, config.Token{HMACSecretKey: secret, RSAPublicKey: k.rsaPEM, ECDSAPublicKey: k.ecPEM["ES256"]})
	hmacOnly := newVerifier(t, config.Token{HMACSecretKey: secret})
	rsaOnly := newVerifier(t, config.Token{RSAPublicKey: k.rsaPEM})
	ecOnly := newVerifier(t, config.Token{ECDSAPublicKey: k.ecPEM["ES256"]})
	nothing := newVerifier(t, config.Token{})

	noneTok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	psTok := sign(t, jwt.SigningMethodPS256, k.rsa, payload)
	rsTok := sign(t, jwt.SigningMethodRS256, k.rsa, payload)
	esTok := sign(t, jwt.SigningMethodES256, k.ec["ES256"], payload)
	hsTok := hs(t, payload)
	// Algorithm confusion: HS256 keyed with the public key's PEM text, the
	// classic attack on verifiers that hand "the key" to any algorithm.
	confusedRSA := sign(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), payload)
	confusedEC := sign(t, jwt.SigningMethodHS256, []byte(k.ecPEM["ES256"]), payload)

	for _, tc := range []struct {
		name  string
		v     *Verifier
		token string
		want  string
	}{
		{"controls/HS256 with all keys", all, hsTok, "ok"},
		{"controls/RS256 with all keys", all, rsTok, "ok"},
		{"controls/ES256 with all keys", all, esTok, "ok"},
		{"alg none (golang-jwt)", all, noneTok, "invalid"},
		{"alg none, no keys at all", nothing, noneTok, "invalid"},
		{"alg none, fake signature", all, signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"none"}`, payload), "invalid"},
		{"unknown alg", all, signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"HS257"}`, payload), "invalid"},
		{"lower-case alg", all, signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"hs256"}`, payload), "invalid"},
		{"PS256 is not a Centrifugo algorithm", all, psTok, "invalid"},
		{"RS256 without rsa_public_key", hmacOnly, rsTok, "invalid"},
		{"ES256 without ecdsa_public_key", hmacOnly, esTok, "invalid"},
		{"HS256 without hmac_secret_key", rsaOnly, hsTok, "invalid"},
		{"HS256 with no keys at all", nothing, hsTok, "invalid"},
		{"RS256 signed by another key", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsaOther, payload), "invalid"},
		{"ES256 signed by another key", ecOnly, sign(t, jwt.SigningMethodES256, k.ecOther256, payload), "invalid"},
		{"HS256 signed by another secret", hmacOnly, sign(t, jwt.SigningMethodHS256, []byte("other"), payload), "invalid"},
		{"HS256 signed with empty secret", hmacOnly, sign(t, jwt.SigningMethodHS256, []byte{}, payload), "invalid"},
		// An unset hmac_secret_key disables HMAC; it is not the key "".
		{"empty-secret token, no hmac_secret_key", nothing, sign(t, jwt.SigningMethodHS256, []byte{}, payload), "invalid"},
		{"empty-secret token, rsa only", rsaOnly, sign(t, jwt.SigningMethodHS512, []byte{}, payload), "invalid"},
		{"capture 17 empty-secret token, no hmac_secret_key", nothing, cap17EmptySecret, "invalid"},
		{"HS384 header over HS256 signature", hmacOnly, signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"HS384"}`, payload), "invalid"},
		{"ES384 token against a P-256 key", ecOnly, sign(t, jwt.SigningMethodES384, k.ec["ES384"], payload), "invalid"},
		{"ES256 header, P-384 key configured", newVerifier(t, config.Token{ECDSAPublicKey: k.ecPEM["ES384"]}), sign(t, jwt.SigningMethodES256, k.ec["ES256"], payload), "invalid"},
		{"confusion: HS256 keyed with RSA PEM, rsa only", rsaOnly, confusedRSA, "invalid"},
		{"confusion: HS256 keyed with RSA PEM, rsa+hmac", all, confusedRSA, "invalid"},
		{"confusion: HS256 keyed with EC PEM, ecdsa only", ecOnly, confusedEC, "invalid"},
		{"confusion: HS256 keyed with EC PEM, all keys", all, confusedEC, "invalid"},
		// Control for the two above: the confused token is well formed and
		// does verify when the PEM text really is the HMAC secret.
		{"controls/PEM text as hmac secret", newVerifier(t, config.Token{HMACSecretKey: k.rsaPEM}), confusedRSA, "ok"},
		{"P-224 key enables no ES algorithm", newVerifier(t, config.Token{ECDSAPublicKey: k.ec224PEM}), esTok, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.VerifyConnectToken(tc.token, now)
			if c := class(t, err); c != tc.want {
				t.Fatalf("class = %s (err %v), want %s", c, err, tc.want)
			}
		})
	}
}

func TestPreviousHMACKey(t *testing.T) {
	until := now.Unix()
	rotating := newVerifier(t, config.Token{HMACSecretKey: "new", HMACPreviousSecretKey: "old", HMACPreviousSecretKeyValidUntil: until})
	forever := newVerifier(t, config.Token{HMACSecretKey: "new", HMACPreviousSecretKey: "old"})
	prevOnly := newVerifier(t, config.Token{HMACPreviousSecretKey: "old", HMACPreviousSecretKeyValidUntil: until})
	payload := `{"sub":"u1"}`
	withNew := sign(t, jwt.SigningMethodHS256, []byte("new"), payload)
	withOld := sign(t, jwt.SigningMethodHS512, []byte("old"), payload)
	withOther := sign(t, jwt.SigningMethodHS256, []byte("other"), payload)
	at := func(sec, nsec int64) time.Time { return time.Unix(until+sec, nsec) }

	for _, tc := range []struct {
		name  string
		v     *Verifier
		token string
		at    time.Time
		want  string
	}{
		{"current key before valid_until", rotating, withNew, at(-10, 0), "ok"},
		{"current key long after valid_until", rotating, withNew, at(1e6, 0), "ok"},
		{"previous key before valid_until", rotating, withOld, at(-1, 0), "ok"},
		// Centrifugo compares whole seconds: now.Unix() > valid_until rejects,
		// so the previous key still works during the valid_until second.
		{"previous key within the valid_until second", rotating, withOld, at(0, 999_999_999), "ok"},
		{"previous key after valid_until", rotating, withOld, at(1, 0), "invalid"},
		{"third key", rotating, withOther, at(-1, 0), "invalid"},
		{"valid_until 0: previous key never expires", forever, withOld, at(1e9, 0), "ok"},
		{"previous key alone enables HMAC", prevOnly, withOld, at(-1, 0), "ok"},
		{"previous key alone, expired", prevOnly, withOld, at(1, 0), "invalid"},
		{"previous key alone, current-key token", prevOnly, withNew, at(-1, 0), "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.VerifyConnectToken(tc.token, tc.at)
			if c := class(t, err); c != tc.want {
				t.Fatalf("class = %s (err %v), want %s", c, err, tc.want)
			}
		})
	}
}

// TestTokenForm covers the token syntax: segments, base64url, JSON, header.
func TestTokenForm(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	good := hs(t, `{"sub":"u1"}`)
	parts := strings.Split(good, ".")
	hsRaw := func(header, payload string) string {
		return signRaw(t, jwt.SigningMethodHS256, []byte(secret), header, payload)
	}
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	runCases(t, v, []verifyCase{
		{name: "control", token: good, want: "ok", check: wantUser("u1")},
		{name: "garbage", token: "not-a-jwt", want: "invalid"},
		{name: "empty", token: "", want: "invalid"},
		{name: "two segments", token: parts[0] + "." + parts[1], want: "invalid"},
		{name: "four segments", token: good + ".x", want: "invalid"},
		{name: "dots only", token: "..", want: "invalid"},
		{name: "header not base64url", token: "!!!." + parts[1] + "." + parts[2], want: "invalid"},
		{name: "padded payload", token: parts[0] + "." + parts[1] + "==." + parts[2], want: "invalid"},
		{name: "signature not base64url", token: parts[0] + "." + parts[1] + ".***", want: "invalid"},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", want: "invalid"},
		{name: "header not JSON", token: hsRaw(`alg=HS256`, `{"sub":"u1"}`), want: "invalid"},
		{name: "claims not JSON", token: hsRaw(hdr, `sub=u1`), want: "invalid"},
		{name: "claims an array", token: hsRaw(hdr, `["u1"]`), want: "invalid"},
		{name: "claims a string", token: hsRaw(hdr, `"u1"`), want: "invalid"},
		{name: "bytes after the claims object", token: hsRaw(hdr, `{"sub":"u1"}x`), want: "invalid"},
		{name: "whitespace around the claims", token: hsRaw(hdr, " {\"sub\":\"u1\"}\n"), want: "ok", check: wantUser("u1")},
		// json.Unmarshal of null into a struct is a no-op in Centrifugo too:
		// a signed "null" payload is an anonymous token without claims.
		{name: "claims null", token: hsRaw(hdr, `null`), want: "ok", check: wantUser("")},
		{name: "claims empty object", token: hsRaw(hdr, `{}`), want: "ok", check: wantUser("")},
		{name: "header without typ", token: hsRaw(`{"alg":"HS256"}`, `{"sub":"u1"}`), want: "ok"},
		{name: "header unknown fields", token: hsRaw(`{"alg":"HS256","x5u":5,"crit":["a"]}`, `{"sub":"u1"}`), want: "ok"},
		{name: "header kid null", token: hsRaw(`{"alg":"HS256","kid":null}`, `{"sub":"u1"}`), want: "ok"},
		{name: "header typ not a string", token: hsRaw(`{"alg":"HS256","typ":1}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header KID not a string", token: hsRaw(`{"alg":"HS256","KID":5}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header cty object", token: hsRaw(`{"alg":"HS256","cty":{}}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header alg not a string", token: hsRaw(`{"alg":256}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header alg null", token: hsRaw(`{"alg":null}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header null", token: hsRaw(`null`, `{"sub":"u1"}`), want: "invalid"},
		// Known difference (doc.go): Centrifugo matches these keys
		// case-insensitively; golang-jwt only reads "alg".
		{name: "header ALG upper case", token: hsRaw(`{"ALG":"HS256"}`, `{"sub":"u1"}`), want: "invalid"},
		{name: "header alg and Alg", token: hsRaw(`{"alg":"HS256","Alg":"HS256"}`, `{"sub":"u1"}`), want: "invalid"},
	})
}

// TestClaimTypes: a claim of the wrong JSON type fails the whole decode, as
// in Centrifugo (which decodes into a typed struct); odd but well-typed
// values pass.
func TestClaimTypes(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	future := unix(time.Hour)
	runCases(t, v, []verifyCase{
		{name: "sub number", token: hs(t, `{"sub":123}`), want: "invalid"},
		{name: "sub object", token: hs(t, `{"sub":{}}`), want: "invalid"},
		{name: "exp string", token: hs(t, `{"sub":"u1","exp":"bad"}`), want: "invalid"},
		{name: "exp bool", token: hs(t, `{"exp":true}`), want: "invalid"},
		{name: "exp overflows float64", token: hs(t, `{"exp":1e400}`), want: "invalid"},
		{name: "nbf object", token: hs(t, `{"nbf":{}}`), want: "invalid"},
		{name: "iat string", token: hs(t, `{"iat":"x"}`), want: "invalid"},
		{name: "jti number", token: hs(t, `{"jti":5}`), want: "invalid"},
		{name: "iss number", token: hs(t, `{"iss":1}`), want: "invalid"},
		{name: "aud number", token: hs(t, `{"aud":5}`), want: "invalid"},
		{name: "aud null", token: hs(t, `{"aud":null}`), want: "invalid"},
		{name: "aud array of numbers", token: hs(t, `{"aud":[1]}`), want: "invalid"},
		{name: "channels string", token: hs(t, `{"channels":"x"}`), want: "invalid"},
		{name: "channels of numbers", token: hs(t, `{"channels":[1]}`), want: "invalid"},
		{name: "subs array", token: hs(t, `{"subs":["a"]}`), want: "invalid"},
		{name: "subs override value string", token: hs(t, `{"subs":{"a":{"override":{"presence":{"value":"yes"}}}}}`), want: "invalid"},
		{name: "expire_at string", token: hs(t, `{"expire_at":"1"}`), want: "invalid"},
		{name: "expire_at fraction", token: hs(t, `{"expire_at":1.5}`), want: "invalid"},
		{name: "b64info number", token: hs(t, `{"b64info":5}`), want: "invalid"},
		{name: "channel number", token: hs(t, `{"channel":5}`), want: "invalid"},
		{name: "SUB number (keys match case-insensitively)", token: hs(t, `{"SUB":5}`), want: "invalid"},

		{name: "exp numeric string", token: hs(t, `{"sub":"u1","exp":"`+future+`"}`), want: "ok", check: wantExpireAt(now.Add(time.Hour).Unix())},
		{name: "exp null", token: hs(t, `{"sub":"u1","exp":null}`), want: "ok", check: wantExpireAt(0)},
		{name: "exp exponent form", token: hs(t, `{"exp":1.8000036e9}`), want: "ok", check: wantExpireAt(1_800_003_600)},
		{name: "Sub upper case is sub", token: hs(t, `{"Sub":"u9"}`), want: "ok", check: wantUser("u9")},
		{name: "duplicate sub: last wins", token: hs(t, `{"sub":"a","sub":"b"}`), want: "ok", check: wantUser("b")},
		{name: "sub null", token: hs(t, `{"sub":null}`), want: "ok", check: wantUser("")},
		{name: "iat jti meta and unknown claims", token: hs(t, `{"sub":"u1","iat":1,"jti":"j","meta":{"m":1},"x":[1,{"y":null}]}`), want: "ok",
			check: func(t *testing.T, c Credentials) {
				if string(c.Meta) != `{"m":1}` {
					t.Fatalf("Meta = %s", c.Meta)
				}
			}},
		{name: "channels with null element", token: hs(t, `{"channels":["a",null]}`), want: "ok",
			check: func(t *testing.T, c Credentials) {
				if !reflect.DeepEqual(c.Channels, []string{"a", ""}) {
					t.Fatalf("Channels = %q", c.Channels)
				}
			}},
		{name: "channel empty string", token: hs(t, `{"sub":"u1","channel":""}`), want: "ok"},
		{name: "channel null", token: hs(t, `{"sub":"u1","channel":null}`), want: "ok"},
		{name: "channel claim", token: hs(t, `{"sub":"u1","channel":"news"}`), want: "invalid"},
		{name: "Channel claim, other case", token: hs(t, `{"sub":"u1","Channel":"news"}`), want: "invalid"},
	})
}

func TestAudienceIssuer(t *testing.T) {
	exact := newVerifier(t, config.Token{HMACSecretKey: secret, Audience: "cf-aud", Issuer: "cf-iss"})
	runCases(t, exact, []verifyCase{
		{name: "exact/aud string", token: hs(t, `{"aud":"cf-aud","iss":"cf-iss"}`), want: "ok"},
		{name: "exact/aud array", token: hs(t, `{"aud":["x","cf-aud"],"iss":"cf-iss"}`), want: "ok"},
		{name: "exact/wrong aud", token: hs(t, `{"aud":"other","iss":"cf-iss"}`), want: "invalid"},
		{name: "exact/aud array without match", token: hs(t, `{"aud":["x","y"],"iss":"cf-iss"}`), want: "invalid"},
		{name: "exact/empty aud array", token: hs(t, `{"aud":[],"iss":"cf-iss"}`), want: "invalid"},
		{name: "exact/missing aud", token: hs(t, `{"iss":"cf-iss"}`), want: "invalid"},
		{name: "exact/missing iss", token: hs(t, `{"aud":"cf-aud"}`), want: "invalid"},
		{name: "exact/wrong iss", token: hs(t, `{"aud":"cf-aud","iss":"cf-iss2"}`), want: "invalid"},
		{name: "exact/aud is not a prefix match", token: hs(t, `{"aud":"cf-aud-2","iss":"cf-iss"}`), want: "invalid"},
		// aud/iss are checked before exp: a wrong audience is invalid even
		// when the token has also expired.
		{name: "exact/wrong aud and expired", token: hs(t, `{"aud":"other","iss":"cf-iss","exp":`+unix(-time.Hour)+`}`), want: "invalid"},
		{name: "exact/right aud and expired", token: hs(t, `{"aud":"cf-aud","iss":"cf-iss","exp":`+unix(-time.Hour)+`}`), want: "expired"},
	})

	re := newVerifier(t, config.Token{HMACSecretKey: secret, AudienceRegex: `^cf-(a|b)$`, IssuerRegex: `^iss-[0-9]+$`})
	runCases(t, re, []verifyCase{
		{name: "regex/match", token: hs(t, `{"aud":"cf-a","iss":"iss-42"}`), want: "ok"},
		{name: "regex/any aud element", token: hs(t, `{"aud":["x","cf-b"],"iss":"iss-1"}`), want: "ok"},
		{name: "regex/aud mismatch", token: hs(t, `{"aud":"cf-c","iss":"iss-1"}`), want: "invalid"},
		{name: "regex/iss mismatch", token: hs(t, `{"aud":"cf-a","iss":"iss-x"}`), want: "invalid"},
		{name: "regex/missing aud", token: hs(t, `{"iss":"iss-1"}`), want: "invalid"},
		{name: "regex/missing iss", token: hs(t, `{"aud":"cf-a"}`), want: "invalid"},
	})

	// Centrifugo's regexes are unanchored (FindStringSubmatch), and a
	// pattern that matches "" lets a token without iss through.
	loose := newVerifier(t, config.Token{HMACSecretKey: secret, AudienceRegex: `aud`, IssuerRegex: `x*`})
	runCases(t, loose, []verifyCase{
		{name: "unanchored/substring aud", token: hs(t, `{"aud":"my-aud-1"}`), want: "ok"},
		{name: "unanchored/missing iss matches x*", token: hs(t, `{"aud":"aud"}`), want: "ok"},
		{name: "unanchored/no aud", token: hs(t, `{"iss":"x"}`), want: "invalid"},
	})

	// Not configured: aud and iss are not looked at (capture 39).
	none := newVerifier(t, config.Token{HMACSecretKey: secret})
	runCases(t, none, []verifyCase{
		{name: "unconfigured/any aud and iss", token: hs(t, `{"aud":"x","iss":"y"}`), want: "ok"},
	})
}

func TestExpiry(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret, Audience: "a"})
	runCases(t, v, []verifyCase{
		{name: "exp in the future", token: hs(t, `{"aud":"a","exp":`+unix(time.Second)+`}`), want: "ok", check: wantExpireAt(now.Unix() + 1)},
		{name: "exp == now is expired", token: hs(t, `{"aud":"a","exp":`+unix(0)+`}`), want: "expired"},
		{name: "exp in the past", token: hs(t, `{"aud":"a","exp":`+unix(-time.Second)+`}`), want: "expired"},
		{name: "exp half a second ahead", token: hs(t, `{"aud":"a","exp":`+unix(0)+`.5}`), want: "ok", check: wantExpireAt(now.Unix())},
		{name: "exp half a second ahead, checked later", token: hs(t, `{"aud":"a","exp":`+unix(0)+`.5}`), at: now.Add(600 * time.Millisecond), want: "expired"},
		{name: "exp 0 is 1970", token: hs(t, `{"aud":"a","exp":0}`), want: "expired"},
		{name: "nbf in the past", token: hs(t, `{"aud":"a","nbf":`+unix(-time.Second)+`}`), want: "ok", check: wantExpireAt(0)},
		// cristalhq/jwt: valid only if nbf.Before(now).
		{name: "nbf == now is not yet valid", token: hs(t, `{"aud":"a","nbf":`+unix(0)+`}`), want: "expired"},
		{name: "nbf in the future", token: hs(t, `{"aud":"a","nbf":`+unix(time.Minute)+`}`), want: "expired"},
		{name: "iat in the future is ignored", token: hs(t, `{"aud":"a","iat":`+unix(time.Hour)+`}`), want: "ok"},
		{name: "expired with a bad signature", token: sign(t, jwt.SigningMethodHS256, []byte("x"), `{"aud":"a","exp":`+unix(-time.Hour)+`}`), want: "invalid"},
		{name: "expired with a channel claim", token: hs(t, `{"aud":"a","channel":"c","exp":`+unix(-time.Hour)+`}`), want: "invalid"},
		{name: "expired with bad b64info", token: hs(t, `{"aud":"a","b64info":"!!","exp":`+unix(-time.Hour)+`}`), want: "expired"},
		{name: "expired although expire_at is in the future", token: hs(t, `{"aud":"a","exp":`+unix(-time.Hour)+`,"expire_at":`+unix(time.Hour)+`}`), want: "expired"},
	})
}

func TestExpireAt(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	exp, at := now.Add(time.Hour).Unix(), now.Add(time.Minute).Unix()
	runCases(t, v, []verifyCase{
		{name: "exp only", token: hs(t, `{"exp":`+unix(time.Hour)+`}`), want: "ok", check: wantExpireAt(exp)},
		{name: "expire_at overrides exp", token: hs(t, `{"exp":`+unix(time.Hour)+`,"expire_at":`+unix(time.Minute)+`}`), want: "ok", check: wantExpireAt(at)},
		{name: "expire_at without exp", token: hs(t, `{"expire_at":`+unix(time.Minute)+`}`), want: "ok", check: wantExpireAt(at)},
		{name: "expire_at 0 disables expiry", token: hs(t, `{"exp":`+unix(time.Hour)+`,"expire_at":0}`), want: "ok", check: wantExpireAt(0)},
		{name: "negative expire_at disables expiry", token: hs(t, `{"exp":`+unix(time.Hour)+`,"expire_at":-5}`), want: "ok", check: wantExpireAt(0)},
		{name: "expire_at null falls back to exp", token: hs(t, `{"exp":`+unix(time.Hour)+`,"expire_at":null}`), want: "ok", check: wantExpireAt(exp)},
		// Not rejected here, as in Centrifugo's verifier: the engine decides.
		{name: "expire_at in the past", token: hs(t, `{"exp":`+unix(time.Hour)+`,"expire_at":`+unix(-time.Minute)+`}`), want: "ok", check: wantExpireAt(now.Add(-time.Minute).Unix())},
		{name: "neither", token: hs(t, `{}`), want: "ok", check: wantExpireAt(0)},
	})
}

func TestInfo(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	runCases(t, v, []verifyCase{
		{name: "object", token: hs(t, `{"info":{"a":[1,2]}}`), want: "ok", check: wantInfo(`{"a":[1,2]}`)},
		{name: "string keeps its quotes", token: hs(t, `{"info":"just-a-string"}`), want: "ok", check: wantInfo(`"just-a-string"`)},
		{name: "number", token: hs(t, `{"info":42}`), want: "ok", check: wantInfo(`42`)},
		{name: "null is raw null", token: hs(t, `{"info":null}`), want: "ok", check: wantInfo(`null`)},
		{name: "absent", token: hs(t, `{}`), want: "ok", check: wantInfo(``)},
		{name: "b64info", token: hs(t, `{"b64info":"eyJhIjoxfQ=="}`), want: "ok", check: wantInfo(`{"a":1}`)},
		{name: "b64info wins over info", token: hs(t, `{"info":{"b":2},"b64info":"eyJhIjoxfQ=="}`), want: "ok", check: wantInfo(`{"a":1}`)},
		{name: "empty b64info means absent", token: hs(t, `{"info":{"b":2},"b64info":""}`), want: "ok", check: wantInfo(`{"b":2}`)},
		{name: "b64info need not be JSON", token: hs(t, `{"b64info":"AAEC"}`), want: "ok", check: wantInfo("\x00\x01\x02")},
		{name: "b64info invalid", token: hs(t, `{"b64info":"!!"}`), want: "info"},
		{name: "b64info unpadded", token: hs(t, `{"b64info":"eyJhIjoxfQ"}`), want: "info"},
		{name: "b64info url alphabet", token: hs(t, `{"b64info":"-_-_"}`), want: "info"},
		{name: "b64info invalid, channel claim", token: hs(t, `{"b64info":"!!","channel":"c"}`), want: "invalid"},
	})
}

func TestSubs(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	runCases(t, v, []verifyCase{
		{name: "subs win over channels", want: "ok",
			token: hs(t, `{"sub":"u1","channels":["ignored"],"subs":{"a":{"info":{"ci":1},"data":{"w":true},"override":{"join_leave":{"value":false},"presence":{"value":true}}},"b":{}}}`),
			check: func(t *testing.T, c Credentials) {
				if c.Channels != nil {
					t.Fatalf("Channels = %q, want nil when subs present", c.Channels)
				}
				f, tr := false, true
				want := map[string]SubClaim{
					"a": {Info: json.RawMessage(`{"ci":1}`), Data: json.RawMessage(`{"w":true}`),
						Override: &SubOverride{JoinLeave: &BoolValue{Value: f}, Presence: &BoolValue{Value: tr}}},
					"b": {},
				}
				if !reflect.DeepEqual(c.Subs, want) {
					t.Fatalf("Subs = %+v, want %+v", c.Subs, want)
				}
			}},
		{name: "empty subs object keeps channels", token: hs(t, `{"channels":["a"],"subs":{}}`), want: "ok",
			check: func(t *testing.T, c Credentials) {
				if c.Subs != nil || !reflect.DeepEqual(c.Channels, []string{"a"}) {
					t.Fatalf("Subs = %v, Channels = %q; want nil, [a]", c.Subs, c.Channels)
				}
			}},
		{name: "b64 fields", token: hs(t, `{"subs":{"a":{"info":{"x":1},"b64info":"eyJpIjoxfQ==","data":{"y":1},"b64data":"eyJkIjoxfQ=="}}}`), want: "ok",
			check: func(t *testing.T, c Credentials) {
				info, err1 := c.Subs["a"].ChannelInfo()
				data, err2 := c.Subs["a"].SubscribeData()
				if err1 != nil || err2 != nil || string(info) != `{"i":1}` || string(data) != `{"d":1}` {
					t.Fatalf("ChannelInfo = %s, %v; SubscribeData = %s, %v", info, err1, data, err2)
				}
			}},
		{name: "sub b64info invalid", token: hs(t, `{"subs":{"a":{"b64info":"!!"}}}`), want: "invalid"},
		{name: "sub b64data invalid", token: hs(t, `{"subs":{"a":{"b64data":"!!"}}}`), want: "invalid"},
		// Centrifugo processes subs before b64info.
		{name: "sub b64 and b64info both invalid", token: hs(t, `{"b64info":"!!","subs":{"a":{"b64data":"!!"}}}`), want: "invalid"},
		{name: "sub b64 invalid but token expired", token: hs(t, `{"exp":1,"subs":{"a":{"b64data":"!!"}}}`), want: "expired"},
	})

	// The accessors fall back to the raw JSON and report bad base64 in
	// SubClaims that did not come from VerifyConnectToken.
	raw := SubClaim{Info: json.RawMessage(`{"r":1}`), Data: json.RawMessage(`2`)}
	if info, err := raw.ChannelInfo(); err != nil || string(info) != `{"r":1}` {
		t.Fatalf("ChannelInfo = %s, %v", info, err)
	}
	if data, err := raw.SubscribeData(); err != nil || string(data) != `2` {
		t.Fatalf("SubscribeData = %s, %v", data, err)
	}
	if _, err := (SubClaim{B64Data: "!!"}).SubscribeData(); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("SubscribeData on bad base64: err = %v, want ErrInvalidToken", err)
	}
}

func TestUserIDClaim(t *testing.T) {
	flat := newVerifier(t, config.Token{HMACSecretKey: secret, UserIDClaim: "user_id"})
	runCases(t, flat, []verifyCase{
		{name: "string", token: hs(t, `{"user_id":"test","sub":"ignored"}`), want: "ok", check: wantUser("test")},
		{name: "escaped string", token: hs(t, `{"user_id":"a\"b\u00e9"}`), want: "ok", check: wantUser("a\"bé")},
		{name: "integer as in gjson", token: hs(t, `{"user_id":42}`), want: "ok", check: wantUser("42")},
		{name: "negative integer", token: hs(t, `{"user_id":-7}`), want: "ok", check: wantUser("-7")},
		{name: "fraction", token: hs(t, `{"user_id":4.50}`), want: "ok", check: wantUser("4.5")},
		{name: "exponent", token: hs(t, `{"user_id":1e3}`), want: "ok", check: wantUser("1000")},
		{name: "bool", token: hs(t, `{"user_id":true}`), want: "ok", check: wantUser("true")},
		{name: "null", token: hs(t, `{"user_id":null}`), want: "ok", check: wantUser("")},
		{name: "object as raw JSON", token: hs(t, `{"user_id":{"a": 1}}`), want: "ok", check: wantUser(`{"a": 1}`)},
		{name: "missing: anonymous even with sub", token: hs(t, `{"sub":"u1"}`), want: "ok", check: wantUser("")},
		{name: "gjson takes the first duplicate", token: hs(t, `{"user_id":"first","user_id":"second"}`), want: "ok", check: wantUser("first")},
		{name: "gjson is case-sensitive", token: hs(t, `{"USER_ID":"x"}`), want: "ok", check: wantUser("")},
		{name: "sub is still type-checked", token: hs(t, `{"user_id":"x","sub":5}`), want: "invalid"},
		{name: "claims null", token: signRaw(t, jwt.SigningMethodHS256, []byte(secret), `{"alg":"HS256"}`, `null`), want: "ok", check: wantUser("")},
	})

	nested := newVerifier(t, config.Token{HMACSecretKey: secret, UserIDClaim: "user.ids.1"})
	runCases(t, nested, []verifyCase{
		{name: "nested/array index", token: hs(t, `{"user":{"x":{"ids":[0]},"ids":["a","b","c"]}}`), want: "ok", check: wantUser("b")},
		{name: "nested/index out of range", token: hs(t, `{"user":{"ids":["a"]}}`), want: "ok", check: wantUser("")},
		{name: "nested/object with key 1", token: hs(t, `{"user":{"ids":{"1":"one"}}}`), want: "ok", check: wantUser("one")},
		{name: "nested/scalar in the way", token: hs(t, `{"user":"u"}`), want: "ok", check: wantUser("")},
	})

	escaped := newVerifier(t, config.Token{HMACSecretKey: secret, UserIDClaim: `a\.b`})
	runCases(t, escaped, []verifyCase{
		{name: "escaped dot/literal key", token: hs(t, `{"a.b":"dot","a":{"b":"nested"}}`), want: "ok", check: wantUser("dot")},
	})

	for _, bad := range []string{"a.*", "us?r", "a|b", "#", "a.#", "@this", "a..b", ".a", "a.", `a\`, "[a,b]", "{a}", "!true"} {
		if _, err := NewVerifier(config.Token{HMACSecretKey: secret, UserIDClaim: bad}); err == nil || !strings.Contains(err.Error(), "user_id_claim") {
			t.Errorf("user_id_claim %q: err = %v, want a user_id_claim error", bad, err)
		}
	}
	for _, good := range []string{"user_id", "a.b.c", "a#b", `a\*`, "x-y", "0"} {
		if _, err := NewVerifier(config.Token{HMACSecretKey: secret, UserIDClaim: good}); err != nil {
			t.Errorf("user_id_claim %q: %v", good, err)
		}
	}
}

func TestSkipSignatureVerify(t *testing.T) {
	k := keys()
	v := newVerifier(t, config.Token{HMACSecretKey: secret, Issuer: "i"}, WithSkipSignatureVerify())
	raw := func(header, payload, sig string) string { return b64(header) + "." + b64(payload) + "." + sig }
	runCases(t, v, []verifyCase{
		{name: "bad signature", token: sign(t, jwt.SigningMethodHS256, []byte("other"), `{"sub":"u1","iss":"i"}`), want: "ok", check: wantUser("u1")},
		{name: "alg none, empty signature", token: raw(`{"alg":"none"}`, `{"sub":"u1","iss":"i"}`, ""), want: "ok", check: wantUser("u1")},
		{name: "unknown alg", token: raw(`{"alg":"XX999"}`, `{"sub":"u1","iss":"i"}`, "c2ln"), want: "ok"},
		{name: "no alg", token: raw(`{"typ":"JWT"}`, `{"sub":"u1","iss":"i"}`, "c2ln"), want: "ok"},
		{name: "RS256 without key", token: sign(t, jwt.SigningMethodRS256, k.rsa, `{"sub":"u1","iss":"i"}`), want: "ok"},
		{name: "garbage", token: "not-a-jwt", want: "invalid"},
		{name: "signature not base64url", token: raw(`{"alg":"none"}`, `{"iss":"i"}`, "***"), want: "invalid"},
		{name: "header typ not a string", token: raw(`{"alg":"none","typ":1}`, `{"iss":"i"}`, ""), want: "invalid"},
		{name: "claims not JSON", token: raw(`{"alg":"none"}`, `{`, ""), want: "invalid"},
		{name: "claim types still checked", token: raw(`{"alg":"none"}`, `{"sub":1,"iss":"i"}`, ""), want: "invalid"},
		{name: "issuer still checked", token: raw(`{"alg":"none"}`, `{"iss":"j"}`, ""), want: "invalid"},
		{name: "channel claim still rejected", token: raw(`{"alg":"none"}`, `{"iss":"i","channel":"c"}`, ""), want: "invalid"},
		{name: "exp still checked", token: raw(`{"alg":"none"}`, `{"iss":"i","exp":1}`, ""), want: "expired"},
		{name: "b64info still checked", token: raw(`{"alg":"none"}`, `{"iss":"i","b64info":"!"}`, ""), want: "info"},
		{name: "dots inside segments are split like cristalhq", token: b64(`{"alg":"none"}`) + ".a.b.c", want: "invalid"},
	})
}

func TestNewVerifierConfig(t *testing.T) {
	k := keys()
	for _, tc := range []struct {
		name string
		tok  config.Token
		want string // substring of the error; "" means success
	}{
		{"empty config", config.Token{}, ""},
		{"rsa garbage", config.Token{RSAPublicKey: "not a pem"}, "rsa_public_key"},
		{"rsa PKCS#1 block is refused like Centrifugo", config.Token{RSAPublicKey: k.rsaPKCS1PEM}, "rsa_public_key"},
		{"ec key as rsa_public_key", config.Token{RSAPublicKey: k.ecP256AsRSAField}, "rsa_public_key"},
		{"rsa key as ecdsa_public_key", config.Token{ECDSAPublicKey: k.rsaPEM}, "ecdsa_public_key"},
		{"ecdsa garbage", config.Token{ECDSAPublicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}, "ecdsa_public_key"},
		{"rsa certificate", config.Token{RSAPublicKey: k.rsaCertPEM}, ""},
		{"audience and audience_regex", config.Token{Audience: "a", AudienceRegex: "a"}, "audience_regex"},
		{"issuer and issuer_regex", config.Token{Issuer: "a", IssuerRegex: "a"}, "issuer_regex"},
		{"bad audience_regex", config.Token{AudienceRegex: "("}, "audience_regex"},
		{"bad issuer_regex", config.Token{IssuerRegex: "[a"}, "issuer_regex"},
		{"jwks endpoint", config.Token{HMACSecretKey: secret, JWKSPublicEndpoint: "https://example.com/jwks"}, ""},
		{"jwks endpoint with a template", config.Token{IssuerRegex: `^(?P<t>\w+)$`, JWKSPublicEndpoint: "https://example.com/{{t}}/jwks"}, ""},
		{"jwks endpoint not http", config.Token{JWKSPublicEndpoint: "ftp://example.com/jwks"}, "jwks_public_endpoint"},
		{"jwks endpoint without scheme", config.Token{JWKSPublicEndpoint: "example.com/jwks"}, "jwks_public_endpoint"},
		{"jwks endpoint unparsable", config.Token{JWKSPublicEndpoint: "https://exa mple.com:x/jwks"}, "jwks_public_endpoint"},
		{"jwks endpoint unterminated placeholder", config.Token{JWKSPublicEndpoint: "https://example.com/{{t/jwks"}, "jwks_public_endpoint"},
		{"jwks endpoint with bad rsa_public_key", config.Token{RSAPublicKey: "not a pem", JWKSPublicEndpoint: "https://example.com/jwks"}, "rsa_public_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(tc.tok)
			if tc.want == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "auth: ") {
				t.Fatalf("err = %v, want an auth: error mentioning %q", err, tc.want)
			}
		})
	}
	// The PEM parse error wraps its cause.
	_, err := NewVerifier(config.Token{RSAPublicKey: k.rsaPKCS1PEM})
	if errors.Unwrap(err) == nil {
		t.Fatalf("rsa_public_key error %v wraps nothing", err)
	}
}

// TestKeyMapping pins the key function on its own, independent of the
// WithValidMethods list in front of it: each algorithm family gets only the
// key of its own type, and only the ES variant matching the curve.
func TestKeyMapping(t *testing.T) {
	k := keys()
	s, err := newStaticKeys(config.Token{HMACSecretKey: secret, RSAPublicKey: k.rsaPEM, ECDSAPublicKey: k.ecPEM["ES256"]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256"}; !reflect.DeepEqual(s.methods(), want) {
		t.Fatalf("methods = %v, want %v", s.methods(), want)
	}
	for _, tc := range []struct {
		alg  string
		want string // %T of the key, "" for an error
	}{
		{"HS256", "[]uint8"}, {"HS384", "[]uint8"}, {"HS512", "[]uint8"},
		{"RS256", "*rsa.PublicKey"}, {"RS512", "*rsa.PublicKey"},
		{"ES256", "*ecdsa.PublicKey"}, {"ES384", ""}, {"ES512", ""},
		{"PS256", ""}, {"EdDSA", ""}, {"none", ""},
	} {
		key, err := s.key(&jwt.Token{Method: jwt.GetSigningMethod(tc.alg)}, &tokenClaims{now: now})
		got := ""
		if err == nil {
			got = fmt.Sprintf("%T", key)
		}
		if got != tc.want {
			t.Errorf("%s: key %s (err %v), want %q", tc.alg, got, err, tc.want)
		}
	}
	if none, _ := newStaticKeys(config.Token{}); none.methods() == nil || len(none.methods()) != 0 {
		t.Fatalf("no keys: methods = %#v, want empty non-nil (nil would disable WithValidMethods)", none.methods())
	}
}
