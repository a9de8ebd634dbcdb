package broker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

var _ Broker = (*Memory)(nil)

func TestRunNilHandler(t *testing.T) {
	m := NewMemory()
	defer m.Close()
	if err := m.Run(nil); err == nil {
		t.Fatal("Run(nil) succeeded")
	}
}

// Without history a publication is delivered once, synchronously, with a zero
// position, and Publish returns that zero position (the API replies {}).
func TestPublishDelivers(t *testing.T) {
	m, rec, _ := newTestMemory(t)
	tags := map[string]string{"k": "v"}
	pos, err := syncPublish(m, "news", &Publication{Data: []byte(`{"a":1}`), Tags: tags}, PublishOptions{})
	if err != nil || pos != (StreamPosition{}) {
		t.Fatalf("Publish = %+v, %v; want zero position", pos, err)
	}
	// Synchronous: delivered before Publish returned.
	got := rec.deliveries()
	want := []delivery{{channel: "news", data: `{"a":1}`, tags: tags}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deliveries %+v, want %+v", got, want)
	}
	_, _ = syncPublish(m, "bin", &Publication{Data: []byte{0xff}, NotJSON: true}, PublishOptions{})
	if d := rec.deliveries(); len(d) != 2 || !d[1].notJSON || d[1].data != "\xff" {
		t.Fatalf("NotJSON publication delivered as %+v", d)
	}
	// History needs both size and TTL (Centrifugo's rule).
	for _, opts := range []PublishOptions{{HistorySize: 10}, {HistoryTTL: time.Minute}} {
		if pos := publish(t, m, "half", "1", opts); pos != (StreamPosition{}) {
			t.Errorf("%+v: position %+v, want none", opts, pos)
		}
	}
	if st := m.stateOf("half"); st.exists {
		t.Errorf("stream created without history: %+v", st)
	}
	if n := rec.count("half"); n != 2 {
		t.Errorf("%d deliveries on half, want 2", n)
	}
}

// Offsets strictly increase by one from 1, the epoch is stable, and the
// handler sees each publication with its position.
func TestHistoryOffsets(t *testing.T) {
	m, rec, _ := newTestMemory(t)
	opts := history(100, time.Minute)
	var epoch string
	for i := 1; i <= 50; i++ {
		pos := publish(t, m, "hist:a", fmt.Sprint(i), opts)
		if pos.Offset != uint64(i) {
			t.Fatalf("publication %d: offset %d", i, pos.Offset)
		}
		if i == 1 {
			epoch = pos.Epoch
			if len(epoch) != 8 || strings.Trim(epoch, epochLetters) != "" {
				t.Fatalf("epoch %q: want 8 letters", epoch)
			}
		} else if pos.Epoch != epoch {
			t.Fatalf("publication %d: epoch %q, want %q", i, pos.Epoch, epoch)
		}
	}
	for i, d := range rec.deliveries() {
		want := StreamPosition{Offset: uint64(i + 1), Epoch: epoch}
		if d.sp != want || d.offset != want.Offset || d.data != fmt.Sprint(i+1) {
			t.Fatalf("delivery %d: %+v, want position %+v", i, d, want)
		}
	}
	// Another channel has its own stream.
	pos := publish(t, m, "hist:b", "x", opts)
	if pos.Offset != 1 || pos.Epoch == epoch {
		t.Errorf("second channel: %+v (first channel's epoch %q)", pos, epoch)
	}
	st := m.stateOf("hist:a")
	if st.top != 50 || st.epoch != epoch || len(st.offsets) != 50 || st.offsets[0] != 1 || st.offsets[49] != 50 {
		t.Errorf("stream %+v", st)
	}
}

// History keeps its own copy of the data: the caller may reuse its buffer.
func TestHistoryCopiesData(t *testing.T) {
	m, _, _ := newTestMemory(t)
	buf := []byte(`{"n":1}`)
	if _, err := syncPublish(m, "hist:a", &Publication{Data: buf}, history(10, time.Minute)); err != nil {
		t.Fatal(err)
	}
	copy(buf, `{"n":9}`)
	if st := m.stateOf("hist:a"); !reflect.DeepEqual(st.data, []string{`{"n":1}`}) {
		t.Errorf("history data %q after the caller reused its buffer", st.data)
	}
}

// history_size keeps the newest N publications; the top offset keeps counting.
func TestHistorySizeTrim(t *testing.T) {
	m, _, _ := newTestMemory(t)
	opts := history(3, time.Hour)
	for i := 1; i <= 7; i++ {
		publish(t, m, "hist:s", fmt.Sprint(i), opts)
	}
	st := m.stateOf("hist:s")
	if st.top != 7 || !reflect.DeepEqual(st.offsets, []uint64{5, 6, 7}) || !reflect.DeepEqual(st.data, []string{"5", "6", "7"}) {
		t.Errorf("stream after 7 publications with size 3: %+v", st)
	}
	// A smaller size on a later publish trims further.
	publish(t, m, "hist:s", "8", history(1, time.Hour))
	if st := m.stateOf("hist:s"); !reflect.DeepEqual(st.offsets, []uint64{8}) {
		t.Errorf("after size 1: %+v", st)
	}
}

// history_ttl drops publications once they are that old; the stream's epoch
// and top offset survive (they live until the meta TTL).
func TestHistoryTTLTrim(t *testing.T) {
	m, _, clk := newTestMemory(t)
	opts := PublishOptions{HistorySize: 100, HistoryTTL: 5 * time.Second, HistoryMetaTTL: time.Hour}
	first := publish(t, m, "hist:t", "1", opts) // at t0, expires at t0+5s
	clk.Advance(2 * time.Second)
	publish(t, m, "hist:t", "2", opts) // at t0+2s
	clk.Advance(2 * time.Second)
	publish(t, m, "hist:t", "3", opts) // at t0+4s
	if st := m.stateOf("hist:t"); !reflect.DeepEqual(st.offsets, []uint64{1, 2, 3}) {
		t.Fatalf("before expiry: %+v", st)
	}
	clk.Advance(time.Second) // t0+5s: the first is exactly expired
	pos := publish(t, m, "hist:t", "4", opts)
	if st := m.stateOf("hist:t"); !reflect.DeepEqual(st.offsets, []uint64{2, 3, 4}) || pos.Offset != 4 || pos.Epoch != first.Epoch {
		t.Fatalf("at t0+5s: %+v, position %+v", st, pos)
	}
	// All expired: an idle stream is trimmed by the next touch of its shard,
	// and keeps its position.
	clk.Advance(time.Minute)
	if got := position(t, m, "hist:t", opts); got != (StreamPosition{Offset: 4, Epoch: first.Epoch}) {
		t.Errorf("position after all expired: %+v, want offset 4 epoch %q", got, first.Epoch)
	}
	if st := m.stateOf("hist:t"); !st.exists || len(st.offsets) != 0 || st.top != 4 {
		t.Errorf("stream after all expired: %+v", st)
	}
	if pos := publish(t, m, "hist:t", "5", opts); pos != (StreamPosition{Offset: 5, Epoch: first.Epoch}) {
		t.Errorf("publish after expiry: %+v", pos)
	}
}

// After history_meta_ttl without publications the stream is forgotten: the
// next publication starts a new epoch at offset 1.
func TestHistoryMetaTTL(t *testing.T) {
	m, _, clk := newTestMemory(t)
	opts := PublishOptions{HistorySize: 10, HistoryTTL: time.Second, HistoryMetaTTL: 10 * time.Second}
	p1 := publish(t, m, "hist:m", "1", opts)
	clk.Advance(9 * time.Second)
	p2 := publish(t, m, "hist:m", "2", opts) // renews the meta TTL
	if p2 != (StreamPosition{Offset: 2, Epoch: p1.Epoch}) {
		t.Fatalf("within meta TTL: %+v", p2)
	}
	clk.Advance(9 * time.Second)
	if got := position(t, m, "hist:m", opts); got != p2 {
		t.Fatalf("9s after the last publication: %+v, want %+v", got, p2)
	}
	clk.Advance(time.Second) // exactly the meta TTL after the last publication
	p3 := publish(t, m, "hist:m", "3", opts)
	if p3.Offset != 1 || p3.Epoch == p1.Epoch || p3.Epoch == "" {
		t.Fatalf("after meta TTL: %+v, want offset 1 in a new epoch (old %q)", p3, p1.Epoch)
	}
	// A position read also sees the new stream, and one that expired meanwhile
	// is replaced too.
	clk.Advance(10 * time.Second)
	if got := position(t, m, "hist:m", opts); got.Offset != 0 || got.Epoch == p3.Epoch || got.Epoch == "" {
		t.Fatalf("A position read after meta TTL: %+v, want offset 0 in a new epoch (old %q)", got, p3.Epoch)
	}
}

// Without an explicit meta TTL the broker default (Centrifugo's 30 days) applies.
func TestHistoryDefaultMetaTTL(t *testing.T) {
	m, _, clk := newTestMemory(t)
	opts := history(10, time.Minute)
	p1 := publish(t, m, "hist:d", "1", opts)
	clk.Advance(DefaultHistoryMetaTTL - time.Second)
	if got := position(t, m, "hist:d", opts); got != p1 {
		t.Fatalf("just before the default meta TTL: %+v, want %+v", got, p1)
	}
	clk.Advance(time.Second)
	if got := position(t, m, "hist:d", opts); got.Epoch == p1.Epoch || got.Offset != 0 {
		t.Fatalf("at the default meta TTL: %+v, want a new stream", got)
	}
}

// skip_history delivers without a position and leaves the stream alone.
func TestSkipHistory(t *testing.T) {
	m, rec, _ := newTestMemory(t)
	opts := history(10, time.Minute)
	p1 := publish(t, m, "hist:k", "1", opts)
	skip := opts
	skip.SkipHistory = true
	if pos := publish(t, m, "hist:k", "skipped", skip); pos != (StreamPosition{}) {
		t.Errorf("skip_history position %+v, want none", pos)
	}
	if pos := publish(t, m, "hist:k", "2", opts); pos != (StreamPosition{Offset: 2, Epoch: p1.Epoch}) {
		t.Errorf("after a skipped publication: %+v", pos)
	}
	d := rec.deliveries()
	if len(d) != 3 || d[1].data != "skipped" || d[1].sp != (StreamPosition{}) || d[1].offset != 0 {
		t.Errorf("deliveries %+v", d)
	}
	if st := m.stateOf("hist:k"); !reflect.DeepEqual(st.data, []string{"1", "2"}) {
		t.Errorf("history %q", st.data)
	}
	// A skipped publication to a channel with no stream creates none.
	publish(t, m, "hist:none", "x", skip)
	if st := m.stateOf("hist:none"); st.exists {
		t.Errorf("skip_history created a stream: %+v", st)
	}
}

// A repeated idempotency key returns the first result and is not delivered
// again (capture 04, §5).
func TestIdempotency(t *testing.T) {
	m, rec, clk := newTestMemory(t)
	opts := history(10, time.Minute)
	opts.IdempotencyKey = "k1"
	p1 := publish(t, m, "hist:i", "first", opts)
	clk.Advance(time.Minute)
	p2 := publish(t, m, "hist:i", "second", opts)
	if p1 != p2 || p1.Offset != 1 {
		t.Fatalf("duplicate: %+v, first %+v", p2, p1)
	}
	if n := rec.count("hist:i"); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	if st := m.stateOf("hist:i"); !reflect.DeepEqual(st.data, []string{"first"}) {
		t.Fatalf("history %q: the duplicate was appended", st.data)
	}
	// Another key, or no key, is a new publication.
	other := opts
	other.IdempotencyKey = "k2"
	if p := publish(t, m, "hist:i", "third", other); p.Offset != 2 {
		t.Errorf("other key: %+v", p)
	}
	if p := publish(t, m, "hist:i", "fourth", history(10, time.Minute)); p.Offset != 3 {
		t.Errorf("no key: %+v", p)
	}
	// The same key on another channel is independent, also when both
	// channels live in the same shard.
	other2 := sameShard(m, "hist:i")
	if p := publish(t, m, other2, "x", opts); p.Offset != 1 || p.Epoch == p1.Epoch {
		t.Errorf("same key, other channel: %+v", p)
	}
	if n := rec.count(other2); n != 1 {
		t.Errorf("same key, other channel: %d deliveries", n)
	}
	// Without history the result is the empty position, and still deduplicated.
	plain := PublishOptions{IdempotencyKey: "k1"}
	publish(t, m, "plain", "a", plain)
	publish(t, m, "plain", "b", plain)
	if n := rec.count("plain"); n != 1 {
		t.Errorf("no history: %d deliveries, want 1", n)
	}
}

// The result is remembered for the TTL (default 5 minutes), then the key may
// publish again.
func TestIdempotencyExpiry(t *testing.T) {
	for _, c := range []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{{"default", 0, DefaultIdempotentResultTTL}, {"custom", 30 * time.Second, 30 * time.Second}} {
		t.Run(c.name, func(t *testing.T) {
			m, rec, clk := newTestMemory(t)
			opts := history(10, time.Hour)
			opts.IdempotencyKey = "k"
			opts.IdempotentResultTTL = c.ttl
			p1 := publish(t, m, "hist:e", "1", opts)
			clk.Advance(c.want - time.Millisecond)
			if p := publish(t, m, "hist:e", "2", opts); p != p1 || rec.count("hist:e") != 1 {
				t.Fatalf("just before the TTL: %+v, %d deliveries", p, rec.count("hist:e"))
			}
			clk.Advance(time.Millisecond)
			p3 := publish(t, m, "hist:e", "3", opts)
			if p3 != (StreamPosition{Offset: 2, Epoch: p1.Epoch}) || rec.count("hist:e") != 2 {
				t.Fatalf("at the TTL: %+v, %d deliveries; want offset 2, delivered", p3, rec.count("hist:e"))
			}
			// The new result is remembered in turn, counted from the republish.
			clk.Advance(c.want - time.Millisecond)
			if p := publish(t, m, "hist:e", "4", opts); p != p3 {
				t.Fatalf("duplicate of the republished key: %+v, want %+v", p, p3)
			}
		})
	}
}

// Concurrent publishers of one key: exactly one delivery, everyone gets its
// position.
func TestIdempotencyConcurrent(t *testing.T) {
	m, rec, _ := newTestMemory(t)
	opts := history(10, time.Minute)
	opts.IdempotencyKey = "same"
	const n = 16
	positions := make([]StreamPosition, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			pos, err := syncPublish(m, "hist:c", &Publication{Data: []byte(fmt.Sprint(i))}, opts)
			if err != nil {
				t.Error(err) // not Fatal: this is not the test's goroutine
			}
			positions[i] = pos
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if c := rec.count("hist:c"); c != 1 {
		t.Fatalf("%d deliveries, want 1", c)
	}
	for i, p := range positions {
		if p != positions[0] || p.Offset != 1 {
			t.Fatalf("publisher %d got %+v, publisher 0 %+v", i, p, positions[0])
		}
	}
}

// A position read of a channel nobody published to answers offset 0 in a new
// epoch (capture 35: "never-used channel gets a new epoch and offset 0"),
// which the first publication then continues. Unlike Centrifugo, nothing is
// stored for it: the epoch is derived from the channel.
func TestPositionNewStream(t *testing.T) {
	m, rec, _ := newTestMemory(t)
	opts := history(10, time.Minute)
	p0 := position(t, m, "hist:w", opts)
	if p0.Offset != 0 || len(p0.Epoch) != 8 || strings.Trim(p0.Epoch, epochLetters) != "" {
		t.Fatalf("new stream position %+v", p0)
	}
	if again := position(t, m, "hist:w", opts); again != p0 {
		t.Fatalf("second position read %+v, want %+v", again, p0)
	}
	if other := position(t, m, "hist:other", opts); other.Epoch == p0.Epoch {
		t.Errorf("two new streams share epoch %q", other.Epoch)
	}
	if n := m.Streams(); n != 0 {
		t.Fatalf("reads stored %d streams, want none", n)
	}
	p1 := publish(t, m, "hist:w", "1", opts)
	if p1 != (StreamPosition{Offset: 1, Epoch: p0.Epoch}) {
		t.Fatalf("first publication %+v, want offset 1 in epoch %q", p1, p0.Epoch)
	}
	if got := position(t, m, "hist:w", opts); got != p1 {
		t.Fatalf("position after publishing %+v, want %+v", got, p1)
	}
	if n := len(rec.deliveries()); n != 1 {
		t.Errorf("a position read delivered something: %d deliveries", n)
	}
	// A broker of another process derives other epochs.
	m2, _, _ := newTestMemory(t)
	if e := position(t, m2, "hist:w", opts).Epoch; e == p0.Epoch {
		t.Errorf("two brokers derive the same epoch %q", e)
	}
}

// Positions on channels nobody publishes to cost nothing, however many and
// however long the meta TTL: a subscriber positioned on one long ago still
// recovers the first publication (nothing was lost), and once a stream is
// forgotten its channel moves to a new epoch, so a position in the lost
// stream can never match the next one.
func TestPositionUnpublished(t *testing.T) {
	m, _, clk := newTestMemory(t)
	opts := PublishOptions{HistorySize: 10, HistoryTTL: time.Second, HistoryMetaTTL: 10 * time.Second}
	for i := range 100000 {
		position(t, m, fmt.Sprintf("hist:quiet%d", i), opts)
	}
	if n := m.Streams(); n != 0 {
		t.Fatalf("100000 reads stored %d streams, want none", n)
	}
	p0 := position(t, m, "hist:x", opts)
	clk.Advance(time.Hour)
	p1 := publish(t, m, "hist:x", "1", opts)
	if p1 != (StreamPosition{Offset: 1, Epoch: p0.Epoch}) {
		t.Fatalf("first publication an hour after positioning: %+v, want offset 1 in %q", p1, p0.Epoch)
	}
	var h HistoryResult
	var herr error
	h, herr = syncHistory(m, "hist:x", opts, HistoryFilter{Since: &p0, Limit: -1})
	if herr != nil || len(h.Publications) != 1 || h.Publications[0].Offset != 1 {
		t.Fatalf("recovery from %+v: %+v, %v", p0, h, herr)
	}
	clk.Advance(10 * time.Second) // the stream is forgotten
	p2 := position(t, m, "hist:x", opts)
	if p2.Offset != 0 || p2.Epoch == p0.Epoch {
		t.Fatalf("after the meta TTL: %+v, want offset 0 in an epoch other than %q", p2, p0.Epoch)
	}
	h, herr = syncHistory(m, "hist:x", opts, HistoryFilter{Since: &p1, Limit: -1})
	if !errors.Is(herr, ErrUnrecoverablePosition) {
		t.Fatalf("recovery from the lost stream's %+v: %v, want ErrUnrecoverablePosition", p1, herr)
	}
	if p3 := publish(t, m, "hist:x", "2", opts); p3 != (StreamPosition{Offset: 1, Epoch: p2.Epoch}) {
		t.Fatalf("publication after the loss: %+v, want offset 1 in %q", p3, p2.Epoch)
	}
}

// A position read after subscribing covers everything delivered before: with
// many concurrent publishers and positioners, no publication above a
// position a positioner got was delivered before it asked, so a subscriber
// that buffers from its subscription and drops what is at or below the
// position misses nothing (the engine's parked connect relies on it).
func TestPositionCoversEarlierDeliveries(t *testing.T) {
	m := NewMemory()
	rec := newRecorder()
	if err := m.Run(rec); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	channels := []string{"hist:a", "hist:b", "hist:c", "hist:d"}
	opts := history(1000, time.Hour)
	const publishers, positioners, perPublisher, perPositioner = 6, 4, 300, 300

	type seen struct {
		channel   string
		pos       StreamPosition
		delivered int // deliveries of the channel recorded when fn ran
	}
	var (
		seenMu sync.Mutex
		seens  []seen
	)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range publishers {
		wg.Go(func() {
			<-start
			for i := range perPublisher {
				ch := channels[(p+i)%len(channels)]
				if _, err := syncPublish(m, ch, &Publication{Data: []byte(fmt.Sprintf(`[%d,%d]`, p, i))}, opts); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for q := range positioners {
		wg.Go(func() {
			<-start
			for i := range perPositioner {
				ch := channels[(q+i)%len(channels)]
				// As the engine does: "subscribe" (take note of what was
				// delivered so far), then ask for the position.
				n := rec.count(ch)
				h, err := syncHistory(m, ch, opts, HistoryFilter{})
				seenMu.Lock()
				seens = append(seens, seen{ch, h.StreamPosition, n})
				seenMu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if i%16 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	close(start)
	wg.Wait()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	total := 0
	epochs := map[string]string{}
	for _, ch := range channels {
		ds := rec.byCh[ch]
		total += len(ds)
		for i, d := range ds {
			// Delivered in offset order, one by one, in one epoch.
			if d.offset != uint64(i+1) || d.sp.Offset != d.offset {
				t.Fatalf("%s: delivery %d has offset %d (position %+v)", ch, i, d.offset, d.sp)
			}
			if i == 0 {
				epochs[ch] = d.sp.Epoch
			} else if d.sp.Epoch != epochs[ch] {
				t.Fatalf("%s: epoch changed to %q at delivery %d", ch, d.sp.Epoch, i)
			}
		}
	}
	if total != publishers*perPublisher {
		t.Fatalf("%d deliveries, want %d", total, publishers*perPublisher)
	}
	if len(seens) != positioners*perPositioner {
		t.Fatalf("%d positions seen, want %d", len(seens), positioners*perPositioner)
	}
	for _, s := range seens {
		ds := rec.byCh[s.channel]
		if e, ok := epochs[s.channel]; ok && s.pos.Epoch != e {
			t.Fatalf("%s: position %+v in another epoch than the deliveries (%q)", s.channel, s.pos, e)
		}
		for i, d := range ds {
			before := i < s.delivered
			// A subscriber keeps what is delivered after it subscribed and
			// drops what is at or below its position: it skips an offset
			// only if one above the position was delivered before.
			if before && d.offset > s.pos.Offset {
				t.Fatalf("%s: offset %d was delivered before the subscriber asked, yet the position says %d", s.channel, d.offset, s.pos.Offset)
			}
		}
	}
}

// The sweep gives memory back without further publications: expired
// idempotency results and streams past their meta TTL are dropped.
func TestSweepForgets(t *testing.T) {
	m, _, clk := newTestMemory(t)
	opts := PublishOptions{HistorySize: 10, HistoryTTL: time.Second, HistoryMetaTTL: 2 * time.Second, IdempotencyKey: "k", IdempotentResultTTL: time.Second}
	for i := range 100 {
		publish(t, m, fmt.Sprintf("hist:%d", i), "1", opts)
	}
	if m.Streams() != 100 || m.numResults() != 100 {
		t.Fatalf("%d streams, %d results; want 100 each", m.Streams(), m.numResults())
	}
	clk.Advance(time.Hour)
	// The sweep ticks once a second of real time.
	waitFor(t, "the sweep to drop streams and results", 10*time.Second, func() bool {
		return m.Streams() == 0 && m.numResults() == 0
	})
}

// Close stops the sweep goroutine; closing twice is harmless.
func TestCloseStopsSweep(t *testing.T) {
	// Brokers of earlier tests were closed; their sweeps end on their own.
	waitFor(t, "earlier sweeps to exit", 5*time.Second, func() bool { return sweepGoroutines() == 0 })
	// Goroutines of earlier tests may still be exiting: the baseline can only
	// shrink, which the final check tolerates.
	base := runtime.NumGoroutine()
	var ms []*Memory
	for range 8 {
		m := NewMemory()
		t.Cleanup(func() { _ = m.Close() }) // if the test fails early
		if err := m.Run(newRecorder()); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if n := sweepGoroutines(); n != 8 {
		t.Fatalf("%d sweep goroutines after starting 8 brokers", n)
	}
	for _, m := range ms {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the sweep goroutines to exit", 5*time.Second, func() bool {
		return sweepGoroutines() == 0 && runtime.NumGoroutine() <= base
	})
}

// sweepGoroutines counts the goroutines Memory.Run started (running the
// sweep, or not yet scheduled).
func sweepGoroutines() int {
	var stacks strings.Builder
	// Debug level 2 prints every goroutine with its "created by" line.
	if err := pprof.Lookup("goroutine").WriteTo(&stacks, 2); err != nil {
		panic(err)
	}
	return strings.Count(stacks.String(), "created by github.com/unisse/unisse/engine/broker.(*Memory).Run")
}

// sameShard returns another channel that hashes to channel's shard.
func sameShard(m *Memory, channel string) string {
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%s-%d", channel, i); m.shardOf(c) == m.shardOf(channel) {
			return c
		}
	}
}

// flushProbe is a Handler whose Flush reads the channel's history: it
// would deadlock if Memory called Flush with the shard lock still held.
type flushProbe struct {
	*recorder
	m       *Memory
	flushed chan StreamPosition
}

func (p *flushProbe) HandlePublication(channel string, pub *Publication, sp StreamPosition) Deferred {
	p.recorder.HandlePublication(channel, pub, sp)
	return Deferred(sp.Offset)
}

func (p *flushProbe) Flush(d Deferred) {
	h, _ := syncHistory(p.m, "hist:f", history(10, time.Minute), HistoryFilter{})
	p.flushed <- StreamPosition{Offset: uint64(d), Epoch: h.Epoch}
}

// Memory hands the handler's deferred work back through Flush once its
// locks are released, before the publish completes.
func TestFlushAfterLocksReleased(t *testing.T) {
	m := NewMemory()
	p := &flushProbe{recorder: newRecorder(), m: m, flushed: make(chan StreamPosition, 1)}
	if err := m.Run(p); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan StreamPosition, 1)
	go func() {
		pos, _ := syncPublish(m, "hist:f", &Publication{Data: []byte(`1`)}, history(10, time.Minute))
		done <- pos
	}()
	select {
	case pos := <-done:
		f := <-p.flushed
		if f.Offset != pos.Offset || f.Epoch != pos.Epoch {
			t.Fatalf("Flush got %+v, publish returned %+v", f, pos)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish did not complete: Flush ran under the shard lock")
	}
}

// Memory completes every call inline, and PublishControl reaches this
// node's handler.
func TestInlineAndControl(t *testing.T) {
	m := NewMemory()
	rec := newRecorder()
	if err := m.Run(rec); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for op := OpPublish; op <= OpPresence; op++ {
		if !m.Inline(op) {
			t.Errorf("Inline(%d) = false", op)
		}
	}
	calls := 0
	m.PublishControl(context.Background(), []byte("cmd"), "", func(err error) {
		if err != nil {
			t.Error(err)
		}
		calls++
	})
	if calls != 1 || len(rec.control) != 1 || rec.control[0] != "cmd" {
		t.Fatalf("PublishControl: %d completions, handler got %q", calls, rec.control)
	}
}
