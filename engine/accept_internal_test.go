package engine

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	gerrors "github.com/panjf2000/gnet/v2/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/delivery"
)

// startInternal runs an insecure server (anonymous streams, no API key) on a
// free loopback port with two loops. Stop runs when the test ends.
func startInternal(t *testing.T, mutate func(*config.Options)) (*Server, string) {
	t.Helper()
	opts := config.Default()
	opts.Client.Insecure = true
	opts.HTTPAPI.Insecure = true
	opts.HTTPServer.Address = "127.0.0.1"
	opts.Own.EventLoops = 2
	if mutate != nil {
		mutate(&opts)
	}
	var s *Server
	for range 10 { // the free port may be taken between probe and bind
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts.HTTPServer.Port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if s, err = New(opts, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))); err != nil {
			t.Fatal(err)
		}
		if err = s.Start(); err == nil {
			break
		}
		s = nil
	}
	if s == nil {
		t.Fatal("no free port to start on")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s, net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.HTTPServer.Port))
}

// openStream opens an anonymous uni_sse stream and waits for its connect push.
func openStream(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte(`{"connect":`)) {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reading the connect push: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	return c
}

// streamSockopts reads socket options of every streaming connection's
// server-side descriptor, on its loop.
func streamSockopts(t *testing.T, s *Server) []map[string]int {
	t.Helper()
	var mu sync.Mutex
	var out []map[string]int
	ok := onAllLoopsTimeout(s, func(l *delivery.Loop) {
		for _, c := range l.Streams() {
			fd := c.GC.Fd()
			m := map[string]int{}
			for name, o := range map[string][2]int{
				"SO_KEEPALIVE":     {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
				"TCP_KEEPIDLE":     {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
				"TCP_KEEPINTVL":    {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
				"TCP_KEEPCNT":      {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
				"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
				"TCP_NODELAY":      {unix.IPPROTO_TCP, unix.TCP_NODELAY},
			} {
				v, err := unix.GetsockoptInt(fd, o[0], o[1])
				if err != nil {
					v = -1
				}
				m[name] = v
			}
			mu.Lock()
			out = append(out, m)
			mu.Unlock()
		}
	})
	if !ok {
		t.Fatal("loops did not answer")
	}
	return out
}

// TestStreamSocketsCarryKeepaliveAndUserTimeout: the configured keepalive and
// TCP_USER_TIMEOUT are on the server side of a stream (set on the listener,
// inherited by accepted sockets), and both can be turned off.
func TestStreamSocketsCarryKeepaliveAndUserTimeout(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		s, addr := startInternal(t, func(o *config.Options) {
			o.Own.TCPKeepAliveIdle = 7 * time.Second
			o.Own.TCPKeepAliveInterval = 3 * time.Second
			o.Own.TCPKeepAliveCount = 4
			o.Own.TCPUserTimeout = 12345 * time.Millisecond
		})
		openStream(t, addr)
		openStream(t, addr)
		got := streamSockopts(t, s)
		if len(got) != 2 {
			t.Fatalf("%d streams on the loops, want 2", len(got))
		}
		want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 7, "TCP_KEEPINTVL": 3, "TCP_KEEPCNT": 4, "TCP_USER_TIMEOUT": 12345, "TCP_NODELAY": 1}
		for i, m := range got {
			for k, v := range want {
				if m[k] != v {
					t.Errorf("stream %d: %s = %d, want %d", i, k, m[k], v)
				}
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		s, addr := startInternal(t, func(o *config.Options) {
			o.Own.TCPKeepAliveIdle = 0
			o.Own.TCPUserTimeout = 0
		})
		openStream(t, addr)
		got := streamSockopts(t, s)
		if len(got) != 1 {
			t.Fatalf("%d streams on the loops, want 1", len(got))
		}
		if got[0]["SO_KEEPALIVE"] != 0 || got[0]["TCP_USER_TIMEOUT"] != 0 {
			t.Errorf("SO_KEEPALIVE = %d, TCP_USER_TIMEOUT = %d; want both off", got[0]["SO_KEEPALIVE"], got[0]["TCP_USER_TIMEOUT"])
		}
	})
}

// TestDoneReportsADeadLoop: an event loop that ends without Stop (here told
// to by gnet's own shutdown signal, as a failing poller would end it) is
// reported on Done.
func TestDoneReportsADeadLoop(t *testing.T) {
	s, addr := startInternal(t, nil)
	openStream(t, addr)
	loops := s.node.Loops()
	if len(loops) == 0 {
		t.Fatal("no loop discovered after a connect")
	}
	l := loops[0]
	deadline := time.Now().Add(10 * time.Second)
	for !l.KickReady() { // the loop's kick connection is how its end is seen
		if time.Now().After(deadline) {
			t.Fatal("kick socket never registered")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-s.Done():
		t.Fatalf("Done before anything failed: %v", err)
	default:
	}
	err := l.EventLoop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { return gerrors.ErrEngineShutdown }))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.Done():
		if !strings.Contains(err.Error(), "event loop") {
			t.Errorf("Done: %v; want the event loop named", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a dead event loop was not reported on Done")
	}
	// Stop still returns, within its deadline: the dead loop never answers.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = s.Stop(ctx)
}

// TestDoneReportsALostListener: a listener closed under the server (not by
// Stop) ends accepting; that is reported on Done, not ignored.
func TestDoneReportsALostListener(t *testing.T) {
	s, _ := startInternal(t, nil)
	_ = s.listeners.Lose(0)
	select {
	case err := <-s.Done():
		if !strings.Contains(err.Error(), "listener") {
			t.Errorf("Done: %v; want the listener named", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lost listener was not reported on Done")
	}
}

// TestStopReportsNothingOnDone: loops and listeners ending in Stop are not
// an unexpected stop.
func TestStopReportsNothingOnDone(t *testing.T) {
	s, addr := startInternal(t, nil)
	openStream(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case err := <-s.Done():
		t.Fatalf("Done after Stop: %v", err)
	default:
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts after Stop")
	}
}

// TestAcceptSpreadsConnectionsOverLoops: connections handed to the loops go
// to the one with the fewest, so sequential connects alternate.
func TestAcceptSpreadsConnectionsOverLoops(t *testing.T) {
	s, addr := startInternal(t, nil)
	for range 20 {
		openStream(t, addr)
	}
	var mu sync.Mutex
	var counts []int
	if !onAllLoopsTimeout(s, func(l *delivery.Loop) {
		mu.Lock()
		counts = append(counts, len(l.Streams()))
		mu.Unlock()
	}) {
		t.Fatal("loops did not answer")
	}
	if len(counts) != 2 || counts[0]+counts[1] != 20 || counts[0]-counts[1] > 2 || counts[1]-counts[0] > 2 {
		t.Errorf("streams per loop = %v; want 20 split within 2 over 2 loops", counts)
	}
}

// onAllLoopsTimeout runs fn on each of s's loops and waits for all of them,
// at most 5 s.
func onAllLoopsTimeout(s *Server, fn func(*delivery.Loop)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.node.OnAllLoops(ctx, fn)
}
