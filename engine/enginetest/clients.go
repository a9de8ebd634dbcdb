package enginetest

// Clients for tests that drive a server over real sockets: raw HTTP/1.x
// responses, the server API over a keep-alive connection, uni_sse streams read
// event by event, and waiting for conditions that have no event to wait for.
//
// Functions that take a testing.TB fail the test and must be called from the
// test's goroutine; the ones returning an error are for other goroutines.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// IOTimeout bounds each read or write of these helpers that has no explicit
// timeout: long enough for a loaded -race run, short enough to fail fast.
const IOTimeout = 10 * time.Second

// Response is one HTTP response read from a raw connection.
type Response struct {
	Status int
	Head   string // status line and header lines, through the blank line
	Body   string
}

// Header returns the value of the first header line named name (ASCII
// case-insensitive) and whether there is one.
func (r Response) Header(name string) (string, bool) {
	return headerValue(r.Head, name)
}

func headerValue(head, name string) (string, bool) {
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// ReadHead reads a response head (status line through the blank line) from r
// and returns it with its status code.
func ReadHead(r *bufio.Reader) (head string, status int, err error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String(), 0, fmt.Errorf("read head: %w (got %q)", err, b.String())
		}
		if line == "\r\n" {
			break
		}
	}
	head = b.String()
	proto, rest, _ := strings.Cut(head, " ")
	code, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return head, 0, fmt.Errorf("not an HTTP/1.x status line: %q", head)
	}
	if status, err = strconv.Atoi(code); err != nil {
		return head, 0, fmt.Errorf("bad status in %q", head)
	}
	return head, status, nil
}

// ReadResponse reads one HTTP/1.x response whose body is framed by
// Content-Length, by chunked encoding, or (with neither) by the end of the
// connection. Responses to HEAD requests are not supported.
func ReadResponse(r *bufio.Reader) (Response, error) {
	head, status, err := ReadHead(r)
	if err != nil {
		return Response{}, err
	}
	resp := Response{Status: status, Head: head}
	var body []byte
	if te, ok := headerValue(head, "Transfer-Encoding"); ok && strings.EqualFold(te, "chunked") {
		body, err = io.ReadAll(httputil.NewChunkedReader(r))
	} else if cl, ok := headerValue(head, "Content-Length"); ok {
		n, perr := strconv.Atoi(cl)
		if perr != nil {
			return resp, fmt.Errorf("bad Content-Length in %q", head)
		}
		body = make([]byte, n)
		_, err = io.ReadFull(r, body)
	} else if status/100 != 1 && status != 204 && status != 304 {
		body, err = io.ReadAll(r)
	}
	resp.Body = string(body)
	if err != nil {
		return resp, fmt.Errorf("read body: %w", err)
	}
	return resp, nil
}

// APIRequest is the raw bytes of a server API call: POST to the method's path
// with the API key, the body and its Content-Length, keep-alive.
func (s *Server) APIRequest(method, body string) string {
	return fmt.Sprintf("POST %s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Length: %d\r\n\r\n%s",
		s.Opts.HTTPAPI.HandlerPrefix, method, APIKey, len(body), body)
}

// APIClient is one keep-alive connection to the server API (the internal port
// when there is one). Use it from one goroutine at a time.
type APIClient struct {
	srv  *Server
	Conn net.Conn
	R    *bufio.Reader
}

// DialAPIE opens an API connection; the caller closes it.
func (s *Server) DialAPIE() (*APIClient, error) {
	c, err := net.DialTimeout("tcp", s.InternalAddr, IOTimeout)
	if err != nil {
		return nil, err
	}
	return &APIClient{srv: s, Conn: c, R: bufio.NewReader(c)}, nil
}

// DialAPI opens an API connection that is closed when the test ends.
func (s *Server) DialAPI(t testing.TB) *APIClient {
	t.Helper()
	a, err := s.DialAPIE()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Conn.Close() })
	return a
}

// Do sends one API call and reads its response.
func (a *APIClient) Do(method, body string) (Response, error) {
	if err := a.Send(a.srv.APIRequest(method, body)); err != nil {
		return Response{}, err
	}
	return a.Read()
}

// Send writes raw bytes (one or more requests) on the connection.
func (a *APIClient) Send(raw string) error {
	a.Conn.SetWriteDeadline(time.Now().Add(IOTimeout))
	_, err := io.WriteString(a.Conn, raw)
	return err
}

// Read reads the next response on the connection.
func (a *APIClient) Read() (Response, error) {
	a.Conn.SetReadDeadline(time.Now().Add(IOTimeout))
	return ReadResponse(a.R)
}

// Call is Do that fails the test on a transport error or a status other than
// 200, and returns the body.
func (a *APIClient) Call(t testing.TB, method, body string) string {
	t.Helper()
	r, err := a.Do(method, body)
	if err != nil {
		t.Fatalf("api %s %s: %v", method, body, err)
	}
	if r.Status != 200 {
		t.Fatalf("api %s %s: status %d, body %q", method, body, r.Status, r.Body)
	}
	return r.Body
}

// Call makes one API call on a new connection and returns the body; the test
// fails on a transport error or a status other than 200.
func (s *Server) Call(t testing.TB, method, body string) string {
	t.Helper()
	return s.DialAPI(t).Call(t, method, body)
}

// StreamRequest is the raw bytes of a uni_sse GET with the connect request
// req (marshalled to JSON, as ConnectURL does) over HTTP/1.1.
func (s *Server) StreamRequest(req any) string {
	u := s.ConnectURL(req)
	return GetRequest(u[len("http://"+s.Addr):])
}

// Connect opens a uni_sse stream with the connect request req, checks that
// the server answers 200 with a chunked event stream, and returns the stream
// positioned at the start of its events. The connection is closed when the
// test ends.
func (s *Server) Connect(t testing.TB, req any) *Stream {
	t.Helper()
	st := Dial(t, s.Addr, s.StreamRequest(req))
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st
}

// ConnectE is Connect for other goroutines: nothing is registered with the
// test, the caller closes the stream.
func (s *Server) ConnectE(req any) (*Stream, error) {
	c, err := net.DialTimeout("tcp", s.Addr, IOTimeout)
	if err != nil {
		return nil, err
	}
	st := &Stream{Conn: c, R: bufio.NewReader(c)}
	c.SetWriteDeadline(time.Now().Add(IOTimeout))
	if _, err := io.WriteString(c, s.StreamRequest(req)); err != nil {
		c.Close()
		return nil, err
	}
	if err := st.Open(); err != nil {
		c.Close()
		return nil, err
	}
	return st, nil
}

// ConnectMany opens n streams from `workers` goroutines, stream i with
// request(i), and checks that each one's first event is the connect push. It
// fails the test on an error and closes every stream when the test ends.
func (s *Server) ConnectMany(t testing.TB, n, workers int, request func(i int) any) []*Stream {
	t.Helper()
	streams := make([]*Stream, n)
	t.Cleanup(func() {
		for _, st := range streams {
			if st != nil {
				st.Conn.Close()
			}
		}
	})
	ForEach(t, n, workers, func(i int) error {
		st, err := s.ConnectE(request(i))
		if err != nil {
			return err
		}
		streams[i] = st
		ev, err := st.Event(IOTimeout)
		if err == nil && !strings.HasPrefix(ev, `{"connect":`) {
			err = fmt.Errorf("first event %s", ev)
		}
		return err
	})
	return streams
}

// ForEach calls do(i) for every i in [0, n) from `workers` goroutines, each
// taking every workers-th index, so tests with thousands of streams can dial
// and read them in parallel. A worker stops at its first error; the test fails
// with the errors once all workers have returned.
func ForEach(t testing.TB, n, workers int, do func(i int) error) {
	t.Helper()
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := do(i); err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := false
	for err := range errs {
		t.Error(err)
		failed = true
	}
	if failed {
		t.FailNow()
	}
}

// Open reads the response head of a stream and prepares Event: it fails
// unless the status is 200 and the content type is text/event-stream. The
// body is de-chunked when the response is chunked and read raw otherwise.
func (s *Stream) Open() error {
	s.Conn.SetReadDeadline(time.Now().Add(IOTimeout))
	head, status, err := ReadHead(s.R)
	s.Head = head
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("stream: status %d: %q", status, head)
	}
	if ct, _ := headerValue(head, "Content-Type"); ct != "text/event-stream; charset=utf-8" {
		return fmt.Errorf("stream: content type %q", ct)
	}
	s.Body = s.R
	s.chunked = false
	if te, ok := headerValue(head, "Transfer-Encoding"); ok && strings.EqualFold(te, "chunked") {
		s.Body = bufio.NewReader(httputil.NewChunkedReader(s.R))
		s.chunked = true
	}
	return nil
}

// endChunked reads what follows the last chunk: the trailer section, which
// uni_sse leaves empty (a lone CRLF).
func (s *Stream) endChunked() error {
	line, err := s.R.ReadString('\n')
	if err != nil {
		return fmt.Errorf("after the last chunk: %w (read %q)", err, line)
	}
	if line != "\r\n" {
		return fmt.Errorf("after the last chunk: %q, want the CRLF ending an empty trailer", line)
	}
	return nil
}

// ErrNotData means an event line was not a "data: " field, which uni_sse
// never sends.
var ErrNotData = errors.New("stream: event line is not a data field")

// Event returns the data of the stream's next event (the JSON after
// "data: "), skipping the "\r\n" primer. Uni_sse events are single "data: "
// lines ended by an empty line. At the end of the response body (the
// terminating chunk and the empty trailer after it, or the connection's end
// for a raw body) it returns io.EOF; a connection that ends inside a chunk or an event gives
// io.ErrUnexpectedEOF. Call Open first.
func (s *Stream) Event(timeout time.Duration) (string, error) {
	s.Conn.SetReadDeadline(time.Now().Add(timeout))
	var data string
	var have bool
	for {
		line, err := s.Body.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && !have {
				if s.chunked {
					if err := s.endChunked(); err != nil {
						return "", err
					}
				}
				return "", io.EOF
			}
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("%w: partial event %q", io.ErrUnexpectedEOF, data+line)
			}
			return "", err
		}
		switch {
		case line == "\n" || line == "\r\n":
			if have {
				return data, nil
			}
		case strings.HasPrefix(line, "data: ") && !have:
			data, have = strings.TrimSuffix(line[len("data: "):], "\n"), true
		default:
			return "", fmt.Errorf("%w: %q", ErrNotData, line)
		}
	}
}

// Ping is the data of the server's ping event.
const Ping = "{}"

// EventSkipPings is Event that skips pings: it returns the next event that
// is not a ping (each read waits up to timeout).
func (s *Stream) EventSkipPings(timeout time.Duration) (string, error) {
	for {
		ev, err := s.Event(timeout)
		if err != nil || ev != Ping {
			return ev, err
		}
	}
}

// ExpectEvent reads the next event and fails the test if it is not want.
func (s *Stream) ExpectEvent(t testing.TB, want string) {
	t.Helper()
	got, err := s.Event(IOTimeout)
	if err != nil {
		t.Fatalf("want event %s: %v", want, err)
	}
	if got != want {
		t.Fatalf("event:\n got %s\nwant %s", got, want)
	}
}

// ExpectPrefix reads the next event and fails the test unless it starts with
// prefix; it returns the event.
func (s *Stream) ExpectPrefix(t testing.TB, prefix string) string {
	t.Helper()
	got, err := s.Event(IOTimeout)
	if err != nil {
		t.Fatalf("want event %s…: %v", prefix, err)
	}
	if !strings.HasPrefix(got, prefix) {
		t.Fatalf("event:\n got %s\nwant %s…", got, prefix)
	}
	return got
}

// Eventually polls cond every few milliseconds until it holds or timeout
// passes, and fails the test then with what. Use it only when there is no
// event to wait for (counters, registries).
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Poll is Eventually without a test: it reports whether cond held in time.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
