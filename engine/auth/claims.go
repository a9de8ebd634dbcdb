package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/protocol"
)

// Credentials is what a verified connection token grants. Every slice and
// map is freshly allocated per VerifyConnectToken call and owned by the
// caller: it may be retained, and shared read-only between goroutines.
type Credentials struct {
	// UserID is "sub", or the value at the user_id_claim path. "" means an
	// anonymous connection (the engine rejects it with 3507 when
	// client.disallow_anonymous_connection_tokens is set).
	UserID string

	// ExpireAt is the connection expiry in Unix seconds, 0 for never: the
	// "expire_at" claim when present (0 or negative disables expiry),
	// otherwise "exp". It may already be in the past when expire_at says so;
	// Centrifugo's verifier does not reject that either, the engine decides.
	// Under client.insecure the engine must ignore it.
	ExpireAt int64

	// Info is conn_info: the raw JSON of "info" (any JSON value, e.g. the
	// string "just-a-string" with its quotes), or the decoded bytes of
	// "b64info", which wins when both are present. Bytes from b64info need
	// not be JSON. nil when neither claim is present.
	Info json.RawMessage

	// Channels is the "channels" claim. It is nil whenever Subs is non-nil:
	// Centrifugo ignores "channels" as soon as "subs" has an entry. The
	// namespace of each channel is not checked here (unknown namespace is the
	// engine's 3004).
	Channels []string

	// Subs is the "subs" claim, channel → options; nil when absent or empty
	// (an empty "subs" object does not suppress "channels", as in Centrifugo).
	// The base64 fields of every entry have been validated.
	Subs map[string]SubClaim

	// Meta is the raw "meta" claim, kept for proxies; never sent to clients.
	Meta json.RawMessage
}

// SubClaim is one entry of the "subs" claim: a server-side subscription with
// per-channel overrides. Field names and JSON keys follow Centrifugo's
// SubscribeOptions.
type SubClaim struct {
	Info     json.RawMessage `json:"info"`
	B64Info  string          `json:"b64info"`
	Data     json.RawMessage `json:"data"`
	B64Data  string          `json:"b64data"`
	Override *SubOverride    `json:"override"`
}

// ChannelInfo returns the subscription's channel info: the decoded b64info
// when set, else the raw info JSON. For a SubClaim from VerifyConnectToken
// the error is always nil (the base64 was validated there); it exists for
// SubClaims built elsewhere and wraps ErrInvalidToken, matching Centrifugo.
func (s SubClaim) ChannelInfo() ([]byte, error) {
	return b64Or(s.B64Info, s.Info, "b64info")
}

// SubscribeData returns the data sent with the subscription in the connect
// push: the decoded b64data when set, else the raw data JSON. Errors as for
// ChannelInfo.
func (s SubClaim) SubscribeData() ([]byte, error) {
	return b64Or(s.B64Data, s.Data, "b64data")
}

func b64Or(b64 string, raw json.RawMessage, field string) ([]byte, error) {
	if b64 == "" {
		return raw, nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: subs %s: %w", ErrInvalidToken, field, err)
	}
	return b, nil
}

// SubOverride overrides the namespace options for one token subscription
// (the same shape as an API subscribe's override).
type SubOverride = protocol.SubscribeOverride

// BoolValue wraps a boolean so that "absent" and "false" differ.
type BoolValue = protocol.BoolValue

// tokenClaims mirrors Centrifugo's ConnectTokenClaims field for field and
// type for type, because accept/reject parity rides on encoding/json's
// behaviour for that exact shape: a wrong JSON type anywhere ("sub":123,
// "jti":5, "iat":"x", "channels":"x", "expire_at":1.5) fails the whole
// decode, keys match case-insensitively and the last duplicate wins. Do not
// "simplify" a field's type without checking what Centrifugo accepts.
type tokenClaims struct {
	ExpireAt *int64              `json:"expire_at"`
	Info     json.RawMessage     `json:"info"`
	B64Info  string              `json:"b64info"`
	Channels []string            `json:"channels"`
	Subs     map[string]SubClaim `json:"subs"`
	Meta     json.RawMessage     `json:"meta"`
	Channel  string              `json:"channel"`

	// Registered claims (cristalhq/jwt RegisteredClaims).
	ID        string       `json:"jti"`
	Audience  audience     `json:"aud"`
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	ExpiresAt *numericDate `json:"exp"`
	IssuedAt  *numericDate `json:"iat"`
	NotBefore *numericDate `json:"nbf"`

	// now is the verification time, carried here because the key function
	// only receives the token (and through it these claims); it decides
	// whether the previous HMAC key is still valid. Unexported: never decoded.
	now time.Time
}

// numericDate is a JWT NumericDate decoded the way cristalhq/jwt does:
// through json.Number, so a JSON string holding a number ("exp":"1700000000")
// is accepted, fractions are kept to the nanosecond, and anything that is not
// a number (or a numeric string) is a decode error. A JSON null never reaches
// UnmarshalJSON: encoding/json sets the *numericDate to nil ("no claim").
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		// A bare JSON number, already validated by the enclosing Unmarshal:
		// parse it directly instead of paying for a second Unmarshal.
		var err error
		if f, err = strconv.ParseFloat(string(b), 64); err != nil {
			return err
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		var err error
		if f, err = n.Float64(); err != nil {
			return err
		}
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// audience is the "aud" claim as cristalhq/jwt decodes it: one string or an
// array of strings. Anything else, JSON null included, is a decode error
// (golang-jwt's ClaimStrings would accept null; Centrifugo does not).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return errAudience
	}
	switch v := v.(type) {
	case string:
		*a = audience{v}
		return nil
	case []any:
		out := make(audience, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return errAudience
			}
			out[i] = s
		}
		*a = out
		return nil
	default:
		return errAudience
	}
}

// The jwt.Claims interface. golang-jwt only calls these when it validates
// claims itself, which the verifier disables (WithoutClaimsValidation):
// Centrifugo's exp/nbf rules differ from golang-jwt's at the boundaries
// (exp == now is expired, nbf == now is not yet valid). They are implemented
// faithfully anyway so the type is honest wherever it is used.

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.jwt(), nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.jwt(), nil }
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.jwt(), nil }
func (c *tokenClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	return jwt.ClaimStrings(c.Audience), nil
}

func (d *numericDate) jwt() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &jwt.NumericDate{Time: d.Time}
}
