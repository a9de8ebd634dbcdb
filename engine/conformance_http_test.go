package engine_test

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConformancePostBodyLimit replays [23]: with max_request_body_size 1024
// a body of exactly 1024 bytes connects; 1025 bytes is a 413 with an empty
// body and Connection: close.
func TestConformancePostBodyLimit(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	body := func(n int) string {
		b := `{"token":"` + tokenU1 + `","name":"`
		return b + strings.Repeat("p", n-len(b)-2) + `"}`
	}

	t.Run("1024 bytes", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, post("/connection/uni_sse", body(1024)))
		st.expectHead(capture(t, 23, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:16:35 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"))
		st.expectPrimer()
		st.expect(capture(t, 23, `data: {"connect":{"client":"b09ed164-fc08-47d4-9c19-b323327f3fca","version":"0.0.0 OSS","ping":4,"session":"59c5928e-c97e-4929-9a52-8615ed81e340"}}`+"\n\n"))
	})

	t.Run("1025 bytes", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, post("/connection/uni_sse", body(1025)))
		st.expectHead(capture(t, 23, "HTTP/1.1 413 Request Entity Too Large\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nConnection: close\r\nDate: Wed, 25 Nov 2026 21:16:36 GMT\r\nContent-Length: 0\r\n\r\n"))
		st.s.ExpectEOF(t, eventTimeout)
	})
}

// TestConformanceOversizedURL replays [25]: a 100 KB URL is served normally
// (here an invalid token: the exact raw bytes show the chunk framing of a
// refused stream), a request head over 1 MiB + 4 KiB is Go's 431.
func TestConformanceOversizedURL(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	// A request target of n bytes carrying {"token":"xx…x"} (an invalid token).
	target := func(n int) string {
		p := "/connection/uni_sse?cf_connect=%7B%22token%22%3A%22"
		return p + strings.Repeat("x", n-len(p)-len("%22%7D")) + "%22%7D"
	}

	t.Run("100 KB", func(t *testing.T) {
		c := newConformer(t)
		st := c.open(srv.Addr, get(target(100000)))
		want := capture(t, 25, "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:08:01 GMT\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\r\n\r\n3d\r\ndata: {\"disconnect\":{\"code\":3500,\"reason\":\"invalid token\"}}\n\n\r\n0\r\n\r\n")
		c.same("raw response", want, readRawUntil(t, st, "\r\n0\r\n\r\n"))
	})

	t.Run("over 1 MiB", func(t *testing.T) {
		c := newConformer(t)
		conn, err := net.DialTimeout("tcp", srv.Addr, eventTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The server answers before it has read everything: write while
		// reading, and ignore the write error that follows its close.
		go func() { _, _ = io.WriteString(conn, get(target(1100000))) }()
		_ = conn.SetReadDeadline(time.Now().Add(2 * eventTimeout))
		got, err := io.ReadAll(bufio.NewReader(conn))
		if err != nil && len(got) == 0 {
			t.Fatalf("read: %v", err)
		}
		c.same("raw response", capture(t, 25, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"), string(got))
		if err != nil {
			t.Errorf("connection not closed cleanly after the 431: %v", err)
		}
	})
}

// readRawUntil reads raw bytes from the stream's connection until they end
// with suffix.
func readRawUntil(t *testing.T, st *stream, suffix string) string {
	t.Helper()
	_ = st.s.Conn.SetReadDeadline(time.Now().Add(eventTimeout))
	var b []byte
	for !strings.HasSuffix(string(b), suffix) {
		x, err := st.s.R.ReadByte()
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, b)
		}
		b = append(b, x)
	}
	return string(b)
}

// TestConformanceWrongMethods replays [26]: anything but GET and POST is a
// 405 with an empty body and no Allow header; OPTIONS is not a preflight but
// gets CORS headers for an allowed origin.
func TestConformanceWrongMethods(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	const notAllowed = "HTTP/1.1 405 Method Not Allowed\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:08:04 GMT\r\nContent-Length: 0\r\n\r\n"
	for _, tc := range []struct{ name, req, want string }{
		{"PUT", request("PUT", "/connection/uni_sse", nil), notAllowed},
		{"DELETE", request("DELETE", "/connection/uni_sse", nil), notAllowed},
		{"PATCH", request("PATCH", "/connection/uni_sse", nil), notAllowed},
		{"HEAD", request("HEAD", "/connection/uni_sse", nil),
			"HTTP/1.1 405 Method Not Allowed\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nDate: Wed, 25 Nov 2026 21:08:04 GMT\r\n\r\n"},
		{"OPTIONS allowed origin", request("OPTIONS", "/connection/uni_sse", nil, "Origin: http://allowed.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"),
			"HTTP/1.1 405 Method Not Allowed\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Headers: content-type\r\nAccess-Control-Allow-Origin: http://allowed.example\r\nDate: Wed, 25 Nov 2026 21:08:04 GMT\r\nContent-Length: 0\r\n\r\n"},
		{"OPTIONS other origin", request("OPTIONS", "/connection/uni_sse", nil, "Origin: http://evil.example", "Access-Control-Request-Method: GET"),
			"HTTP/1.1 405 Method Not Allowed\r\nDate: Wed, 25 Nov 2026 21:08:04 GMT\r\nContent-Length: 0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			c.sameResponse(tc.name, capture(t, 26, tc.want), c.do(srv.Addr, tc.req))
		})
	}
}

// TestConformanceHealthMetrics replays [43]: /health answers 200 {} to any
// method; /metrics is Prometheus text. Of /metrics only the status line, the
// content type and the text format of the body are compared: its framing
// (chunked or not) follows the size of the body, and its metric families are
// the server's own.
func TestConformanceHealthMetrics(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	const health = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:08:37 GMT\r\nContent-Length: 2\r\n\r\n{}"
	c := newConformer(t)
	c.sameResponse("GET /health", capture(t, 43, health), c.do(srv.InternalAddr, get("/health")))
	c.sameResponse("POST /health", capture(t, 43, health), c.do(srv.InternalAddr, request("POST", "/health", nil)))

	res := c.do(srv.InternalAddr, get("/metrics"))
	statusLine := capture(t, 43, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8; escaping=underscores\r\n")
	if !strings.HasPrefix(res.head, statusLine) {
		t.Errorf("GET /metrics head = %q, want it to start with %q", res.head, statusLine)
	}
	// Every line is a comment or a sample, as in the capture's lines.
	capture(t, 43, "\ncentrifugo_client_connections_accepted{accept_protocol=\"\",client_name=\"unnamed\",client_version=\"unversioned\",transport=\"uni_sse\"} 101\n")
	for _, line := range strings.Split(strings.TrimSuffix(res.body, "\n"), "\n") {
		if !strings.HasPrefix(line, "#") && !sampleRe.MatchString(line) {
			t.Errorf("GET /metrics: %q is not a Prometheus text line", line)
			break
		}
	}
}

var sampleRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})? -?[0-9.eE+-]+$|^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^{}]*\})? (NaN|[+-]Inf)$`)
