package auth

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// keySource maps a parsed but not yet verified token to the key (or
// jwt.VerificationKeySet) that may verify it. It is the seam for key
// providers: staticKeys serves the PEM/HMAC keys from the config, jwksKeys
// (jwks.go) the keys of jwks_public_endpoint, picked by the "kid" header
// from a cache. Implementations are called on event loops and must never
// block or do I/O: a JWKS cache miss is ErrKeyNotCached, and the fetch is
// the engine's call to Verifier.FetchKeys off the loop.
type keySource interface {
	// methods lists the "alg" values this source can verify; it is fixed at
	// construction and handed to jwt.WithValidMethods.
	methods() []string
	// key returns the verification key for t, whose claims c have been
	// decoded (c.now is the verification time), or an error.
	key(t *jwt.Token, c *tokenClaims) (any, error)
}

// staticKeys is the keySource for hmac_secret_key (+ previous key),
// rsa_public_key and ecdsa_public_key. Keys are boxed into interface values
// once, here, so that handing one to golang-jwt does not allocate per call.
type staticKeys struct {
	algs []string

	hmacCur       any // []byte; nil when hmac_secret_key is ""
	hmacPrev      any // []byte; nil when hmac_previous_secret_key is ""
	hmacBoth      any // jwt.VerificationKeySet{cur, prev}, tried in that order
	prevUntilUnix int64

	rsa      any // *rsa.PublicKey or nil
	ecdsa    any // *ecdsa.PublicKey or nil
	ecdsaAlg string
}

func newStaticKeys(tok config.Token) (*staticKeys, error) {
	// Non-nil even when empty: jwt.WithValidMethods(nil) disables the check.
	s := &staticKeys{algs: make([]string, 0, 7), prevUntilUnix: tok.HMACPreviousSecretKeyValidUntil}

	// An empty secret disables HMAC rather than becoming a valid key: a
	// token signed with "" must never verify (capture 17).
	var cur, prev []byte
	if tok.HMACSecretKey != "" {
		cur = []byte(tok.HMACSecretKey)
		s.hmacCur = cur
	}
	if tok.HMACPreviousSecretKey != "" {
		prev = []byte(tok.HMACPreviousSecretKey)
		s.hmacPrev = prev
	}
	if cur != nil && prev != nil {
		s.hmacBoth = jwt.VerificationKeySet{Keys: []jwt.VerificationKey{cur, prev}}
	}
	// Centrifugo retries a failed verification with the previous key even
	// when the current secret is empty, so either key enables HS*.
	if cur != nil || prev != nil {
		s.algs = append(s.algs, "HS256", "HS384", "HS512")
	}

	if tok.RSAPublicKey != "" {
		k, err := parsePublicKeyPEM[*rsa.PublicKey]([]byte(tok.RSAPublicKey))
		if err != nil {
			return nil, fmt.Errorf("auth: parse rsa_public_key: %w", err)
		}
		s.rsa = k
		s.algs = append(s.algs, "RS256", "RS384", "RS512")
	}

	if tok.ECDSAPublicKey != "" {
		k, err := parsePublicKeyPEM[*ecdsa.PublicKey]([]byte(tok.ECDSAPublicKey))
		if err != nil {
			return nil, fmt.Errorf("auth: parse ecdsa_public_key: %w", err)
		}
		s.ecdsa = k
		// Only the ES variant whose signature size matches the curve, as
		// cristalhq/jwt decides: P-256 → ES256, P-384 → ES384, P-521 → ES512.
		// Any other curve enables no ES algorithm; Centrifugo starts anyway.
		switch (k.Params().BitSize + 7) / 8 * 2 {
		case 64:
			s.ecdsaAlg = "ES256"
		case 96:
			s.ecdsaAlg = "ES384"
		case 132:
			s.ecdsaAlg = "ES512"
		}
		if s.ecdsaAlg != "" {
			s.algs = append(s.algs, s.ecdsaAlg)
		}
	}
	return s, nil
}

func (s *staticKeys) methods() []string { return s.algs }

// key maps the algorithm family to the one key type configured for it. The
// mapping, not just the method allow-list, is what stops algorithm
// confusion: an HS* token only ever meets the HMAC secret, never the RSA or
// ECDSA public key bytes.
func (s *staticKeys) key(t *jwt.Token, c *tokenClaims) (any, error) {
	now := c.now
	switch alg := t.Method.Alg(); alg {
	case "HS256", "HS384", "HS512":
		// Centrifugo: the previous key stays usable while
		// now.Unix() <= valid_until; valid_until <= 0 means no limit.
		prevOK := s.hmacPrev != nil && (s.prevUntilUnix <= 0 || now.Unix() <= s.prevUntilUnix)
		switch {
		case s.hmacCur != nil && prevOK:
			return s.hmacBoth, nil
		case s.hmacCur != nil:
			return s.hmacCur, nil
		case prevOK:
			return s.hmacPrev, nil
		}
		return nil, fmt.Errorf("%w: %s (previous HMAC key expired)", errAlgDisabled, alg)
	case "RS256", "RS384", "RS512":
		if s.rsa != nil {
			return s.rsa, nil
		}
	case "ES256", "ES384", "ES512":
		if s.ecdsa != nil && alg == s.ecdsaAlg {
			return s.ecdsa, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", errAlgDisabled, t.Method.Alg())
}

// parsePublicKeyPEM reads the first PEM block as a PKIX public key or, failing
// that, as a certificate, and requires key type K. This is exactly what
// Centrifugo's jwtutils accepts; notably a PKCS#1 "RSA PUBLIC KEY" block is
// refused, so a config Centrifugo would not start with is refused here too.
func parsePublicKeyPEM[K *rsa.PublicKey | *ecdsa.PublicKey](data []byte) (K, error) {
	var zero K
	block, _ := pem.Decode(data)
	if block == nil {
		return zero, errors.New("key must be PEM encoded")
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		cert, certErr := x509.ParseCertificate(block.Bytes)
		if certErr != nil {
			return zero, err
		}
		parsed = cert.PublicKey
	}
	k, ok := parsed.(K)
	if !ok {
		return zero, fmt.Errorf("PEM holds a %T, want %T", parsed, zero)
	}
	return k, nil
}
