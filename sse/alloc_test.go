//go:build !race

package sse

import (
	"fmt"
	"testing"
)

// countingSink discards writes without allocating.
type countingSink struct{ n int }

func (s *countingSink) Write(p []byte) (int, error) { s.n += len(p); return len(p), nil }
func (s *countingSink) OutboundBuffered() int       { return 0 }

// TestFrameAndFlushAllocs: encoding a frame from the warm pool, queueing it
// to connections, coalescing and flushing allocate nothing.
func TestFrameAndFlushAllocs(t *testing.T) {
	var q Queue
	conns := make([]Pending, 64)
	var sink countingSink
	payload := []byte(`{"channel":"news","pub":{"data":{"text":"hello"}}}`)
	round := func() {
		f1 := NewFrame()
		f1.End(append(f1.Begin(), payload...))
		f2 := NewFrame()
		f2.End(append(f2.Begin(), payload...))
		for i := range conns {
			q.Push(&conns[i], f1, true)
			q.Push(&conns[i], f2, true)
		}
		for i := range conns {
			if err := q.Flush(&conns[i], &sink, true, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		q.Reset()
		f1.Release()
		f2.Release()
	}
	round()
	if n := testing.AllocsPerRun(500, round); n != 0 {
		t.Fatalf("%v allocs per round, want 0", n)
	}
	// Every round wrote both frames to every connection: 502 rounds (the
	// first, AllocsPerRun's warm-up and its 500).
	chunk := len(fmt.Sprintf("%x\r\ndata: %s\n\n\r\n", len("data: \n\n")+len(payload), payload))
	if want := 502 * len(conns) * 2 * chunk; sink.n != want {
		t.Fatalf("sink got %d bytes, want %d", sink.n, want)
	}
}

// TestFlushWithIDsAllocs: queueing frames with per-connection id lines
// (unisse.sse_event_ids) and flushing them allocate nothing either.
func TestFlushWithIDsAllocs(t *testing.T) {
	var q Queue
	conns := make([]Pending, 64)
	var sink countingSink
	payload := []byte(`{"channel":"news","pub":{"data":{"text":"hello"},"offset":7}}`)
	id := []byte("u1.B7hQaQ.H.AbCdEfGh")
	round := func() {
		f := NewFrame()
		f.End(append(f.Begin(), payload...))
		for i := range conns {
			q.PushWithID(&conns[i], f, true, id)
		}
		for i := range conns {
			if err := q.Flush(&conns[i], &sink, true, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		q.Reset()
		f.Release()
	}
	round()
	if n := testing.AllocsPerRun(500, round); n != 0 {
		t.Fatalf("%v allocs per round, want 0", n)
	}
}
