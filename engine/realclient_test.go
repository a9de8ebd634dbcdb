package engine_test

// Real clients on real sockets: Go's net/http client reading the stream as
// any Go program would, a reader written from the WHATWG Server-Sent Events
// specification (not from our sse package) as a browser's EventSource would
// interpret the body, and an HTTP/1.0 client that cannot take chunked
// responses.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/unisse/unisse/engine/enginetest"
)

// rcTimeout bounds every wait for something the server should send promptly.
const rcTimeout = 10 * time.Second

// rcDateRe matches a Date header line whose value is an HTTP date.
var rcDateRe = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// ---------------------------------------------------------------------------
// Go's net/http client

// TestRealClientNetHTTP connects with Go's net/http client, by GET with
// cf_connect and by POST with a JSON body, checks the response as net/http
// parses it (status, headers, chunked framing), reads the connect push, then
// receives publications made through /api/publish, and finally the
// disconnect push of /api/disconnect followed by a clean end of the body
// (net/http reports io.EOF only when the chunked terminator arrived).
func TestRealClientNetHTTP(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"))
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)

	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			user := "rc-" + strings.ToLower(method)
			channel := "rc-" + strings.ToLower(method)
			token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": user, "channels": []string{channel}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			var req *http.Request
			var err error
			if method == "GET" {
				req, err = http.NewRequestWithContext(ctx, "GET", srv.ConnectURL(map[string]any{"token": token}), nil)
			} else {
				body := fmt.Sprintf(`{"token":%q}`, token)
				req, err = http.NewRequestWithContext(ctx, "POST", srv.ConnectURL(nil), strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()

			if resp.StatusCode != 200 || resp.Proto != "HTTP/1.1" {
				t.Fatalf("status %q %s", resp.Status, resp.Proto)
			}
			for name, want := range map[string]string{
				"Content-Type":                     "text/event-stream; charset=utf-8",
				"Cache-Control":                    "private, no-cache, no-store, must-revalidate, max-age=0",
				"Pragma":                           "no-cache",
				"Expire":                           "0",
				"X-Accel-Buffering":                "no",
				"Connection":                       "keep-alive",
				"Access-Control-Allow-Credentials": "true",
			} {
				if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
					t.Errorf("header %s = %q, want [%q]", name, got, want)
				}
			}
			if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != "" {
				t.Errorf("Access-Control-Allow-Origin = %q, want one empty value", got)
			}
			if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
				t.Errorf("framing: Transfer-Encoding %q, Content-Length %d; want chunked, -1", resp.TransferEncoding, resp.ContentLength)
			}

			events := startLineReader(resp.Body)
			if line := events.next(t); line != "\r\n" {
				t.Fatalf("body starts with %q, want the \\r\\n primer", line)
			}
			connect := events.event(t)
			if !strings.HasPrefix(connect, `{"connect":{"client":"`) || !strings.Contains(connect, `"subs":{"`+channel+`":{}}`) {
				t.Fatalf("connect push %s", connect)
			}

			api := srv.DialAPI(t)
			for i := 1; i <= 3; i++ {
				body := fmt.Sprintf(`{"channel":%q,"data":{"n":%d,"via":"net/http"}}`, channel, i)
				if got := httpAPI(t, client, srv, "publish", body); got != `{"result":{}}` {
					t.Fatalf("publish reply %s", got)
				}
				want := fmt.Sprintf(`{"channel":%q,"pub":{"data":{"n":%d,"via":"net/http"}}}`, channel, i)
				if got := events.event(t); got != want {
					t.Fatalf("publication %d:\n got %s\nwant %s", i, got, want)
				}
			}
			if got := api.Call(t, "disconnect", fmt.Sprintf(`{"user":%q}`, user)); got != `{"result":{}}` {
				t.Fatalf("disconnect reply %s", got)
			}
			if got, want := events.event(t), `{"disconnect":{"code":3503,"reason":"force disconnect"}}`; got != want {
				t.Fatalf("last event:\n got %s\nwant %s", got, want)
			}
			if err := events.end(); err != io.EOF {
				t.Fatalf("after the disconnect push the body must end cleanly (chunked terminator): got %v", err)
			}
			enginetest.Eventually(t, rcTimeout, "no clients", func() bool { return srv.NumClients() == 0 })
		})
	}
}

// httpAPI makes an API call with net/http and returns the body of a 200.
func httpAPI(t *testing.T, client *http.Client, srv *enginetest.Server, method, body string) string {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+srv.InternalAddr+srv.Opts.HTTPAPI.HandlerPrefix+"/"+method, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", enginetest.APIKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("api %s: %s %q %s", method, resp.Status, resp.Header.Get("Content-Type"), b)
	}
	return string(b)
}

// lineReader reads a response body line by line on its own goroutine, so
// that waits can have deadlines even though net/http bodies have none.
type lineReader struct {
	lines chan string
	err   chan error
	body  io.Closer
}

func startLineReader(body io.ReadCloser) *lineReader {
	lr := &lineReader{lines: make(chan string, 1024), err: make(chan error, 1), body: body}
	go func() {
		r := bufio.NewReader(body)
		for {
			line, err := r.ReadString('\n')
			if line != "" && err == nil {
				lr.lines <- line
			}
			if err != nil {
				if line != "" {
					err = fmt.Errorf("%w after partial line %q", err, line)
				}
				lr.err <- err
				close(lr.lines)
				return
			}
		}
	}()
	return lr
}

func (lr *lineReader) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-lr.lines:
		if !ok {
			t.Fatalf("body ended: %v", <-lr.err)
		}
		return line
	case <-time.After(rcTimeout):
		t.Fatal("timed out waiting for a line")
	}
	return ""
}

// event reads one uni_sse event: a "data: " line and an empty line.
func (lr *lineReader) event(t *testing.T) string {
	t.Helper()
	data := lr.next(t)
	if !strings.HasPrefix(data, "data: ") || !strings.HasSuffix(data, "\n") {
		t.Fatalf("event line %q", data)
	}
	if blank := lr.next(t); blank != "\n" {
		t.Fatalf("event %q followed by %q, want an empty line", data, blank)
	}
	return strings.TrimSuffix(strings.TrimPrefix(data, "data: "), "\n")
}

// end waits for the body to end and returns the reader's error (io.EOF for
// a clean end); a line arriving instead is an error.
func (lr *lineReader) end() error {
	select {
	case line, ok := <-lr.lines:
		if ok {
			return fmt.Errorf("unexpected line %q", line)
		}
		return <-lr.err
	case <-time.After(rcTimeout):
		lr.body.Close()
		return fmt.Errorf("body did not end within %v", rcTimeout)
	}
}

// ---------------------------------------------------------------------------
// A reader written from the WHATWG HTML standard, §9.2 Server-sent events,
// "Event stream interpretation" — independent of the sse package and of every
// encoder in this module.

// whatwgEvent is an event the interpretation dispatches (a MessageEvent).
type whatwgEvent struct {
	Type        string // "message" unless an event field set it
	Data        string
	LastEventID string
}

// whatwgParser interprets an event stream fed in arbitrary pieces.
type whatwgParser struct {
	started   bool   // the first bytes were seen (a leading BOM is dropped)
	skipLF    bool   // the last piece ended in CR: a leading LF finishes that CRLF
	line      []byte // bytes of the line being received
	data      strings.Builder
	eventType string
	lastID    string // the last event ID buffer
	eventID   string // the source's last event ID string

	Retry    int      // reconnection time set by retry fields; -1 when never set
	Comments []string // comment lines, for assertions
	Fields   []string // names of fields other than data, for assertions
}

func newWHATWGParser() *whatwgParser { return &whatwgParser{Retry: -1} }

// Feed interprets the next piece of the stream and returns the events
// dispatched by it. Lines end at CRLF, LF or CR; a CRLF split between two
// pieces is one line ending.
func (p *whatwgParser) Feed(b []byte) []whatwgEvent {
	var out []whatwgEvent
	for _, c := range b {
		if p.skipLF {
			p.skipLF = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\r':
			p.skipLF = true
			out = p.endLine(out)
		case '\n':
			out = p.endLine(out)
		default:
			p.line = append(p.line, c)
		}
	}
	return out
}

// Pending reports whether an incomplete line or undispatched data is held:
// at the end of the stream it is discarded, per the standard.
func (p *whatwgParser) Pending() bool { return len(p.line) > 0 || p.data.Len() > 0 }

// decodeUTF8 is the standard's UTF-8 decode: one leading BOM is removed from
// the stream, invalid bytes become U+FFFD (here one per invalid byte, Go's
// granularity; the standard replaces maximal subparts — our server only
// sends valid UTF-8, so the difference cannot show). Line endings are ASCII,
// so decoding line by line equals decoding the stream.
func (p *whatwgParser) decodeUTF8(b []byte) string {
	if !p.started {
		p.started = true
		b = []byte(strings.TrimPrefix(string(b), "\uFEFF"))
	}
	var s strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		s.WriteRune(r) // RuneError for an invalid byte is U+FFFD
		b = b[n:]
	}
	return s.String()
}

func (p *whatwgParser) endLine(out []whatwgEvent) []whatwgEvent {
	line := p.decodeUTF8(p.line)
	p.line = p.line[:0]
	switch {
	case line == "":
		return p.dispatch(out)
	case strings.HasPrefix(line, ":"):
		p.Comments = append(p.Comments, line[1:])
		return out
	}
	field, value, found := strings.Cut(line, ":")
	if found {
		value = strings.TrimPrefix(value, " ")
	}
	switch field {
	case "event":
		p.eventType = value
	case "data":
		p.data.WriteString(value)
		p.data.WriteByte('\n')
	case "id":
		if !strings.ContainsRune(value, 0) {
			p.lastID = value
		}
	case "retry":
		if value != "" && strings.Trim(value, "0123456789") == "" {
			if n, err := strconv.Atoi(value); err == nil {
				p.Retry = n
			}
		}
	}
	if field != "data" {
		p.Fields = append(p.Fields, field)
	}
	return out
}

func (p *whatwgParser) dispatch(out []whatwgEvent) []whatwgEvent {
	p.eventID = p.lastID
	data := p.data.String()
	p.data.Reset()
	eventType := p.eventType
	p.eventType = ""
	if data == "" {
		return out
	}
	data = strings.TrimSuffix(data, "\n")
	ev := whatwgEvent{Type: "message", Data: data, LastEventID: p.eventID}
	if eventType != "" {
		ev.Type = eventType
	}
	return append(out, ev)
}

// TestWHATWGParser checks the reference reader itself against the standard's
// own examples, fed whole and byte by byte, so that the stream tests below
// rest on a correct interpretation.
func TestWHATWGParser(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		stream string
		want   []whatwgEvent
	}{
		{"multi-line data", "data: YHOO\ndata: +2\ndata: 10\n\n",
			[]whatwgEvent{{"message", "YHOO\n+2\n10", ""}}},
		{"comment, ids, trailing event discarded",
			": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
			[]whatwgEvent{{"message", "first event", "1"}, {"message", "second event", ""}}},
		{"empty data lines", "data\n\ndata\ndata\n\ndata:",
			[]whatwgEvent{{"message", "", ""}, {"message", "\n", ""}}},
		{"optional space", "data:test\n\ndata: test\n\n",
			[]whatwgEvent{{"message", "test", ""}, {"message", "test", ""}}},
		{"CR and CRLF endings, event type, BOM", "\uFEFFevent: add\rdata: a\r\n\r\ndata: b\r\r",
			[]whatwgEvent{{"add", "a", ""}, {"message", "b", ""}}},
		{"id with NUL ignored, retry", "id: 7\nretry: 1500\nretry: x\ndata: a\n\nid: 8\x00\ndata: b\n\n",
			[]whatwgEvent{{"message", "a", "7"}, {"message", "b", "7"}}},
		{"uni_sse shape", "\r\ndata: {\"connect\":{}}\n\ndata: {}\n\n",
			[]whatwgEvent{{"message", `{"connect":{}}`, ""}, {"message", "{}", ""}}},
	}
	for _, tc := range cases {
		for _, bytewise := range []bool{false, true} {
			p := newWHATWGParser()
			var got []whatwgEvent
			if bytewise {
				for i := range len(tc.stream) {
					got = append(got, p.Feed([]byte{tc.stream[i]})...)
				}
			} else {
				got = p.Feed([]byte(tc.stream))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s (bytewise %v):\n got %q\nwant %q", tc.name, bytewise, got, tc.want)
			}
		}
	}
	p := newWHATWGParser()
	p.Feed([]byte("retry: 1500\nretry: 15x\n\n"))
	if p.Retry != 1500 {
		t.Errorf("retry = %d, want 1500", p.Retry)
	}
}

// whatwgStream runs a parser over a response body on its own goroutine.
type whatwgStream struct {
	events chan whatwgEvent
	done   chan error // the body's read error (io.EOF at a clean end)
	parser *whatwgParser
}

func startWHATWG(body io.Reader) *whatwgStream {
	s := &whatwgStream{events: make(chan whatwgEvent, 1024), done: make(chan error, 1), parser: newWHATWGParser()}
	go func() {
		buf := make([]byte, 997) // odd size: pieces end anywhere
		for {
			n, err := body.Read(buf)
			for _, ev := range s.parser.Feed(buf[:n]) {
				s.events <- ev
			}
			if err != nil {
				close(s.events)
				s.done <- err
				return
			}
		}
	}()
	return s
}

func (s *whatwgStream) next(t *testing.T) whatwgEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream ended: %v", <-s.done)
		}
		return ev
	case <-time.After(rcTimeout):
		t.Fatal("timed out waiting for an event")
	}
	return whatwgEvent{}
}

// TestRealClientWHATWG reads a uni_sse stream through net/http (which
// removes the chunked framing) with the WHATWG interpretation and checks what
// an EventSource would dispatch: the connect push first, every publication in
// order as one "message" event each — including a pretty-printed payload
// whose newlines the server must strip, since a newline would split the event
// — pings as "{}" events at the configured interval, the disconnect push, and
// then the end of the stream on an event boundary. It also checks that the
// stream never uses event, id or retry fields or comments.
func TestRealClientWHATWG(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.PingInterval = time.Second
	opts.Client.PongTimeout = 500 * time.Millisecond
	srv := enginetest.Start(t, opts)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)

	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "whatwg", "channels": []string{"spec"}})
	resp, err := client.Get(srv.ConnectURL(map[string]any{"token": token}))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("%s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	st := startWHATWG(resp.Body)

	connect := st.next(t)
	if connect.Type != "message" || connect.LastEventID != "" ||
		!strings.HasPrefix(connect.Data, `{"connect":{"client":"`) || !strings.Contains(connect.Data, `"ping":1,`) {
		t.Fatalf("first event %+v, want the connect push with \"ping\":1", connect)
	}

	// Publications, in order. Pings may come between them at any point.
	payloads := []struct{ sent, seen string }{
		{`{"n":1}`, `{"n":1}`},
		{"{\n  \"n\": 2,\n  \"list\": [\n    1,\n    2\n  ]\n}", `{  "n": 2,  "list": [    1,    2  ]}`},
		{`{"n":3,"text":"Привет, 世界 🎉 <b>&amp;</b>"}`, `{"n":3,"text":"Привет, 世界 🎉 <b>&amp;</b>"}`},
		{`"n4: a string with data: inside"`, `"n4: a string with data: inside"`},
		{`{"n":5,"colon":": not a comment"}`, `{"n":5,"colon":": not a comment"}`},
	}
	api := srv.DialAPI(t)
	pings := 0
	for i, p := range payloads {
		if got := api.Call(t, "publish", `{"channel":"spec","data":`+p.sent+`}`); got != `{"result":{}}` {
			t.Fatalf("publish %d: %s", i+1, got)
		}
		want := whatwgEvent{Type: "message", Data: `{"channel":"spec","pub":{"data":` + p.seen + `}}`}
		for {
			ev := st.next(t)
			if ev == (whatwgEvent{Type: "message", Data: "{}"}) {
				pings++
				continue
			}
			if ev != want {
				t.Fatalf("publication %d:\n got %+v\nwant %+v", i+1, ev, want)
			}
			break
		}
	}

	// At least two pings (1 s interval, the first within [0.5 s, 1 s)).
	for pings < 2 {
		if ev := st.next(t); ev != (whatwgEvent{Type: "message", Data: "{}"}) {
			t.Fatalf("waiting for pings, got %+v", ev)
		}
		pings++
	}

	api.Call(t, "disconnect", `{"user":"whatwg","disconnect":{"code":4000,"reason":"bye"}}`)
	want := whatwgEvent{Type: "message", Data: `{"disconnect":{"code":4000,"reason":"bye"}}`}
	for {
		ev := st.next(t)
		if ev.Data == "{}" && ev.Type == "message" {
			continue // a ping sent before the disconnect
		}
		if ev != want {
			t.Fatalf("last event %+v, want %+v", ev, want)
		}
		break
	}
	select {
	case ev, ok := <-st.events:
		if ok {
			t.Fatalf("event after the disconnect: %+v", ev)
		}
	case <-time.After(rcTimeout):
		t.Fatal("stream did not end after the disconnect push")
	}
	if err := <-st.done; err != io.EOF {
		t.Fatalf("stream end: %v, want a clean EOF", err)
	}
	if st.parser.Pending() {
		t.Errorf("stream ended inside an event or line")
	}
	if len(st.parser.Comments) > 0 || len(st.parser.Fields) > 0 || st.parser.Retry != -1 {
		t.Errorf("uni_sse must only send data fields: comments %q, fields %q, retry %d",
			st.parser.Comments, st.parser.Fields, st.parser.Retry)
	}
}

// ---------------------------------------------------------------------------
// HTTP/1.0

// TestRealClientHTTP10 opens a stream with an HTTP/1.0 request on a raw
// socket. HTTP/1.0 has no chunked encoding, so the response must carry
// neither Transfer-Encoding nor Content-Length, the events must arrive raw
// ("\r\n" primer, then "data: …\n\n"), and the end of the body is the end of
// the connection: after /api/disconnect the client reads the disconnect push
// and then EOF. The head must be the one Go's net/http writes (README:
// everything not listed as a difference is byte-identical to Centrifugo).
func TestRealClientHTTP10(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"))
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "old", "channels": []string{"h10"}})
	u := srv.ConnectURL(map[string]any{"token": token})
	target := u[len("http://"+srv.Addr):]
	st := enginetest.Dial(t, srv.Addr, "GET "+target+" HTTP/1.0\r\nUser-Agent: http10-test\r\n\r\n")
	st.Conn.SetReadDeadline(time.Now().Add(rcTimeout))
	head, status, err := enginetest.ReadHead(st.R)
	if err != nil {
		t.Fatal(err)
	}
	// Exactly what Go's net/http (so Centrifugo) writes for an HTTP/1.0
	// request: the status line carries the request's version, the handler's
	// "Connection: keep-alive" is dropped because the connection will close,
	// and there is no Transfer-Encoding or Content-Length.
	wantHead := "HTTP/1.0 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\n" +
		"Cache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nContent-Type: text/event-stream; charset=utf-8\r\n" +
		"Expire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: <date>\r\n\r\n"
	if status != 200 {
		t.Fatalf("head %q", head)
	}
	if got := rcDateRe.ReplaceAllString(head, "Date: <date>\r\n"); got != wantHead {
		t.Errorf("HTTP/1.0 stream head:\n got %q\nwant %q", got, wantHead)
	}
	lower := strings.ToLower(head)
	for _, forbidden := range []string{"\r\ntransfer-encoding:", "\r\ncontent-length:"} {
		if strings.Contains(lower, forbidden) {
			t.Fatalf("HTTP/1.0 stream head has %q:\n%s", strings.TrimPrefix(forbidden, "\r\n"), head)
		}
	}

	// Raw body: the primer, then the connect push, exactly.
	primer := make([]byte, 2)
	if _, err := io.ReadFull(st.R, primer); err != nil || string(primer) != "\r\n" {
		t.Fatalf("primer %q, %v", primer, err)
	}
	readRaw := func() string {
		t.Helper()
		st.Conn.SetReadDeadline(time.Now().Add(rcTimeout))
		line, err := st.R.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("event line %q, %v (a chunk size line here would mean chunked framing)", line, err)
		}
		blank, err := st.R.ReadString('\n')
		if err != nil || blank != "\n" {
			t.Fatalf("after %q: %q, %v", line, blank, err)
		}
		return strings.TrimSuffix(line[len("data: "):], "\n")
	}
	if ev := readRaw(); !strings.HasPrefix(ev, `{"connect":{"client":"`) {
		t.Fatalf("connect push %s", ev)
	}
	api := srv.DialAPI(t)
	for i := 1; i <= 3; i++ {
		api.Call(t, "publish", fmt.Sprintf(`{"channel":"h10","data":{"n":%d}}`, i))
		if got, want := readRaw(), fmt.Sprintf(`{"channel":"h10","pub":{"data":{"n":%d}}}`, i); got != want {
			t.Fatalf("publication %d: got %s want %s", i, got, want)
		}
	}
	api.Call(t, "disconnect", `{"user":"old"}`)
	if got, want := readRaw(), `{"disconnect":{"code":3503,"reason":"force disconnect"}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	st.Conn.SetReadDeadline(time.Now().Add(rcTimeout))
	rest, err := io.ReadAll(st.R)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the disconnect push: %q, %v; want EOF with nothing more (no chunk terminator)", rest, err)
	}
	enginetest.Eventually(t, rcTimeout, "no clients", func() bool { return srv.NumClients() == 0 })
}
