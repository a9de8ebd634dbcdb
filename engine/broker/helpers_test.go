package broker

import (
	"context"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for Memory.now. Safe for concurrent use
// (the sweep goroutine reads it too).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 21, 8, 18, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// delivery is one HandlePublication call, with copies of what the broker
// passed (the handler must not retain pub).
type delivery struct {
	channel string
	data    string
	offset  uint64
	tags    map[string]string
	notJSON bool
	sp      StreamPosition
}

// recorder is a Handler that records every delivery, per channel and overall.
type recorder struct {
	mu      sync.Mutex
	all     []delivery
	byCh    map[string][]delivery
	onPub   func(channel string) // called after recording, under no lock of ours
	control []string
}

func newRecorder() *recorder { return &recorder{byCh: make(map[string][]delivery)} }

func (r *recorder) Flush(Deferred)                            {}
func (r *recorder) HandleControl(data []byte)                 { r.control = append(r.control, string(data)) }
func (r *recorder) HandleResubscribed([]string)               {}
func (r *recorder) HandleJoinLeave(string, *ClientInfo, bool) {}

func (r *recorder) HandlePublication(channel string, pub *Publication, sp StreamPosition) Deferred {
	d := delivery{channel: channel, data: string(pub.Data), offset: pub.Offset, tags: pub.Tags, notJSON: pub.NotJSON, sp: sp}
	r.mu.Lock()
	r.all = append(r.all, d)
	r.byCh[channel] = append(r.byCh[channel], d)
	r.mu.Unlock()
	if r.onPub != nil {
		r.onPub(channel)
	}
	return 0
}

func (r *recorder) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.all...)
}

func (r *recorder) count(channel string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byCh[channel])
}

// newTestMemory returns a running Memory on a fake clock, closed when the test ends.
func newTestMemory(t testing.TB) (*Memory, *recorder, *clock) {
	t.Helper()
	m := NewMemory()
	clk := newClock()
	m.now = clk.Now // before Run: the sweep goroutine reads it
	rec := newRecorder()
	if err := m.Run(rec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m, rec, clk
}

// streamState is a snapshot of a channel's history stream, read under the
// shard lock.
type streamState struct {
	exists  bool
	epoch   string
	top     uint64
	offsets []uint64
	data    []string
}

func (m *Memory) stateOf(channel string) streamState {
	s := m.shardOf(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[channel]
	if st == nil {
		return streamState{}
	}
	out := streamState{exists: true, epoch: st.epoch, top: st.top}
	for _, p := range st.pubs {
		out.offsets = append(out.offsets, p.pub.Offset)
		out.data = append(out.data, string(p.pub.Data))
	}
	return out
}

// numResults counts the idempotency results the broker keeps (Streams
// counts its history streams).
func (m *Memory) numResults() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.results)
		s.mu.Unlock()
	}
	return n
}

// history are publish options with history on.
func history(size int, ttl time.Duration) PublishOptions {
	return PublishOptions{HistorySize: size, HistoryTTL: ttl}
}

func publish(t testing.TB, m *Memory, channel, data string, opts PublishOptions) StreamPosition {
	t.Helper()
	pos, err := syncPublish(m, channel, &Publication{Data: []byte(data)}, opts)
	if err != nil {
		t.Fatalf("Publish(%s): %v", channel, err)
	}
	return pos
}

func position(t testing.TB, m *Memory, channel string, opts PublishOptions) StreamPosition {
	t.Helper()
	h, err := syncHistory(m, channel, opts, HistoryFilter{})
	if err != nil {
		t.Fatalf("History(%s): %v", channel, err)
	}
	return h.StreamPosition
}

// syncPublish publishes and returns the result, checking that Memory
// completes inline as its Inline says.
func syncPublish(m *Memory, channel string, pub *Publication, opts PublishOptions) (StreamPosition, error) {
	var pos StreamPosition
	var err error
	calls := 0
	m.Publish(context.Background(), channel, pub, opts, func(p StreamPosition, e error) { pos, err = p, e; calls++ })
	if calls != 1 {
		panic("Memory.Publish did not complete inline exactly once")
	}
	return pos, err
}

// syncHistory is History's result, inline.
func syncHistory(m *Memory, channel string, opts PublishOptions, f HistoryFilter) (HistoryResult, error) {
	var res HistoryResult
	var err error
	calls := 0
	m.History(context.Background(), channel, opts, f, func(r HistoryResult, e error) { res, err = r, e; calls++ })
	if calls != 1 {
		panic("Memory.History did not complete inline exactly once")
	}
	return res, err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func syncRemove(m *Memory, channel string) error {
	var err error
	m.RemoveHistory(context.Background(), channel, func(e error) { err = e })
	return err
}
