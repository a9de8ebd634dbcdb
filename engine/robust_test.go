package engine_test

// Hostile and unlucky clients over real sockets: input that is cut short,
// never finishes, is too large, is not HTTP, is badly encoded or framed two
// ways; pipelining and bodies that trickle in; and subscribers that cannot
// keep up, that vanish mid-write, or that are many. Each case asserts the
// exact answer (status line, disconnect push, or a silent close) and that the
// server keeps serving afterwards; a panic anywhere in the server would end
// the test binary.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// rbTimeout bounds every wait for something the server should do promptly.
const rbTimeout = 10 * time.Second

// rbStart starts a server with the main capture config, changed by edit.
func rbStart(t *testing.T, edit func(*config.Options)) *enginetest.Server {
	t.Helper()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	if edit != nil {
		edit(&opts)
	}
	return enginetest.Start(t, opts)
}

// rbDial opens a raw connection closed when the test ends.
func rbDial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, rbTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func rbWrite(t *testing.T, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(rbTimeout))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// rbReadAll reads until the server closes the connection; a reset after some
// bytes counts as the close (a server that closes with unread input resets).
func rbReadAll(t *testing.T, c net.Conn, timeout time.Duration) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("waiting for the server to close: %v (read %q)", err, rbTrim(string(b)))
	}
	return string(b)
}

// rbSilent asserts the server sends nothing and keeps the connection open
// for d: the server must wait for the rest of a request. It doubles as the
// pause between two pieces of a request.
func rbSilent(t *testing.T, c net.Conn, r *bufio.Reader, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := r.Peek(1)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("server answered a partial request: %q, %v", b, err)
	}
}

// rbTrim shortens long strings in failure messages.
func rbTrim(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// rbProtocolError is what the server writes for a request it cannot parse
// before closing, exactly as Go's net/http does.
func rbProtocolError(status int, text string) string {
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%d %s", status, text, status, text)
}

// rbExpectHealthy checks that the server still answers, and how many streams
// it counts.
func rbExpectHealthy(t *testing.T, srv *enginetest.Server, clients int) {
	t.Helper()
	st := enginetest.Dial(t, srv.Addr, enginetest.GetRequest("/health"))
	st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
	resp, err := enginetest.ReadResponse(st.R)
	if err != nil || resp.Status != 200 || resp.Body != "{}" {
		t.Fatalf("/health after the test: %+v, %v", resp, err)
	}
	enginetest.Eventually(t, rbTimeout, fmt.Sprintf("NumClients() == %d", clients), func() bool { return srv.NumClients() == clients })
}

// rbToken signs a token for user with server-side channels.
func rbToken(t *testing.T, user string, channels ...string) string {
	t.Helper()
	return enginetest.Token(t, enginetest.Secret, map[string]any{"sub": user, "channels": channels})
}

// rbCfConnect is a uni_sse GET target with a raw (already encoded) query.
func rbCfConnect(rawQuery string) string {
	return "/connection/uni_sse?" + rawQuery
}

// rbRefused reads a refused connect: 200 stream head, the disconnect push,
// the end of the chunked body, then the close.
func rbRefused(t *testing.T, st *enginetest.Stream, disconnect string) {
	t.Helper()
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	st.ExpectEvent(t, disconnect)
	if ev, err := st.Event(rbTimeout); err != io.EOF {
		t.Fatalf("after the disconnect push: %q, %v; want the end of the body", ev, err)
	}
	st.ExpectEOF(t, rbTimeout)
}

// ---------------------------------------------------------------------------
// Requests cut short, or never finished

// TestRobustTruncatedHeads sends requests that stop part way — in the
// request line, in the headers, in a Content-Length body, in a chunked body —
// and then half-closes. The server must close the connection without
// answering (there is no complete request to answer) and without counting a
// stream; a second round closes with RST instead (SO_LINGER 0).
func TestRobustTruncatedHeads(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	token := rbToken(t, "trunc", "trunc")
	full := []string{
		"GET " + rbCfConnect("cf_connect="+url.QueryEscape(`{"token":"`+token+`"}`)) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
		"POST /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + strconv.Itoa(len(token)+13) + "\r\n\r\n{\"token\":\"" + token + "\"}",
		srv.APIRequest("publish", `{"channel":"trunc","data":{"never":"delivered"}}`),
		"POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + enginetest.APIKey + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"cha\r\n0\r\n\r\n",
	}
	var cuts []string
	for _, req := range full {
		for _, n := range []int{1, 4, 17, strings.Index(req, "\r\n"), strings.Index(req, "\r\n") + 2, strings.Index(req, "\r\n\r\n") + 2, strings.Index(req, "\r\n\r\n") + 3, len(req) - 1} {
			if n > 0 && n < len(req) {
				cuts = append(cuts, req[:n])
			}
		}
	}
	cuts = append(cuts, "\r\n\r\n\r\n") // empty lines only: no request yet

	sub := srv.Connect(t, map[string]any{"token": rbToken(t, "trunc-sub", "trunc")})
	sub.ExpectPrefix(t, `{"connect":`)

	for i, cut := range cuts {
		c := rbDial(t, srv.Addr)
		rbWrite(t, c, cut)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := rbReadAll(t, c, rbTimeout); got != "" {
			t.Errorf("cut %d %q: server answered %q, want a silent close", i, rbTrim(cut), rbTrim(got))
		}
	}
	for _, cut := range cuts {
		c := rbDial(t, srv.Addr)
		rbWrite(t, c, cut)
		c.SetLinger(0)
		c.Close()
	}
	// The truncated publishes must not have been delivered: the next event
	// the subscriber gets is this one.
	srv.Call(t, "publish", `{"channel":"trunc","data":"after"}`)
	sub.ExpectEvent(t, `{"channel":"trunc","pub":{"data":"after"}}`)
	rbExpectHealthy(t, srv, 1)
}

// TestRobustReadTimeout sets unisse.read_timeout to 300 ms and checks it:
// a head trickling in a byte at a time and never completing is closed
// (silently, as Go does on a read timeout) after about that long, not at
// once; so is a POST whose body never completes, and an idle keep-alive
// connection after its first response. A stream, once open, is not subject
// to it: it outlives the timeout and still gets publications.
func TestRobustReadTimeout(t *testing.T) {
	t.Parallel()
	const readTimeout = 300 * time.Millisecond
	srv := rbStart(t, func(o *config.Options) {
		o.Own.ReadTimeout = readTimeout
		o.Client.PingInterval = time.Second
		o.Client.PongTimeout = 500 * time.Millisecond
	})

	// A stream opened first: it must survive everything below.
	sub := srv.Connect(t, map[string]any{"token": rbToken(t, "rt", "rt")})
	sub.ExpectPrefix(t, `{"connect":`)
	opened := time.Now()

	expectClosedAfter := func(name string, c net.Conn, start time.Time) {
		t.Helper()
		got := rbReadAll(t, c, 5*time.Second)
		elapsed := time.Since(start)
		if got != "" {
			t.Errorf("%s: got %q, want a silent close", name, rbTrim(got))
		}
		if elapsed < readTimeout/3 {
			t.Errorf("%s: closed after %v, before the read timeout of %v", name, elapsed, readTimeout)
		}
	}

	// Slowloris: a header byte every 50 ms, never the blank line.
	c := rbDial(t, srv.Addr)
	start := time.Now()
	rbWrite(t, c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	expectClosedAfter("trickled head", c, start)
	close(stop)
	<-trickled

	// A body that never completes.
	c = rbDial(t, srv.Addr)
	start = time.Now()
	rbWrite(t, c, srv.APIRequest("publish", `{"channel":"rt","data":1}`)[:len(srv.APIRequest("publish", `{"channel":"rt","data":1}`))-3])
	expectClosedAfter("incomplete body", c, start)

	// An idle keep-alive connection after one response.
	c = rbDial(t, srv.Addr)
	r := bufio.NewReader(c)
	rbWrite(t, c, enginetest.GetRequest("/health"))
	c.SetReadDeadline(time.Now().Add(rbTimeout))
	if resp, err := enginetest.ReadResponse(r); err != nil || resp.Status != 200 {
		t.Fatalf("health: %+v %v", resp, err)
	}
	start = time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := r.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection: got %q, %v; want EOF", b, err)
	}
	if elapsed := time.Since(start); elapsed < readTimeout/3 {
		t.Errorf("idle keep-alive connection closed after %v", elapsed)
	}

	// The stream is still open past the read timeout: a ping arrives (the
	// first is due 0.5–1 s after the connect), then a publication.
	for {
		ev, err := sub.Event(rbTimeout)
		if err != nil {
			t.Fatalf("stream closed by the read timeout? %v", err)
		}
		if ev == "{}" {
			break
		}
		t.Fatalf("unexpected event %s", ev)
	}
	if time.Since(opened) < readTimeout {
		t.Fatalf("ping came before the read timeout passed")
	}
	srv.Call(t, "publish", `{"channel":"rt","data":"still here"}`)
	if ev, err := sub.EventSkipPings(rbTimeout); err != nil || ev != `{"channel":"rt","pub":{"data":"still here"}}` {
		t.Fatalf("got %q, %v", ev, err)
	}
	rbExpectHealthy(t, srv, 1)
}

// ---------------------------------------------------------------------------
// Too large

// TestRobustHugeHeaders: a request head over unisse.max_request_head_size
// (default 1 MiB + 4 KiB, Go's limit) is answered 431 and closed, whether it
// comes as one giant header or as a complete head; a head of exactly the
// limit is served. More than 64 header lines (httpparse.MaxHeaders) is also
// 431; 64 are served.
func TestRobustHugeHeaders(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	small := rbStart(t, func(o *config.Options) { o.Own.MaxRequestHeadSize = 4096 })
	want431 := rbProtocolError(431, "Request Header Fields Too Large")

	// send writes req from a goroutine (the server may close before reading
	// all of it) and returns everything the server sends before closing.
	send := func(addr, req string) string {
		t.Helper()
		c := rbDial(t, addr)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.SetWriteDeadline(time.Now().Add(rbTimeout))
			_, _ = io.WriteString(c, req) // may fail with EPIPE/ECONNRESET once the server closes
		}()
		got := rbReadAll(t, c, rbTimeout)
		<-done
		return got
	}

	// One header line of 1.1 MiB that never ends (no CRLF yet): the server
	// must give up at the limit rather than buffer on.
	huge := "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: " + strings.Repeat("h", 1<<20+8<<10)
	if got := send(srv.Addr, huge); got != want431 {
		t.Errorf("1.1 MiB header: got %q, want %q", rbTrim(got), want431)
	}
	// Many ordinary headers adding up to more than the limit, head complete.
	var b strings.Builder
	b.WriteString("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	for i := 0; b.Len() < 1<<20+8<<10; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i%60, strings.Repeat("f", 8000))
	}
	b.WriteString("\r\n")
	if got := send(srv.Addr, b.String()); got != want431 {
		t.Errorf("complete 1 MiB head: got %q, want %q", rbTrim(got), want431)
	}

	// Exactly at the limit (4096 here) is served; one byte more is not.
	head := func(size int) string {
		base := "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: \r\nConnection: close\r\n\r\n"
		return strings.Replace(base, "X-Pad: ", "X-Pad: "+strings.Repeat("p", size-len(base)), 1)
	}
	if got := send(small.Addr, head(4096)); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n{}") {
		t.Errorf("head of exactly the limit: got %q, want 200 {}", rbTrim(got))
	}
	if got := send(small.Addr, head(4097)); got != want431 {
		t.Errorf("head one byte over the limit: got %q, want %q", rbTrim(got), want431)
	}

	// 64 header lines are served; 65 are too many.
	headers := func(n int) string {
		var b strings.Builder
		b.WriteString("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
		for i := 2; i < n; i++ {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		b.WriteString("\r\n")
		return b.String()
	}
	if got := send(srv.Addr, headers(64)); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("64 headers: got %q, want 200", rbTrim(got))
	}
	if got := send(srv.Addr, headers(65)); got != want431 {
		t.Errorf("65 headers: got %q, want %q", rbTrim(got), want431)
	}
	rbExpectHealthy(t, srv, 0)
	rbExpectHealthy(t, small, 0)
}

// ---------------------------------------------------------------------------
// Not HTTP, or HTTP framed two ways

// TestRobustGarbage puts bytes that are not an acceptable HTTP/1.x request on
// the port — a TLS ClientHello, binary noise, malformed request lines and
// header lines, and a request with both Content-Length and
// Transfer-Encoding — and expects Go's answer for each (400, or 501/505)
// followed by a close.
func TestRobustGarbage(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	// A TLS 1.2 ClientHello as a browser starts an https:// request.
	clientHello := "\x16\x03\x01\x00\x61\x01\x00\x00\x5d\x03\x03" + strings.Repeat("\x42", 32) +
		"\x00\x00\x04\x13\x01\xc0\x2f\x01\x00\x00\x30\x00\x00\x00\x0e\x00\x0c\x00\x00\x09localhost" +
		"\x00\x0a\x00\x04\x00\x02\x00\x1d\x00\x0d\x00\x04\x00\x02\x04\x03\x00\x2b\x00\x03\x02\x03\x04\x00\x10\x00\x05\x00\x03\x02h2"
	bad400 := rbProtocolError(400, "Bad Request")
	cases := []struct{ name, send, want string }{
		{"TLS ClientHello", clientHello, bad400},
		{"binary noise", "\x00\x01\x02\xff\xfe\x80garbage\r\n\r\n", bad400},
		{"SSH banner", "SSH-2.0-OpenSSH_9.6\r\n", bad400},
		{"HTTP/0.9", "GET /health\r\n\r\n", bad400},
		{"double space", "GET  /health HTTP/1.1\r\nHost: x\r\n\r\n", bad400},
		{"lower-case version", "GET /health http/1.1\r\nHost: x\r\n\r\n", bad400},
		{"HTTP/2.0 line", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n", rbProtocolError(505, "HTTP Version Not Supported")},
		{"no Host", "GET /health HTTP/1.1\r\n\r\n", bad400},
		{"two Hosts", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", bad400},
		{"header without colon", "GET /health HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", bad400},
		{"space before colon", "GET /health HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", bad400},
		{"obs-fold", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", bad400},
		{"NUL in target", "GET /hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n", bad400},
		{"bad Content-Length", "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", bad400},
		{"two Content-Lengths", "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", bad400},
		{"Content-Length and Transfer-Encoding", "POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + enginetest.APIKey +
			"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad400},
		{"Transfer-Encoding and Content-Length on connect", "POST /connection/uni_sse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n", bad400},
		{"Transfer-Encoding gzip", "POST /api/publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nUnsupported transfer encoding"},
		{"bad chunk size", "POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: " + enginetest.APIKey + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad400},
	}
	for _, tc := range cases {
		c := rbDial(t, srv.Addr)
		rbWrite(t, c, tc.send)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: no close: %v (got %q)", tc.name, err, rbTrim(string(b)))
		} else if string(b) != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, rbTrim(string(b)), tc.want)
		}
	}
	rbExpectHealthy(t, srv, 0)
}

// ---------------------------------------------------------------------------
// Badly encoded connect requests and payloads

// TestRobustConnectEncoding covers cf_connect values that do not decode:
// a bad percent-escape drops the parameter as Go's url.Values does (the
// request is then empty → 3501), while a later well-formed cf_connect still
// counts; invalid UTF-8 inside the JSON (in the token: invalid token 3500; in
// a field we do not use: the connect succeeds; in POST bodies the same);
// and JSON that is not an object (400, empty body) or null (3501).
func TestRobustConnectEncoding(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	token := rbToken(t, "enc", "enc")
	good := url.QueryEscape(`{"token":"` + token + `"}`)
	const badRequest = `{"disconnect":{"code":3501,"reason":"bad request"}}`
	const invalidToken = `{"disconnect":{"code":3500,"reason":"invalid token"}}`

	get := func(rawQuery string) *enginetest.Stream {
		return enginetest.Dial(t, srv.Addr, enginetest.GetRequest(rbCfConnect(rawQuery)))
	}
	post := func(body string) *enginetest.Stream {
		return enginetest.Dial(t, srv.Addr, fmt.Sprintf("POST /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	}
	connected := func(name string, st *enginetest.Stream) {
		t.Helper()
		if err := st.Open(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev := st.ExpectPrefix(t, `{"connect":{"client":"`); !strings.Contains(ev, `"subs":{"enc":{}}`) {
			t.Fatalf("%s: connect push %s", name, ev)
		}
	}

	// Bad percent-encoding.
	rbRefused(t, get("cf_connect=%7B%zz%7D"), badRequest)
	rbRefused(t, get("cf_connect="+good+"%"), badRequest)        // a truncated escape at the end
	rbRefused(t, get("cf_connect="+good+"%e"), badRequest)       // a half escape
	rbRefused(t, get("cf_connect="+good[:10]+"%G0"), badRequest) // not hex
	connected("bad pair then good pair", get("cf_connect=%zz&cf_connect="+good))
	connected("bad other parameter", get("x=%zz&cf_connect="+good))

	// Invalid UTF-8 inside the JSON.
	rbRefused(t, get("cf_connect="+url.QueryEscape("{\"token\":\"\xff\xfe\"}")), invalidToken)
	rbRefused(t, get("cf_connect="+url.QueryEscape("{\"token\":\""+token[:20]+"\xc3\x28"+token[20:]+"\"}")), invalidToken)
	connected("invalid UTF-8 in name", get("cf_connect="+url.QueryEscape("{\"token\":\""+token+"\",\"name\":\"\xff\xc0\x80\xed\xa0\x80\"}")))
	connected("invalid UTF-8 in data", get("cf_connect="+url.QueryEscape("{\"token\":\""+token+"\",\"data\":{\"x\":\"\xfe\"}}")))
	connected("invalid UTF-8 in an unknown key", get("cf_connect="+url.QueryEscape("{\"\xff\":1,\"token\":\""+token+"\"}")))
	rbRefused(t, post("{\"token\":\"\xff\"}"), invalidToken)
	connected("POST invalid UTF-8 in name", post("{\"token\":\""+token+"\",\"name\":\"\x80\x80\"}"))

	// Not an object.
	for _, v := range []string{`[]`, `""`, `123`, `true`, `"{}"`, `[{"token":"x"}]`} {
		st := get("cf_connect=" + url.QueryEscape(v))
		st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
		resp, err := enginetest.ReadResponse(st.R)
		if err != nil || resp.Status != 400 || resp.Body != "" {
			t.Errorf("cf_connect=%s: %+v %v, want 400 with an empty body", v, resp, err)
		}
		st = post(v)
		st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
		resp, err = enginetest.ReadResponse(st.R)
		if err != nil || resp.Status != 400 || resp.Body != "" {
			t.Errorf("POST %s: %+v %v, want 400 with an empty body", v, resp, err)
		}
	}
	rbRefused(t, get("cf_connect=null"), badRequest)
	rbRefused(t, post("null"), badRequest)
	rbExpectHealthy(t, srv, 6)
}

// TestRobustPayloadEncoding publishes payloads that are badly encoded or
// not what the API expects: invalid UTF-8 inside the JSON data is valid JSON
// to Go's decoder and is forwarded byte for byte (as Centrifugo does: its
// API keeps data as raw bytes); a body that is not a JSON object is a 400
// "Bad Request\n"; null decodes to an empty request (107 bad request).
func TestRobustPayloadEncoding(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	sub := srv.Connect(t, map[string]any{"token": rbToken(t, "pay", "pay")})
	sub.ExpectPrefix(t, `{"connect":`)
	api := srv.DialAPI(t)

	for _, data := range []string{"{\"s\":\"a\xffb\"}", "\"\xc0\x80\"", "[\"\xed\xa0\x80\",\"ok\"]", "{\"\xfe\":1}"} {
		if got := api.Call(t, "publish", `{"channel":"pay","data":`+data+`}`); got != `{"result":{}}` {
			t.Fatalf("publish %q: %s", data, got)
		}
		sub.ExpectEvent(t, `{"channel":"pay","pub":{"data":`+data+`}}`)
	}
	for _, body := range []string{`[]`, `"x"`, `123`, `[{"channel":"pay","data":1}]`, "\xff\xfe"} {
		r, err := api.Do("publish", body)
		if err != nil || r.Status != 400 || r.Body != "Bad Request\n" {
			t.Errorf("publish body %q: %+v %v, want 400 Bad Request", body, r, err)
		}
	}
	if got := api.Call(t, "publish", `null`); got != `{"error":{"code":107,"message":"bad request"}}` {
		t.Errorf("publish null: %s", got)
	}
	// Nothing from the refused publishes reached the subscriber.
	api.Call(t, "publish", `{"channel":"pay","data":"last"}`)
	sub.ExpectEvent(t, `{"channel":"pay","pub":{"data":"last"}}`)
	rbExpectHealthy(t, srv, 1)
}

// ---------------------------------------------------------------------------
// Pipelining, trickling and chunked bodies

// TestRobustPipelinedAPI sends eleven requests in one write — publishes,
// /health, a 404, a 401, and API methods that run off the event loop
// (/api/info, /api/disconnect, /api/channels) — and expects the answers in
// request order, the last one (Connection: close) followed by the close. The
// subscriber gets the four publications in order; the disconnected user its
// disconnect push.
func TestRobustPipelinedAPI(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	sub := srv.Connect(t, map[string]any{"token": rbToken(t, "piper", "pipe")})
	sub.ExpectPrefix(t, `{"connect":`)
	victim := srv.Connect(t, map[string]any{"token": rbToken(t, "victim", "vic")})
	victim.ExpectPrefix(t, `{"connect":`)

	pub := func(n int) string {
		return srv.APIRequest("publish", fmt.Sprintf(`{"channel":"pipe","data":{"n":%d}}`, n))
	}
	reqs := []string{
		pub(1),
		enginetest.GetRequest("/health"),
		enginetest.GetRequest("/nope"),
		srv.APIRequest("info", `{}`),
		pub(2),
		srv.APIRequest("disconnect", `{"user":"victim"}`),
		srv.APIRequest("channels", `{"pattern":"pipe*"}`),
		pub(3),
		srv.APIRequest("nope", `{}`),
		strings.Replace(pub(99), "X-API-Key: "+enginetest.APIKey, "X-API-Key: wrong", 1),
		strings.Replace(pub(4), "Host: 127.0.0.1\r\n", "Host: 127.0.0.1\r\nConnection: close\r\n", 1),
	}
	type answer struct {
		status int
		body   string // exact, or a prefix when it ends in "…"
	}
	want := []answer{
		{200, `{"result":{}}`},
		{200, `{}`},
		{404, "404 page not found\n"},
		{200, `{"result":{"nodes":[{"uid":"…`},
		{200, `{"result":{}}`},
		{200, `{"result":{}}`},
		{200, `{"result":{"channels":{"pipe":{"num_clients":1}}}}`},
		{200, `{"result":{}}`},
		{404, "404 page not found\n"},
		{401, ""},
		{200, `{"result":{}}`},
	}
	c := rbDial(t, srv.InternalAddr)
	rbWrite(t, c, strings.Join(reqs, ""))
	r := bufio.NewReader(c)
	for i, w := range want {
		c.SetReadDeadline(time.Now().Add(rbTimeout))
		resp, err := enginetest.ReadResponse(r)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		ok := resp.Status == w.status
		if p, cut := strings.CutSuffix(w.body, "…"); cut {
			ok = ok && strings.HasPrefix(resp.Body, p)
		} else {
			ok = ok && resp.Body == w.body
		}
		if !ok {
			t.Errorf("response %d: %d %q, want %d %q", i+1, resp.Status, rbTrim(resp.Body), w.status, w.body)
		}
		if i == 3 && !strings.Contains(resp.Body, `"num_clients":2,`) {
			t.Errorf("info before the disconnect must count both streams: %s", rbTrim(resp.Body))
		}
		if i == len(want)-1 {
			if v, _ := resp.Header("Connection"); v != "close" {
				t.Errorf("last response lacks Connection: close:\n%s", resp.Head)
			}
		}
	}
	if rest := rbReadAll(t, c, rbTimeout); rest != "" {
		t.Errorf("after the Connection: close response: %q", rbTrim(rest))
	}
	for n := 1; n <= 4; n++ {
		sub.ExpectEvent(t, fmt.Sprintf(`{"channel":"pipe","pub":{"data":{"n":%d}}}`, n))
	}
	victim.ExpectEvent(t, `{"disconnect":{"code":3503,"reason":"force disconnect"}}`)
	if ev, err := victim.Event(rbTimeout); err != io.EOF {
		t.Fatalf("victim after disconnect: %q %v", ev, err)
	}
	rbExpectHealthy(t, srv, 1)
}

// TestRobustTrickledBodies sends requests in pieces with pauses, checking
// that the server stays silent until the request is whole: a POST connect
// (head and Content-Length body split), and chunked bodies — a chunked API
// publish with a chunk extension and a trailer, followed in the same write
// by a pipelined request, and a chunked POST connect.
func TestRobustTrickledBodies(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	const pause = 60 * time.Millisecond
	token := rbToken(t, "trickle", "trickle")

	openAndCheck := func(name string, c net.Conn, r *bufio.Reader) *enginetest.Stream {
		t.Helper()
		st := &enginetest.Stream{Conn: c, R: r}
		if err := st.Open(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ev := st.ExpectPrefix(t, `{"connect":{"client":"`); !strings.Contains(ev, `"subs":{"trickle":{}}`) {
			t.Fatalf("%s: %s", name, ev)
		}
		return st
	}

	// POST connect, Content-Length body, five pieces.
	body := `{"token":"` + token + `","name":"trickler"}`
	req := fmt.Sprintf("POST /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	c := rbDial(t, srv.Addr)
	r := bufio.NewReader(c)
	cuts := []int{10, strings.Index(req, "\r\n\r\n") + 1, strings.Index(req, "\r\n\r\n") + 4, len(req) - len(body)/2, len(req)}
	prev := 0
	for i, cut := range cuts {
		rbWrite(t, c, req[prev:cut])
		prev = cut
		if i < len(cuts)-1 {
			rbSilent(t, c, r, pause)
		}
	}
	s1 := openAndCheck("trickled POST connect", c, r)

	// Chunked publish with an extension and a trailer, then /health in the
	// same write; sent in pieces.
	payload := `{"channel":"trickle","data":{"via":"chunked"}}`
	chunked := "POST /api/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: " + enginetest.APIKey + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
		fmt.Sprintf("%x;name=value\r\n%s\r\n", 11, payload[:11]) +
		fmt.Sprintf("%X\r\n%s\r\n", len(payload)-11, payload[11:]) +
		"0\r\nX-Trailer: yes\r\n\r\n" + enginetest.GetRequest("/health")
	api := rbDial(t, srv.InternalAddr)
	ar := bufio.NewReader(api)
	pieces := []int{strings.Index(chunked, "\r\n\r\n") + 4, strings.Index(chunked, "\r\n\r\n") + 9, strings.Index(chunked, "0\r\nX-Trailer"), strings.Index(chunked, "0\r\nX-Trailer") + 5, len(chunked)}
	prev = 0
	for i, cut := range pieces {
		rbWrite(t, api, chunked[prev:cut])
		prev = cut
		if i < len(pieces)-1 {
			rbSilent(t, api, ar, pause)
		}
	}
	api.SetReadDeadline(time.Now().Add(rbTimeout))
	if resp, err := enginetest.ReadResponse(ar); err != nil || resp.Status != 200 || resp.Body != `{"result":{}}` {
		t.Fatalf("chunked publish: %+v %v", resp, err)
	}
	if resp, err := enginetest.ReadResponse(ar); err != nil || resp.Status != 200 || resp.Body != `{}` {
		t.Fatalf("health pipelined after a chunked body: %+v %v", resp, err)
	}
	s1.ExpectEvent(t, `{"channel":"trickle","pub":{"data":{"via":"chunked"}}}`)

	// Chunked POST connect, one byte of body per chunk for the first few.
	c = rbDial(t, srv.Addr)
	r = bufio.NewReader(c)
	rbWrite(t, c, "POST /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
	rbSilent(t, c, r, pause)
	for i := range 3 {
		rbWrite(t, c, "1\r\n"+body[i:i+1]+"\r\n")
	}
	rbSilent(t, c, r, pause)
	rbWrite(t, c, fmt.Sprintf("%x\r\n%s\r\n", len(body)-3, body[3:]))
	rbSilent(t, c, r, pause)
	rbWrite(t, c, "0\r\n\r\n")
	s2 := openAndCheck("chunked POST connect", c, r)

	srv.Call(t, "publish", `{"channel":"trickle","data":2}`)
	s1.ExpectEvent(t, `{"channel":"trickle","pub":{"data":2}}`)
	s2.ExpectEvent(t, `{"channel":"trickle","pub":{"data":2}}`)
	rbExpectHealthy(t, srv, 2)
}

// TestRobustInputOnStream: once a stream is open, whatever the client sends
// on it — a pipelined request in the same write as the connect, then 4 MiB
// of garbage — is ignored: no response appears in the stream, the stream
// keeps delivering publications, and the input does not pile up (the
// server drops it instead of closing for a too-large head).
func TestRobustInputOnStream(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	req := srv.StreamRequest(map[string]any{"token": rbToken(t, "chatty", "chatty")}) + enginetest.GetRequest("/health")
	st := enginetest.Dial(t, srv.Addr, req)
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	st.ExpectPrefix(t, `{"connect":`)
	junk := strings.Repeat("\x00garbage GET / HTTP/1.1\r\n", 1<<12)
	for range (4 << 20) / len(junk) {
		rbWrite(t, st.Conn, junk)
	}
	for i := range 3 {
		srv.Call(t, "publish", fmt.Sprintf(`{"channel":"chatty","data":%d}`, i))
		st.ExpectEvent(t, fmt.Sprintf(`{"channel":"chatty","pub":{"data":%d}}`, i))
	}
	rbExpectHealthy(t, srv, 1)
}

// ---------------------------------------------------------------------------
// Subscribers under load

// rbDialSmallWindow opens a raw connection whose receive buffer is set to
// 4 KiB before connecting (so the window it advertises is small from the
// start) and sends req.
func rbDialSmallWindow(t *testing.T, addr, req string) *enginetest.Stream {
	t.Helper()
	d := net.Dialer{Timeout: rbTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rbWrite(t, c, req)
	return &enginetest.Stream{Conn: c, R: bufio.NewReader(c)}
}

// rbPayload is a publication of about size bytes carrying its number.
func rbPayload(n, size int) string {
	return fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, strings.Repeat("x", size))
}

// rbPubNumber extracts n from a publication event made from rbPayload.
func rbPubNumber(ev, channel string) (int, bool) {
	rest, ok := strings.CutPrefix(ev, `{"channel":"`+channel+`","pub":{"data":{"n":`)
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ",")
	n, err := strconv.Atoi(num)
	return n, ok && err == nil
}

// rbMetric returns a counter's value from /metrics (0 when absent).
func rbMetric(t *testing.T, srv *enginetest.Server, name string) float64 {
	t.Helper()
	st := enginetest.Dial(t, srv.InternalAddr, enginetest.GetRequest("/metrics"))
	st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
	resp, err := enginetest.ReadResponse(st.R)
	if err != nil || resp.Status != 200 {
		t.Fatalf("/metrics: %v %d", err, resp.Status)
	}
	for _, line := range strings.Split(resp.Body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return f
		}
	}
	return 0
}

// rbCollector reads one stream's publications on its own goroutine.
type rbCollector struct {
	st      *enginetest.Stream
	channel string
	mu      sync.Mutex
	nums    []int
	last    string // the last event that was not a publication
	done    chan error
}

func rbCollect(st *enginetest.Stream, channel string) *rbCollector {
	c := &rbCollector{st: st, channel: channel, done: make(chan error, 1)}
	go func() {
		for {
			ev, err := st.Event(30 * time.Second)
			if err != nil {
				c.done <- err
				return
			}
			if n, ok := rbPubNumber(ev, channel); ok {
				c.mu.Lock()
				c.nums = append(c.nums, n)
				c.mu.Unlock()
				continue
			}
			if ev == "{}" {
				continue // ping
			}
			c.mu.Lock()
			c.last = ev
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *rbCollector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nums)
}

// expectAll waits until the stream has delivered n publications, then fails
// unless they are exactly 1..n and the stream is still open with nothing
// else received (pings aside).
func (c *rbCollector) expectAll(t *testing.T, who string, n int) {
	t.Helper()
	var ended error
	enginetest.Poll(20*time.Second, func() bool {
		select {
		case ended = <-c.done:
			return true
		default:
			return c.count() >= n
		}
	})
	c.mu.Lock()
	nums := append([]int(nil), c.nums...)
	last := c.last
	c.mu.Unlock()
	if ended != nil || last != "" || len(nums) < n {
		t.Fatalf("%s: %d of %d publications; stream end: %v; last other event: %q", who, len(nums), n, ended, last)
	}
	rbCheckSequence(t, who, nums, n)
}

// rbCheckSequence fails unless nums is exactly 1..n.
func rbCheckSequence(t *testing.T, who string, nums []int, n int) {
	t.Helper()
	for i, v := range nums {
		if v != i+1 {
			t.Fatalf("%s: publication #%d is n=%d, want %d (gap or reorder)", who, i+1, v, i+1)
		}
	}
	if len(nums) != n {
		t.Fatalf("%s: got %d publications, want %d", who, len(nums), n)
	}
}

// rbPublisher publishes numbered payloads in pipelined batches over one
// keep-alive API connection, checking every reply.
type rbPublisher struct {
	t       *testing.T
	srv     *enginetest.Server
	api     *enginetest.APIClient
	channel string
	size    int
	next    int
}

func (p *rbPublisher) batch(n int) {
	p.t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		p.next++
		b.WriteString(p.srv.APIRequest("publish", `{"channel":"`+p.channel+`","data":`+rbPayload(p.next, p.size)+`}`))
	}
	if err := p.api.Send(b.String()); err != nil {
		p.t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r, err := p.api.Read()
		if err != nil || r.Status != 200 || r.Body != `{"result":{}}` {
			p.t.Fatalf("publish reply: %+v %v", r, err)
		}
	}
}

// TestRobustSlowClient: with client.queue_max_size at 512 KiB, a subscriber
// that never reads (4 KiB receive buffer) and a healthy subscriber that reads
// everything share a channel. 1 KiB publications are published in pipelined
// batches until the slow one is evicted. The healthy one must get every
// publication, in order, with no gap, and stay connected; the slow one is
// disconnected for being slow (the 3008 counter of /metrics counts exactly
// one) and NumClients drops from 2 to 1.
//
// What the slow client sees once it reads again: a prefix of the
// publications in order and without gaps, then the
// {"disconnect":{"code":3008,"reason":"slow"}} push, then the end of the
// chunked body — the server makes room in the socket for them before it
// closes it. (write_stall_timeout is long here: the queue cap decides.)
func TestRobustSlowClient(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, func(o *config.Options) {
		// Room for a healthy reader that the loaded test machine schedules
		// late (a backlog past the cap is shed, as Centrifugo sheds a queue
		// past it), far below what the non-reader piles up.
		o.Client.QueueMaxSize = 512 << 10
		o.Own.WriteStallTimeout = time.Minute
	})
	token := rbToken(t, "slow", "slow")

	slow := rbDialSmallWindow(t, srv.Addr, srv.StreamRequest(map[string]any{"token": token}))
	if err := slow.Open(); err != nil {
		t.Fatal(err)
	}
	slow.ExpectPrefix(t, `{"connect":`)
	healthy := srv.Connect(t, map[string]any{"token": token})
	healthy.ExpectPrefix(t, `{"connect":`)
	hc := rbCollect(healthy, "slow")
	if srv.NumClients() != 2 {
		t.Fatalf("NumClients() = %d, want 2", srv.NumClients())
	}

	pub := &rbPublisher{t: t, srv: srv, api: srv.DialAPI(t), channel: "slow", size: 1024}
	const maxPubs = 12000 // 12 MB: far more than kernel buffers can hide
	for srv.NumClients() == 2 && pub.next < maxPubs {
		pub.batch(50)
	}
	switch n := srv.NumClients(); n {
	case 1:
	case 2:
		t.Fatalf("after %d publications of 1 KiB the slow client is still connected", pub.next)
	default:
		// Let the collector reach the end of the healthy stream, to report it.
		enginetest.Poll(rbTimeout, func() bool { hc.mu.Lock(); defer hc.mu.Unlock(); return hc.last != "" })
		hc.mu.Lock()
		got, last := len(hc.nums), hc.last
		hc.mu.Unlock()
		t.Fatalf("after %d publications NumClients is %d: the healthy client was disconnected too, after %d publications, with %q",
			pub.next, n, got, last)
	}
	pub.batch(50) // the healthy client goes on after the eviction
	total := pub.next
	t.Logf("slow client evicted after %d publications", total-50)

	hc.expectAll(t, "healthy client", total)
	if got := rbMetric(t, srv, `centrifugo_client_num_server_disconnects{code="3008"}`); got != 1 {
		t.Errorf(`centrifugo_client_num_server_disconnects{code="3008"} = %v, want 1`, got)
	}

	// Now the slow client reads what reached it.
	var got []int
	var tail string
	var endErr error
	for {
		ev, err := slow.Event(rbTimeout)
		if err != nil {
			endErr = err
			break
		}
		if tail != "" {
			t.Fatalf("event after the disconnect push: %s", ev)
		}
		if n, ok := rbPubNumber(ev, "slow"); ok {
			got = append(got, n)
		} else if ev == "{}" {
			// a ping
		} else if ev == `{"disconnect":{"code":3008,"reason":"slow"}}` {
			tail = ev
		} else {
			t.Fatalf("slow client: unexpected event %s", rbTrim(ev))
		}
	}
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("slow client: publication #%d is n=%d (gap)", i+1, v)
		}
	}
	if tail == "" || endErr != io.EOF {
		t.Fatalf("slow client stream ended with %v after %d publications (push %q); want the 3008 push, then the terminating chunk", endErr, len(got), tail)
	}
	t.Logf("slow client read %d publications, disconnect push %q, end %v", len(got), tail, endErr)
	if len(got) >= total {
		t.Fatalf("slow client received all %d publications: it was never behind", len(got))
	}
	slow.ExpectEOF(t, rbTimeout)
	rbExpectHealthy(t, srv, 1)
}

// TestRobustBurstToHealthyClient: a burst of publications larger than
// client.queue_max_size (64 KiB here), published at once, to a subscriber
// that reads everything and whose socket has room. The client is never
// behind — the server has not even tried to write to it — so it must get
// every publication, in order, and stay connected; 3008 "slow" is for
// clients whose socket does not drain (Centrifugo's writer takes queued
// messages as they are enqueued, so its queue holds what the socket has not
// taken). The server has one event loop, so the bursts are queued on the
// loop that serves the subscriber:
//   - one /api/broadcast of 1 KiB to the 100 channels the subscriber is on:
//     served on the loop, so all 100 publications are in the loop's inbox
//     before it drains it (deterministic);
//   - then one /api/batch of 100 publications, and 100 pipelined publishes
//     in one write: how much of these is queued before the loop drains
//     depends on scheduling and on how the input is read.
func TestRobustBurstToHealthyClient(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, func(o *config.Options) {
		o.Own.EventLoops = 1
		o.Client.QueueMaxSize = 64 << 10
	})
	const burst = 100 // × ~1.1 KiB per event ≈ 110 KiB > 64 KiB
	channels := make([]string, burst)
	for i := range channels {
		channels[i] = fmt.Sprintf("burst-%03d", i)
	}
	sub := srv.Connect(t, map[string]any{"token": rbToken(t, "burst", append(channels, "burst")...)})
	sub.ExpectPrefix(t, `{"connect":`)
	api := srv.DialAPI(t)

	// Broadcast: the events come in request order, one per channel.
	data := `{"pad":"` + strings.Repeat("b", 1024) + `"}`
	if got := api.Call(t, "broadcast", `{"channels":["`+strings.Join(channels, `","`)+`"],"data":`+data+`}`); got != `{"result":{"responses":[`+strings.Repeat(`{"result":{}},`, burst-1)+`{"result":{}}]}}` {
		t.Fatalf("broadcast reply %s", rbTrim(got))
	}
	for i, ch := range channels {
		ev, err := sub.EventSkipPings(rbTimeout)
		if want := `{"channel":"` + ch + `","pub":{"data":` + data + `}}`; err != nil || ev != want {
			t.Fatalf("after a /api/broadcast burst, event %d of %d: %q, %v; want the publication on %s", i+1, burst, rbTrim(ev), err, ch)
		}
	}

	hc := rbCollect(sub, "burst")
	var cmds []string
	for n := 1; n <= burst; n++ {
		cmds = append(cmds, `{"publish":{"channel":"burst","data":`+rbPayload(n, 1024)+`}}`)
	}
	if got := api.Call(t, "batch", `{"commands":[`+strings.Join(cmds, ",")+`]}`); got != `{"replies":[`+strings.Repeat(`{"publish":{}},`, burst-1)+`{"publish":{}}]}` {
		t.Fatalf("batch reply %s", rbTrim(got))
	}
	hc.expectAll(t, "subscriber after a /api/batch burst", burst)
	pub := &rbPublisher{t: t, srv: srv, api: api, channel: "burst", size: 1024, next: burst}
	pub.batch(burst)
	hc.expectAll(t, "subscriber after a pipelined burst", 2*burst)
	if got := rbMetric(t, srv, `centrifugo_client_num_server_disconnects{code="3008"}`); got != 0 {
		t.Errorf("3008 disconnects: %v, want 0", got)
	}
	rbExpectHealthy(t, srv, 1)
}

// TestRobustDisconnectMidWrite fans out a burst of large publications while
// some subscribers vanish: half of the doomed ones close normally, half reset
// the connection (SO_LINGER 0 → RST), all while the server is writing to
// them. The others must receive every publication in order; the server must
// count only them, then return to zero once they leave too.
func TestRobustDisconnectMidWrite(t *testing.T) {
	t.Parallel()
	// A queue large enough that nobody is evicted as slow: this test is about
	// connections that go away by themselves.
	srv := rbStart(t, func(o *config.Options) { o.Client.QueueMaxSize = 256 << 20 })
	token := rbToken(t, "mid", "mid")
	const keep, doomed, pubs, size = 8, 24, 120, 32 << 10

	var keepers []*rbCollector
	for range keep {
		st := srv.Connect(t, map[string]any{"token": token})
		st.ExpectPrefix(t, `{"connect":`)
		keepers = append(keepers, rbCollect(st, "mid"))
	}
	var victims []*enginetest.Stream
	for range doomed {
		st := rbDialSmallWindow(t, srv.Addr, srv.StreamRequest(map[string]any{"token": token}))
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		st.ExpectPrefix(t, `{"connect":`)
		victims = append(victims, st)
	}
	enginetest.Eventually(t, rbTimeout, "all subscribed", func() bool { return srv.NumClients() == keep+doomed })

	pub := &rbPublisher{t: t, srv: srv, api: srv.DialAPI(t), channel: "mid", size: size}
	pub.batch(10)
	// Victims read a little (so writes to them are in flight), then vanish
	// while the rest of the burst is being written.
	var wg sync.WaitGroup
	for i, v := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.Event(rbTimeout)
			if i%2 == 0 {
				v.Conn.(*net.TCPConn).SetLinger(0)
			}
			v.Conn.Close()
		}()
		if i%3 == 0 {
			pub.batch(5)
		}
	}
	wg.Wait()
	for pub.next < pubs {
		pub.batch(10)
	}
	enginetest.Eventually(t, rbTimeout, fmt.Sprintf("NumClients() == %d (victims gone)", keep), func() bool { return srv.NumClients() == keep })
	for i, k := range keepers {
		k.expectAll(t, fmt.Sprintf("keeper %d", i), pubs)
	}
	if body := srv.Call(t, "channels", `{}`); body != fmt.Sprintf(`{"result":{"channels":{"mid":{"num_clients":%d}}}}`, keep) {
		t.Fatalf("channels: %s", body)
	}
	for _, k := range keepers {
		k.st.Conn.Close()
	}
	enginetest.Eventually(t, rbTimeout, "no clients", func() bool { return srv.NumClients() == 0 })
	if body := srv.Call(t, "channels", `{}`); body != `{"result":{"channels":{}}}` {
		t.Fatalf("channels after everyone left: %s", body)
	}
}

// TestRobustFanOutKeepsAPIResponsive subscribes 3000 streams to one
// channel, then makes 50 publishes in a row — with a /api/channels call in
// the middle — while the fan-out of the earlier ones is still being written.
// Every call must succeed, and every subscriber must receive all 50
// publications in order. The subscribers are read after the publishes (50
// small events fit in their socket buffers), by a few goroutines. No timing
// is asserted.
func TestRobustFanOutKeepsAPIResponsive(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	const subs, pubs = 3000, 50
	token := rbToken(t, "fan", "fan")
	req := map[string]any{"token": token}

	streams := srv.ConnectMany(t, subs, 8, func(int) any { return req })
	if n := srv.NumClients(); n != subs {
		t.Fatalf("NumClients() = %d, want %d", n, subs)
	}

	api := srv.DialAPI(t)
	for n := 1; n <= pubs; n++ {
		if got := api.Call(t, "publish", fmt.Sprintf(`{"channel":"fan","data":{"n":%d}}`, n)); got != `{"result":{}}` {
			t.Fatalf("publish %d: %s", n, got)
		}
		if n == pubs/2 {
			if got := api.Call(t, "channels", `{}`); got != fmt.Sprintf(`{"result":{"channels":{"fan":{"num_clients":%d}}}}`, subs) {
				t.Fatalf("channels during fan-out: %s", got)
			}
		}
	}

	enginetest.ForEach(t, subs, 8, func(i int) error {
		for n := 1; n <= pubs; n++ {
			ev, err := streams[i].EventSkipPings(rbTimeout)
			if err != nil {
				return fmt.Errorf("publication %d: %w", n, err)
			}
			if want := fmt.Sprintf(`{"channel":"fan","pub":{"data":{"n":%d}}}`, n); ev != want {
				return fmt.Errorf("got %s, want %s", ev, want)
			}
		}
		return nil
	})
}
