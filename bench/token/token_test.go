package token

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignVerifies(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	s, err := Sign("secret", "bench", []string{"a", "b"}, exp)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		jwt.RegisteredClaims
		Channels []string `json:"channels"`
	}
	tok, err := jwt.ParseWithClaims(s, &claims, func(*jwt.Token) (any, error) { return []byte("secret"), nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !tok.Valid {
		t.Fatalf("parse: %v", err)
	}
	if claims.Subject != "bench" || !slices.Equal(claims.Channels, []string{"a", "b"}) || !claims.ExpiresAt.Time.Equal(exp) {
		t.Fatalf("claims %+v", claims)
	}
	if _, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return []byte("other"), nil }); err == nil {
		t.Fatal("verified with the wrong secret")
	}
}

func TestNoExpAndNoSecret(t *testing.T) {
	s, err := Sign("k", "", nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(s, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := tok.Claims.(jwt.MapClaims)["exp"]; has {
		t.Fatal("exp claim present")
	}
	if _, err := Sign("", "u", nil, time.Time{}); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("err %v", err)
	}
}
