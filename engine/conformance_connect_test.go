package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// tokenU1 is the captures' HS256 token {"sub":"u1"} (no expiry).
const tokenU1 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.RTujIZWaMifviak-KfGu_rAW0d6f3ovx6APkageM-cA"

// connectU1 is the connect push of a plain connection without expiry [27].
const connectU1 = `data: {"connect":{"client":"355512bd-d78a-4045-a120-a5590de5c3f3","version":"0.0.0 OSS","ping":4,"session":"91493b16-81e7-4ec5-83d8-d175890ba45c"}}` + "\n\n"

// signed is an HS256 token with the capture secret.
func signed(t *testing.T, claims map[string]any) string {
	return enginetest.Token(t, enginetest.Secret, claims)
}

// TestConformanceConnectGet replays [01]: GET with a token carrying sub, exp
// (re-signed: now+3600) and info, plus client name/version.
func TestConformanceConnectGet(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	c.ttl = 3600
	tok := signed(t, map[string]any{"sub": "u1", "exp": time.Now().Unix() + 3600, "info": map[string]any{"name": "Alice"}})
	st := c.open(srv.Addr, get(cf("/connection/uni_sse", `{"token":"`+tok+`","name":"curl","version":"1.0"}`)))
	st.expectHead(capture(t, 1, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:06:38 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
	st.expectPrimer()
	st.expect(capture(t, 1, `data: {"connect":{"client":"3a917a70-094f-444b-bb6f-ec0ea2fbb8aa","version":"0.0.0 OSS","expires":true,"ttl":3600,"ping":4,"session":"493a4e5f-1d5f-4c8a-9eb3-3f9a00a51d0f"}}`+"\n\n"))
}

// TestConformanceConnectInsecure replays [02] on config-insecure.json: no
// token needed, every requested channel allowed for the anonymous user, a
// token's expiry ignored but its signature still checked.
func TestConformanceConnectInsecure(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config-insecure.json")

	t.Run("subs", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 2, `{"subs":{"news":{},"hist:i1795640805":{"recover":true},"jl:i1795640805":{}}}`))
		st.expect(capture(t, 2, `data: {"connect":{"client":"349c70c5-7442-4589-8b67-174ad4796067","version":"0.0.0 OSS","subs":{"jl:i1795640805":{},"news":{},"hist:i1795640805":{"recoverable":true,"epoch":"bkBguKJd","recovered":true,"positioned":true,"was_recovering":true}},"ping":4,"session":"d690567f-43eb-453e-9795-0f92fb9d9cc5"}}`+"\n\n"))
		st.expect(capture(t, 2, `data: {"channel":"jl:i1795640805","join":{"info":{"user":"","client":"349c70c5-7442-4589-8b67-174ad4796067"}}}`+"\n\n"))
		c.expectAPI(srv, "publish", `{"channel":"news","data":{"x":1}}`, capture(t, 2, `{"result":{}}`))
		st.expect(capture(t, 2, `data: {"channel":"news","pub":{"data":{"x":1}}}`+"\n\n"))
		c.expectAPI(srv, "publish", `{"channel":"hist:i1795640805","data":{"x":2}}`, capture(t, 2, `{"result":{"offset":1,"epoch":"bkBguKJd"}}`))
		st.expect(capture(t, 2, `data: {"channel":"hist:i1795640805","pub":{"data":{"x":2},"offset":1,"epoch":"bkBguKJd"}}`+"\n\n"))
	})

	t.Run("no cf_connect", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, get("/connection/uni_sse"))
		st.expectHead(capture(t, 1, okStreamHead))
		st.expectPrimer()
		st.expect(capture(t, 2, `data: {"connect":{"client":"80a01485-8c41-4b6a-b442-fae7f3b2fd38","version":"0.0.0 OSS","ping":4,"session":"24ee53a3-c724-4c95-9064-4574362bcd29"}}`+"\n\n"))
	})

	t.Run("token expiry ignored", func(t *testing.T) {
		c := newConformer(t)
		tok := signed(t, map[string]any{"sub": "u1", "exp": time.Now().Unix() + 5})
		st := c.connect(srv, `{"token":"`+tok+`"}`)
		st.expect(capture(t, 2, `data: {"connect":{"client":"75a48cfc-de4d-4db4-b033-3fde8999d263","version":"0.0.0 OSS","ping":4,"session":"025532f3-b153-435d-b911-950723167c14"}}`+"\n\n"))
	})

	t.Run("bad signature", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 2, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.h5a4_Z2tq6q_kwpyQhApRDFrYk8xlGeWyehYr6iKi2Y"}`))
		st.expect(capture(t, 2, `data: {"disconnect":{"code":3500,"reason":"invalid token"}}`+"\n\n"))
		st.expectEnd()
	})
}

// TestConformanceConnectPost replays [03]: the connect request as a POST
// body (Content-Type ignored; cf_connect in the URL ignored).
func TestConformanceConnectPost(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	tok := signed(t, map[string]any{"sub": "u1", "exp": time.Now().Unix() + 600})

	t.Run("form content type", func(t *testing.T) {
		c := newConformer(t)
		c.ttl = 600
		st := c.open(srv.Addr, post("/connection/uni_sse", `{"token":"`+tok+`","name":"poster"}`))
		st.expectHead(capture(t, 3, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:06:51 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
		st.expectPrimer()
		st.expect(capture(t, 3, `data: {"connect":{"client":"8c47507d-9da3-4348-97dc-77ef4d4c7941","version":"0.0.0 OSS","expires":true,"ttl":600,"ping":4,"session":"d1026b81-cc1e-417d-a965-2f8e0af236b3"}}`+"\n\n"))
	})

	t.Run("json and allowed origin", func(t *testing.T) {
		c := newConformer(t)
		c.ttl = 600
		body := `{"token":"` + tok + `"}`
		st := c.open(srv.Addr, request("POST", "/connection/uni_sse", &body, "Content-Type: application/json", "Origin: http://allowed.example"))
		st.expectHead(capture(t, 3, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: http://allowed.example\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:06:53 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
		st.expectPrimer()
		st.expect(capture(t, 3, `data: {"connect":{"client":"b9a2c9ff-19e4-418f-b4fc-ab39003301bd","version":"0.0.0 OSS","expires":true,"ttl":598,"ping":4,"session":"cefe5763-5b90-4455-a02a-0a21c223146c"}}`+"\n\n"))
	})

	t.Run("cf_connect in URL ignored", func(t *testing.T) {
		c := newConformer(t)
		res := c.do(srv.Addr, request("POST", cf("/connection/uni_sse", `{"token":"`+tok+`"}`), nil))
		c.sameResponse("POST without body", capture(t, 3, "HTTP/1.1 400 Bad Request\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:06:54 GMT\r\nContent-Length: 0\r\n\r\n"), res)
	})
}

// TestConformanceConnectRequestFields replays [21]: unknown fields are
// ignored and so is everything after the first JSON value.
func TestConformanceConnectRequestFields(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	want := capture(t, 21, `data: {"connect":{"client":"6b002022-97b0-4891-8344-0f7ed79defed","version":"0.0.0 OSS","ping":4,"session":"3f04bc54-669f-4ce3-b0dc-d9310c56298f"}}`+"\n\n")
	for _, tc := range []struct{ name, req string }{
		{"unknown fields", get(cf("/connection/uni_sse", capture(t, 21, `{"token":"`+tokenU1+`","foo":1,"bar":{"x":[1]},"data":{"a":1},"headers":{"x":"y"},"name":"n","version":"v"}`)))},
		{"trailing garbage", get(cf("/connection/uni_sse", capture(t, 21, `{"token":"`+tokenU1+`"} trailing garbage`)))},
		{"two values in a POST body", post("/connection/uni_sse", capture(t, 21, `{"token":"`+tokenU1+`"}{"token":"x"}`))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			st := c.open(srv.Addr, tc.req)
			st.expectHead(capture(t, 1, okStreamHead))
			st.expectPrimer()
			st.expect(want)
		})
	}
}

// TestConformanceClientSubs replays [22]: channels asked for in the connect
// request's subs are added only where the namespace allows the client; others
// are skipped; an unknown namespace is a bad request (3501).
func TestConformanceClientSubs(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")

	t.Run("allowed and skipped", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 22, `{"token":"`+tokenU1+`","subs":{"open:x1795640872":{},"news1795640872":{"recover":true}}}`))
		st.expect(capture(t, 22, `data: {"connect":{"client":"68fd30db-c2a2-4357-8c74-50164421dbfe","version":"0.0.0 OSS","subs":{"open:x1795640872":{}},"ping":4,"session":"edf638c2-a69f-4166-92be-97fcbe3c794b"}}`+"\n\n"))
	})

	t.Run("unknown namespace", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 22, `{"token":"`+tokenU1+`","subs":{"nope:x":{}}}`))
		st.expect(capture(t, 22, `data: {"disconnect":{"code":3501,"reason":"bad request"}}`+"\n\n"))
		st.expectEnd()
	})

	t.Run("anonymous token", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 22, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.HWPLK5zJkwGKkkCmmAHhA9vdL0GMqFMMVklTwR8kmVM","subs":{"open:x1795640872":{}}}`))
		st.expect(capture(t, 22, `data: {"connect":{"client":"f598442c-41de-4fc0-95f5-29616b5a2cdb","version":"0.0.0 OSS","ping":4,"session":"6d995d4a-c703-4e0f-8c9b-a25728e9c4fb"}}`+"\n\n"))
	})
}

// TestConformanceCORS replays [27]: an allowed Origin (glob, case-insensitive)
// is echoed verbatim with credentials and any requested headers; a disallowed
// one gets no CORS headers but the stream is accepted; no Origin gets an empty
// Access-Control-Allow-Origin.
func TestConformanceCORS(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	connect := capture(t, 27, `{"token":"`+tokenU1+`"}`)
	for _, tc := range []struct {
		name   string
		header []string
		head   string
	}{
		{"allowed", []string{"Origin: http://allowed.example"},
			"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: http://allowed.example\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:04 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"allowed upper case", []string{"Origin: HTTP://ALLOWED.EXAMPLE"},
			"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: HTTP://ALLOWED.EXAMPLE\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:05 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"disallowed", []string{"Origin: http://evil.example"},
			"HTTP/1.1 200 OK\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:06 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"null origin", []string{"Origin: null"},
			"HTTP/1.1 200 OK\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:06 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"request headers", []string{"Origin: http://allowed.example", "Access-Control-Request-Headers: x-foo, content-type"},
			"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Headers: x-foo, content-type\r\nAccess-Control-Allow-Origin: http://allowed.example\r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:07 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"no origin", nil,
			"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:08 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			st := c.open(srv.Addr, get(cf("/connection/uni_sse", connect), tc.header...))
			st.expectHead(capture(t, 27, tc.head))
			st.expectPrimer()
			st.expect(capture(t, 27, connectU1))
		})
	}
}

// notFound is Go's http.NotFound response [28].
const notFound = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:08:09 GMT\r\nContent-Length: 19\r\n\r\n404 page not found\n"

// TestConformancePaths replays [28]: the endpoint is the exact path (trailing
// slash and sub-paths are 404), extra query parameters are ignored, and the
// prefix is configurable (config-alt.json: /custom/sse).
func TestConformancePaths(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	alt := startCapture(t, "config-alt.json")

	for _, p := range []string{"/connection/uni_sse/", "/connection/uni_sse/x"} {
		t.Run(p, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse("GET "+p, capture(t, 28, notFound), c.do(srv.Addr, get(p)))
		})
	}

	t.Run("extra query parameter", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, get(cf("/connection/uni_sse", capture(t, 28, `{"token":"`+tokenU1+`"}`))+"&x=1"))
		st.expectHead(capture(t, 1, okStreamHead))
		st.expectPrimer()
		st.expect(capture(t, 28, `data: {"connect":{"client":"566dacd2-8945-414c-a4f0-a09a6e57b273","version":"0.0.0 OSS","ping":4,"session":"3061cd5a-8c89-4d59-89a4-9476e4ad9268"}}`+"\n\n"))
	})

	t.Run("custom prefix", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(alt, capture(t, 28, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImF1ZCI6ImNmLWF1ZCIsImlzcyI6ImNmLWlzcyJ9.hy_h6Wh5MflLugnxNEnVZc3fQXq1ceIIzP-IIAo_3Tk"}`))
		st.expect(capture(t, 28, `data: {"connect":{"client":"7516cdc1-8413-4c8e-a696-8031c0fbb582","version":"0.0.0 OSS","ping":4,"session":"fa39fcbc-c76d-4957-b4fc-7d0bcb262fd5"}}`+"\n\n"))
	})

	t.Run("default path on the custom prefix server", func(t *testing.T) {
		c := newConformer(t)
		c.sameResponse("GET /connection/uni_sse", capture(t, 28, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:08:11 GMT\r\nContent-Length: 19\r\n\r\n404 page not found\n"), c.do(alt.Addr, get("/connection/uni_sse")))
	})
}

// TestConformanceTokenVariants replays [39]: HS384/HS512, an anonymous token,
// b64info and string info (seen in the own join push of a jl channel), a subs
// claim with data and override that wins over channels, and meta/aud/iss/iat/
// jti that are not checked when not configured.
func TestConformanceTokenVariants(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	for _, tc := range []struct {
		name, connect string
		events        []string
	}{
		{"HS384", `{"token":"eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.y1o9uqdahYBPaLBTfyGmLp-Bk1nOhpr7sTjKnsormoLCxO9TDzHbgAuBhWru5B2r"}`, []string{
			`data: {"connect":{"client":"7a145a03-9852-4b45-8045-9b26b9b1e714","version":"0.0.0 OSS","ping":4,"session":"86ae68ca-67d6-4d15-8165-0c714ed43d12"}}` + "\n\n",
		}},
		{"HS512", `{"token":"eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.GZZaMu4lJK7IFQhAiK3qdIzvU8MO6hL6wz1Cx6yLePX78gPdMoXwHHzg6eY20i1NualvXa22NlutV2hxQXH1qQ"}`, []string{
			`data: {"connect":{"client":"cd81f79c-f10c-4b37-9d73-7338f269bbcb","version":"0.0.0 OSS","ping":4,"session":"7ba47145-f926-46e1-b3fc-40b89d61995d"}}` + "\n\n",
		}},
		{"anonymous", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJjaGFubmVscyI6WyJqbDphbm9uMTc5NTY0MDkwOSJdfQ.HElKIxgMicfwPVCGqJK_KE5w0TJYQVBexNgKGV7xaZ0"}`, []string{
			`data: {"connect":{"client":"3e8817d1-ccba-4958-bc0e-1d0479354089","version":"0.0.0 OSS","subs":{"jl:anon1795640909":{}},"ping":4,"session":"cce68f35-1520-4d43-bd16-e7f62e6c4b0c"}}` + "\n\n",
			`data: {"channel":"jl:anon1795640909","join":{"info":{"user":"","client":"3e8817d1-ccba-4958-bc0e-1d0479354089"}}}` + "\n\n",
		}},
		{"b64info", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImI2NGluZm8iOiJleUpoSWpveGZRPT0iLCJjaGFubmVscyI6WyJqbDpiNjQxNzk1NjQwOTA5Il19.hJnqK8Ze2mp63Xc5en6-HdIITw5hbnL1sbWlgcOoXW8"}`, []string{
			`data: {"connect":{"client":"e269f29f-1413-4a96-a28c-eb4daf2ff427","version":"0.0.0 OSS","subs":{"jl:b641795640909":{}},"ping":4,"session":"8bfbb39e-9cdb-400f-95ee-a0f414ea92db"}}` + "\n\n",
			`data: {"channel":"jl:b641795640909","join":{"info":{"user":"u1","client":"e269f29f-1413-4a96-a28c-eb4daf2ff427","conn_info":{"a":1}}}}` + "\n\n",
		}},
		{"string info", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImluZm8iOiJqdXN0LWEtc3RyaW5nIiwiY2hhbm5lbHMiOlsiamw6c3RyMTc5NTY0MDkwOSJdfQ.IONtgIVN514k0n9y5SWO2sjfoxabK-8LvX-gEg9dxPA"}`, []string{
			`data: {"connect":{"client":"7bbb8ccd-f09c-4419-ae05-0c097ef141aa","version":"0.0.0 OSS","subs":{"jl:str1795640909":{}},"ping":4,"session":"d4701379-cf4e-4ebc-be13-bcc42aa94794"}}` + "\n\n",
			`data: {"channel":"jl:str1795640909","join":{"info":{"user":"u1","client":"7bbb8ccd-f09c-4419-ae05-0c097ef141aa","conn_info":"just-a-string"}}}` + "\n\n",
		}},
		{"subs claim", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsInN1YnMiOnsiamw6c3ViczE3OTU2NDA5MDkiOnsiaW5mbyI6eyJjaSI6MX0sImRhdGEiOnsid2VsY29tZSI6dHJ1ZX0sIm92ZXJyaWRlIjp7ImpvaW5fbGVhdmUiOnsidmFsdWUiOmZhbHNlfX19LCJoaXN0OnN1YnMxNzk1NjQwOTA5Ijp7fX0sImNoYW5uZWxzIjpbImlnbm9yZWQxNzk1NjQwOTA5Il19.W1XdCn8ME2Jc2kK1nAkUsFrSRCdwFwlqwM_MHLuwW70"}`, []string{
			`data: {"connect":{"client":"7511e010-6dcf-42e1-b945-d5fe375da6ae","version":"0.0.0 OSS","subs":{"jl:subs1795640909":{"data":{"welcome":true}},"hist:subs1795640909":{"recoverable":true,"epoch":"OswLyATn","positioned":true}},"ping":4,"session":"11ab90fc-3cbe-49ef-82bc-0538e641d4e0"}}` + "\n\n",
		}},
		{"meta aud iss", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsIm1ldGEiOnsibSI6MX0sImF1ZCI6IngiLCJpc3MiOiJ5IiwiaWF0IjoxNzk1NjQwOTE1LCJqdGkiOiJqIn0.NHPfqTSToBHCQO0Oe0LaOQe4dm5aLYvADCfXt5OyVIw"}`, []string{
			`data: {"connect":{"client":"86768a44-b0c0-4d72-b19a-857e6cfb025b","version":"0.0.0 OSS","ping":4,"session":"aa607f3b-c003-4543-8c80-3f9738249510"}}` + "\n\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newConformer(t)
			st := c.connect(srv, capture(t, 39, tc.connect))
			for _, e := range tc.events {
				st.expect(capture(t, 39, e))
			}
			if tc.name == "subs claim" {
				// join_leave is overridden off for the jl channel: no own join,
				// and the ignored channels claim brings no subscription. The
				// next push is the publication.
				c.expectAPI(srv, "publish", `{"channel":"jl:subs1795640909","data":1}`, capture(t, 4, `{"result":{}}`))
				if e, _ := st.next(eventTimeout); channelOf(e) != "jl:subs1795640909" || !strings.Contains(e, `"pub":`) {
					t.Errorf("after the connect push got %q, want the publication (no own join: join_leave is overridden off)", e)
				}
			}
		})
	}
}
