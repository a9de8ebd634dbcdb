package auth

import (
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// TestConcurrentVerify shares one Verifier (HMAC with a previous key, RSA,
// ECDSA, aud/iss regexes, user_id_claim) between goroutines, each verifying a
// mix of good and bad tokens, and checks every answer against the one
// computed before the goroutines start. Run it with -race.
func TestConcurrentVerify(t *testing.T) {
	k := keys()
	v := newVerifier(t, config.Token{
		HMACSecretKey: secret, HMACPreviousSecretKey: "old", HMACPreviousSecretKeyValidUntil: now.Unix() + 60,
		RSAPublicKey: k.rsaPEM, ECDSAPublicKey: k.ecPEM["ES256"],
		IssuerRegex: `^iss$`, UserIDClaim: "uid",
	})
	base := `"iss":"iss","uid":"u","exp":` + unix(time.Hour)
	tokens := []string{
		hs(t, `{`+base+`,"info":{"a":1},"channels":["x","y"]}`),
		sign(t, jwt.SigningMethodHS384, []byte("old"), `{`+base+`}`),
		sign(t, jwt.SigningMethodRS256, k.rsa, `{`+base+`,"subs":{"s":{"b64info":"e30="}}}`),
		sign(t, jwt.SigningMethodES256, k.ec["ES256"], `{`+base+`,"b64info":"eyJhIjoxfQ=="}`),
		sign(t, jwt.SigningMethodRS256, k.rsaOther, `{`+base+`}`), // wrong key
		hs(t, `{"iss":"iss","exp":`+unix(-time.Second)+`}`),       // expired
		hs(t, `{"iss":"other"}`),             // issuer
		hs(t, `{"iss":"iss","b64info":"!"}`), // info
		"garbage",
	}
	type result struct {
		creds Credentials
		class string
	}
	want := make([]result, len(tokens))
	seen := map[string]bool{}
	for i, tok := range tokens {
		c, err := v.VerifyConnectToken(tok, now)
		want[i] = result{c, class(t, err)}
		seen[want[i].class] = true
	}
	if len(seen) != 4 {
		t.Fatalf("test bug: token mix covers classes %v, want all four", seen)
	}

	const goroutines, rounds = 8, 40
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				i := (g + r) % len(tokens)
				c, err := v.VerifyConnectToken(tokens[i], now)
				if got := (result{c, classOf(err)}); !reflect.DeepEqual(got, want[i]) {
					t.Errorf("goroutine %d, token %d: got %+v, want %+v", g, i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestCredentialsAreFresh: results are owned by the caller, so mutating one
// call's credentials cannot leak into another call's.
func TestCredentialsAreFresh(t *testing.T) {
	v := newVerifier(t, config.Token{HMACSecretKey: secret})
	tok := hs(t, `{"sub":"u1","info":{"a":1},"channels":["c"],"meta":{"m":1}}`)
	first, err := v.VerifyConnectToken(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	first.Info[1], first.Channels[0], first.Meta[1] = 'X', "changed", 'Y'
	second, err := v.VerifyConnectToken(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Info) != `{"a":1}` || second.Channels[0] != "c" || string(second.Meta) != `{"m":1}` {
		t.Fatalf("second call sees the first call's edits: %+v", second)
	}
}
