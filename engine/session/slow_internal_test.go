package session

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
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
func (c *stallConn) InboundBuffered() int  { return 0 }

// TestLogCapShedsTheStalledSubscriber: a loop's log for a channel is capped
// at client.queue_max_size bytes. Under a stream of publications that a
// stalled subscriber cannot take, the log stays within the cap, every
// publication reaches the healthy subscribers, and the stalled subscriber —
// not the publications — is shed with 3008.
func TestLogCapShedsTheStalledSubscriber(t *testing.T) {
	s, l, healthy := newTestLoop(t, 3)
	s.opts.Client.QueueMaxSize = 64 << 10
	stalled := &stallConn{}
	c := testConn(stalled, delivery.StateStreaming, true)
	ch, idx := s.hub.Subscribe("news", 0, c)
	c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
	l.AddStream(c)

	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	const pubs = 1000 // 1 MB: sixteen times the cap
	maxLog := 0
	for range pubs {
		s.exec().HandlePublication("news", &broker.Publication{Data: data}, broker.StreamPosition{})
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
		maxLog = max(maxLog, ch.Local(0).X.LoggedBytes())
	}
	frame := len(data) + 100
	if maxLog > s.opts.Client.QueueMaxSize+frame {
		t.Errorf("log grew to %d bytes, cap %d", maxLog, s.opts.Client.QueueMaxSize)
	}
	// Its socket takes nothing and cannot be grown (no descriptor here), so
	// the push waits behind what gnet holds: the connection is flushing, not
	// closed, until the client reads or read_timeout passes with no progress.
	if c.State != delivery.StateFlushing || stalled.closed {
		t.Fatalf("stalled subscriber: state %d, closed %v; want it shed and flushing its push", c.State, stalled.closed)
	}
	if got := s.metrics.disconnects.Get(3008); got != 1 {
		t.Errorf("3008 disconnects: %d, want 1", got)
	}
	if got := s.metrics.slowPushWaits.Get(); got != 1 {
		t.Errorf("disconnect push waits: %d, want 1", got)
	}
	if !strings.HasSuffix(string(stalled.data), "data: {\"disconnect\":{\"code\":3008,\"reason\":\"slow\"}}\n\n\r\n0\r\n\r\n") {
		t.Errorf("stalled subscriber's output does not end with the 3008 push and the terminator: …%q", tail(stalled.data, 120))
	}
	for i, h := range healthy {
		if h.writes == 0 || h.written < pubs*len(data) {
			t.Errorf("healthy subscriber %d got %d bytes in %d writes, want every publication (≥ %d bytes)", i, h.written, h.writes, pubs*len(data))
		}
	}
	if n := ch.Local(0).X.Logged(); n != 0 {
		t.Errorf("log holds %d frames after everyone left or caught up", n)
	}
}

func tail(b []byte, n int) []byte { return b[max(0, len(b)-n):] }

// windowConn is a sink whose socket takes room bytes and then nothing: what
// is written past that stays "buffered", as gnet's outbound buffer would
// hold it. data is everything handed to gnet.
type windowConn struct {
	stallConn
	room int
}

func (c *windowConn) OutboundBuffered() int { return max(0, len(c.data)-c.room) }

// Flush models a send buffer that was grown to hold what gnet had: the
// kernel takes it all (sockopt.GrowSendBuffer cannot act on this fake descriptor).
func (c *windowConn) Flush() error { c.room = len(c.data); return nil }

// backloggedSubscriber adds to the test loop a subscriber of "news" whose
// socket takes room bytes, and logs pubs publications of about 1 KB that it
// has not received yet (the sweep has not run).
func backloggedSubscriber(t *testing.T, s *Node, l *delivery.Loop, room, pubs int) (*delivery.Conn, *windowConn) {
	t.Helper()
	w := &windowConn{room: room}
	c := testConn(w, delivery.StateStreaming, true)
	ch, idx := s.hub.Subscribe("news", 0, c)
	c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
	l.AddStream(c)
	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	for range pubs {
		s.exec().HandlePublication("news", &broker.Publication{Data: data}, broker.StreamPosition{})
	}
	l.TakeInbox()
	if got := ch.Local(0).X.LoggedBytes(); got < pubs*len(data) {
		t.Fatalf("log holds %d bytes, want the %d publications", got, pubs)
	}
	return c, w
}

// TestDisconnectCatchUpStopsAtAFullSocket: a subscriber 1 MB behind whose
// socket holds 100 KB is disconnected through the API. The catch-up before
// the disconnect push hands gnet nothing more once the socket is full, so
// gnet holds at most the tail of one write; the client then reads whole
// frames, the requested disconnect push (not 3008) and the terminating
// chunk. Before the fix the whole megabyte went to gnet, and its close
// discarded the push.
func TestDisconnectCatchUpStopsAtAFullSocket(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	s.opts.Client.QueueMaxSize = 32 << 20
	c, w := backloggedSubscriber(t, s, l, 100<<10, 1000)

	l.Finish(c, protocol.DisconnectForceNoReconnect)

	push := "data: {\"disconnect\":{\"code\":3503,\"reason\":\"force disconnect\"}}\n\n\r\n0\r\n\r\n"
	if held := w.OutboundBuffered(); held > delivery.MaxWrite+2048+len(push)+16 {
		t.Errorf("gnet holds %d bytes after the disconnect; at most one write's tail (%d) and the push may wait", held, delivery.MaxWrite)
	}
	if c.State != delivery.StateClosing || !w.closed {
		t.Fatalf("state %d, closed %v; want it closed", c.State, w.closed)
	}
	out := string(w.data)
	if !strings.HasSuffix(out, push) {
		t.Fatalf("output does not end with the 3503 push and the terminator: …%q", tail(w.data, 120))
	}
	body := strings.TrimSuffix(out, push)
	body = body[:strings.LastIndex(body, "\r\n")] // the push's chunk size line
	if n := strings.Count(body, "data: "); n == 0 || n >= 1000 || !strings.HasSuffix(body, "\n\n\r\n40") {
		t.Errorf("before the push: %d publications ending %q; want a prefix of whole frames", n, tail([]byte(body), 20))
	}
	if got := s.metrics.disconnects.Get(3008); got != 0 {
		t.Errorf("3008 disconnects: %d, want 0 (the API asked for 3503)", got)
	}
	if l.Behind(c) {
		t.Error("the closed connection still holds its backlog in the log")
	}
}

// TestPushCatchUpStopsAtAFullSocket: a push (here a refresh) to a subscriber
// whose socket fills up before it caught up cannot follow its backlog: it is
// disconnected with 3008 it can read, and gnet was given no more than the
// tail of one write beyond what the socket took.
func TestPushCatchUpStopsAtAFullSocket(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	s.opts.Client.QueueMaxSize = 32 << 20
	c, w := backloggedSubscriber(t, s, l, 100<<10, 1000)

	l.WriteEvent(c, delivery.PushRefresh, []byte(`{"refresh":{"expires":false}}`))

	push := "data: {\"disconnect\":{\"code\":3008,\"reason\":\"slow\"}}\n\n\r\n0\r\n\r\n"
	if held := w.OutboundBuffered(); held > delivery.MaxWrite+2048+len(push)+16 {
		t.Errorf("gnet holds %d bytes; at most one write's tail (%d) and the push may wait", held, delivery.MaxWrite)
	}
	if !strings.HasSuffix(string(w.data), push) || strings.Contains(string(w.data), "refresh") {
		t.Fatalf("output does not end with the 3008 push (and no refresh): …%q", tail(w.data, 120))
	}
	if got := s.metrics.disconnects.Get(3008); got != 1 {
		t.Errorf("3008 disconnects: %d, want 1", got)
	}
}

// TestPushCatchUpDeliversEverythingToAReader: the same backlog to a socket
// with room for it arrives whole, in order, before the push, in pieces of at
// most one write.
func TestPushCatchUpDeliversEverythingToAReader(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	s.opts.Client.QueueMaxSize = 32 << 20
	c, w := backloggedSubscriber(t, s, l, 64<<20, 1000)

	l.WriteEvent(c, delivery.PushRefresh, []byte(`{"refresh":{"expires":false}}`))

	out := string(w.data)
	if n := strings.Count(out, "data: "); n != 1001 || !strings.Contains(out[len(out)-100:], "refresh") {
		t.Fatalf("%d events, ending %q; want the 1000 publications then the push", n, tail(w.data, 60))
	}
	if c.State != delivery.StateStreaming || w.writes < 1000*1000/delivery.MaxWrite {
		t.Errorf("state %d after %d writes; want it streaming after writes of at most %d bytes", c.State, w.writes, delivery.MaxWrite)
	}
}

// TestLoopInboxCapShedsTheChannelsSubscribers: a loop that does not drain
// while 1 MB is published to one of its channels keeps at most
// unisse.loop_inbox_max_size bytes of it in its inbox; every publish is still
// accepted. When the loop drains, that channel's subscribers on it get what
// fitted, then a 3008 push they can read, and are closed; a subscriber of
// another channel on the same loop keeps streaming and gets its
// publications, and nothing of the shed channel stays logged.
func TestLoopInboxCapShedsTheChannelsSubscribers(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	const inboxCap = 64 << 10
	s.opts.Own.LoopInboxMaxSize = inboxCap
	s.opts.Client.QueueMaxSize = 32 << 20
	subscribe := func(channel string) (*delivery.Conn, *windowConn) {
		w := &windowConn{room: 1 << 30}
		c := testConn(w, delivery.StateStreaming, true)
		ch, idx := s.hub.Subscribe(channel, 0, c)
		c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
		l.AddStream(c)
		return c, w
	}
	var shed [3]*windowConn
	var shedConns [3]*delivery.Conn
	for i := range shed {
		shedConns[i], shed[i] = subscribe("news")
	}
	calm, calmW := subscribe("calm")

	data := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	publish := func(channel string) {
		t.Helper()
		if _, err := s.exec().Publish(&api.Publication{Channel: channel, Data: data}); err != nil {
			t.Fatalf("publish to %s refused: %v", channel, err)
		}
	}
	publish("calm")
	maxInbox, maxItems := 0, 0
	for range 1000 { // the loop does not drain meanwhile (newTestLoop)
		publish("news")
		bytes, items := l.InboxSize()
		maxInbox, maxItems = max(maxInbox, bytes), max(maxItems, items)
	}
	if maxInbox > inboxCap || maxItems > inboxCap/len(data)+1 {
		t.Errorf("inbox grew to %d bytes in %d items; cap %d bytes", maxInbox, maxItems, inboxCap)
	}
	for l.Scheduled() {
		l.Drain()
	}
	l.HoldWakes()

	push := "data: {\"disconnect\":{\"code\":3008,\"reason\":\"slow\"}}\n\n\r\n0\r\n\r\n"
	for i, w := range shed {
		out := string(w.data)
		if shedConns[i].State != delivery.StateClosing || !w.closed || !strings.HasSuffix(out, push) {
			t.Fatalf("subscriber %d of the overflowing channel: state %d, closed %v, output ends %q; want the 3008 push, the terminator and a close",
				i, shedConns[i].State, w.closed, tail(w.data, 80))
		}
		if n := strings.Count(out, `"channel":"news"`); n == 0 || n > inboxCap/len(data)+1 {
			t.Errorf("subscriber %d got %d publications before the 3008; want those that fitted in the inbox", i, n)
		}
	}
	if got := s.metrics.disconnects.Get(3008); got != 3 {
		t.Errorf("3008 disconnects: %d, want 3", got)
	}
	if n := s.hub.Lookup("news").Local(0).X.Logged(); n != 0 {
		t.Errorf("the shed channel's log holds %d frames", n)
	}

	// The loop took publications again once it drained.
	publish("calm")
	for l.Scheduled() {
		l.Drain()
	}
	l.HoldWakes()
	if calm.State != delivery.StateStreaming || calmW.closed || strings.Count(string(calmW.data), `"channel":"calm"`) != 2 {
		t.Errorf("subscriber of the other channel: state %d, closed %v, %d publications; want it streaming with both", calm.State, calmW.closed, strings.Count(string(calmW.data), `"channel":"calm"`))
	}
}

// closingConn is a gnet.Conn that OnClose can forget.
type closingConn struct {
	sinkConn
	ctx any
}

func (c *closingConn) Context() any { return c.ctx }

// TestPeerClosesLetTheLoopDeliver: while gnet works through connections
// their peers closed, every delivery.ClosesPerSlice of them the loop delivers what is
// pending (here a publication to three subscribers) instead of waiting for
// its kick behind the rest of the hang-ups. Closes inside a failed write
// (which can happen in the middle of a delivery) never do.
func TestPeerClosesLetTheLoopDeliver(t *testing.T) {
	s, _, subs := newTestLoop(t, 3)
	closeMany := func(n int, err error) {
		for range n {
			gc := &closingConn{}
			c := testConn(gc, delivery.StateReading, false)
			gc.ctx = c
			s.events().OnClose(gc, err)
		}
	}
	delivered := func() int {
		n := 0
		for _, c := range subs {
			n += c.writes
		}
		return n
	}
	s.exec().HandlePublication("news", &broker.Publication{Data: []byte(`{}`)}, broker.StreamPosition{})

	closeMany(4*delivery.ClosesPerSlice, os.NewSyscallError("write", syscall.EPIPE))
	if got := delivered(); got != 0 {
		t.Fatalf("closes inside writes delivered %d frames; they must not run the loop", got)
	}
	closeMany(delivery.ClosesPerSlice-1, io.EOF)
	if got := delivered(); got != 0 {
		t.Fatalf("%d peer closes delivered %d frames; want a slice only every %d", delivery.ClosesPerSlice-1, got, delivery.ClosesPerSlice)
	}
	closeMany(1, os.NewSyscallError("read", syscall.ECONNRESET))
	if got := delivered(); got != len(subs) {
		t.Fatalf("after %d peer closes %d of %d subscribers got the publication", delivery.ClosesPerSlice, got, len(subs))
	}
}

// TestStalledSubscriberResumesWithNextPublication: a subscriber whose socket
// filled is handed nothing while gnet holds bytes; once its socket has taken
// them, the next publication's sweep delivers its whole backlog at once — it
// does not wait for the next tick's checkStalled, which under a steady
// stream would add up to a tick of latency every time a busy reader's socket
// fills.
func TestStalledSubscriberResumesWithNextPublication(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	s.opts.Client.QueueMaxSize = 32 << 20
	c, w := backloggedSubscriber(t, s, l, 10<<10, 100) // a 10 KB socket, 100 KB logged
	for l.Scheduled() {
		l.Drain()
	}
	if !c.Stalled() || w.OutboundBuffered() == 0 {
		t.Fatalf("the subscriber did not stall (held %d)", w.OutboundBuffered())
	}
	handed := len(w.data)
	data := []byte(`"` + strings.Repeat("y", 1000) + `"`)
	s.exec().HandlePublication("news", &broker.Publication{Data: data}, broker.StreamPosition{})
	for l.Scheduled() {
		l.Drain()
	}
	if len(w.data) != handed {
		t.Fatalf("a stalled subscriber was handed %d more bytes while gnet held %d", len(w.data)-handed, w.OutboundBuffered())
	}

	w.room = len(w.data) // the socket took everything gnet held
	s.exec().HandlePublication("news", &broker.Publication{Data: data}, broker.StreamPosition{})
	for l.Scheduled() {
		l.Drain()
	}
	if l.Behind(c) && w.OutboundBuffered() == 0 {
		t.Fatalf("with a writable socket the backlog still waits for a tick (%d bytes handed)", len(w.data)-handed)
	}
	if got := strings.Count(string(w.data[handed:]), "data: "); got == 0 {
		t.Fatal("nothing was delivered after the socket drained")
	}
}
