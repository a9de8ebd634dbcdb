// Package enginetest starts real unisse servers for tests: on free loopback
// ports, with a Centrifugo config (the captures' own files), stopped when the
// test ends. It also signs connection tokens and opens raw SSE streams. Only
// tests import it. With UNISSE_TEST_BROKER=slow every server runs on
// brokertest.Slow (10 ms + 0–50 ms per broker call) unless a test picks its
// own broker.
package enginetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/brokertest"
	"github.com/unisse/unisse/engine/config"
)

// CapturesDir is where the Centrifugo v6.9.1 captures and their configs live:
// engine/testdata/captures, a copy of the workplace's shared/captures kept in
// the repository so that tests run from a clean clone.
func CapturesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "captures")
}

// Secret and APIKey are the credentials of the capture configs.
const (
	Secret = "conformance-secret"
	APIKey = "conformance-api-key"
)

// Server is a running test server.
type Server struct {
	*engine.Server
	Opts config.Options
	// Addr is host:port of the external port; InternalAddr of the internal
	// one (same as Addr when there is none).
	Addr, InternalAddr string
}

// LoadCaptureConfig loads one of the capture configs (e.g. "config.json")
// unchanged, as an operator's file would be.
func LoadCaptureConfig(t testing.TB, name string) config.Options {
	t.Helper()
	opts, _, err := config.Load([]string{"-c", filepath.Join(CapturesDir(), name)}, nil)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return opts
}

// handedOut holds the ports FreePort has returned in this process.
var handedOut sync.Map // int → struct{}

// FreePort returns a TCP port that was free a moment ago on 127.0.0.1 and
// that it has not returned before in this process, so that parallel tests do
// not race for one port (a busy port fails Start). Safe from any goroutine.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, dup := handedOut.LoadOrStore(port, struct{}{}); !dup {
			return port
		}
	}
	t.Fatal("no fresh free port after 100 tries")
	return 0
}

// Start runs a server with opts on free ports of 127.0.0.1 (the configured
// ports are replaced, an internal port is kept separate if configured) and
// stops it when the test ends.
func Start(t testing.TB, opts config.Options, options ...engine.Option) *Server {
	t.Helper()
	opts.HTTPServer.Address = "127.0.0.1"
	opts.HTTPServer.Port = FreePort(t)
	if opts.HTTPServer.InternalPort != "" {
		opts.HTTPServer.InternalPort = strconv.Itoa(FreePort(t))
	}
	if os.Getenv("UNISSE_TEST_LOG") == "" {
		options = append([]engine.Option{engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, options...)
	}
	if os.Getenv("UNISSE_TEST_BROKER") == "slow" {
		// Every broker call 10–60 ms, completing on another goroutine (a
		// broker a network hop away); a test's own WithBroker still wins.
		options = append([]engine.Option{engine.WithBroker(brokertest.NewSlow(broker.NewMemory(), 10*time.Millisecond, 50*time.Millisecond))}, options...)
	}
	srv, err := engine.New(opts, options...)
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	s := &Server{Server: srv, Opts: opts, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.HTTPServer.Port))}
	s.InternalAddr = s.Addr
	if opts.HTTPServer.InternalPort != "" {
		s.InternalAddr = net.JoinHostPort("127.0.0.1", opts.HTTPServer.InternalPort)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// Token signs claims with HS256 and the given secret.
func Token(t testing.TB, secret string, claims map[string]any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims)).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ConnectURL is the uni_sse URL for a connect request (marshalled to JSON).
func (s *Server) ConnectURL(req any) string {
	u := "http://" + s.Addr + s.Opts.UniSSE.HandlerPrefix
	if req == nil {
		return u
	}
	b, _ := json.Marshal(req)
	return u + "?cf_connect=" + url.QueryEscape(string(b))
}

// Stream is a raw uni_sse connection read byte by byte as it arrives.
type Stream struct {
	Conn net.Conn
	R    *bufio.Reader
	// Head and Body are set by Open: the response head, and the response
	// body de-chunked (or R itself when the body is not chunked).
	Head    string
	Body    *bufio.Reader
	chunked bool
}

// Dial sends raw request bytes to addr and returns the connection for reading.
func Dial(t testing.TB, addr, request string) *Stream {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return &Stream{Conn: c, R: bufio.NewReader(c)}
}

// ReadHead reads the response head (through the blank line).
func (s *Stream) ReadHead(t testing.TB) string {
	t.Helper()
	s.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	for {
		line, err := s.R.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			t.Fatalf("read head: %v (got %q)", err, b.String())
		}
		if line == "\r\n" {
			return b.String()
		}
	}
}

// ReadChunk reads one HTTP chunk and returns its payload; io.EOF-like
// termination (the 0-size chunk) returns "", false.
func (s *Stream) ReadChunk(t testing.TB, timeout time.Duration) (payload string, ok bool) {
	t.Helper()
	s.Conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := s.R.ReadString('\n')
	if err != nil {
		t.Fatalf("read chunk size: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
	if err != nil {
		t.Fatalf("bad chunk size line %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(s.R, buf); err != nil {
		t.Fatalf("read chunk: %v", err)
	}
	if string(buf[n:]) != "\r\n" {
		t.Fatalf("chunk not followed by CRLF: %q", buf)
	}
	if n == 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// ExpectEOF asserts the server closes the connection within timeout.
func (s *Stream) ExpectEOF(t testing.TB, timeout time.Duration) {
	t.Helper()
	s.Conn.SetReadDeadline(time.Now().Add(timeout))
	b, err := s.R.ReadByte()
	if err == nil {
		t.Fatalf("expected EOF, got byte %q", b)
	}
	if err != io.EOF && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("expected EOF, got %v", err)
	}
}

// GetRequest builds a raw GET request for path on host.
func GetRequest(path string) string {
	return fmt.Sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path)
}
