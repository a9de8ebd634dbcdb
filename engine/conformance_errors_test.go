package engine_test

import (
	"testing"
	"time"
)

// badRequestHead is the 400 of a connect request that does not decode [19].
const badRequestHead = "HTTP/1.1 400 Bad Request\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:07:48 GMT\r\nContent-Length: 0\r\n\r\n"

// TestConformanceConnectErrors replays the connect failures of the default
// config: the stream opens with 200, carries one disconnect push and the
// response ends [15] [16] [17] [18] [20] [42].
func TestConformanceConnectErrors(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	insecure := startCapture(t, "config-insecure.json")
	now := time.Now().Unix()

	const (
		invalidToken = `data: {"disconnect":{"code":3500,"reason":"invalid token"}}` + "\n\n"
		expired      = `data: {"disconnect":{"code":3005,"reason":"connection expired"}}` + "\n\n"
		internal     = `data: {"disconnect":{"code":3004,"reason":"internal server error"}}` + "\n\n"
		badRequest   = `data: {"disconnect":{"code":3501,"reason":"bad request"}}` + "\n\n"
	)
	for _, tc := range []struct {
		name    string
		capture int
		insec   bool
		target  string // request target; from the connect request when empty
		connect string // connect request; checked against the capture when fromCap
		fromCap bool
		want    string
	}{
		{name: "bad signature", capture: 15, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.h5a4_Z2tq6q_kwpyQhApRDFrYk8xlGeWyehYr6iKi2Y"}`, want: invalidToken},
		{name: "expired token", capture: 16, connect: `{"token":"` + signed(t, map[string]any{"sub": "u1", "exp": now - 30}) + `"}`, want: expired},
		{name: "garbage token", capture: 17, fromCap: true, connect: `{"token":"not-a-jwt"}`, want: invalidToken},
		{name: "alg none", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSJ9."}`, want: invalidToken},
		{name: "RS256 without key", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.c2ln"}`, want: invalidToken},
		{name: "numeric sub", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOjEyM30.NFo1EhNMsAjFeWkCe4W4bGG6jxA6gX7P1jCxKNnYzOo"}`, want: invalidToken},
		{name: "string exp", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6ImJhZCJ9.CyUwxSGbXiM9hcqto2PYN8foNFC1r23FtpUVGCqQhEE"}`, want: invalidToken},
		{name: "channel claim", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWwiOiJuZXdzIn0.7_BFTUm-2zGEfhe4QlkgKr4oz0hr_fxQzH3Yuf8Is60"}`, want: invalidToken},
		{name: "unknown namespace in channels", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbIm5vcGU6eCJdfQ.zk6Dg3eg6mOPjGkfv1B6lLvkvFJKCS1syfj-zZBM9Bg"}`, want: internal},
		{name: "invalid b64info", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImI2NGluZm8iOiIhISJ9.VhwB172MhDspA7xk6uBg5KnBX_5eF3nP27B_ZaPSQoI"}`, want: internal},
		{name: "empty secret", capture: 17, fromCap: true, connect: `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.F-7qiUqyOGKjfVSL1RTXVIsbghGH2XmHmBjlvV0akwg"}`, want: invalidToken},
		{name: "nbf in the future", capture: 18, connect: `{"token":"` + signed(t, map[string]any{"sub": "u1", "nbf": now + 120}) + `"}`, want: expired},
		{name: "no cf_connect", capture: 20, target: "/connection/uni_sse", want: badRequest},
		{name: "empty cf_connect", capture: 20, target: "/connection/uni_sse?cf_connect=", want: badRequest},
		{name: "empty object", capture: 20, fromCap: true, connect: `{}`, want: badRequest},
		{name: "null", capture: 20, fromCap: true, connect: `null`, want: badRequest},
		{name: "empty token", capture: 20, fromCap: true, connect: `{"token":""}`, want: badRequest},
		{name: "connect_code_to_unidirectional_disconnect", capture: 42, insec: true, connect: `{"token":"` + signed(t, map[string]any{"sub": "u1", "exp": now - 30}) + `"}`, want: `data: {"disconnect":{"code":4109,"reason":"token expired (custom)"}}` + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			target := tc.target
			if target == "" {
				if tc.fromCap {
					capture(t, tc.capture, tc.connect)
				}
				target = cf("/connection/uni_sse", tc.connect)
			}
			s := srv
			if tc.insec {
				s = insecure
			}
			st := c.open(s.Addr, get(target))
			// [15] [16] [20] show the head of a refused stream: that of an
			// accepted one.
			st.expectHead(capture(t, 15, okStreamHead))
			st.expectPrimer()
			st.expect(capture(t, tc.capture, tc.want))
			st.expectEnd()
		})
	}
}

// TestConformanceBadConnectRequest replays [19] and [24]: a connect request
// that does not decode is a 400 with an empty body and only CORS headers; an
// empty POST body too; a POSTed null is an empty request (3501).
func TestConformanceBadConnectRequest(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	for _, tc := range []struct{ name, req string }{
		{"malformed", get(cf("/connection/uni_sse", capture(t, 19, `{bad`)))},
		{"token type", get(cf("/connection/uni_sse", capture(t, 19, `{"token":123}`)))},
		{"array", get(cf("/connection/uni_sse", capture(t, 19, `[]`)))},
		{"string", get(cf("/connection/uni_sse", capture(t, 19, `""`)))},
		{"subs type", get(cf("/connection/uni_sse", capture(t, 19, `{"subs":"bad"}`)))},
		{"truncated", get("/connection/uni_sse?cf_connect=" + capture(t, 19, `%7B%22token`))},
		{"POST malformed", post("/connection/uni_sse", capture(t, 24, `{bad`))},
		{"POST empty", request("POST", "/connection/uni_sse", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 19, badRequestHead), c.do(srv.Addr, tc.req))
		})
	}
	t.Run("POST null", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, post("/connection/uni_sse", `null`))
		st.expectHead(capture(t, 24, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
		st.expectPrimer()
		st.expect(capture(t, 24, `data: {"disconnect":{"code":3501,"reason":"bad request"}}`+"\n\n"))
		st.expectEnd()
	})
}

// altToken is [40]'s {"sub":"u1","aud":"cf-aud","iss":"cf-iss"}.
const altToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNmLWF1ZCIsImlzcyI6ImNmLWlzcyJ9.hy_h6Wh5MflLugnxNEnVZc3fQXq1ceIIzP-IIAo_3Tk"

// unauthorized is connect_code_to_http_response's 3500 → 401 with the
// default body, the reason [40] [41].
const unauthorized = "HTTP/1.1 401 Unauthorized\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 13\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ninvalid token"

// TestConformanceAudienceIssuer replays [40] on config-alt.json: aud (string
// or array) and iss are checked; a mismatch is 3500, turned into a 401 by
// connect_code_to_http_response.
func TestConformanceAudienceIssuer(t *testing.T) {
	t.Parallel()
	alt := startCapture(t, "config-alt.json")
	for _, tc := range []struct{ name, connect, connectPush string }{
		{"aud and iss", `{"token":"` + altToken + `"}`, `data: {"connect":{"client":"7244abbd-875c-4aa2-9ecd-0d53f6b4b2bb","version":"0.0.0 OSS","ping":4,"session":"199797e8-5b05-4162-832f-bbc390ca2842"}}` + "\n\n"},
		{"aud array", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6WyJ4IiwiY2YtYXVkIl0sImlzcyI6ImNmLWlzcyJ9.COvI6JQHnP6wZK0CMJCK4MHT85P7QJv-TxchYMplpmc"}`, `data: {"connect":{"client":"abe52d06-e9ea-46bf-a89a-24fda394ed11","version":"0.0.0 OSS","ping":4,"session":"2dbb67c4-da9f-495c-b9dd-d55c67679305"}}` + "\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			st := c.open(alt.Addr, get(cf("/custom/sse", capture(t, 40, tc.connect))))
			st.expectHead(capture(t, 40, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:22:22 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
			st.expectPrimer()
			st.expect(capture(t, 40, tc.connectPush))
		})
	}
	for _, tc := range []struct{ name, connect string }{
		{"wrong aud", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6Im90aGVyIiwiaXNzIjoiY2YtaXNzIn0.2DHUcLwh9rlzrEZK7mOAlySfn3pWHmFzQ2xnswnewzg"}`},
		{"missing iss", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNmLWF1ZCJ9.qynjTbfVfNdZgZlHzqJ3-eb7g9uLVrp2U8pM7M5DHt8"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 40, unauthorized), c.do(alt.Addr, get(cf("/custom/sse", capture(t, 40, tc.connect)))))
		})
	}
}

// TestConformanceConnectCodeToHTTPResponse replays [41] on config-alt.json:
// with uni_sse.connect_code_to_http_response a connect error is a plain HTTP
// response (mapped status and body, else 500); decode errors stay 400.
func TestConformanceConnectCodeToHTTPResponse(t *testing.T) {
	t.Parallel()
	alt := startCapture(t, "config-alt.json")
	expiredToken := signed(t, map[string]any{"sub": "u1", "aud": "cf-aud", "iss": "cf-iss", "exp": time.Now().Unix() - 30})
	for _, tc := range []struct{ name, target, want string }{
		{"no credentials (3501, custom body)", "/custom/sse",
			"HTTP/1.1 400 Bad Request\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 19\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad connect request"},
		{"invalid token (3500, default body)", cf("/custom/sse", capture(t, 41, `{"token":"garbage"}`)), unauthorized},
		{"expired token (unmapped)", cf("/custom/sse", `{"token":"`+expiredToken+`"}`),
			"HTTP/1.1 500 Internal Server Error\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 21\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInternal Server Error"},
		{"decode error", cf("/custom/sse", capture(t, 41, `{bad`)),
			"HTTP/1.1 400 Bad Request\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 41, tc.want), c.do(alt.Addr, get(tc.target)))
		})
	}
}

// TestConformanceInternalPort replays the end of [41]: with
// http_server.internal_port the API (here under /myapi) is served on the
// internal port only; the external port answers 404.
func TestConformanceInternalPort(t *testing.T) {
	t.Parallel()
	alt := startCapture(t, "config-alt.json")
	if alt.InternalAddr == alt.Addr {
		t.Fatal("config-alt.json has an internal port; the test server must use a separate one")
	}
	body := capture(t, 41, `{"channel":"news","data":1}`)
	key := "X-API-Key: conformance-api-key"

	c := newConformer(t)
	c.sameResponse("internal /myapi/publish", capture(t, 41, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"), c.do(alt.InternalAddr, post("/myapi/publish", body, key)))
	c.sameResponse("external /myapi/publish", capture(t, 41, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nContent-Length: 19\r\n\r\n404 page not found\n"), c.do(alt.Addr, post("/myapi/publish", body, key)))
}
