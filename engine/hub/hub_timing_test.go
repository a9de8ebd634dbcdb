package hub

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// benchLoops is the number of event loops the benchmarks spread subscribers
// over (a typical 4-core server).
const benchLoops = 4

// subscribeN subscribes n connections to ch, round-robin over the loops.
func subscribeN(h *Hub[*conn, struct{}], ch string, n int) {
	for i := range n {
		c := &conn{id: i, loop: i % benchLoops}
		c.ch, c.idx = h.Subscribe(ch, c.loop, c)
	}
}

// benchBroadcast measures one Broadcast to a channel with n subscribers. The
// deliver callback counts the subscribers of the loop it is called for, as a
// loop's task would walk its list; ns/sub is the cost per subscriber reached.
func benchBroadcast(b *testing.B, n int) {
	h := New[*conn, struct{}](benchLoops)
	subscribeN(h, "news", n)
	reached := 0
	deliver := func(loop int, c *Channel[*conn, struct{}]) {
		for _, e := range c.Local(loop).Entries {
			if e.Sub != nil {
				reached++
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.Broadcast("news", deliver)
	}
	b.StopTimer()
	if reached != b.N*n {
		b.Fatalf("reached %d subscribers, want %d", reached, b.N*n)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(reached), "ns/sub")
}

func BenchmarkBroadcast_1Sub(b *testing.B)    { benchBroadcast(b, 1) }
func BenchmarkBroadcast_1kSubs(b *testing.B)  { benchBroadcast(b, 1_000) }
func BenchmarkBroadcast_10kSubs(b *testing.B) { benchBroadcast(b, 10_000) }
func BenchmarkBroadcast_100kSubs(b *testing.B) {
	benchBroadcast(b, 100_000)
}

// BenchmarkBroadcast_ManyChannels: 10k channels with one subscriber each,
// broadcast round-robin (map lookups over many shards, one loop per call).
func BenchmarkBroadcast_ManyChannels(b *testing.B) {
	const channels = 10_000
	h := New[*conn, struct{}](benchLoops)
	names := make([]string, channels)
	for i := range names {
		names[i] = "chan:" + strconv.Itoa(i)
		c := &conn{id: i, loop: i % benchLoops}
		c.ch, c.idx = h.Subscribe(names[i], c.loop, c)
	}
	calls := 0
	deliver := func(loop int, c *Channel[*conn, struct{}]) { calls += len(c.Local(loop).Entries) }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Broadcast(names[i], deliver)
		if i++; i == channels {
			i = 0
		}
	}
	if calls != b.N {
		b.Fatalf("%d deliveries, want %d", calls, b.N)
	}
}

// BenchmarkSubscribeUnsubscribe: one subscriber joins and leaves. On a busy
// channel (another subscriber on the same loop keeps it alive) the shard map
// is untouched; on an idle one the channel is created and removed each time.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	b.Run("BusyChannel", func(b *testing.B) {
		h := New[*conn, struct{}](benchLoops)
		subscribeN(h, "news", benchLoops*16)
		c := &conn{loop: 1}
		b.ReportAllocs()
		for b.Loop() {
			c.ch, c.idx = h.Subscribe("news", c.loop, c)
			h.Unsubscribe(c.ch, c.loop, c.idx)
		}
	})
	b.Run("NewChannel", func(b *testing.B) {
		h := New[*conn, struct{}](benchLoops)
		c := &conn{loop: 1}
		b.ReportAllocs()
		for b.Loop() {
			c.ch, c.idx = h.Subscribe("news", c.loop, c)
			h.Unsubscribe(c.ch, c.loop, c.idx)
		}
	})
	// With broker hooks (a Redis broker): the hooks here only count; a busy
	// channel also takes the channel's broker lock, a new one allocates its
	// broker state and calls both hooks.
	hooks := WithBrokerHooks(func(Attempt[*conn, struct{}]) {}, func(string) {})
	b.Run("BusyChannelHooked", func(b *testing.B) {
		h := New(benchLoops, hooks)
		subscribeN(h, "news", benchLoops*16)
		c := &conn{loop: 1}
		b.ReportAllocs()
		for b.Loop() {
			c.ch, c.idx = h.Subscribe("news", c.loop, c)
			h.Unsubscribe(c.ch, c.loop, c.idx)
		}
	})
	b.Run("NewChannelHooked", func(b *testing.B) {
		h := New(benchLoops, hooks)
		c := &conn{loop: 1}
		b.ReportAllocs()
		for b.Loop() {
			c.ch, c.idx = h.Subscribe("news", c.loop, c)
			h.Unsubscribe(c.ch, c.loop, c.idx)
		}
	})
}

// Baseline: a channel map of subscriber sets behind one RWMutex (the simplest
// hub), broadcast walking the set, with 1k subscribers.
func BenchmarkBroadcastBaseline_1kSubs(b *testing.B) {
	var mu sync.RWMutex
	hub := map[string]map[*conn]struct{}{}
	set := map[*conn]struct{}{}
	for i := range 1000 {
		set[&conn{id: i}] = struct{}{}
	}
	hub["news"] = set
	reached := 0
	b.ReportAllocs()
	for b.Loop() {
		mu.RLock()
		for s := range hub["news"] {
			if s != nil {
				reached++
			}
		}
		mu.RUnlock()
	}
	if reached != b.N*1000 {
		b.Fatal(fmt.Sprint(reached))
	}
}
