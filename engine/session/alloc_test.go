//go:build !race

package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
)

// TestPublishFanOutAllocs proves the steady-state path from a publication to
// bytes handed to the socket — frame encoding, hub lookup, posting to the
// loop, fan-out to every subscriber, one coalesced write each — allocates
// nothing, its /metrics counting included: the counters it checks at the
// end moved on every run that was measured.
func TestPublishFanOutAllocs(t *testing.T) {
	s, l, sinks := newTestLoop(t, 100)
	pub := &broker.Publication{Data: []byte(`{"text":"hello"}`)}
	publish := func() {
		s.exec().HandlePublication("news", pub, broker.StreamPosition{})
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
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
	// The counters on that path: the node's, and the loop's own.
	const runs = 1 + 1000 // the warm-up publish, AllocsPerRun's warm-up and its 999
	if got := s.metrics.received[msgPublication].Get(); got != runs {
		t.Errorf("messages received: %d, want %d", got, runs)
	}
	if ev, wr := l.FramesQueued(), l.Writes(); ev != 100*runs || wr != 100*runs {
		t.Errorf("events %d, writes %d, want %d each", ev, wr, 100*runs)
	}
	var delay [len(delivery.DelayBounds) + 1]uint64
	l.DelayHistogram(delay[:])
	var observed uint64
	for _, n := range delay {
		observed += n
	}
	if observed != runs {
		t.Errorf("publish → write delays observed: %d, want %d (one per publication on the loop)", observed, runs)
	}
	if b := l.BacklogBytes(); b != 0 {
		t.Errorf("backlog %d bytes after every frame was written, want 0", b)
	}
	var pushes, bytes [delivery.NumPushKinds]uint64
	l.Pushes(pushes[:], bytes[:])
	if json := len(`{"channel":"news","pub":{"data":{"text":"hello"}}}`); pushes[delivery.PushPublication] != 100*runs || bytes[delivery.PushPublication] != uint64(100*runs*json) {
		t.Errorf("publication pushes %d (%d bytes), want %d (%d bytes)", pushes[delivery.PushPublication], bytes[delivery.PushPublication], 100*runs, 100*runs*json)
	}
}

// TestBacklogBytes: a frame the loop holds for a subscriber it cannot
// write to (parked: waiting for the broker) counts in its backlog.
// (TestPublishFanOutAllocs checks that it is 0 once all was written.)
func TestBacklogBytes(t *testing.T) {
	s, l, sinks := newTestLoop(t, 1)
	c := l.Streams()[0]
	c.Parked = true
	s.exec().HandlePublication("news", &broker.Publication{Data: []byte(`{"n":1}`)}, broker.StreamPosition{})
	l.Drain()
	event := "data: {\"channel\":\"news\",\"pub\":{\"data\":{\"n\":1}}}\n\n"
	want := int64(len(fmt.Sprintf("%x\r\n%s\r\n", len(event), event)))
	if b := l.BacklogBytes(); b != want {
		t.Fatalf("backlog %d bytes with one frame held, want %d", b, want)
	}
	if sinks[0].writes != 0 {
		t.Fatalf("%d writes to a parked subscriber", sinks[0].writes)
	}
}

// TestMetricsCountingAllocs: what the API, the loops and the connects count
// with allocates nothing once a series exists.
func TestMetricsCountingAllocs(t *testing.T) {
	s, l, _ := newTestLoop(t, 1)
	m := s.metrics
	c := l.Streams()[0]
	count := func() {
		m.Command(api.MethodPublish, time.Millisecond)
		m.Error("publish", 102)
		m.Undecodable("publish")
		m.disconnects.Inc(3008)
		m.disconnects.Inc(4321)
		m.streamStarted(c)
		m.streamEnded(c)
		m.sent[msgPublication].Inc()
		cc := &s.scratch[l.Idx].counts
		cc.recovery(true, 3)
		cc.recovery(false, 0)
		cc.lastEventID(true)
	}
	count()
	if n := testing.AllocsPerRun(100, count); n != 0 {
		t.Fatalf("counting: %v allocs, want 0", n)
	}
	if got := m.disconnects.Get(3008); got != 102 {
		t.Fatalf("3008 counted %d times, want 102", got)
	}
	if got := s.scratch[l.Idx].counts.recover[1][1].Load(); got != 102 {
		t.Fatalf("recoveries counted %d times, want 102", got)
	}
}

// TestCoalescedFanOutAllocs: several publications drained in one pass are
// written with one write per subscriber, still without allocating.
func TestCoalescedFanOutAllocs(t *testing.T) {
	s, l, sinks := newTestLoop(t, 10)
	pub := &broker.Publication{Data: []byte(`{"n":1}`)}
	burst := func() {
		for range 8 {
			s.exec().HandlePublication("news", pub, broker.StreamPosition{})
		}
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
	}
	burst()
	if n := testing.AllocsPerRun(199, burst); n != 0 {
		t.Fatalf("burst of 8 to 10 subscribers: %v allocs, want 0", n)
	}
	if sinks[0].writes != 201 {
		t.Fatalf("got %d writes for 201 bursts of 8 events, want one write per burst", sinks[0].writes)
	}
}

// TestFanOutWithEventIDsAllocs: with unisse.sse_event_ids, each subscriber's
// id (its positions, encoded per event into the loop's scratch) goes out
// before the shared frame, still without allocating; a burst is still one
// write per subscriber, with an id before every publication.
func TestFanOutWithEventIDsAllocs(t *testing.T) {
	s, l, sinks := newTestLoop(t, 100)
	for _, c := range l.Streams() {
		if !c.TrackPosition(c.Subs[0].Ch, 0, "AbCdEfGh") {
			t.Fatal("TrackPosition refused the first channel")
		}
	}
	pub := &broker.Publication{Data: []byte(`{"text":"hello"}`)}
	sp := broker.StreamPosition{Epoch: "AbCdEfGh"}
	burst := func() {
		for range 3 {
			pub.Offset++
			sp.Offset = pub.Offset
			s.exec().HandlePublication("news", pub, sp)
		}
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
	}
	burst()
	if n := testing.AllocsPerRun(199, burst); n != 0 {
		t.Fatalf("burst of 3 with ids to 100 subscribers: %v allocs, want 0", n)
	}
	if sinks[0].writes != 201 {
		t.Fatalf("got %d writes for 201 bursts, want one write per burst", sinks[0].writes)
	}
	// Each event grew by its id chunk: "<hex>\r\nid: u1.<hash>.<offset>.AbCdEfGh\n\r\n".
	plain := 0
	for off := uint64(1); off <= 603; off++ {
		event := fmt.Sprintf("data: {\"channel\":\"news\",\"pub\":{\"data\":{\"text\":\"hello\"},\"offset\":%d}}\n\n", off)
		if off == 1 {
			event = "data: {\"channel\":\"news\",\"pub\":{\"data\":{\"text\":\"hello\"},\"offset\":1,\"epoch\":\"AbCdEfGh\"}}\n\n"
		}
		plain += len(fmt.Sprintf("%x\r\n%s\r\n", len(event), event))
	}
	if extra := sinks[0].written - plain; extra < 603*len("e\r\nid: u1.A.B.AbCdEfGh\n\r\n") {
		t.Fatalf("ids added %d bytes to 603 events: some event went without its id", extra)
	}
}
