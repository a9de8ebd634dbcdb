package sse

import (
	"testing"
)

// BenchmarkFrameEncode builds a publication frame (chunk header + event) from
// the pool and releases it: the per-publication cost of framing.
func BenchmarkFrameEncode(b *testing.B) {
	payload := []byte(`{"channel":"news","pub":{"data":{"text":"0123456789012345678901234567890123456789012345678901234567890123456789"}}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		f := NewFrame()
		f.End(append(f.Begin(), payload...))
		f.Release()
	}
}

// BenchmarkFlushCoalesced8 queues 8 frames to one connection and flushes them
// as one write.
func BenchmarkFlushCoalesced8(b *testing.B) {
	var q Queue
	var p Pending
	var sink countingSinkB
	f := StaticFrame(`{"channel":"news","pub":{"data":{"n":1}}}`)
	b.ReportAllocs()
	for b.Loop() {
		for range 8 {
			q.Push(&p, f, true)
		}
		_ = q.Flush(&p, &sink, true, 1<<20)
		q.Reset()
	}
}

type countingSinkB struct{ n int }

func (s *countingSinkB) Write(p []byte) (int, error) { s.n += len(p); return len(p), nil }
func (s *countingSinkB) OutboundBuffered() int       { return 0 }
