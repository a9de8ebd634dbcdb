package sse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func buildFrame(json string) *Frame {
	f := NewFrame()
	b := f.Begin()
	b = append(b, json...)
	f.End(b)
	return f
}

func TestFrameEncoding(t *testing.T) {
	for _, n := range []int{0, 1, 2, 100, 0xf7, 0xff - 8, 4096, 60059, 1 << 20} {
		json := strings.Repeat("x", n)
		f := buildFrame(json)
		event := "data: " + json + "\n\n"
		if got := string(f.Event()); got != event {
			t.Fatalf("n=%d: Event = %q…, want %q…", n, trim(got), trim(event))
		}
		wantChunk := fmt.Sprintf("%x\r\n%s\r\n", len(event), event)
		if got := string(f.Chunk()); got != wantChunk {
			t.Fatalf("n=%d: Chunk = %q…, want %q…", n, trim(got), trim(wantChunk))
		}
		if got := string(f.JSON()); got != json {
			t.Fatalf("n=%d: JSON = %q…", n, trim(got))
		}
		if !bytes.Equal(f.Bytes(true), f.Chunk()) || !bytes.Equal(f.Bytes(false), f.Event()) {
			t.Fatalf("n=%d: Bytes does not pick chunk/event", n)
		}
		f.Release()
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func TestPingAndConstants(t *testing.T) {
	if got := string(Ping.Chunk()); got != "a\r\ndata: {}\n\n\r\n" {
		t.Fatalf("ping chunk %q", got)
	}
	// Static frames ignore reference counting: releasing them must not put
	// them in the pool (where a later NewFrame would overwrite the ping).
	Ping.Release()
	Ping.Release()
	f := buildFrame(`{"x":1}`)
	defer f.Release()
	if string(Ping.Event()) != "data: {}\n\n" {
		t.Fatalf("ping was recycled: %q", Ping.Event())
	}
	if got := string(AppendChunk(nil, []byte("\r\n"))); got != Primer {
		t.Fatalf("primer %q vs AppendChunk %q", Primer, got)
	}
	if got := string(AppendEvent(nil, []byte(`{"a":1}`), true)); got != "f\r\ndata: {\"a\":1}\n\n\r\n" {
		t.Fatalf("AppendEvent chunked %q", got)
	}
	if got := string(AppendEvent(nil, []byte(`{"a":1}`), false)); got != "data: {\"a\":1}\n\n" {
		t.Fatalf("AppendEvent %q", got)
	}
}

func TestFrameRefcount(t *testing.T) {
	f := buildFrame(`{"a":1}`)
	f.Retain(2)
	f.Release()
	f.Release()
	if string(f.JSON()) != `{"a":1}` {
		t.Fatal("frame recycled while references remain")
	}
	f.Release() // last reference
	defer func() {
		if recover() == nil {
			t.Fatal("releasing a frame more times than retained must panic")
		}
	}()
	g := buildFrame(`{}`)
	g.Release()
	g.Release()
}

// fakeSink records writes; buffered simulates bytes waiting in the outbound buffer.
type fakeSink struct {
	writes   [][]byte
	buffered int
	err      error
}

func (s *fakeSink) Write(p []byte) (int, error) {
	s.writes = append(s.writes, append([]byte(nil), p...))
	return len(p), s.err
}
func (s *fakeSink) OutboundBuffered() int { return s.buffered }

func TestQueueCoalescesPerConnection(t *testing.T) {
	var q Queue
	a, b, c := buildFrame(`{"n":1}`), buildFrame(`{"n":2}`), buildFrame(`{"n":3}`)
	var p1, p2 Pending
	if !q.Push(&p1, a, true) || q.Push(&p1, b, true) || !q.Push(&p2, b, false) || q.Push(&p1, c, true) {
		t.Fatal("Push must report an empty queue exactly on the first push")
	}
	if p1.Bytes() != len(a.Chunk())+len(b.Chunk())+len(c.Chunk()) || p2.Bytes() != len(b.Event()) {
		t.Fatalf("pending bytes %d/%d", p1.Bytes(), p2.Bytes())
	}
	var s1, s2 fakeSink
	if err := q.Flush(&p1, &s1, true, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := q.Flush(&p2, &s2, false, 1<<20); err != nil {
		t.Fatal(err)
	}
	want := string(a.Chunk()) + string(b.Chunk()) + string(c.Chunk())
	if len(s1.writes) != 1 || string(s1.writes[0]) != want {
		t.Fatalf("conn 1: %d writes %q, want one write %q", len(s1.writes), s1.writes, want)
	}
	if len(s2.writes) != 1 || string(s2.writes[0]) != string(b.Event()) {
		t.Fatalf("conn 2 (unchunked): %q", s2.writes)
	}
	if !p1.Empty() || !p2.Empty() {
		t.Fatal("flush must empty the pending queue")
	}
	// Flushing an empty queue writes nothing.
	if err := q.Flush(&p1, &s1, true, 1<<20); err != nil || len(s1.writes) != 1 {
		t.Fatal("empty flush wrote")
	}
	q.Reset()
	// The arena is reused after Reset.
	q.Push(&p1, c, true)
	if err := q.Flush(&p1, &s1, true, 1<<20); err != nil || string(s1.writes[1]) != string(c.Chunk()) {
		t.Fatalf("after reset: %q %v", s1.writes, err)
	}
}

func TestQueueLimit(t *testing.T) {
	var q Queue
	f := buildFrame(strings.Repeat("x", 100))
	var p Pending
	// The sink keeps what "the socket did not take"; the cap applies to that
	// after the write, so a burst the client absorbs is never slow.
	q.Push(&p, f, true)
	q.Push(&p, f, true)
	s := fakeSink{buffered: 1000}
	if err := q.Flush(&p, &s, true, 1000); err != nil || len(s.writes) != 1 {
		t.Fatalf("at the limit: %v, %d writes", err, len(s.writes))
	}
	q.Push(&p, f, true)
	q.Push(&p, f, true)
	s = fakeSink{buffered: 1001}
	if err := q.Flush(&p, &s, true, 1000); !errors.Is(err, ErrSlow) || len(s.writes) != 1 || !p.Empty() {
		t.Fatalf("over the limit: %v, %d writes, empty=%v", err, len(s.writes), p.Empty())
	}
	// A burst bigger than the limit is fine when the socket takes it.
	for range 20 {
		q.Push(&p, f, true)
	}
	s = fakeSink{}
	if err := q.Flush(&p, &s, true, 1000); err != nil || len(s.writes) != 1 || len(s.writes[0]) != 20*len(f.Chunk()) {
		t.Fatalf("absorbed burst: %v, %d writes", err, len(s.writes))
	}
	// Drop empties without writing.
	q.Push(&p, f, true)
	q.Drop(&p)
	if !p.Empty() || p.Bytes() != 0 {
		t.Fatal("Drop left bytes queued")
	}
}

func TestQueueWriteErrorIsReturned(t *testing.T) {
	var q Queue
	var p Pending
	q.Push(&p, buildFrame(`{}`), true)
	boom := errors.New("boom")
	if err := q.Flush(&p, &fakeSink{err: boom}, true, 1<<20); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

// recordingSink keeps what is written.
type recordingSink struct{ b []byte }

func (s *recordingSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *recordingSink) OutboundBuffered() int       { return 0 }

// TestPushWithIDWritesTheIDRightBeforeItsEvent: the id line goes in its own
// chunk right before the frame's chunk (and plain before the event without
// chunking), frames without an id are written as before, and Pending
// counts the id bytes.
func TestPushWithIDWritesTheIDRightBeforeItsEvent(t *testing.T) {
	f1 := StaticFrame(`{"a":1}`)
	f2 := StaticFrame(`{"b":2}`)
	for _, chunked := range []bool{true, false} {
		var q Queue
		var p Pending
		var sink recordingSink
		q.Push(&p, f1, chunked)
		q.PushWithID(&p, f2, chunked, []byte("u1.A.B.e"))
		q.PushWithID(&p, f1, chunked, []byte("u1.A.C.e"))
		want := "data: {\"a\":1}\n\nid: u1.A.B.e\ndata: {\"b\":2}\n\nid: u1.A.C.e\ndata: {\"a\":1}\n\n"
		if chunked {
			want = "f\r\ndata: {\"a\":1}\n\n\r\n" + "d\r\nid: u1.A.B.e\n\r\n" + "f\r\ndata: {\"b\":2}\n\n\r\n" +
				"d\r\nid: u1.A.C.e\n\r\n" + "f\r\ndata: {\"a\":1}\n\n\r\n"
		}
		if p.Bytes() != len(want) {
			t.Fatalf("chunked=%v: pending counts %d bytes, want %d", chunked, p.Bytes(), len(want))
		}
		if err := q.Flush(&p, &sink, chunked, 1<<20); err != nil {
			t.Fatal(err)
		}
		if string(sink.b) != want {
			t.Fatalf("chunked=%v: wrote %q, want %q", chunked, sink.b, want)
		}
		// A single frame with an id is still written with its id.
		sink.b = nil
		q.Reset()
		q.PushWithID(&p, f2, chunked, []byte("x"))
		_ = q.Flush(&p, &sink, chunked, 1<<20)
		if !bytes.Contains(sink.b, []byte("id: x\n")) {
			t.Fatalf("chunked=%v: single frame lost its id: %q", chunked, sink.b)
		}
	}
	got := string(AppendEventWithID(nil, []byte("t"), []byte("{}"), true))
	if want := "6\r\nid: t\n\r\na\r\ndata: {}\n\n\r\n"; got != want {
		t.Fatalf("AppendEventWithID = %q, want %q", got, want)
	}
}
