package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/enginetest"
)

// TestConformancePublish replays [04]: publications to a channel of the
// token's channels claim, with tags, a duplicate idempotency_key (delivered
// once, same reply) and skip_history.
func TestConformancePublish(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 4, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbIm5ld3MxNzk1NjQwODE0Il19.zYFJnq7Ow5ofIDh2fNu7A3sbPWQVItsBRwMFp277aoU"}`))
	st.expect(capture(t, 4, `data: {"connect":{"client":"8a27c886-5a0c-445b-a54d-5224b34a9fab","version":"0.0.0 OSS","subs":{"news1795640814":{}},"ping":4,"session":"b280a723-25a4-4319-a3e4-91bf93b8c15c"}}`+"\n\n"))

	c.sameResponse("publish", capture(t, 4, apiOKHead+`{"result":{}}`), c.api(srv, "publish", capture(t, 4, `{"channel":"news1795640814","data":{"text":"hello"}}`)))
	st.expect(capture(t, 4, `data: {"channel":"news1795640814","pub":{"data":{"text":"hello"}}}`+"\n\n"))

	c.expectAPI(srv, "publish", capture(t, 4, `{"channel":"news1795640814","data":"a string","tags":{"k":"v"}}`), capture(t, 4, `{"result":{}}`))
	st.expect(capture(t, 4, `data: {"channel":"news1795640814","pub":{"data":"a string","tags":{"k":"v"}}}`+"\n\n"))

	for range 2 {
		c.expectAPI(srv, "publish", capture(t, 4, `{"channel":"news1795640814","data":[1,2,3],"idempotency_key":"once"}`), capture(t, 4, `{"result":{}}`))
	}
	c.expectAPI(srv, "publish", capture(t, 4, `{"channel":"news1795640814","data":42,"skip_history":true}`), capture(t, 4, `{"result":{}}`))
	st.expect(capture(t, 4, `data: {"channel":"news1795640814","pub":{"data":[1,2,3]}}`+"\n\n"))
	// The duplicate is not delivered: the next publication follows directly.
	st.expect(capture(t, 4, `data: {"channel":"news1795640814","pub":{"data":42}}`+"\n\n"))
}

// TestConformanceBroadcast replays [05]: one result per channel, errors per
// channel, one pub push per subscribed channel (in any order across channels).
func TestConformanceBroadcast(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 5, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImIxMTc5NTY0MDgxNiIsImhpc3Q6YjIxNzk1NjQwODE2Il19.5sN3F2xIYaxUYMlOiVIrcKrtQUu5s5QTTV5YkM5kWn4"}`))
	st.expect(capture(t, 5, `data: {"connect":{"client":"3895ec3d-1e18-4bd6-ac37-d524d6925db6","version":"0.0.0 OSS","subs":{"hist:b21795640816":{"recoverable":true,"epoch":"hwvNgvKx","positioned":true},"b11795640816":{}},"ping":4,"session":"974b6cc6-8bf0-4f79-8ca7-6f91be5d8365"}}`+"\n\n"))

	c.sameResponse("broadcast", capture(t, 5, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:06:57 GMT\r\nContent-Length: 83\r\n\r\n"+`{"result":{"responses":[{"result":{}},{"result":{"offset":1,"epoch":"hwvNgvKx"}}]}}`),
		c.api(srv, "broadcast", capture(t, 5, `{"channels":["b11795640816","hist:b21795640816"],"data":{"msg":"to all"}}`)))
	st.expectAnyOrder(
		capture(t, 5, `data: {"channel":"hist:b21795640816","pub":{"data":{"msg":"to all"},"offset":1,"epoch":"hwvNgvKx"}}`+"\n\n"),
		capture(t, 5, `data: {"channel":"b11795640816","pub":{"data":{"msg":"to all"}}}`+"\n\n"),
	)

	c.expectAPI(srv, "broadcast", capture(t, 5, `{"channels":["b11795640816","","nope:x"],"data":1}`),
		capture(t, 5, `{"result":{"responses":[{"result":{}},{"error":{"code":107,"message":"bad request"}},{"error":{"code":102,"message":"unknown channel"}}]}}`))
	st.expect(capture(t, 5, `data: {"channel":"b11795640816","pub":{"data":1}}`+"\n\n"))
}

// TestConformanceAPIDisconnect replays [10] and [11]: the default disconnect
// (3503), success for a user without connections, a custom code and reason
// (HTML-escaped), a whitelist that spares a client, and targeting one client.
func TestConformanceAPIDisconnect(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")

	t.Run("default", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, get(cf("/connection/uni_sse", capture(t, 10, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkaXMxNzk1NjQwODQ5IiwiY2hhbm5lbHMiOlsibmV3czE3OTU2NDA4NDkiXX0.hKZqvNpFm7Nf4RViIzR8xsG5QmKMI1AJfo9h5T2hkn0"}`))))
		st.expectHead(capture(t, 10, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:07:29 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
		st.expectPrimer()
		st.expect(capture(t, 10, `data: {"connect":{"client":"62f26625-54ed-4001-828d-35e2fecc78ea","version":"0.0.0 OSS","subs":{"news1795640849":{}},"ping":4,"session":"8171b8a2-01c6-497c-8255-a75f584f84d0"}}`+"\n\n"))
		c.sameResponse("disconnect", capture(t, 10, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:07:29 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"),
			c.api(srv, "disconnect", capture(t, 10, `{"user":"dis1795640849"}`)))
		st.expect(capture(t, 10, `data: {"disconnect":{"code":3503,"reason":"force disconnect"}}`+"\n\n"))
		st.expectEnd()
		c.expectAPI(srv, "disconnect", capture(t, 10, `{"user":"nobody1795640849"}`), capture(t, 10, `{"result":{}}`))
	})

	t.Run("whitelist custom code and client", func(t *testing.T) {
		c := newConformer(t)
		connect := capture(t, 11, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYzE3OTU2NDA4NTAifQ.Zrm_9-HGuI8KHI6SGTvtWVssZFfSVRZrzZ8RkijYMSg"}`)
		s1 := c.connect(srv, connect)
		kept := clientID(t, s1.expect(capture(t, 11, `data: {"connect":{"client":"b538409b-d7bf-4796-a4c4-5d046a3b33e0","version":"0.0.0 OSS","ping":4,"session":"65a38ec1-a61c-471a-be14-b52cee030743"}}`+"\n\n")))
		s2 := c.connect(srv, connect)
		s2.expect(capture(t, 11, `data: {"connect":{"client":"cd260e48-b054-4304-9cce-c8a520a3887c","version":"0.0.0 OSS","ping":4,"session":"5fb06ba4-f660-4edc-9c0e-11c6ae46b002"}}`+"\n\n"))

		// The whitelisted s1 stays; s2 gets the custom disconnect.
		c.expectAPI(srv, "disconnect", `{"user":"dc1795640850","whitelist":["`+kept+`"],"disconnect":{"code":4001,"reason":"custom <reason> & more"}}`, capture(t, 11, `{"result":{}}`))
		s2.expect(capture(t, 11, `data: {"disconnect":{"code":4001,"reason":"custom \u003creason\u003e \u0026 more"}}`+"\n\n"))
		s2.expectEnd()

		// Then s1 by its client id, with a terminal code; its next push is that.
		c.expectAPI(srv, "disconnect", `{"user":"dc1795640850","client":"`+kept+`","disconnect":{"code":4500,"reason":"bye"}}`, capture(t, 11, `{"result":{}}`))
		s1.expect(capture(t, 11, `data: {"disconnect":{"code":4500,"reason":"bye"}}`+"\n\n"))
		s1.expectEnd()
	})
}

// TestConformanceAPIUnsubscribe replays [12]: an unsubscribe push, no more
// publications from that channel, the other channel still delivered.
func TestConformanceAPIUnsubscribe(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 12, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1czE3OTU2NDA4NTIiLCJjaGFubmVscyI6WyJuZXdzMTc5NTY0MDg1MiIsIm90aGVyMTc5NTY0MDg1MiJdfQ.JDIR-PzapLAGZGpEdRdmJWhsMuMheRQse65EJno0f7Q"}`))
	st.expect(capture(t, 12, `data: {"connect":{"client":"c036218e-d96c-4cf4-bc05-c91b319e4670","version":"0.0.0 OSS","subs":{"news1795640852":{},"other1795640852":{}},"ping":4,"session":"53ce3490-25c7-4bb8-b89e-95a6fc5dd9b1"}}`+"\n\n"))
	c.sameResponse("unsubscribe", capture(t, 12, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:07:33 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"),
		c.api(srv, "unsubscribe", capture(t, 12, `{"channel":"news1795640852","user":"us1795640852"}`)))
	st.expect(capture(t, 12, `data: {"channel":"news1795640852","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 12, `{"channel":"news1795640852","data":"not delivered"}`), capture(t, 12, `{"result":{}}`))
	c.expectAPI(srv, "publish", capture(t, 12, `{"channel":"other1795640852","data":"delivered"}`), capture(t, 12, `{"result":{}}`))
	st.expect(capture(t, 12, `data: {"channel":"other1795640852","pub":{"data":"delivered"}}`+"\n\n"))
}

// TestConformanceAPISubscribe replays [13]: subscribe pushes (with data; with
// recovery fields in a history namespace), then publications on the new
// subscriptions; an unknown namespace is 102.
func TestConformanceAPISubscribe(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 13, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzYjE3OTU2NDA4NTYifQ.TI_Sa75Grg-7eztboYXCBGSFLqX5xbbx10wxenWkhSM"}`))
	st.expect(capture(t, 13, `data: {"connect":{"client":"2159e8b1-e58c-4079-95c9-45dcbc1be113","version":"0.0.0 OSS","ping":4,"session":"1d834d8b-f1c7-43fb-be29-0d9b7b75cea1"}}`+"\n\n"))
	c.sameResponse("subscribe", capture(t, 13, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:07:37 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"),
		c.api(srv, "subscribe", capture(t, 13, `{"channel":"open:z1795640856","user":"sb1795640856","data":{"welcome":1}}`)))
	st.expect(capture(t, 13, `data: {"channel":"open:z1795640856","subscribe":{"data":{"welcome":1}}}`+"\n\n"))
	c.expectAPI(srv, "subscribe", capture(t, 13, `{"channel":"hist:s1795640856","user":"sb1795640856"}`), capture(t, 13, `{"result":{}}`))
	st.expect(capture(t, 13, `data: {"channel":"hist:s1795640856","subscribe":{"recoverable":true,"epoch":"uBHJhbxu","positioned":true}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 13, `{"channel":"open:z1795640856","data":{"p":1}}`), capture(t, 13, `{"result":{}}`))
	st.expect(capture(t, 13, `data: {"channel":"open:z1795640856","pub":{"data":{"p":1}}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 13, `{"channel":"hist:s1795640856","data":{"p":2}}`), capture(t, 13, `{"result":{"offset":1,"epoch":"uBHJhbxu"}}`))
	st.expect(capture(t, 13, `data: {"channel":"hist:s1795640856","pub":{"data":{"p":2},"offset":1,"epoch":"uBHJhbxu"}}`+"\n\n"))
	c.expectAPI(srv, "subscribe", capture(t, 13, `{"channel":"nope:x","user":"sb1795640856"}`), capture(t, 13, `{"error":{"code":102,"message":"unknown channel"}}`))
}

// TestConformanceAPIEdgeCases replays [46]: unsubscribe without a channel
// sends one channel-less unsubscribe push and keeps the subscriptions; a
// disconnect without reason; subscribe without user targets anonymous
// connections.
func TestConformanceAPIEdgeCases(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")

	t.Run("unsubscribe without channel, disconnect without reason", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 46, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlZGdlMTc5NTY0MTQ4NiIsImNoYW5uZWxzIjpbImVhMTc5NTY0MTQ4NiIsImViMTc5NTY0MTQ4NiJdfQ.TiJTNIhKB9toQ9_mLWJrVnplSPngME_e0q636Yvc2fo"}`))
		st.expect(capture(t, 46, `data: {"connect":{"client":"62e15a3c-104d-409f-9ebb-e2a9c63e4abe","version":"0.0.0 OSS","subs":{"eb1795641486":{},"ea1795641486":{}},"ping":4,"session":"d991f441-b39a-44ca-b345-27ffb1c60175"}}`+"\n\n"))
		c.expectAPI(srv, "unsubscribe", capture(t, 46, `{"user":"edge1795641486"}`), capture(t, 46, `{"result":{}}`))
		st.expect(capture(t, 46, `data: {"unsubscribe":{"code":2000,"reason":"server unsubscribe"}}`+"\n\n"))
		c.expectAPI(srv, "publish", capture(t, 46, `{"channel":"ea1795641486","data":1}`), capture(t, 46, `{"result":{}}`))
		st.expect(capture(t, 46, `data: {"channel":"ea1795641486","pub":{"data":1}}`+"\n\n"))
		c.expectAPI(srv, "disconnect", capture(t, 46, `{"user":"edge1795641486","disconnect":{"code":4000}}`), capture(t, 46, `{"result":{}}`))
		st.expect(capture(t, 46, `data: {"disconnect":{"code":4000}}`+"\n\n"))
		st.expectEnd()
	})

	t.Run("subscribe anonymous", func(t *testing.T) {
		c := newConformer(t)
		st := c.connect(srv, capture(t, 46, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.HWPLK5zJkwGKkkCmmAHhA9vdL0GMqFMMVklTwR8kmVM"}`))
		st.expect(capture(t, 46, `data: {"connect":{"client":"a430118f-c7e6-412b-a8d2-2084f793e504","version":"0.0.0 OSS","ping":4,"session":"6885297c-582a-417a-adb4-b776780d2981"}}`+"\n\n"))
		c.expectAPI(srv, "subscribe", capture(t, 46, `{"channel":"anon1795641486"}`), capture(t, 46, `{"result":{}}`))
		st.expect(capture(t, 46, `data: {"channel":"anon1795641486","subscribe":{}}`+"\n\n"))
		c.expectAPI(srv, "publish", capture(t, 46, `{"channel":"anon1795641486","data":"to anonymous"}`), capture(t, 46, `{"result":{}}`))
		st.expect(capture(t, 46, `data: {"channel":"anon1795641486","pub":{"data":"to anonymous"}}`+"\n\n"))
	})
}

// TestConformancePublishNoSubscribers replays [30]: publishing without
// subscribers succeeds; a history channel reports offset and epoch.
func TestConformancePublishNoSubscribers(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	c.sameResponse("publish", capture(t, 30, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"),
		c.api(srv, "publish", capture(t, 30, `{"channel":"lonely1795640898","data":{"x":1}}`)))
	c.sameResponse("publish to history", capture(t, 30, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 42\r\n\r\n{\"result\":{\"offset\":1,\"epoch\":\"JvxpuhdH\"}}"),
		c.api(srv, "publish", capture(t, 30, `{"channel":"hist:lonely1795640898","data":{"x":1}}`)))
	c.expectAPI(srv, "publish", capture(t, 30, `{"channel":"hist:lonely1795640898","data":{"x":2}}`), capture(t, 30, `{"result":{"offset":2,"epoch":"JvxpuhdH"}}`))
}

// TestConformanceAPIAuth replays [31]: the key in X-API-Key, in
// "Authorization: apikey" (scheme case-insensitive) or in ?api_key=; 401 with
// an empty body otherwise; the method is checked first.
func TestConformanceAPIAuth(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	const (
		unauthorized = "HTTP/1.1 401 Unauthorized\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 0\r\n\r\n"
		ok           = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"
		notAllowed   = "HTTP/1.1 405 Method Not Allowed\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 0\r\n\r\n"
	)
	body := capture(t, 31, `{"channel":"news","data":1}`)
	for _, tc := range []struct{ name, req, want string }{
		{"wrong X-API-Key", post("/api/publish", body, "X-API-Key: wrong"), unauthorized},
		{"no key", post("/api/publish", body), unauthorized},
		{"Authorization apikey", post("/api/publish", body, "Authorization: apikey conformance-api-key"), ok},
		{"Authorization APIKEY", post("/api/publish", body, "Authorization: APIKEY conformance-api-key"), ok},
		{"Authorization Bearer", post("/api/publish", body, "Authorization: Bearer conformance-api-key"), unauthorized},
		{"api_key query", post("/api/publish?api_key=conformance-api-key", body), ok},
		{"wrong X-API-Key and api_key query", post("/api/publish?api_key=conformance-api-key", body, "X-API-Key: wrong"), ok},
		{"GET", get("/api/publish"), notAllowed},
		{"PUT with key", request("PUT", "/api/publish", &body, "X-API-Key: conformance-api-key", "Content-Type: application/x-www-form-urlencoded"), notAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 31, tc.want), c.do(srv.InternalAddr, tc.req))
		})
	}
}

// badRequestText is the API's 400 for a body that does not decode [32].
const badRequestText = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:08:18 GMT\r\nContent-Length: 12\r\n\r\nBad Request\n"

// TestConformanceAPIErrors replays [32]: decode errors are 400 text; command
// errors are 200 {"error":…}, or with the transport error mode an HTTP status
// and the bare error object.
func TestConformanceAPIErrors(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	key := "X-API-Key: " + enginetest.APIKey
	transport := "X-Centrifugo-Error-Mode: transport"
	jsonHead := func(status string, n int) string {
		return fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:19 GMT\r\nContent-Length: %d\r\n\r\n", status, n)
	}
	// Replies the capture shows with -i (head and body).
	for _, tc := range []struct{ name, req, want string }{
		{"malformed body", post("/api/publish", `{bad`, key), badRequestText},
		{"no body", request("POST", "/api/publish", nil, key), badRequestText},
		{"empty channel", post("/api/publish", `{"channel":"","data":1}`, key), jsonHead("200 OK", 46) + `{"error":{"code":107,"message":"bad request"}}`},
		{"no data", post("/api/publish", `{"channel":"news"}`, key), jsonHead("200 OK", 46) + `{"error":{"code":107,"message":"bad request"}}`},
		{"unknown namespace", post("/api/publish", `{"channel":"nope:x","data":1}`, key), jsonHead("200 OK", 50) + `{"error":{"code":102,"message":"unknown channel"}}`},
		{"transport 102", post("/api/publish", `{"channel":"nope:x","data":1}`, key, transport), jsonHead("404 Not Found", 40) + `{"code":102,"message":"unknown channel"}`},
		{"transport 107", post("/api/publish", `{"channel":"","data":1}`, key, transport), jsonHead("400 Bad Request", 36) + `{"code":107,"message":"bad request"}`},
		{"transport 112", post("/api/history", `{"channel":"hist:h1795640898","since":{"offset":1,"epoch":"bad"}}`, key, transport), jsonHead("416 Requested Range Not Satisfiable", 47) + `{"code":112,"message":"unrecoverable position"}`},
		{"wrong type", post("/api/publish", `{"channel":1}`, key), badRequestText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 32, tc.want), c.do(srv.InternalAddr, tc.req))
		})
	}
	// Replies the capture shows as bodies only.
	for _, tc := range []struct{ method, body, want string }{
		{"publish", `{"channel":"news","b64data":"!!"}`, `{"error":{"code":107,"message":"bad request"}}`},
		{"broadcast", `{"channels":[],"data":1}`, `{"error":{"code":107,"message":"bad request"}}`},
		{"presence", `{"channel":"news"}`, `{"error":{"code":108,"message":"not available"}}`},
		{"presence_stats", `{"channel":"news"}`, `{"error":{"code":108,"message":"not available"}}`},
		{"history", `{"channel":"news"}`, `{"error":{"code":108,"message":"not available"}}`},
		{"history_remove", `{"channel":"news"}`, `{"error":{"code":108,"message":"not available"}}`},
		{"history", `{"channel":"hist:h1795640898","since":{"offset":1,"epoch":"bad"}}`, `{"error":{"code":112,"message":"unrecoverable position"}}`},
		{"subscribe", `{"channel":""}`, `{"error":{"code":107,"message":"bad request"}}`},
		{"unsubscribe", `{"channel":"nope:x"}`, `{"error":{"code":102,"message":"unknown channel"}}`},
		{"rpc", `{}`, `{"error":{"code":107,"message":"bad request"}}`},
		{"rpc", `{"method":"x"}`, `{"error":{"code":104,"message":"not found"}}`},
	} {
		t.Run(tc.method+" "+tc.body, func(t *testing.T) {
			c := newConformer(t)
			capture(t, 32, "-d '"+tc.body+"' http://127.0.0.1:18100/api/"+tc.method+"\n"+tc.want)
			c.expectAPI(srv, tc.method, tc.body, tc.want)
		})
	}
}

// TestConformanceAPIUnknownAndLegacy replays [33]: unknown API paths are 404
// before auth; the legacy POST /api takes newline-delimited commands
// ({"method","params"}, missing method = publish) and joins the replies.
func TestConformanceAPIUnknownAndLegacy(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	key := "X-API-Key: " + enginetest.APIKey
	const notFound33 = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:08:19 GMT\r\nContent-Length: 19\r\n\r\n404 page not found\n"
	const badRequest33 = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: Wed, 25 Nov 2026 21:08:19 GMT\r\nContent-Length: 12\r\n\r\nBad Request\n"
	for _, tc := range []struct{ name, req, want string }{
		{"unknown method", post("/api/foo", `{}`, key), notFound33},
		{"unknown method without key", post("/api/foo", `{}`), notFound33},
		{"trailing slash", post("/api/publish/", `{}`, key), notFound33},
		{"legacy publish", post("/api", capture(t, 33, `{"method":"publish","params":{"channel":"news","data":{"a":1}}}`), key),
			"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:19 GMT\r\nContent-Length: 13\r\n\r\n{\"result\":{}}"},
		{"legacy unknown method", post("/api", capture(t, 33, `{"method":"foo","params":{}}`), key), badRequest33},
		{"legacy empty body", request("POST", "/api", nil, key), badRequest33},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 33, tc.want), c.do(srv.InternalAddr, tc.req))
		})
	}
	t.Run("legacy without method", func(t *testing.T) {
		c := newConformer(t)
		res := c.do(srv.InternalAddr, post("/api", capture(t, 33, `{"params":{"channel":"news","data":{"a":1}}}`), key))
		c.same("reply", capture(t, 33, `{"result":{}}`), res.body)
	})
	t.Run("legacy two commands", func(t *testing.T) {
		c := newConformer(t)
		res := c.do(srv.InternalAddr, post("/api", capture(t, 33, `{"method":"publish","params":{"channel":"nope:x","data":1}}`+"\n"+`{"id":7,"method":"broadcast","params":{"channels":["news"],"data":1}}`), key))
		c.same("replies", capture(t, 33, `{"error":{"code":102,"message":"unknown channel"}}`+"\n"+`{"id":7,"result":{"responses":[{"result":{}}]}}`), res.body)
	})
}

// TestConformanceAPIBatch replays [34]: replies in command order, per-command
// errors, null command 107, unknown command 104, parallel execution, empty
// batch.
func TestConformanceAPIBatch(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	c.sameResponse("batch", capture(t, 34, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:19 GMT\r\nContent-Length: 266\r\n\r\n"+`{"replies":[{"publish":{}},{"error":{"code":102,"message":"unknown channel"}},{"error":{"code":104,"message":"not found"}},{"broadcast":{"responses":[{"result":{}}]}},{"presence_stats":{"num_clients":0,"num_users":0}},{"error":{"code":107,"message":"bad request"}}]}`),
		c.api(srv, "batch", capture(t, 34, `{"commands":[{"publish":{"channel":"news","data":{"a":1}}},{"publish":{"channel":"nope:x","data":1}},{"foo":{}},{"broadcast":{"channels":["news"],"data":2}},{"presence_stats":{"channel":"jl:x1795640899"}},null]}`)))

	// Parallel publishes to one history channel: offsets 1 and 2 in some
	// order, one epoch.
	res := c.api(srv, "batch", capture(t, 34, `{"commands":[{"publish":{"channel":"hist:batch1795640899","data":1}},{"publish":{"channel":"hist:batch1795640899","data":2}}],"parallel":true}`))
	want := c.exp.apply(capture(t, 34, `{"replies":[{"publish":{"offset":2,"epoch":"mdNDBvWG"}},{"publish":{"offset":1,"epoch":"mdNDBvWG"}}]}`), 0)
	if w, g := sortedArray(want, `{"replies":`), sortedArray(c.got.apply(res.body, 0), `{"replies":`); w != g {
		t.Errorf("parallel batch replies (any order)\ncapture: %q\nunisse:  %q", want, res.body)
	}

	capture(t, 34, "-d '{\"commands\":[]}' http://127.0.0.1:18100/api/batch\n{}\n")
	c.expectAPI(srv, "batch", `{"commands":[]}`, `{}`)
}

// sortedArray sorts the elements of the array that follows prefix in s (s
// must be prefix + array + "}"); s is returned as is if it is not.
func sortedArray(s, prefix string) string {
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, "}") {
		return s
	}
	arr := s[len(prefix) : len(s)-1]
	if len(arr) < 2 || arr[0] != '[' || arr[len(arr)-1] != ']' {
		return s
	}
	var elems []string
	for i := 1; i < len(arr)-1; {
		e, ok := scanValue(arr, i)
		if !ok {
			return s
		}
		elems = append(elems, arr[i:e])
		i = e
		if i < len(arr)-1 && arr[i] == ',' {
			i++
		}
	}
	sort.Strings(elems)
	return prefix + "[" + strings.Join(elems, ",") + "]}"
}

// TestConformanceAPIChannelsRefreshInfo replays the non-history part of
// [35]: channels with a glob pattern (only channels with subscribers), a
// refresh with expire_at (refresh push), and the shape of info.
func TestConformanceAPIChannelsRefreshInfo(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	c.ttl = 100
	st := c.connect(srv, capture(t, 35, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjaDE3OTU2NDA4OTkiLCJjaGFubmVscyI6WyJjaGFuMTE3OTU2NDA4OTkiLCJjaGFuMjE3OTU2NDA4OTkiXX0.sLxnrSNzmi55eQsrZMTyIuejKhXOSaxxNaAimpjUwwk"}`))
	st.expect(capture(t, 35, `data: {"connect":{"client":"a5af75b7-404a-4240-b8cf-2f7c57109188","version":"0.0.0 OSS","subs":{"chan21795640899":{},"chan11795640899":{}},"ping":4,"session":"87a2af38-fec8-4b0f-bd43-55765117a318"}}`+"\n\n"))

	c.expectAPI(srv, "channels", capture(t, 35, `{"pattern":"chan*1795640899"}`), capture(t, 35, `{"result":{"channels":{"chan11795640899":{"num_clients":1},"chan21795640899":{"num_clients":1}}}}`))

	c.expectAPI(srv, "refresh", fmt.Sprintf(`{"user":"ch1795640899","expire_at":%d}`, time.Now().Unix()+100), capture(t, 35, `{"result":{}}`))
	st.expect(capture(t, 35, `data: {"refresh":{"expires":true,"ttl":100}}`+"\n\n"))

	// info: the capture shows the node object re-encoded by Python (key order
	// kept, values run-dependent). Compare key order, name, version and the
	// connection counts.
	res := c.api(srv, "info", capture(t, 35, `{}`))
	tr := loadTranscript(t, 35)
	i := strings.Index(tr.text, "\n"+capture(t, 35, `{"result": {"nodes": [{`))
	capNode := nodeOf(t, []byte(tr.text[i+1:strings.Index(tr.text[i+1:], "\n")+i+1]))
	gotNode := nodeOf(t, []byte(res.body))
	if w, g := objectKeys(t, capNode), objectKeys(t, gotNode); strings.Join(w, ",") != strings.Join(g, ",") {
		t.Errorf("info node keys %q, capture %q (body %s)", g, w, res.body)
	}
	var capM, gotM map[string]json.RawMessage
	_ = json.Unmarshal(capNode, &capM)
	if err := json.Unmarshal(gotNode, &gotM); err != nil {
		t.Fatal(err)
	}
	if w, g := objectKeys(t, capM["metrics"]), objectKeys(t, gotM["metrics"]); strings.Join(w, ",") != strings.Join(g, ",") {
		t.Errorf("info metrics keys %q, capture %q", g, w)
	}
	vb, _ := json.Marshal(engine.Version)
	for k, want := range map[string]string{"name": `"cf-ref"`, "version": string(vb), "num_clients": "1", "num_users": "1"} {
		if string(gotM[k]) != want {
			t.Errorf("info %s = %s, want %s", k, gotM[k], want)
		}
	}
	if uid := bytes.Trim(gotM["uid"], `"`); len(uid) == 0 || string(uuidRe.Find(uid)) != string(uid) {
		t.Errorf("info uid = %s, want a UUID", gotM["uid"])
	}
}

// nodeOf returns the first node of an info reply.
func nodeOf(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var r struct {
		Result struct {
			Nodes []json.RawMessage `json:"nodes"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Result.Nodes) != 1 {
		t.Fatalf("info reply %s: %v, want one node", body, err)
	}
	return r.Result.Nodes[0]
}

// objectKeys lists the keys of a JSON object in order.
func objectKeys(t *testing.T, obj json.RawMessage) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", obj)
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
