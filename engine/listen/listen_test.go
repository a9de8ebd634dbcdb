package listen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func config(hand func(*net.TCPConn) error, gone func(error)) Config {
	return Config{
		Addrs:  []string{"127.0.0.1:0"},
		Hand:   hand,
		Shed:   func() {},
		Failed: func() {},
		Gone:   gone,
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// TestHandsEveryConnection: each accepted connection reaches Hand; after
// Close and Wait no goroutine accepts any more.
func TestHandsEveryConnection(t *testing.T) {
	var handed atomic.Int32
	ls, err := Bind(config(func(c *net.TCPConn) error { handed.Add(1); return c.Close() }, func(err error) { t.Errorf("Gone: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	ls.Serve()
	addr := ls.acceptors[0].ln.Addr().String()
	for range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for handed.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := handed.Load(); n != 5 {
		t.Fatalf("%d connections handed, want 5", n)
	}
	ls.Close()
	ls.Wait(context.Background())
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// TestBusyPortFails: a port another socket holds is an error, not a shared
// port (no SO_REUSEPORT).
func TestBusyPortFails(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := config(nil, nil)
	cfg.Addrs = []string{held.Addr().String()}
	if ls, err := Bind(cfg); err == nil {
		ls.Close()
		t.Fatal("bound a busy port")
	}
}

// TestLostListenerIsReported: a listener closed under its goroutine ends it
// and is reported on Gone, naming the address.
func TestLostListenerIsReported(t *testing.T) {
	gone := make(chan error, 1)
	ls, err := Bind(config(func(c *net.TCPConn) error { return c.Close() }, func(err error) { gone <- err }))
	if err != nil {
		t.Fatal(err)
	}
	ls.Serve()
	defer func() { ls.Close(); ls.Wait(context.Background()) }()
	_ = ls.Lose(0)
	select {
	case err := <-gone:
		if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("Gone: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a lost listener was not reported")
	}
}

// TestReusePortSharesOnlyWhenBothAsk: with ReusePort two listeners bind one
// port and both are served (the kernel spreads connections between them);
// a listener without it is refused on that port, and so is one with it on
// a port held by a listener without it.
func TestReusePortSharesOnlyWhenBothAsk(t *testing.T) {
	var handed [2]atomic.Int32
	hand := func(i int) func(*net.TCPConn) error {
		return func(c *net.TCPConn) error { handed[i].Add(1); return c.Close() }
	}
	noGone := func(err error) { t.Errorf("Gone: %v", err) }
	first := config(hand(0), noGone)
	first.ReusePort = true
	a, err := Bind(first)
	if err != nil {
		t.Fatal(err)
	}
	a.Serve()
	defer func() { a.Close(); a.Wait(context.Background()) }()
	addr := a.acceptors[0].ln.Addr().String()

	plain := config(nil, nil)
	plain.Addrs = []string{addr}
	if ls, err := Bind(plain); err == nil {
		ls.Close()
		t.Fatal("a listener without ReusePort bound a port shared with ReusePort")
	}

	second := config(hand(1), noGone)
	second.Addrs, second.ReusePort = []string{addr}, true
	b, err := Bind(second)
	if err != nil {
		t.Fatalf("second ReusePort listener: %v", err)
	}
	b.Serve()
	defer func() { b.Close(); b.Wait(context.Background()) }()
	// Connections from many source ports hash to both sockets; 200 make
	// missing one of two listeners a chance of 2^-199.
	for i := 0; i < 200 && (handed[0].Load() == 0 || handed[1].Load() == 0); i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for (handed[0].Load() == 0 || handed[1].Load() == 0) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if handed[0].Load() == 0 || handed[1].Load() == 0 {
		t.Fatalf("connections handed: %d and %d; want both listeners served", handed[0].Load(), handed[1].Load())
	}

	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	third := config(nil, nil)
	third.Addrs, third.ReusePort = []string{held.Addr().String()}, true
	if ls, err := Bind(third); err == nil {
		ls.Close()
		t.Fatal("ReusePort bound a port held by a socket without it")
	}
}

// TestRebindWhileTimeWait: a listener whose accepted connection was closed
// by the server first (so the server's side sits in TIME_WAIT) is closed,
// and a new one binds the same port at once (SO_REUSEADDR).
func TestRebindWhileTimeWait(t *testing.T) {
	accepted := make(chan *net.TCPConn, 1)
	ls, err := Bind(config(func(c *net.TCPConn) error { accepted <- c; return nil }, func(err error) { t.Errorf("Gone: %v", err) }))
	if err != nil {
		t.Fatal(err)
	}
	ls.Serve()
	addr := ls.acceptors[0].ln.Addr().String()
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var server *net.TCPConn
	select {
	case server = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("not accepted")
	}
	// The server closes first; the client reads the FIN and closes too, so
	// the server's socket goes to TIME_WAIT (not reset by unread data).
	_ = server.Close()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read after server close: %v, want EOF", err)
	}
	_ = client.Close()
	ls.Close()
	ls.Wait(context.Background())
	if !timeWaitOn(t, addr) {
		t.Fatal("no TIME_WAIT socket on the listener's port: the test proves nothing")
	}
	again := config(func(c *net.TCPConn) error { return c.Close() }, func(err error) { t.Errorf("Gone: %v", err) })
	again.Addrs = []string{addr}
	ls2, err := Bind(again)
	if err != nil {
		t.Fatalf("rebinding %s with a connection in TIME_WAIT: %v", addr, err)
	}
	ls2.Close()
	ls2.Wait(context.Background())
}

// timeWaitOn reports whether /proc/net/tcp lists a TIME_WAIT socket whose
// local address is addr (an IPv4 loopback address).
func timeWaitOn(t *testing.T, addr string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf("0100007F:%04X", p) // 127.0.0.1, little-endian address, hex port
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == local && f[3] == "06" { // 06: TCP_TIME_WAIT
			return true
		}
	}
	return false
}
