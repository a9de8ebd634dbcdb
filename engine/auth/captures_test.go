package auth

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/unisse/unisse/engine/config"
)

// Tokens copied byte for byte from /work/shared/captures (Centrifugo v6.9.1
// transcripts), HS256 unless noted, signed with "conformance-secret" unless
// noted. The comment after each is its decoded payload. The expected class
// is what Centrifugo answered: 3500 → invalid, 3005 → expired, 3004 from
// b64info → info, a connect push → ok (3004 for an unknown namespace comes
// from the engine, after verification succeeded).
const (
	cap15BadSignature = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.h5a4_Z2tq6q_kwpyQhApRDFrYk8xlGeWyehYr6iKi2Y"                        // {"sub":"u1"}, other secret
	cap16Expired      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0MDg1NH0.B8EfDG3hZ_YP2fdG_Z4A8GzMUvFtLY7-qTGRF7dyFIw" // exp 1795640854

	cap17Garbage       = "not-a-jwt"
	cap17AlgNone       = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSJ9."
	cap17RS256NoKey    = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.c2ln"
	cap17SubNumber     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOjEyM30.NFo1EhNMsAjFeWkCe4W4bGG6jxA6gX7P1jCxKNnYzOo"                                                        // {"sub":123}
	cap17ExpString     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6ImJhZCJ9.CyUwxSGbXiM9hcqto2PYN8foNFC1r23FtpUVGCqQhEE"                                       // "exp":"bad"
	cap17ChannelClaim  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWwiOiJuZXdzIn0.7_BFTUm-2zGEfhe4QlkgKr4oz0hr_fxQzH3Yuf8Is60"                                // "channel":"news"
	cap17UnknownNS     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbIm5vcGU6eCJdfQ.zk6Dg3eg6mOPjGkfv1B6lLvkvFJKCS1syfj-zZBM9Bg"                         // "channels":["nope:x"]
	cap17BadB64Info    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImI2NGluZm8iOiIhISJ9.VhwB172MhDspA7xk6uBg5KnBX_5eF3nP27B_ZaPSQoI"                                   // "b64info":"!!"
	cap17EmptySecret   = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.F-7qiUqyOGKjfVSL1RTXVIsbghGH2XmHmBjlvV0akwg"                                                       // {"sub":"u1"}, secret ""
	cap18NbfFuture     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsIm5iZiI6MTc5NTY0MDk2OH0.eJSo5c1qrZsX4Oj6vzYFRQzBIjCxvKwhq0-jkDz8GYE"                                // nbf 1795640968
	cap29Exp           = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0MTM3MX0.f9xrdwLDtKBrnPp9HP0s7y5PWNNEPZju_1XttOaO63I"                                // exp 1795641371
	cap29ExpireAt      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0NDk3MywiZXhwaXJlX2F0IjoxNzk1NjQxMzc0fQ.gsYCypjEFvAdD2gtQeMFjkaNAEKfsMI-Q0EtTn1l7VU" // exp 1795644973, expire_at 1795641374
	cap29ExpireAtZero  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0MTQ3NiwiZXhwaXJlX2F0IjowfQ.kmcoESqNQ93V4JbIPi-n0gc_w6pbYPjVJeCWKaZTQVM"             // exp 1795641476, expire_at 0
	cap39HS384         = "eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.y1o9uqdahYBPaLBTfyGmLp-Bk1nOhpr7sTjKnsormoLCxO9TDzHbgAuBhWru5B2r"
	cap39HS512         = "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.GZZaMu4lJK7IFQhAiK3qdIzvU8MO6hL6wz1Cx6yLePX78gPdMoXwHHzg6eY20i1NualvXa22NlutV2hxQXH1qQ"
	cap39Anonymous     = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjaGFubmVscyI6WyJqbDphbm9uMTc5NTY0MDkwOSJdfQ.HElKIxgMicfwPVCGqJK_KE5w0TJYQVBexNgKGV7xaZ0" // {"channels":["jl:anon1795640909"]}
	cap39B64Info       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImI2NGluZm8iOiJleUpoSWpveGZRPT0iLCJjaGFubmVscyI6WyJqbDpiNjQxNzk1NjQwOTA5Il19.hJnqK8Ze2mp63Xc5en6-HdIITw5hbnL1sbWlgcOoXW8"
	cap39StringInfo    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImluZm8iOiJqdXN0LWEtc3RyaW5nIiwiY2hhbm5lbHMiOlsiamw6c3RyMTc5NTY0MDkwOSJdfQ.IONtgIVN514k0n9y5SWO2sjfoxabK-8LvX-gEg9dxPA"
	cap39Subs          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsInN1YnMiOnsiamw6c3ViczE3OTU2NDA5MDkiOnsiaW5mbyI6eyJjaSI6MX0sImRhdGEiOnsid2VsY29tZSI6dHJ1ZX0sIm92ZXJyaWRlIjp7ImpvaW5fbGVhdmUiOnsidmFsdWUiOmZhbHNlfX19LCJoaXN0OnN1YnMxNzk1NjQwOTA5Ijp7fX0sImNoYW5uZWxzIjpbImlnbm9yZWQxNzk1NjQwOTA5Il19.W1XdCn8ME2Jc2kK1nAkUsFrSRCdwFwlqwM_MHLuwW70"
	cap39MetaAudIss    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsIm1ldGEiOnsibSI6MX0sImF1ZCI6IngiLCJpc3MiOiJ5IiwiaWF0IjoxNzk1NjQwOTE1LCJqdGkiOiJqIn0.NHPfqTSToBHCQO0Oe0LaOQe4dm5aLYvADCfXt5OyVIw"
	cap40AudIssOK      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNmLWF1ZCIsImlzcyI6ImNmLWlzcyJ9.hy_h6Wh5MflLugnxNEnVZc3fQXq1ceIIzP-IIAo_3Tk"
	cap40AudArray      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6WyJ4IiwiY2YtYXVkIl0sImlzcyI6ImNmLWlzcyJ9.COvI6JQHnP6wZK0CMJCK4MHT85P7QJv-TxchYMplpmc"
	cap40WrongAud      = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6Im90aGVyIiwiaXNzIjoiY2YtaXNzIn0.2DHUcLwh9rlzrEZK7mOAlySfn3pWHmFzQ2xnswnewzg"
	cap40MissingIss    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNmLWF1ZCJ9.qynjTbfVfNdZgZlHzqJ3-eb7g9uLVrp2U8pM7M5DHt8"
	cap42ExpiredInsec  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0MDkxMn0.Kwk36c0y6GdvZWv-3EtQiAP9npEqnl0Y6Dv5gF9AOEU" // exp 1795640912
	capturedAt16       = 1795640864                                                                                                                 // 2026-11-25T21:07:44Z
	capturedAt18       = 1795640867                                                                                                                 // 2026-11-25T21:07:47Z
	capturedAt29       = 1795641368                                                                                                                 // 2026-11-25T21:16:08Z
	capturedAt42       = 1795640917                                                                                                                 // 2026-11-25T21:08:37Z
	capturedAtOther    = 1795640909                                                                                                                 // 2026-11-25T21:08:29Z (39)
	capturedAtAudience = 1795641741                                                                                                                 // 2026-11-25T21:22:21Z (40)
)

// TestCaptures replays every token of captures 15–18, 29, 39, 40 and 42
// against the capture's configuration at the capture's time.
func TestCaptures(t *testing.T) {
	main := newVerifier(t, config.Token{HMACSecretKey: secret})                                      // config.json
	alt := newVerifier(t, config.Token{HMACSecretKey: secret, Audience: "cf-aud", Issuer: "cf-iss"}) // config-alt.json
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	channels := func(want ...string) func(*testing.T, Credentials) {
		return func(t *testing.T, c Credentials) {
			if !reflect.DeepEqual(c.Channels, want) || c.Subs != nil {
				t.Fatalf("Channels = %q, Subs = %v; want %q, nil", c.Channels, c.Subs, want)
			}
		}
	}
	all := func(fs ...func(*testing.T, Credentials)) func(*testing.T, Credentials) {
		return func(t *testing.T, c Credentials) {
			for _, f := range fs {
				f(t, c)
			}
		}
	}

	runCases(t, main, []verifyCase{
		{name: "15 bad signature", token: cap15BadSignature, at: at(capturedAt16), want: "invalid"},
		{name: "16 exp in the past", token: cap16Expired, at: at(capturedAt16), want: "expired"},
		// The same token ten seconds earlier proves it is the clock that
		// rejects it, not the signature.
		{name: "16 control: before exp", token: cap16Expired, at: at(1795640853), want: "ok", check: wantExpireAt(1795640854)},
		{name: "17 garbage", token: cap17Garbage, at: at(capturedAt16), want: "invalid"},
		{name: "17 alg none", token: cap17AlgNone, at: at(capturedAt16), want: "invalid"},
		{name: "17 RS256 without rsa key", token: cap17RS256NoKey, at: at(capturedAt16), want: "invalid"},
		{name: "17 sub is a number", token: cap17SubNumber, at: at(capturedAt16), want: "invalid"},
		{name: "17 exp is a string", token: cap17ExpString, at: at(capturedAt16), want: "invalid"},
		{name: "17 channel claim", token: cap17ChannelClaim, at: at(capturedAt16), want: "invalid"},
		{name: "17 unknown namespace passes verification", token: cap17UnknownNS, at: at(capturedAt16), want: "ok", check: all(wantUser("u1"), channels("nope:x"))},
		{name: "17 invalid b64info", token: cap17BadB64Info, at: at(capturedAt16), want: "info"},
		{name: "17 empty secret", token: cap17EmptySecret, at: at(capturedAt16), want: "invalid"},
		{name: "18 nbf in the future", token: cap18NbfFuture, at: at(capturedAt18), want: "expired"},
		{name: "18 control: after nbf", token: cap18NbfFuture, at: at(1795640969), want: "ok", check: wantUser("u1")},
		{name: "29 exp", token: cap29Exp, at: at(capturedAt29), want: "ok", check: wantExpireAt(1795641371)},
		{name: "29 expire_at overrides exp", token: cap29ExpireAt, at: at(capturedAt29), want: "ok", check: wantExpireAt(1795641374)},
		{name: "29 expire_at 0 disables expiry", token: cap29ExpireAtZero, at: at(capturedAt29), want: "ok", check: wantExpireAt(0)},
		{name: "39 HS384", token: cap39HS384, at: at(capturedAtOther), want: "ok", check: wantUser("u1")},
		{name: "39 HS512", token: cap39HS512, at: at(capturedAtOther), want: "ok", check: wantUser("u1")},
		{name: "39 anonymous", token: cap39Anonymous, at: at(capturedAtOther), want: "ok", check: all(wantUser(""), channels("jl:anon1795640909"), wantInfo(""))},
		{name: "39 b64info", token: cap39B64Info, at: at(capturedAtOther), want: "ok", check: all(wantUser("u1"), wantInfo(`{"a":1}`), channels("jl:b641795640909"))},
		{name: "39 string info", token: cap39StringInfo, at: at(capturedAtOther), want: "ok", check: all(wantInfo(`"just-a-string"`), channels("jl:str1795640909"))},
		{name: "39 subs win over channels", token: cap39Subs, at: at(capturedAtOther), want: "ok", check: func(t *testing.T, c Credentials) {
			want := map[string]SubClaim{
				"jl:subs1795640909": {Info: json.RawMessage(`{"ci":1}`), Data: json.RawMessage(`{"welcome":true}`),
					Override: &SubOverride{JoinLeave: &BoolValue{Value: false}}},
				"hist:subs1795640909": {},
			}
			if c.Channels != nil || !reflect.DeepEqual(c.Subs, want) {
				t.Fatalf("Channels = %q, Subs = %+v; want nil, %+v", c.Channels, c.Subs, want)
			}
		}},
		{name: "39 meta, aud and iss unchecked", token: cap39MetaAudIss, at: at(capturedAtOther), want: "ok", check: func(t *testing.T, c Credentials) {
			if string(c.Meta) != `{"m":1}` || c.UserID != "u1" {
				t.Fatalf("Meta = %s, UserID = %q", c.Meta, c.UserID)
			}
		}},
		{name: "42 expired (insecure server still says 109)", token: cap42ExpiredInsec, at: at(capturedAt42), want: "expired"},
	})

	runCases(t, alt, []verifyCase{
		{name: "40 aud and iss match", token: cap40AudIssOK, at: at(capturedAtAudience), want: "ok", check: wantUser("u1")},
		{name: "40 aud array", token: cap40AudArray, at: at(capturedAtAudience), want: "ok"},
		{name: "40 wrong aud", token: cap40WrongAud, at: at(capturedAtAudience), want: "invalid"},
		{name: "40 missing iss", token: cap40MissingIss, at: at(capturedAtAudience), want: "invalid"},
		{name: "40 main-config token lacks aud", token: cap29Exp, at: at(capturedAtAudience - 400), want: "invalid"},
	})
}

// TestCaptureTokensAreWhatTheySay checks the premises of the capture cases
// with golang-jwt alone, so that a pass above is not an accident: the
// "empty secret" token really verifies under "", and the "bad signature"
// token really does not verify under the conformance secret.
func TestCaptureTokensAreWhatTheySay(t *testing.T) {
	parse := func(tok string, key []byte) error {
		_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation())
		return err
	}
	if err := parse(cap17EmptySecret, []byte{}); err != nil {
		t.Fatalf("capture 17's empty-secret token does not verify under \"\": %v", err)
	}
	if err := parse(cap15BadSignature, []byte(secret)); err == nil {
		t.Fatal("capture 15's token verifies under the conformance secret")
	}
	for _, tok := range []string{cap16Expired, cap17SubNumber, cap17ChannelClaim, cap18NbfFuture, cap29Exp, cap42ExpiredInsec} {
		if err := parse(tok, []byte(secret)); err != nil {
			t.Fatalf("%s... does not verify under the conformance secret: %v", tok[:40], err)
		}
	}
}
