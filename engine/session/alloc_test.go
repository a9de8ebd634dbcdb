//go:build !race

package session

import (
	"fmt"
	"testing"

	"github.com/unisse/unisse/engine/broker"
)

// TestPublishFanOutAllocs proves the steady-state path from a publication to
// bytes handed to the socket — frame encoding, hub lookup, posting to the
// loop, fan-out to every subscriber, one coalesced write each — allocates
// nothing.
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
