package session

import (
	"testing"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/delivery"
)

// sinkConn is a gnet.Conn whose writes go nowhere; only the methods the write
// path uses are implemented.
type sinkConn struct {
	gnet.Conn
	written int
	writes  int
}

func (c *sinkConn) Write(p []byte) (int, error) { c.written += len(p); c.writes++; return len(p), nil }
func (c *sinkConn) OutboundBuffered() int       { return 0 }

// newTestLoop builds a node and one loop without starting gnet, with n
// streaming subscribers of channel "news".
func newTestLoop(t testing.TB, n int) (*Node, *delivery.Loop, []*sinkConn) {
	t.Helper()
	opts := config.Default()
	opts.Client.Token.HMACSecretKey = "x"
	opts.Own.EventLoops = 1
	s, err := New(Config{Opts: opts})
	if err != nil {
		t.Fatal(err)
	}
	// New runs the broker (its sweep goroutine); Stop, which would close
	// it, is for started servers (engine.Server).
	t.Cleanup(func() { _ = s.broker.Close() })
	l := delivery.NewLoop(&s.loopCfg, 0, nil, s.tickNow())
	s.loops[0] = l
	sinks := make([]*sinkConn, n)
	for i := range sinks {
		sinks[i] = &sinkConn{}
		c := testConn(sinks[i], delivery.StateStreaming, true)
		ch, idx := s.hub.Subscribe("news", 0, c)
		c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
		l.AddStream(c)
	}
	// There is no gnet loop here: the test runs drain itself. A socket pair
	// stands in for the kick socket, so a drain that yields can "wake" the
	// loop (the bytes are never read; a full socket is fine, see wake).
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	l.AttachKick(fds[1])
	// Pretend a drain is always queued so post never wakes the loop; the
	// test runs the drain itself.
	l.HoldWakes()
	return s, l, sinks
}

// testConn is a connection on loop 0 in state st, as OnOpen and a connect
// would leave it (chunked: an HTTP/1.1 stream).
func testConn(gc gnet.Conn, st delivery.State, chunked bool) *delivery.Conn {
	c := delivery.NewConn(gc, 0)
	c.State, c.Chunked = st, chunked
	return c
}

// exec is s as the API and the broker see it, for tests that publish
// without a broker.
func (s *Node) exec() *executor { return &executor{s} }

// events is s as gnet sees it, for tests that call its callbacks.
func (s *Node) events() *events { return &events{Node: s} }
