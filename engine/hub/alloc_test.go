//go:build !race

package hub

import (
	"slices"
	"testing"
)

// Steady-state hub operations allocate nothing (run without -race: the
// detector allocates; `make allocs` runs these).

func TestBroadcastAllocs(t *testing.T) {
	h := New[*conn, struct{}](benchLoops)
	subscribeN(h, "news", 1000)
	n := 0
	deliver := func(loop int, c *Channel[*conn, struct{}]) { n += len(c.Local(loop).Entries) }
	if a := testing.AllocsPerRun(100, func() { h.Broadcast("news", deliver); h.Broadcast("missing", deliver) }); a != 0 {
		t.Errorf("Broadcast allocates %v times", a)
	}
	// AllocsPerRun calls the function once more than asked (a warm-up): each
	// call must have reached all 1000 subscribers, and none of "missing".
	if n != 101*1000 {
		t.Errorf("deliver saw %d subscribers over 101 broadcasts, want %d", n, 101*1000)
	}
	if a := testing.AllocsPerRun(100, func() { _ = h.Lookup("news"); _ = h.NumSubscribers("news") }); a != 0 {
		t.Errorf("Lookup/NumSubscribers allocate %v times", a)
	}
}

func TestSubscribeUnsubscribeAllocs(t *testing.T) {
	h := New[*conn, struct{}](benchLoops)
	subscribeN(h, "news", benchLoops*4) // keeps loop 1's list non-empty
	c := &conn{loop: 1}
	if a := testing.AllocsPerRun(100, func() {
		c.ch, c.idx = h.Subscribe("news", c.loop, c)
		h.Unsubscribe(c.ch, c.loop, c.idx)
	}); a != 0 {
		t.Errorf("Subscribe+Unsubscribe on a busy channel allocate %v times", a)
	}
	if n := h.NumSubscribers("news"); n != benchLoops*4 {
		t.Errorf("NumSubscribers = %d after the subscribe/unsubscribe pairs, want %d", n, benchLoops*4)
	}
	if got := subscribers(h.Lookup("news"), 1); slices.Contains(got, c) {
		t.Error("the unsubscribed connection is still in loop 1's list")
	}
}

// With broker hooks, joining and leaving a channel that stays subscribed at
// the broker allocates nothing either (Wait on a ready channel included).
func TestSubscribeUnsubscribeHookedAllocs(t *testing.T) {
	var calls int
	h := New(benchLoops, WithBrokerHooks(func(a Attempt[*conn, struct{}]) { calls++ }, func(string) { calls++ }))
	subscribeN(h, "news", benchLoops*4)
	h.Settle(Attempt[*conn, struct{}]{c: h.Lookup("news"), n: 1}, nil)
	c := &conn{loop: 1}
	if a := testing.AllocsPerRun(100, func() {
		c.ch, c.idx = h.Subscribe("news", c.loop, c)
		if st, _ := h.Wait(c.ch, waiterOf(c)); st != Ready {
			t.Fatalf("Wait = %v on a ready channel", st)
		}
		h.Unsubscribe(c.ch, c.loop, c.idx)
	}); a != 0 {
		t.Errorf("Subscribe+Wait+Unsubscribe on a busy hooked channel allocate %v times", a)
	}
	if calls != 1 {
		t.Errorf("%d hook calls, want the channel's one subscribe", calls)
	}
}
