//go:build !race

package engine

import (
	"fmt"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/config"
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

// newTestLoop builds a server and one loop without starting gnet, with n
// streaming subscribers of channel "news".
func newTestLoop(t testing.TB, n int) (*Server, *loop, []*sinkConn) {
	t.Helper()
	opts := config.Default()
	opts.Client.Token.HMACSecretKey = "x"
	opts.Unisse.EventLoops = 1
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l := newLoop(s, 0, nil)
	s.loops[0] = l
	sinks := make([]*sinkConn, n)
	for i := range sinks {
		sinks[i] = &sinkConn{}
		cs := &conn{c: sinks[i], state: stateStreaming, chunked: true, wheelSlot: -1, streamIdx: -1}
		ch, idx := s.hub.Subscribe("news", 0, cs)
		cs.subs = append(cs.subs, subscription{ch: ch, idx: int32(idx)})
		l.addStream(cs)
	}
	// Pretend a drain is always queued so post never wakes the loop (there is
	// no gnet loop here); the test runs the drain itself.
	l.scheduled = true
	return s, l, sinks
}

// TestPublishFanOutAllocs proves the steady-state path from a publication to
// bytes handed to the socket — frame encoding, hub lookup, posting to the
// loop, fan-out to every subscriber, one coalesced write each — allocates
// nothing.
func TestPublishFanOutAllocs(t *testing.T) {
	s, l, sinks := newTestLoop(t, 100)
	pub := &broker.Publication{Data: []byte(`{"text":"hello"}`)}
	publish := func() {
		s.HandlePublication("news", pub, broker.StreamPosition{})
		l.drain()
		l.scheduled = true
	}
	publish() // warm the frame pool, the inbox and the queue arena
	// AllocsPerRun runs the function once more than asked, to warm up.
	if n := testing.AllocsPerRun(999, publish); n != 0 {
		t.Fatalf("publish + fan-out to 100 subscribers: %v allocs, want 0", n)
	}
	event := "data: {\"channel\":\"news\",\"pub\":{\"data\":{\"text\":\"hello\"}}}\n\n"
	want := len(fmt.Sprintf("%x\r\n%s\r\n", len(event), event))
	for i, sk := range sinks {
		if sk.writes != 1001 || sk.written != 1001*want {
			t.Fatalf("subscriber %d: %d writes of %d bytes, want 1001 writes of %d bytes", i, sk.writes, sk.written, 1001*want)
		}
	}
}

// TestCoalescedFanOutAllocs: several publications drained in one pass are
// written with one write per subscriber, still without allocating.
func TestCoalescedFanOutAllocs(t *testing.T) {
	s, l, sinks := newTestLoop(t, 10)
	pub := &broker.Publication{Data: []byte(`{"n":1}`)}
	burst := func() {
		for range 8 {
			s.HandlePublication("news", pub, broker.StreamPosition{})
		}
		l.drain()
		l.scheduled = true
	}
	burst()
	if n := testing.AllocsPerRun(199, burst); n != 0 {
		t.Fatalf("burst of 8 to 10 subscribers: %v allocs, want 0", n)
	}
	if sinks[0].writes != 201 {
		t.Fatalf("got %d writes for 201 bursts of 8 events, want one write per burst", sinks[0].writes)
	}
}
