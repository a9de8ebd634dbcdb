package httpparse

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/valyala/fasthttp"
)

// Benchmarks of the hot paths, each next to its baselines on the same bytes: net/http's
// http.ReadRequest (what Centrifugo runs) and fasthttp's RequestHeader.Read (the fastest
// widely used Go parser). Readers and request objects are reused across iterations
// wherever the baseline allows it, so the numbers compare parsing, not setup.
//
//	go test -run '^$' -bench . -benchtime 200ms ./httpparse/

// --- (a) uni_sse GET: Chrome EventSource headers, ~300-byte cf_connect ---

func BenchmarkParseHead_SSEGet(b *testing.B) { benchParseHead(b, browserSSEGet) }

func BenchmarkParseHead_SSEGet_NetHTTP(b *testing.B) { benchNetHTTP(b, browserSSEGet) }

func BenchmarkParseHead_SSEGet_Fasthttp(b *testing.B) { benchFasthttp(b, browserSSEGet) }

// BenchmarkParseHead_SSEGet_InPieces delivers the same head in 8 pieces, as a slow
// link would, framed by HeadEnd and parsed once: the total must stay close to
// one-shot.
func BenchmarkParseHead_SSEGet_InPieces(b *testing.B) {
	buf := []byte(browserSSEGet)
	step := len(buf)/8 + 1
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		resume := 0
		for k := step; k < len(buf); k += step {
			var end int
			if end, resume = HeadEnd(buf[:k], resume); end >= 0 {
				b.Fatal(end)
			}
		}
		end, _ := HeadEnd(buf, resume)
		if _, err := r.ParseHead(buf[:end], Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// --- (b) API POST head (the body is not read by any of the three) ---

func BenchmarkParseHead_APIPost(b *testing.B) { benchParseHead(b, apiPost) }

func BenchmarkParseHead_APIPost_NetHTTP(b *testing.B) { benchNetHTTP(b, apiPost) }

func BenchmarkParseHead_APIPost_Fasthttp(b *testing.B) { benchFasthttp(b, apiPost) }

func benchParseHead(b *testing.B, in string) {
	buf := []byte(in)
	var r Request
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ParseHead(buf, Limits{}); err != nil {
			b.Fatal(err)
		}
		if r.Header("Origin") == nil && r.Header("X-Api-Key") == nil {
			b.Fatal("lookup failed")
		}
	}
}

func benchNetHTTP(b *testing.B, in string) {
	src := bytes.NewReader([]byte(in))
	br := bufio.NewReader(src)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset([]byte(in))
		br.Reset(src)
		req, err := http.ReadRequest(br)
		if err != nil {
			b.Fatal(err)
		}
		if req.Header.Get("Origin") == "" && req.Header.Get("X-Api-Key") == "" {
			b.Fatal("lookup failed")
		}
	}
}

func benchFasthttp(b *testing.B, in string) {
	src := bytes.NewReader([]byte(in))
	br := bufio.NewReader(src)
	var h fasthttp.RequestHeader
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset([]byte(in))
		br.Reset(src)
		h.Reset()
		if err := h.Read(br); err != nil {
			b.Fatal(err)
		}
		if h.Peek("Origin") == nil && h.Peek("X-Api-Key") == nil {
			b.Fatal("lookup failed")
		}
	}
}

// --- cf_connect lookup and decode ---

func BenchmarkAppendQuery_CfConnect(b *testing.B) {
	raw := []byte("cf_connect=" + encodeURIComponent(connectJSON))
	dst := make([]byte, 0, 512)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		out, found := AppendQuery(dst[:0], raw, "cf_connect")
		if !found || len(out) != len(connectJSON) {
			b.Fatal("cf_connect")
		}
	}
}

// BenchmarkAppendQuery_CfConnect_NetURL is what Centrifugo does:
// r.URL.Query().Get("cf_connect").
func BenchmarkAppendQuery_CfConnect_NetURL(b *testing.B) {
	raw := "cf_connect=" + encodeURIComponent(connectJSON)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		v, _ := url.ParseQuery(raw)
		if len(v.Get("cf_connect")) != len(connectJSON) {
			b.Fatal("cf_connect")
		}
	}
}

func BenchmarkAppendQuery_CfConnect_Fasthttp(b *testing.B) {
	raw := []byte("cf_connect=" + encodeURIComponent(connectJSON))
	var args fasthttp.Args
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		args.ParseBytes(raw)
		if len(args.Peek("cf_connect")) != len(connectJSON) {
			b.Fatal("cf_connect")
		}
	}
}

// --- chunked API body ---

func BenchmarkChunkedBody(b *testing.B) {
	// apiPublishBody in two chunks, as a streaming client library would send it.
	half := len(apiPublishBody) / 2
	in := []byte(fmt.Sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n",
		half, apiPublishBody[:half], len(apiPublishBody)-half, apiPublishBody[half:]))
	dst := make([]byte, 0, 64)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ChunkedBody(dst[:0], in, 65536); err != nil {
			b.Fatal(err)
		}
	}
}
