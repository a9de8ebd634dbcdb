package listen

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
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
