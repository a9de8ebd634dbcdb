package httpwrite

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readResponse parses b with net/http, so the bytes are a valid response.
func readResponse(t *testing.T, b []byte, method string) *http.Response {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("net/http cannot read %q: %v", b, err)
	}
	return res
}

func TestEmptyWithCORS(t *testing.T) {
	cr := &CORS{Allowed: true, Origin: []byte("https://a.example"), AllowHeaders: []byte("X-Y")}
	b := AppendEmpty(nil, 204, cr, true, false)
	res := readResponse(t, b, "GET")
	if res.StatusCode != 204 || !res.Close {
		t.Fatalf("status %d close %v", res.StatusCode, res.Close)
	}
	for k, v := range map[string]string{
		"Access-Control-Allow-Origin":      "https://a.example",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Headers":     "X-Y",
	} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if res.Header.Get("Date") == "" {
		t.Error("no Date header")
	}
}

func TestNotAllowedCORSAddsNothing(t *testing.T) {
	b := AppendEmpty(nil, 400, &CORS{Origin: []byte("https://evil.example")}, false, false)
	if bytes.Contains(b, []byte("Access-Control")) {
		t.Fatalf("CORS headers for a refused origin: %q", b)
	}
}

func TestBodyAndHead(t *testing.T) {
	body := []byte(`{"ok":true}`)
	b := AppendBody(nil, 200, "application/json", false, body, false, false)
	res := readResponse(t, b, "GET")
	if res.ContentLength != int64(len(body)) || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("length %d type %q", res.ContentLength, res.Header.Get("Content-Type"))
	}
	if !bytes.HasSuffix(b, body) {
		t.Fatalf("body missing: %q", b)
	}
	h := AppendBody(nil, 200, "application/json", false, body, true, false)
	if bytes.HasSuffix(h, body) || !bytes.Contains(h, []byte("Content-Length: 11\r\n")) {
		t.Fatalf("HEAD response: %q; want the length and no body", h)
	}
}

func TestNotFoundIsGos(t *testing.T) {
	b := AppendNotFound(nil, false, false)
	res := readResponse(t, b, "GET")
	if res.StatusCode != 404 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	if !bytes.HasSuffix(b, []byte("404 page not found\n")) {
		t.Fatalf("body: %q", b)
	}
}

func TestFixProto(t *testing.T) {
	b := AppendEmpty(nil, 200, nil, false, false)
	FixProto(b, true)
	if !bytes.HasPrefix(b, []byte("HTTP/1.0 200 OK\r\n")) {
		t.Fatalf("%q", b[:20])
	}
}

func TestStreamHeadChunked(t *testing.T) {
	b := AppendStreamHead(nil, &CORS{}, false, true)
	s := string(b)
	for _, want := range []string{"HTTP/1.1 200 OK\r\n", "Content-Type: text/event-stream; charset=utf-8\r\n", "Connection: keep-alive\r\n", "Transfer-Encoding: chunked\r\n\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("stream head lacks %q: %q", want, s)
		}
	}
}

func TestDateRefreshes(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	RefreshDate(at)
	if got := string(AppendDate(nil)); got != "Date: Wed, 02 Jan 2030 03:04:05 GMT\r\n" {
		t.Fatalf("Date line %q", got)
	}
	RefreshDate(time.Now())
}

func TestAppendsAllocateNothing(t *testing.T) {
	buf := make([]byte, 0, 1024)
	cr := &CORS{Allowed: true, Origin: []byte("https://a.example")}
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendEmpty(buf[:0], 200, cr, false, false)
		buf = AppendStreamHead(buf[:0], cr, false, true)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
