package session

import (
	"fmt"
	"testing"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
)

// The fan-out benchmarks run the whole delivery path of one publication —
// frame encoding, hub lookup, posting to the loop, queueing to every
// subscriber and one write per subscriber — against sinks that discard the
// bytes, so they measure unisse's own cost per delivered message without the
// kernel's write(2) (which dominates on a real socket: see BENCHMARKS.md).

func benchmarkBroadcast(b *testing.B, subs, burst int) {
	s, l, _ := newTestLoop(b, subs)
	pub := &broker.Publication{Data: []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345"}`)}
	publish := func() {
		for range burst {
			s.exec().HandlePublication("news", pub, broker.StreamPosition{})
		}
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
	}
	publish()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		publish()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs*burst), "ns/delivery")
}

func BenchmarkBroadcast_1Sub(b *testing.B)    { benchmarkBroadcast(b, 1, 1) }
func BenchmarkBroadcast_1kSubs(b *testing.B)  { benchmarkBroadcast(b, 1000, 1) }
func BenchmarkBroadcast_10kSubs(b *testing.B) { benchmarkBroadcast(b, 10000, 1) }
func BenchmarkBroadcast_100kSubs(b *testing.B) {
	benchmarkBroadcast(b, 100000, 1)
}

// BenchmarkBroadcast_1kSubsBurst16: 16 publications drained together, the
// case where coalescing puts 16 events in one write per subscriber.
func BenchmarkBroadcast_1kSubsBurst16(b *testing.B) { benchmarkBroadcast(b, 1000, 16) }

// BenchmarkBroadcast_ManyChannels publishes round-robin to 10,000 channels
// with one subscriber each.
func BenchmarkBroadcast_ManyChannels(b *testing.B) {
	const channels = 10000
	s, l, _ := newTestLoop(b, 0)
	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("ch-%d", i)
		c := testConn(&sinkConn{}, delivery.StateStreaming, true)
		ch, idx := s.hub.Subscribe(names[i], 0, c)
		c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
	}
	pub := &broker.Publication{Data: []byte(`{"n":1}`)}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.exec().HandlePublication(names[i%channels], pub, broker.StreamPosition{})
		i++
		if i%64 == 0 {
			for l.Scheduled() {
				l.Drain()
			}
			l.HoldWakes()
		}
	}
}

// benchmarkEventIDs is benchmarkBroadcast with unisse.sse_event_ids on or
// off: each of 1000 subscribers is on three recoverable channels (an id
// lists all three positions; the publications go to one of them). It
// reports the bytes written per delivered event and the cost per delivered
// message, ids on against off.
func benchmarkEventIDs(b *testing.B, ids bool, burst int) {
	const subs = 1000
	s, l, sinks := newTestLoop(b, subs)
	for _, c := range l.Streams() {
		for _, name := range []string{"other-a", "other-b"} {
			ch, idx := s.hub.Subscribe(name, 0, c)
			c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
		}
		if ids {
			for _, sub := range c.Subs {
				c.TrackPosition(sub.Ch, 1000, "AbCdEfGh")
			}
		}
	}
	pub := &broker.Publication{Data: []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345"}`), Offset: 100000}
	sp := broker.StreamPosition{Epoch: "AbCdEfGh"}
	publish := func() {
		for range burst {
			pub.Offset++
			sp.Offset = pub.Offset
			s.exec().HandlePublication("news", pub, sp)
		}
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
	}
	publish()
	before := sinks[0].written
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		publish()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs*burst), "ns/delivery")
	b.ReportMetric(float64(sinks[0].written-before)/float64(b.N*burst), "B/event")
}

func BenchmarkEventIDs_Off_1kSubs(b *testing.B)        { benchmarkEventIDs(b, false, 1) }
func BenchmarkEventIDs_On_1kSubs(b *testing.B)         { benchmarkEventIDs(b, true, 1) }
func BenchmarkEventIDs_Off_1kSubsBurst16(b *testing.B) { benchmarkEventIDs(b, false, 16) }
func BenchmarkEventIDs_On_1kSubsBurst16(b *testing.B)  { benchmarkEventIDs(b, true, 16) }
