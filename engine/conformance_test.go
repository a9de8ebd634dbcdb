package engine_test

// The capture conformance suite: every TestConformance* test replays one or
// more scenarios of the Centrifugo v6.9.1 transcripts in testdata/captures (a copy of shared/captures)
// against a real unisse server (enginetest.Start, a capture config loaded
// unchanged, real loopback sockets) and compares the bytes on the wire with
// the bytes in the transcript.
//
// Expected bytes are string literals copied from the transcripts, and every
// one of them is passed through capture(t, N, …), which fails the test if the
// literal does not occur in transcript N (in its text, or in one of its
// "exact bytes (python repr)" blocks). The tests therefore cannot drift from
// the captures, and the literals keep the transcripts' own ids and epochs.
//
// Both sides are then normalised the same way before comparing (normaliser):
//   - the Date header value becomes <date> (the server's must be a valid
//     RFC 1123 GMT date within a few seconds of now, or it is left as is);
//   - client/session UUIDs become <uuid1>, <uuid2>… in order of first
//     appearance (ours must be lowercase UUIDv4), so a client id that appears
//     twice (connect push and join push) must be the same id twice;
//   - epochs ("epoch":"…") become <epoch1>… the same way;
//   - the version in "version":"…" becomes <version>: Centrifugo reports
//     "0.0.0 OSS", unisse engine.Version (a deliberate difference);
//   - "ttl":N becomes <ttl> when a test says which ttl its own token implies
//     (conformer.ttl) and our value is that or one second less;
//   - the members of the "subs" object of a connect push are sorted by key:
//     Centrifugo writes that Go map in random order. Member bytes are kept.
//     (Other maps the captures show, the API's "channels" and "presence"
//     results, come out sorted and are compared as they are.)
//
// Two other places are order-insensitive because Centrifugo's order is: the
// pushes of a broadcast across channels (stream.expectAnyOrder) and which of
// two parallel batch publishes gets which offset [34].
//
// Everything else is compared byte for byte: status lines, header names,
// values and order, chunk framing, event framing and JSON field order.
//
// Wall time is waited on only where the capture is about time (pings [09],
// expiry [29], long-lived stream [44]); those tests wait for an event with a
// deadline, never sleep.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/enginetest"
)

// eventTimeout bounds the wait for anything the server should send promptly.
const eventTimeout = 5 * time.Second

// okStreamHead is the head of every accepted uni_sse stream without an Origin
// header [01] (and [10] [15] [16] [20] [23] [24] [40] [45]).
const okStreamHead = "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: \r\nCache-Control: private, no-cache, no-store, must-revalidate, max-age=0\r\nConnection: keep-alive\r\nContent-Type: text/event-stream; charset=utf-8\r\nExpire: 0\r\nPragma: no-cache\r\nX-Accel-Buffering: no\r\nDate: Wed, 25 Nov 2026 21:06:38 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"

// apiOKHead is the head of an API reply of 13 bytes ({"result":{}}) [04].
const apiOKHead = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 21:06:55 GMT\r\nContent-Length: 13\r\n\r\n"

// startCapture starts a server with one of the capture configs.
func startCapture(t *testing.T, config string) *enginetest.Server {
	t.Helper()
	return enginetest.Start(t, enginetest.LoadCaptureConfig(t, config))
}

// ---------------------------------------------------------------------------
// Transcripts

type transcript struct {
	text  string   // the file, Date values normalised
	reprs []string // decoded "b'…'" blocks, Date values normalised
}

var (
	transcriptsMu sync.Mutex
	transcripts   = map[int]*transcript{}
	reprRe        = regexp.MustCompile(`b'((?:[^'\\\n]|\\.)*)'`)
)

func loadTranscript(t testing.TB, n int) *transcript {
	t.Helper()
	transcriptsMu.Lock()
	defer transcriptsMu.Unlock()
	if tr := transcripts[n]; tr != nil {
		return tr
	}
	files, _ := filepath.Glob(filepath.Join(enginetest.CapturesDir(), fmt.Sprintf("%02d-*.txt", n)))
	if len(files) != 1 {
		t.Fatalf("capture %02d: found %d files", n, len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	tr := &transcript{text: anyDate(string(b))}
	for _, m := range reprRe.FindAllStringSubmatch(string(b), -1) {
		d, err := decodePyBytes(m[1])
		if err != nil {
			t.Fatalf("capture %02d: %v", n, err)
		}
		tr.reprs = append(tr.reprs, anyDate(d))
	}
	transcripts[n] = tr
	return tr
}

// decodePyBytes decodes the inside of a Python bytes repr.
func decodePyBytes(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("dangling backslash in %q", s)
		}
		switch s[i] {
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '\'', '"':
			b.WriteByte(s[i])
		case 'x':
			if i+2 >= len(s) {
				return "", fmt.Errorf("short \\x escape in %q", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

var dateLineRe = regexp.MustCompile(`Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`)

func anyDate(s string) string { return dateLineRe.ReplaceAllString(s, "Date: <date>") }

// capture returns s after checking that it occurs in transcript n (as text or
// inside one of its exact-bytes blocks; Date values are not compared). Every
// expected byte string of the suite goes through it.
func capture(t testing.TB, n int, s string) string {
	t.Helper()
	tr := loadTranscript(t, n)
	probe := anyDate(s)
	if strings.Contains(tr.text, probe) {
		return s
	}
	for _, r := range tr.reprs {
		if strings.Contains(r, probe) {
			return s
		}
	}
	t.Fatalf("test bug: expected bytes %q are not in capture %02d", s, n)
	return ""
}

// ---------------------------------------------------------------------------
// Normalisation and comparison

var (
	uuidRe  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	epochRe = regexp.MustCompile(`"epoch":"([^"\\]+)"`)
	ttlRe   = regexp.MustCompile(`"ttl":(\d+)`)
	dateRe  = regexp.MustCompile(`(?m)^Date: ([^\r\n]*)\r$`)
)

// normaliser rewrites one side's bytes (see the file comment). It keeps the
// ids it has seen, so both sides must be fed the same sequence of texts.
type normaliser struct {
	server  bool   // the unisse side: dates are validated
	version string // "version":"…" as this side writes it
	uuids   map[string]string
	epochs  map[string]string
}

func newNormaliser(server bool) *normaliser {
	v := `"version":"0.0.0 OSS"`
	if server {
		b, _ := json.Marshal(engine.Version)
		v = `"version":` + string(b)
	}
	return &normaliser{server: server, version: v, uuids: map[string]string{}, epochs: map[string]string{}}
}

func (n *normaliser) apply(s string, ttl int) string {
	s = dateRe.ReplaceAllStringFunc(s, func(line string) string {
		v := strings.TrimSuffix(strings.TrimPrefix(line, "Date: "), "\r")
		if n.server {
			d, err := time.Parse(http.TimeFormat, v)
			if err != nil || d.UTC().Format(http.TimeFormat) != v || time.Since(d).Abs() > 10*time.Second {
				return line // left as is: the comparison fails and shows it
			}
		}
		return "Date: <date>\r"
	})
	s = strings.ReplaceAll(s, n.version, `"version":"<version>"`)
	s = sortMembers(s, "subs")
	s = uuidRe.ReplaceAllStringFunc(s, func(u string) string {
		if p, ok := n.uuids[u]; ok {
			return p
		}
		p := fmt.Sprintf("<uuid%d>", len(n.uuids)+1)
		n.uuids[u] = p
		return p
	})
	s = epochRe.ReplaceAllStringFunc(s, func(m string) string {
		e := epochRe.FindStringSubmatch(m)[1]
		p, ok := n.epochs[e]
		if !ok {
			p = fmt.Sprintf("<epoch%d>", len(n.epochs)+1)
			n.epochs[e] = p
		}
		return `"epoch":"` + p + `"`
	})
	if ttl > 0 {
		s = ttlRe.ReplaceAllStringFunc(s, func(m string) string {
			v, _ := strconv.Atoi(ttlRe.FindStringSubmatch(m)[1])
			if n.server && (v > ttl || v < ttl-1) {
				return m
			}
			return `"ttl":<ttl>`
		})
	}
	return s
}

// sortMembers sorts the members of every object that is the value of one of
// keys by their raw key bytes, keeping each member's bytes. An object that is
// not compact JSON is left alone (and so will not compare equal).
func sortMembers(s string, keys ...string) string {
	for _, k := range keys {
		pat := `"` + k + `":{`
		for from := 0; ; {
			i := strings.Index(s[from:], pat)
			if i < 0 {
				break
			}
			start := from + i + len(pat) - 1
			if obj, end, ok := sortedObject(s, start); ok {
				s = s[:start] + obj + s[end:]
			}
			from = start + 1
		}
	}
	return s
}

func sortedObject(s string, i int) (obj string, end int, ok bool) {
	type member struct{ k, v string }
	var ms []member
	j := i + 1
	if j < len(s) && s[j] == '}' {
		return "{}", j + 1, true
	}
	for {
		ke, ok := scanString(s, j)
		if !ok || ke >= len(s) || s[ke] != ':' {
			return "", 0, false
		}
		ve, ok := scanValue(s, ke+1)
		if !ok || ve >= len(s) {
			return "", 0, false
		}
		ms = append(ms, member{s[j:ke], s[ke+1 : ve]})
		switch s[ve] {
		case ',':
			j = ve + 1
		case '}':
			sort.SliceStable(ms, func(a, b int) bool { return ms[a].k < ms[b].k })
			var b strings.Builder
			b.WriteByte('{')
			for x, m := range ms {
				if x > 0 {
					b.WriteByte(',')
				}
				b.WriteString(m.k + ":" + m.v)
			}
			b.WriteByte('}')
			return b.String(), ve + 1, true
		default:
			return "", 0, false
		}
	}
}

// scanString returns the index after the JSON string starting at s[i].
func scanString(s string, i int) (int, bool) {
	if i >= len(s) || s[i] != '"' {
		return 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// scanValue returns the index after the JSON value starting at s[i].
func scanValue(s string, i int) (int, bool) {
	if i >= len(s) {
		return 0, false
	}
	switch s[i] {
	case '"':
		return scanString(s, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				e, ok := scanString(s, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	for j := i; j < len(s); j++ {
		if strings.IndexByte(",}] \t\r\n", s[j]) >= 0 {
			return j, j > i
		}
	}
	return 0, false
}

// conformer compares the server's bytes with a transcript's for one test.
type conformer struct {
	t   *testing.T
	exp *normaliser
	got *normaliser
	// ttl, when set, is the ttl the test's own token implies: the server may
	// report it or one second less (a second boundary passed), and both sides'
	// "ttl" values are then not compared.
	ttl int
}

func newConformer(t *testing.T) *conformer {
	return &conformer{t: t, exp: newNormaliser(false), got: newNormaliser(true)}
}

// same reports (and fails the test) when got differs from the capture's want
// after normalisation.
func (c *conformer) same(what, want, got string) bool {
	c.t.Helper()
	w, g := c.exp.apply(want, c.ttl), c.got.apply(got, c.ttl)
	if w == g {
		return true
	}
	c.t.Errorf("%s differs from the capture\ncapture: %q\nunisse:  %q\n(normalised)\ncapture: %q\nunisse:  %q", what, want, got, w, g)
	return false
}

// ---------------------------------------------------------------------------
// Raw HTTP

// request builds a raw HTTP/1.1 request as curl sends it: Host, User-Agent,
// Accept, the extra headers, and Content-Length when there is a body.
func request(method, target string, body *string, header ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: unisse-conformance\r\nAccept: */*\r\n", method, target)
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(*body), *body)
	} else {
		b.WriteString("\r\n")
	}
	return b.String()
}

// get is a GET request; post a POST with a body (curl -d).
func get(target string, header ...string) string { return request("GET", target, nil, header...) }
func post(target, body string, header ...string) string {
	return request("POST", target, &body, append([]string{"Content-Type: application/x-www-form-urlencoded"}, header...)...)
}

// cf is a uni_sse target with cf_connect set to the URL-encoded connect request.
func cf(prefix, connect string) string { return prefix + "?cf_connect=" + url.QueryEscape(connect) }

// response is one HTTP response read off the wire.
type response struct{ head, body string }

// do sends a raw request on a new connection and reads one response: the
// body by Content-Length, chunked (de-chunked) or, with Connection: close,
// to EOF. A HEAD request's response has no body.
func (c *conformer) do(addr, req string) response {
	c.t.Helper()
	conn, err := net.DialTimeout("tcp", addr, eventTimeout)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(eventTimeout))
	if _, err := io.WriteString(conn, req); err != nil {
		c.t.Fatalf("write request: %v", err)
	}
	return c.readResponse(bufio.NewReader(conn), strings.HasPrefix(req, "HEAD "))
}

func (c *conformer) readResponse(r *bufio.Reader, head bool) response {
	c.t.Helper()
	var h strings.Builder
	for {
		line, err := r.ReadString('\n')
		h.WriteString(line)
		if err != nil {
			c.t.Fatalf("read response head: %v (got %q)", err, h.String())
		}
		if line == "\r\n" {
			break
		}
	}
	res := response{head: h.String()}
	if head {
		return res
	}
	switch {
	case strings.Contains(res.head, "\r\nContent-Length: "):
		v := res.head[strings.Index(res.head, "\r\nContent-Length: ")+len("\r\nContent-Length: "):]
		n, err := strconv.Atoi(v[:strings.Index(v, "\r\n")])
		if err != nil {
			c.t.Fatalf("bad Content-Length in %q", res.head)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			c.t.Fatalf("read body of %d bytes: %v (head %q)", n, err, res.head)
		}
		res.body = string(b)
	case strings.Contains(res.head, "\r\nTransfer-Encoding: chunked\r\n"):
		var b strings.Builder
		for {
			p, ok := readChunk(c.t, r)
			if !ok {
				break
			}
			b.WriteString(p)
		}
		res.body = b.String()
	case strings.Contains(res.head, "\r\nConnection: close\r\n"):
		b, err := io.ReadAll(r)
		if err != nil && len(b) == 0 {
			c.t.Fatalf("read body to EOF: %v", err)
		}
		res.body = string(b)
	}
	return res
}

var chunkSizeRe = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]*)\r\n$`)

// readChunk reads one chunk as Go's net/http writes it ("%x\r\n" payload
// "\r\n"; "0\r\n\r\n" at the end) and fails on anything else.
func readChunk(t testing.TB, r *bufio.Reader) (payload string, ok bool) {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read chunk size line: %v (got %q)", err, line)
	}
	if !chunkSizeRe.MatchString(line) {
		t.Fatalf("malformed chunk size line %q", line)
	}
	n, _ := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
	b := make([]byte, n+2)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read chunk of %d bytes: %v", n, err)
	}
	if string(b[n:]) != "\r\n" {
		t.Fatalf("chunk of %d bytes not followed by CRLF: %q", n, b)
	}
	return string(b[:n]), n > 0
}

// api posts body to /<prefix>/<method> on the internal port with the API key
// in X-API-Key, as the captures' curl commands do.
func (c *conformer) api(srv *enginetest.Server, method, body string, header ...string) response {
	c.t.Helper()
	h := append([]string{"X-API-Key: " + enginetest.APIKey}, header...)
	return c.do(srv.InternalAddr, post(srv.Opts.HTTPAPI.HandlerPrefix+"/"+method, body, h...))
}

// sameResponse compares a response with a capture's head+body. When the body
// holds normalised values (ids, epochs, version), Content-Length is compared
// only for being the actual body length.
func (c *conformer) sameResponse(what, want string, got response) {
	c.t.Helper()
	i := strings.Index(want, "\r\n\r\n")
	wantHead, wantBody := want[:i+4], want[i+4:]
	probe := newNormaliser(false)
	if probe.apply(wantBody, c.ttl) != wantBody {
		clRe := regexp.MustCompile(`\r\nContent-Length: \d+\r\n`)
		if cl := fmt.Sprintf("\r\nContent-Length: %d\r\n", len(got.body)); strings.Contains(got.head, cl) {
			got.head = strings.Replace(got.head, cl, "\r\nContent-Length: <n>\r\n", 1)
		}
		wantHead = clRe.ReplaceAllString(wantHead, "\r\nContent-Length: <n>\r\n")
	}
	c.same(what+" (head)", wantHead, got.head)
	c.same(what+" (body)", wantBody, got.body)
}

// expectAPI calls an API method and compares the reply body, and its head
// with the one of a 200 JSON reply of that length [04].
func (c *conformer) expectAPI(srv *enginetest.Server, method, body, want string, header ...string) {
	c.t.Helper()
	head := strings.Replace(capture(c.t, 4, apiOKHead), "Content-Length: 13", fmt.Sprintf("Content-Length: %d", len(want)), 1)
	c.sameResponse("/api/"+method+" "+body, head+want, c.api(srv, method, body, header...))
}

// ---------------------------------------------------------------------------
// Streams

// stream is a uni_sse response read chunk by chunk. Every chunk after the
// primer must hold whole events: "data: " + one line + "\n\n".
type stream struct {
	c      *conformer
	s      *enginetest.Stream
	events []string
	at     time.Time // when the chunk holding events[0] arrived
}

// open sends a raw request to addr.
func (c *conformer) open(addr, req string) *stream {
	c.t.Helper()
	return &stream{c: c, s: enginetest.Dial(c.t, addr, req)}
}

// connect opens GET <prefix>?cf_connect=<connect> on srv's external port and
// checks the head of an accepted stream [01] and its "\r\n" primer.
func (c *conformer) connect(srv *enginetest.Server, connect string, header ...string) *stream {
	c.t.Helper()
	st := c.open(srv.Addr, get(cf(srv.Opts.UniSSE.HandlerPrefix, connect), header...))
	st.expectHead(capture(c.t, 1, okStreamHead))
	st.expectPrimer()
	return st
}

func (st *stream) expectHead(want string) {
	st.c.t.Helper()
	st.c.same("response head", want, st.s.ReadHead(st.c.t))
}

// chunk reads the next chunk; ok=false is the terminating chunk.
func (st *stream) chunk(timeout time.Duration) (string, bool) {
	st.c.t.Helper()
	_ = st.s.Conn.SetReadDeadline(time.Now().Add(timeout))
	return readChunk(st.c.t, st.s.R)
}

// expectPrimer checks the first chunk is the 2-byte "\r\n" [25].
func (st *stream) expectPrimer() {
	st.c.t.Helper()
	if p, ok := st.chunk(eventTimeout); p != "\r\n" || !ok {
		st.c.t.Fatalf("first chunk = %q (end %v), want the primer %q [25]", p, !ok, "\r\n")
	}
}

// next returns the next event and when its chunk arrived.
func (st *stream) next(timeout time.Duration) (string, time.Time) {
	st.c.t.Helper()
	if len(st.events) == 0 {
		p, ok := st.chunk(timeout)
		if !ok {
			st.c.t.Fatalf("stream ended while an event was expected")
		}
		st.at = time.Now()
		if !strings.HasSuffix(p, "\n\n") {
			st.c.t.Fatalf("chunk does not end with a whole event: %q", p)
		}
		for _, e := range strings.SplitAfter(p, "\n\n") {
			if e == "" {
				continue
			}
			if !strings.HasPrefix(e, "data: ") || strings.Count(e, "\n") != 2 {
				st.c.t.Fatalf("chunk holds a malformed event %q (chunk %q)", e, p)
			}
			st.events = append(st.events, e)
		}
	}
	e := st.events[0]
	st.events = st.events[1:]
	return e, st.at
}

// expect compares the next event with the capture's.
func (st *stream) expect(want string) string {
	st.c.t.Helper()
	e, _ := st.next(eventTimeout)
	st.c.same("event", want, e)
	return e
}

// expectAnyOrder reads len(want) events and compares them in the order of
// their "channel" (Centrifugo publishes a broadcast's channels concurrently).
func (st *stream) expectAnyOrder(want ...string) {
	st.c.t.Helper()
	got := make([]string, len(want))
	for i := range got {
		got[i], _ = st.next(eventTimeout)
	}
	byChannel := func(s []string) {
		sort.SliceStable(s, func(i, j int) bool { return channelOf(s[i]) < channelOf(s[j]) })
	}
	want = append([]string(nil), want...)
	byChannel(want)
	byChannel(got)
	for i := range want {
		st.c.same("event (any order)", want[i], got[i])
	}
}

var channelRe = regexp.MustCompile(`^data: \{"channel":"((?:[^"\\]|\\.)*)"`)

func channelOf(event string) string {
	if m := channelRe.FindStringSubmatch(event); m != nil {
		return m[1]
	}
	return ""
}

// expectEnd checks the response ends now: the terminating chunk "0\r\n\r\n".
func (st *stream) expectEnd() {
	st.c.t.Helper()
	if len(st.events) > 0 {
		st.c.t.Fatalf("events %q before the end of the response", st.events)
	}
	if p, ok := st.chunk(eventTimeout); ok {
		st.c.t.Fatalf("got chunk %q, want the end of the response (0\\r\\n\\r\\n)", p)
	}
}

var clientRe = regexp.MustCompile(`"client":"([^"]+)"`)

// clientID is the client id in a connect push.
func clientID(t testing.TB, event string) string {
	t.Helper()
	m := clientRe.FindStringSubmatch(event)
	if m == nil {
		t.Fatalf("no client id in %q", event)
	}
	return m[1]
}
