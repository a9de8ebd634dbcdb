package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"
)

// jwksKey is one cached JWK with use "sig". Immutable once published.
type jwksKey struct {
	kty string // "RSA", "EC", "OKP", "oct"
	alg string // the JWK's "alg", "" when absent

	// key is the verification key boxed once: *rsa.PublicKey,
	// *ecdsa.PublicKey or ed25519.PublicKey. nil when the JWK parsed but
	// cannot verify (private key, X25519, "oct", ...); bad says why.
	key any
	bad error

	expires time.Time // refetch at or after this instant
}

// verificationKey returns the key for a token signed with alg, applying
// Centrifugo's rules per key type: RSA keys verify RS256/384/512 and EC keys
// ES256/384/512, each with the JWK's "alg" when it has one, else with the
// token's; OKP (Ed25519) keys verify EdDSA whatever the JWK's "alg" says.
// The token's alg must equal the algorithm so chosen. (An ES variant whose
// size does not match the curve passes here and fails on the signature
// length, as in cristalhq/jwt.)
func (k *jwksKey) verificationKey(alg string) (any, error) {
	if k.bad != nil {
		return nil, k.bad
	}
	switch k.kty {
	case "RSA", "EC":
		want := k.alg
		if want == "" {
			want = alg
		}
		var ok bool
		if k.kty == "RSA" {
			ok = want == "RS256" || want == "RS384" || want == "RS512"
		} else {
			ok = want == "ES256" || want == "ES384" || want == "ES512"
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s key with alg %q", errJWKAlg, k.kty, want)
		}
		if alg != want {
			return nil, fmt.Errorf("%w: JWK alg %s, token alg %s", errJWKAlg, want, alg)
		}
	case "OKP":
		if alg != "EdDSA" {
			return nil, fmt.Errorf("%w: Ed25519 key, token alg %s", errJWKAlg, alg)
		}
	}
	return k.key, nil
}

// rawJWK is a JWK as rakutentech/jwk-go (Centrifugo's parser) decodes it:
// string members, and base64url (unpadded) key material.
type rawJWK struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	Use string `json:"use"`

	X *string `json:"x"`
	Y *string `json:"y"`
	N *string `json:"n"`
	E *string `json:"e"`
	D *string `json:"d"`
	P *string `json:"p"`
	Q *string `json:"q"`
	K *string `json:"k"`
}

// parseJWKS decodes a JWKS document into its signing keys by kid (later
// duplicates win), without expiry. Like Centrifugo, one malformed key makes
// the whole document fail, whatever its "use": jwk-go converts every key
// while unmarshalling the set. Keys whose "use" is not "sig" are then
// dropped.
func parseJWKS(body []byte) (map[string]*jwksKey, error) {
	var doc struct {
		Keys []rawJWK `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKSDecode, err)
	}
	keys := make(map[string]*jwksKey, len(doc.Keys))
	for i := range doc.Keys {
		raw := &doc.Keys[i]
		k, err := raw.convert()
		if err != nil {
			return nil, fmt.Errorf("%w: key %d (kid %q): %w", errJWKSDecode, i, raw.Kid, err)
		}
		if raw.Use != "sig" {
			continue
		}
		keys[raw.Kid] = k
	}
	return keys, nil
}

// convert checks the key as jwk-go does and builds its jwksKey.
func (r *rawJWK) convert() (*jwksKey, error) {
	// jwk-go decodes every key-material member present, whatever the kty.
	var x, y, n, e, d, p, q, k []byte
	for _, f := range []struct {
		name string
		in   *string
		out  *[]byte
	}{{"x", r.X, &x}, {"y", r.Y, &y}, {"n", r.N, &n}, {"e", r.E, &e}, {"d", r.D, &d}, {"p", r.P, &p}, {"q", r.Q, &q}, {"k", r.K, &k}} {
		if f.in == nil {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(*f.in)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.name, err)
		}
		*f.out = b // non-nil even when empty: present
	}

	key := &jwksKey{kty: r.Kty, alg: r.Alg}
	switch r.Kty {
	case "RSA":
		if n == nil || e == nil {
			return nil, errors.New("RSA key without n or e")
		}
		exp := new(big.Int).SetBytes(e)
		if exp.Sign() <= 0 {
			return nil, errors.New("RSA exponent must be positive")
		}
		ei := exp.Uint64() // low 64 bits, as jwk-go reads it
		if ei > math.MaxInt32 {
			return nil, errors.New("RSA exponent is too big")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ei)}
		switch {
		case d != nil && p != nil && q != nil:
			// jwk-go makes it an *rsa.PrivateKey, which Centrifugo's
			// verifier refuses ("public key is invalid").
			key.bad = fmt.Errorf("%w: RSA private key", errJWKUnusable)
		case pub.N.Sign() == 0:
			key.bad = fmt.Errorf("%w: RSA modulus is zero", errJWKUnusable)
		default:
			key.key = pub
		}
	case "EC":
		if x == nil || y == nil {
			return nil, errors.New("EC key without x or y")
		}
		if r.Crv == "" {
			return nil, errors.New("EC key without crv")
		}
		var curve elliptic.Curve
		switch r.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unknown elliptic curve %q", r.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("EC x/y must be %d bytes each", size)
		}
		point := append(append([]byte{4}, x...), y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, fmt.Errorf("EC point: %w", err)
		}
		if d == nil {
			key.key = pub
			break
		}
		if len(d) != size {
			return nil, fmt.Errorf("EC d must be %d bytes", size)
		}
		priv, err := ecdsa.ParseRawPrivateKey(curve, d)
		if err != nil {
			return nil, fmt.Errorf("EC d: %w", err)
		}
		if pb, err := priv.PublicKey.Bytes(); err != nil || !bytes.Equal(pb, point) {
			return nil, errors.New("EC d does not match x/y")
		}
		key.bad = fmt.Errorf("%w: EC private key", errJWKUnusable)
	case "OKP":
		if x == nil {
			return nil, errors.New("OKP key without x")
		}
		switch r.Crv {
		case "Ed25519", "X25519":
			// jwk-go: each of x and d is empty or exactly 32 bytes.
			if (len(x) != 0 && len(x) != 32) || (len(d) != 0 && len(d) != 32) {
				return nil, fmt.Errorf("%s x/d must be 32 bytes", r.Crv)
			}
		case "Ed448", "X448":
			// Not validated by jwk-go; not usable for JWTs either.
		default:
			return nil, fmt.Errorf("unknown OKP curve %q", r.Crv)
		}
		if r.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize {
			key.key = ed25519.PublicKey(x)
		} else {
			key.bad = fmt.Errorf("%w: OKP curve %s with a %d-byte x", errJWKUnusable, r.Crv, len(x))
		}
	case "oct":
		if k == nil {
			return nil, errors.New("oct key without k")
		}
		key.bad = fmt.Errorf("%w: symmetric (oct) key", errJWKUnusable)
	default:
		return nil, fmt.Errorf("unknown key type %q", r.Kty)
	}
	return key, nil
}
