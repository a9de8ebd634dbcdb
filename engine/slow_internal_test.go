package engine

import (
	"strings"
	"testing"

	"github.com/unisse/unisse/engine/broker"
)

// stallConn is a sink whose socket is full: everything written stays
// "buffered", as gnet's outbound buffer would hold it.
type stallConn struct {
	recordingConn
	closed bool
}

func (c *stallConn) OutboundBuffered() int { return len(c.data) }
func (c *stallConn) Fd() int               { return -1 }
func (c *stallConn) Flush() error          { return nil }
func (c *stallConn) Close() error          { c.closed = true; return nil }

// TestLogCapShedsTheStalledSubscriber: a loop's log for a channel is capped
// at client.queue_max_size bytes. Under a stream of publications that a
// stalled subscriber cannot take, the log stays within the cap, every
// publication reaches the healthy subscribers, and the stalled subscriber —
// not the publications — is shed with 3008.
func TestLogCapShedsTheStalledSubscriber(t *testing.T) {
	s, l, healthy := newTestLoop(t, 3)
	s.opts.Client.QueueMaxSize = 64 << 10
	stalled := &stallConn{}
	cs := &conn{c: stalled, state: stateStreaming, chunked: true, wheelSlot: -1, streamIdx: -1}
	ch, idx := s.hub.Subscribe("news", 0, cs)
	cs.subs = append(cs.subs, subscription{ch: ch, idx: int32(idx)})
	l.addStream(cs)

	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	const pubs = 1000 // 1 MB: sixteen times the cap
	maxLog := 0
	for range pubs {
		s.HandlePublication("news", &broker.Publication{Data: data}, broker.StreamPosition{})
		for l.scheduled {
			l.drain()
		}
		l.scheduled = true
		maxLog = max(maxLog, ch.Local(0).X.bytes)
	}
	frame := len(data) + 100
	if maxLog > s.opts.Client.QueueMaxSize+frame {
		t.Errorf("log grew to %d bytes, cap %d", maxLog, s.opts.Client.QueueMaxSize)
	}
	if cs.state != stateClosing || !stalled.closed {
		t.Fatalf("stalled subscriber: state %d, closed %v; want it shed", cs.state, stalled.closed)
	}
	if got := s.metrics.slowDisconnects.Get(); got != 1 {
		t.Errorf("3008 disconnects: %d, want 1", got)
	}
	if !strings.HasSuffix(string(stalled.data), "data: {\"disconnect\":{\"code\":3008,\"reason\":\"slow\"}}\n\n\r\n0\r\n\r\n") {
		t.Errorf("stalled subscriber's output does not end with the 3008 push and the terminator: …%q", tail(stalled.data, 120))
	}
	for i, h := range healthy {
		if h.writes == 0 || h.written < pubs*len(data) {
			t.Errorf("healthy subscriber %d got %d bytes in %d writes, want every publication (≥ %d bytes)", i, h.written, h.writes, pubs*len(data))
		}
	}
	if n := len(ch.Local(0).X.log); n != 0 {
		t.Errorf("log holds %d frames after everyone left or caught up", n)
	}
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }
