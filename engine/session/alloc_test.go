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
