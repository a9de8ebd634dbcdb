package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// ping is the server ping event [01] [09].
const ping = "data: {}\n\n"

// TestConformanceChunkFraming checks the HTTP chunks of a stream: the primer
// is a chunk of its own ("2\r\n\r\n\r\n" [25]), every push is one chunk
// holding exactly that event (each flush is a chunk in Centrifugo), and a
// stream the server ends closes with "0\r\n\r\n" [25]. The pushes are those of
// [04] (connect, publication) and [10] (API disconnect of the user).
// TestConformanceOversizedURL compares [25]'s raw bytes, framing included.
func TestConformanceChunkFraming(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.open(srv.Addr, get(cf("/connection/uni_sse", capture(t, 4, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbIm5ld3MxNzk1NjQwODE0Il19.zYFJnq7Ow5ofIDh2fNu7A3sbPWQVItsBRwMFp277aoU"}`))))
	st.expectHead(capture(t, 4, okStreamHead))
	chunk := func(want string) {
		t.Helper()
		got, ok := st.chunk(eventTimeout)
		if !ok {
			t.Fatalf("response ended, want chunk %q", want)
		}
		c.same("chunk", want, got)
	}
	chunk(capture(t, 25, "\r\n"))
	chunk(capture(t, 4, `data: {"connect":{"client":"8a27c886-5a0c-445b-a54d-5224b34a9fab","version":"0.0.0 OSS","subs":{"news1795640814":{}},"ping":4,"session":"b280a723-25a4-4319-a3e4-91bf93b8c15c"}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 4, `{"channel":"news1795640814","data":{"text":"hello"}}`), capture(t, 4, `{"result":{}}`))
	chunk(capture(t, 4, `data: {"channel":"news1795640814","pub":{"data":{"text":"hello"}}}`+"\n\n"))
	c.expectAPI(srv, "disconnect", `{"user":"u1"}`, capture(t, 10, `{"result":{}}`))
	chunk(capture(t, 10, `data: {"disconnect":{"code":3503,"reason":"force disconnect"}}`+"\n\n"))
	st.expectEnd()
}

// TestConformancePingInterval replays [09]: "ping":4 in the connect push,
// the first ping after a random delay in [2s, 4s), then one every 4s.
func TestConformancePingInterval(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, `{"token":"`+capture(t, 9, tokenU1)+`"}`)
	st.expect(capture(t, 9, `data: {"connect":{"client":"a51c8148-4aec-47e0-8a6e-de7e7494d9de","version":"0.0.0 OSS","ping":4,"session":"c65fb1b6-15c7-41c3-98a5-aa56ec3bec49"}}`) + "\n\n")
	connected := st.at

	e, first := st.next(4500 * time.Millisecond)
	c.same("first ping", capture(t, 1, ping), e)
	t.Logf("first ping %v after the connect push", first.Sub(connected))
	if d := first.Sub(connected); d < 1900*time.Millisecond || d > 4300*time.Millisecond {
		t.Errorf("first ping %v after the connect push, want within [2s, 4s)", d)
	}
	e, second := st.next(4500 * time.Millisecond)
	c.same("second ping", capture(t, 1, ping), e)
	t.Logf("second ping %v after the first", second.Sub(first))
	if d := second.Sub(first); d < 3700*time.Millisecond || d > 4300*time.Millisecond {
		t.Errorf("second ping %v after the first, want 4s", d)
	}
}

// TestConformanceExpiry replays [29]: a token expiring in ttl seconds is
// disconnected with 3005 at ttl + expired_close_delay (2s) after the connect,
// pings possibly in between; expire_at overrides exp and 0 disables expiry.
func TestConformanceExpiry(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")

	expires := func(t *testing.T, claims map[string]any, ttl int, connectPush string) {
		c := newConformer(t)
		c.ttl = ttl
		st := c.connect(srv, `{"token":"`+signed(t, claims)+`"}`)
		e := st.expect(capture(t, 29, connectPush) + "\n\n")
		m := ttlRe.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("no ttl in the connect push %q", e)
		}
		n, _ := strconv.Atoi(m[1])
		due := st.at.Add(time.Duration(n)*time.Second + 2*time.Second)
		for {
			e, at := st.next(time.Until(due) + time.Second)
			if e == ping {
				continue
			}
			c.same("expiry disconnect", capture(t, 29, `data: {"disconnect":{"code":3005,"reason":"connection expired"}}`)+"\n\n", e)
			t.Logf("disconnect %v from ttl (%ds) + expired_close_delay (2s)", at.Sub(due), n)
			if d := at.Sub(due); d < -200*time.Millisecond || d > 500*time.Millisecond {
				t.Errorf("disconnect %v from ttl (%ds) + expired_close_delay (2s) after the connect push", d, n)
			}
			break
		}
		st.expectEnd()
	}

	t.Run("exp", func(t *testing.T) {
		t.Parallel()
		expires(t, map[string]any{"sub": "u1", "exp": time.Now().Unix() + 3}, 3,
			`data: {"connect":{"client":"787c00a4-900a-4a84-9059-c0948675b4c1","version":"0.0.0 OSS","expires":true,"ttl":2,"ping":4,"session":"b58aac00-31d5-46c6-bfff-90b530a5c0a2"}}`)
	})
	t.Run("expire_at", func(t *testing.T) {
		t.Parallel()
		now := time.Now().Unix()
		expires(t, map[string]any{"sub": "u1", "exp": now + 3600, "expire_at": now + 2}, 2,
			`data: {"connect":{"client":"d997919a-6d86-4277-9fcb-402417664c00","version":"0.0.0 OSS","expires":true,"ttl":1,"ping":4,"session":"4124dff5-e2e8-426e-a002-77e1aa36a994"}}`)
	})
	t.Run("expire_at 0", func(t *testing.T) {
		t.Parallel()
		c := newConformer(t)
		st := c.connect(srv, `{"token":"`+signed(t, map[string]any{"sub": "u1", "exp": time.Now().Unix() + 60, "expire_at": 0})+`"}`)
		st.expect(capture(t, 29, `data: {"connect":{"client":"4dea76e8-b09d-424b-9caa-b10697a7e8f1","version":"0.0.0 OSS","ping":4,"session":"5ec75b3c-4039-4254-90c9-070d53a4f209"}}`+"\n\n"))
	})
}

// TestConformanceLongLivedStream replays [44]: the HTTP server's read and
// write timeouts do not cut a stream. The capture's server had ReadTimeout
// 30s; here unisse.read_timeout (a unisse-only key) is shortened to 1s so
// that the two pings the test waits for span it several times over.
func TestConformanceLongLivedStream(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.ReadTimeout = time.Second
	srv := enginetest.Start(t, opts)
	c := newConformer(t)
	st := c.connect(srv, `{"token":"`+capture(t, 44, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsb25nIn0.eoqRq5O1VDNTW6bDgW70sD-Dl2prka_JlXBvPnNlkTc")+`"}`)
	st.expect(capture(t, 44, `data: {"connect":{"client":"95980e76-355e-4f51-b3ee-ead27aba2a1d","version":"0.0.0 OSS","ping":4,"session":"95c6637b-50fc-4673-8103-47625f8c0182"}}`) + "\n\n")
	for i := range 2 {
		e, _ := st.next(4500 * time.Millisecond)
		c.same(fmt.Sprintf("ping %d", i+1), capture(t, 1, ping), e)
	}
}

// TestConformanceShutdown replays [45]: stopping the server ends every
// stream with disconnect 3001 "shutdown", the end of the response, and EOF.
func TestConformanceShutdown(t *testing.T) {
	t.Parallel()
	alt := startCapture(t, "config-alt.json")
	c := newConformer(t)
	st := c.open(alt.Addr, get(cf("/custom/sse", capture(t, 45, `{"token":"`+altToken+`"}`))))
	st.expectHead(capture(t, 45, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:22:23 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
	st.expectPrimer()
	st.expect(capture(t, 45, `data: {"connect":{"client":"ff06a4d0-1163-42d9-a1b0-0686055c2055","version":"0.0.0 OSS","ping":4,"session":"1e1ddf41-b6e2-4c55-af29-3830b16d8c75"}}`+"\n\n"))

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- alt.Stop(ctx)
	}()
	st.expect(capture(t, 45, `data: {"disconnect":{"code":3001,"reason":"shutdown"}}`+"\n\n"))
	st.expectEnd()
	st.s.ExpectEOF(t, eventTimeout)
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
}

// TestConformanceLargePayload replays [36]: a 60 KB publication is one event.
// The capture gives the event's length and SHA-256 prefix; the payload below
// reproduces both.
func TestConformanceLargePayload(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 36, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImJpZzE3OTU2NDEzOTYiXX0.xxrWRV-bgIqke48LNOmZ0BKJbrZyL10AEDnUKjumFG8"}`))
	// The capture shows only the ends of the connect push (ids differ).
	if e, _ := st.next(eventTimeout); !strings.HasPrefix(e, capture(t, 36, `data: {"connect":{"client":"`)) {
		t.Errorf("first event %q, want the connect push", e)
	}
	data := `{"blob": "` + strings.Repeat("x", 60000) + `", "n": 1}`
	c.expectAPI(srv, "publish", `{"channel":"big1795641396","data":`+data+`}`, capture(t, 36, `{"result":{}}`))
	e, _ := st.next(eventTimeout)
	ev := strings.TrimSuffix(e, "\n\n")
	sum := sha256.Sum256([]byte(ev))
	capture(t, 36, "60069 b'data: {\"channel\":\"big1795641396\",\"pub\":{\"data\":{\"blob\": \"xxx")
	if len(ev) != 60069 || hex.EncodeToString(sum[:])[:16] != capture(t, 36, "61c65ed10675582b") {
		t.Errorf("event of %d bytes, sha256 %x…, starting %.80q: want 60069 bytes, sha256 61c65ed10675582b…", len(ev), sum[:8], ev)
	}
}

// TestConformanceUnicodeEscaping replays [37]: publication data is forwarded
// byte for byte (UTF-8, escapes, spaces and tabs kept) except that every \n
// is removed; Centrifugo keeps \r, unisse removes it too (the one deliberate
// difference here); strings the server encodes itself (channels, reasons)
// use HTML-safe escaping.
func TestConformanceUnicodeEscaping(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 37, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1PDE-JiIsImNoYW5uZWxzIjpbInVuaTE3OTU2NDA5MDUiLCJ4PCY-MTc5NTY0MDkwNSJdfQ._XUFK_MH5QK44Nz8E6m1Eew6s2G6B5Bt5Z-5yApm70E"}`))
	st.expect(capture(t, 37, `data: {"connect":{"client":"6ae0fa51-9e75-4b35-b49b-035587219095","version":"0.0.0 OSS","subs":{"x\u003c\u0026\u003e1795640905":{},"uni1795640905":{}},"ping":4,"session":"27f575cd-080a-4496-af64-c35895da622e"}}`+"\n\n"))

	c.expectAPI(srv, "publish", capture(t, 37, `{"channel":"uni1795640905","data":{"u":"Привет, 世界 🎉","esc":"\u00e9\u2028\"q\"\\/","html":"<b>&amp;</b>"}}`), capture(t, 37, `{"result":{}}`))
	st.expect(capture(t, 37, `data: {"channel":"uni1795640905","pub":{"data":{"u":"Привет, 世界 🎉","esc":"\u00e9\u2028\"q\"\\/","html":"<b>&amp;</b>"}}}`+"\n\n"))

	c.expectAPI(srv, "publish", shellANSIC(t, 37, `{"channel":"uni1795640905","data": { "a" :\n  [1, 2] ,\t"b":"x"\n}}`), capture(t, 37, `{"result":{}}`))
	st.expect(capture(t, 37, "data: {\"channel\":\"uni1795640905\",\"pub\":{\"data\":{ \"a\" :  [1, 2] ,\t\"b\":\"x\"}}}\n\n"))

	// Centrifugo keeps the \r, which an EventSource reads as a line end;
	// unisse drops it like \n (README "Differences").
	c.expectAPI(srv, "publish", shellANSIC(t, 37, `{"channel":"x<&>1795640905","data":{"a":1,\r"b":2}}`), capture(t, 37, `{"result":{}}`))
	capture(t, 37, "data: {\"channel\":\"x\\u003c\\u0026\\u003e1795640905\",\"pub\":{\"data\":{\"a\":1,\r\"b\":2}}}\n\n")
	st.expect("data: {\"channel\":\"x\\u003c\\u0026\\u003e1795640905\",\"pub\":{\"data\":{\"a\":1,\"b\":2}}}\n\n")

	c.expectAPI(srv, "disconnect", capture(t, 37, `{"user":"u<1>&","disconnect":{"code":4100,"reason":"a<b>&c é"}}`), capture(t, 37, `{"result":{}}`))
	st.expect(capture(t, 37, `data: {"disconnect":{"code":4100,"reason":"a\u003cb\u003e\u0026c é"}}`+"\n\n"))
	st.expectEnd()
}

// TestConformanceBinaryData replays [38]: b64data that decodes to JSON is
// delivered; non-JSON bytes disconnect the (JSON) uni_sse subscriber with
// 3506.
func TestConformanceBinaryData(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	st := c.connect(srv, capture(t, 38, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImJpbjE3OTU2NDA5MDgiXX0.4TmbBY82AWSrD21xUmx6J7LMZhzwJdFxtYKfysU6bEI"}`))
	st.expect(capture(t, 38, `data: {"connect":{"client":"7fd19f9d-ecb5-406d-8603-9a0483c73ec3","version":"0.0.0 OSS","subs":{"bin1795640908":{}},"ping":4,"session":"f2dbd87a-28e7-4757-b8fd-5dbb658eceae"}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 38, `{"channel":"bin1795640908","b64data":"eyJqc29uIjp0cnVlfQ=="}`), capture(t, 38, `{"result":{}}`))
	st.expect(capture(t, 38, `data: {"channel":"bin1795640908","pub":{"data":{"json":true}}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 38, `{"channel":"bin1795640908","b64data":"aGVsbG8="}`), capture(t, 38, `{"result":{}}`))
	st.expect(capture(t, 38, `data: {"disconnect":{"code":3506,"reason":"inappropriate protocol"}}`+"\n\n"))
	st.expectEnd()
	c.expectAPI(srv, "publish", capture(t, 38, `{"channel":"bin1795640908","data":"after"}`), capture(t, 38, `{"result":{}}`))
}

// shellANSIC checks that $'quoted' occurs in capture n and returns it as bash
// decodes it (\n, \r and \t become the bytes).
func shellANSIC(t *testing.T, n int, quoted string) string {
	t.Helper()
	capture(t, n, "$'"+quoted+"'")
	return strings.NewReplacer(`\n`, "\n", `\r`, "\r", `\t`, "\t").Replace(quoted)
}
