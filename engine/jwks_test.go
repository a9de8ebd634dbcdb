package engine_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/unisse/unisse/engine/enginetest"
)

// TestConnectWithJWKS: a token whose key comes from
// client.token.jwks_public_endpoint connects after the server fetches the key
// set (off the event loop), later connects use the cached key, and a token
// naming an unknown key is refused with 3500.
func TestConnectWithJWKS(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks := fmt.Sprintf(`{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":%q,"e":%q}]}`,
		b64(key.N.Bytes()), b64(big.NewInt(int64(key.E)).Bytes()))
	var fetches atomic.Int32
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks))
	}))
	defer ks.Close()

	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.Token.HMACSecretKey = ""
	opts.Client.Token.JWKSPublicEndpoint = ks.URL
	srv := enginetest.Start(t, opts)

	sign := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "jw", "channels": []string{"news"}, "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := srv.Connect(t, map[string]string{"token": sign("k1")})
	a.ExpectPrefix(t, `{"connect":{"client":`)
	b := srv.Connect(t, map[string]string{"token": sign("k1")})
	b.ExpectPrefix(t, `{"connect":{"client":`)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches of the key set, want 1 (the second connect uses the cache)", n)
	}
	srv.Call(t, "publish", `{"channel":"news","data":"via jwks"}`)
	a.ExpectEvent(t, `{"channel":"news","pub":{"data":"via jwks"}}`)

	bad := srv.Connect(t, map[string]string{"token": sign("unknown")})
	bad.ExpectEvent(t, `{"disconnect":{"code":3500,"reason":"invalid token"}}`)
}
