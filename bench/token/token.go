package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrNoSecret is returned when signing without a secret.
var ErrNoSecret = errors.New("token: empty secret")

// Sign returns an HS256 JWT for user sub, server-side subscribed to
// channels, expiring at exp (no exp claim when exp is zero).
func Sign(secret, sub string, channels []string, exp time.Time) (string, error) {
	if secret == "" {
		return "", ErrNoSecret
	}
	claims := jwt.MapClaims{"sub": sub, "channels": channels}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return s, nil
}
