package session

import (
	"strconv"
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/delivery"
)

// socketConn is a gnet.Conn over one end of a socket pair, with gnet's
// inbound buffer modelled by in: only the methods serving a request uses
// are implemented.
type socketConn struct {
	gnet.Conn
	fd  int
	ctx any
	in  []byte // what gnet has read and not discarded
	out []byte // what was written
}

func (c *socketConn) Fd() int                     { return c.fd }
func (c *socketConn) Context() any                { return c.ctx }
func (c *socketConn) InboundBuffered() int        { return len(c.in) }
func (c *socketConn) OutboundBuffered() int       { return 0 }
func (c *socketConn) Write(p []byte) (int, error) { c.out = append(c.out, p...); return len(p), nil }
func (c *socketConn) Peek(n int) ([]byte, error) {
	if n <= 0 || n > len(c.in) {
		n = len(c.in)
	}
	return c.in[:n], nil
}

func (c *socketConn) Discard(n int) (int, error) {
	if n <= 0 || n > len(c.in) {
		n = len(c.in)
	}
	c.in = c.in[n:]
	return n, nil
}

// TestPublishServedAmidHangups: an API client's keep-alive connection, once
// it has been served a request, is read by its loop itself during a storm of
// hang-ups, and a publish that arrived on it is served — reply written and
// publication delivered — after ClosesPerSlice hang-ups, without waiting for
// gnet to reach the connection in its ready list. Part of the request is
// already in gnet's buffer, the rest still in the socket: it is served whole,
// in order.
func TestPublishServedAmidHangups(t *testing.T) {
	opts := config.Default()
	opts.Client.Token.HMACSecretKey = "x"
	opts.HTTPAPI.Key = "k"
	opts.Own.EventLoops = 1
	s, err := New(Config{Opts: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.broker.Close() })
	l := delivery.NewLoop(&s.loopCfg, 0, nil, s.tickNow())
	s.loops[0] = l
	kick, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(kick[0]); unix.Close(kick[1]) })
	l.AttachKick(kick[1])
	l.HoldWakes()
	sinks := make([]*sinkConn, 3)
	for i := range sinks {
		sinks[i] = &sinkConn{}
		c := testConn(sinks[i], delivery.StateStreaming, true)
		ch, idx := s.hub.Subscribe("news", 0, c)
		c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
		l.AddStream(c)
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	gc := &socketConn{fd: fds[0]}
	c := delivery.NewConn(gc, 0)
	gc.ctx = c
	publish := func(data string) string {
		body := `{"channel":"news","data":` + data + `}`
		return "POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}

	// The first request comes through gnet's read path, as usual.
	gc.in = []byte(publish(`{"n":1}`))
	s.events().OnTraffic(gc)
	if !strings.HasPrefix(string(gc.out), "HTTP/1.1 200") {
		t.Fatalf("first reply %q", gc.out)
	}
	for l.Scheduled() {
		l.Drain()
	}
	l.HoldWakes()
	gc.out = gc.out[:0]
	for i, sk := range sinks {
		if sk.writes != 1 {
			t.Fatalf("subscriber %d: %d writes after the first publish, want 1", i, sk.writes)
		}
	}

	// The next one: its first bytes read by gnet, the rest in the socket,
	// while the loop is busy with hang-ups.
	req := publish(`{"n":2}`)
	gc.in = []byte(req[:20])
	if _, err := unix.Write(fds[1], []byte(req[20:])); err != nil {
		t.Fatal(err)
	}
	for range delivery.ClosesPerSlice - 1 {
		l.NotePeerClose()
	}
	if len(gc.out) != 0 {
		t.Fatalf("served before %d hang-ups: %q", delivery.ClosesPerSlice, gc.out)
	}
	l.NotePeerClose()
	if !strings.HasPrefix(string(gc.out), "HTTP/1.1 200") {
		t.Fatalf("after %d hang-ups: reply %q, want the publish served", delivery.ClosesPerSlice, gc.out)
	}
	for i, sk := range sinks {
		if sk.writes != 2 {
			t.Fatalf("subscriber %d: %d writes, want the second publication delivered", i, sk.writes)
		}
	}
	if len(gc.in) != 0 || c.In != nil {
		t.Fatalf("input left: gnet %q, own %v", gc.in, c.In)
	}
	if n, err := unix.Read(fds[0], make([]byte, 16)); err != unix.EAGAIN {
		t.Fatalf("socket read after the poll: %d, %v; want it drained (EAGAIN)", n, err)
	}
	if l.EarlyServed() != 1 {
		t.Fatalf("EarlyServed %d, want 1", l.EarlyServed())
	}
}
