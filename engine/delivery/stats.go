package delivery

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/protocol"
)

// The loops' numbers for /metrics. Each loop counts in its own fields, on
// the loop, with plain atomic adds (never a lock or an allocation on the
// publish → fan-out → write path); /metrics sums the loops at scrape time.

// DelayBounds are the upper bounds, in seconds, of the publish → write delay
// histogram's buckets (Loop.DelayHistogram); the last bucket is +Inf.
var DelayBounds = [...]float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
}

// delayBoundsNs are DelayBounds in nanoseconds, for the loop's comparisons.
var delayBoundsNs = func() (b [len(DelayBounds)]int64) {
	for i, s := range DelayBounds {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// clockStart is the origin of monoNow: the delay of a frame is the
// difference of two readings of Go's monotonic clock.
var clockStart = time.Now()

// monoNow is nanoseconds on the monotonic clock since clockStart (≈ 30 ns:
// read once per publication, and once per slice that delivers any).
func monoNow() int64 { return int64(time.Since(clockStart)) }

// Now is the time PostFrame's posted wants: the monotonic clock in ns,
// never 0.
func Now() int64 { return max(monoNow(), 1) }

// delayStats is one loop's publish → write delay histogram: bucket counts
// (not cumulative; the last is +Inf) and the sum of the delays in ns.
// Written only by the loop (bump: no locked add).
type delayStats struct {
	buckets [len(DelayBounds) + 1]atomic.Uint64
	sumNs   atomic.Int64
}

func (d *delayStats) observe(ns int64) {
	ns = max(ns, 0)
	i := 0
	for i < len(delayBoundsNs) && ns > delayBoundsNs[i] {
		i++
	}
	bump(&d.buckets[i], 1)
	d.sumNs.Store(d.sumNs.Load() + ns) // single writer, as bump
}

// DelayHistogram adds l's publish → write delay histogram to buckets (per
// bucket, not cumulative; len(DelayBounds)+1 of them, the last +Inf) and
// returns the sum of the delays in seconds. Safe from any goroutine.
func (l *Loop) DelayHistogram(buckets []uint64) (sumSeconds float64) {
	for i := range l.delay.buckets {
		buckets[i] += l.delay.buckets[i].Load()
	}
	return time.Duration(l.delay.sumNs.Load()).Seconds()
}

// BacklogBytes is the size of the frames l holds in its inbox and channel
// logs that not every subscriber has been written yet, as of the end of
// its last slice. Safe from any goroutine.
func (l *Loop) BacklogBytes() int64 { return l.backlog.Load() }

// DisconnectCounts counts server-initiated disconnects by code (Centrifugo's
// centrifugo_client_num_server_disconnects). The codes Centrifugo and
// applications use (3000–4999) are plain atomic counters, so that counting
// never locks; any other code goes to a map under a mutex. Safe from any
// goroutine.
type DisconnectCounts struct {
	common [2000]atomic.Uint64 // codes 3000–4999
	mu     sync.Mutex
	other  map[uint32]uint64
}

// Inc counts one disconnect with code.
func (d *DisconnectCounts) Inc(code uint32) {
	if code >= 3000 && code < 5000 {
		d.common[code-3000].Add(1)
		return
	}
	d.mu.Lock()
	if d.other == nil {
		d.other = make(map[uint32]uint64)
	}
	d.other[code]++
	d.mu.Unlock()
}

// Get is how many disconnects with code were counted.
func (d *DisconnectCounts) Get(code uint32) uint64 {
	if code >= 3000 && code < 5000 {
		return d.common[code-3000].Load()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.other[code]
}

// Each calls fn for every code counted at least once, in increasing order
// of code.
func (d *DisconnectCounts) Each(fn func(code uint32, n uint64)) {
	for i := range d.common {
		if n := d.common[i].Load(); n > 0 {
			fn(uint32(3000+i), n)
		}
	}
	d.mu.Lock()
	other := maps.Clone(d.other)
	d.mu.Unlock()
	for _, c := range slices.Sorted(maps.Keys(other)) {
		fn(c, other[c])
	}
}

// observeDelays notes the publish → write delay of st's publications from
// st.timed up to head, which the sweep is about to deliver: from their
// posting (PostFrame, as the executor hands them to the hub) to this sweep,
// whose writes the slice's flush makes right after it. now is read once per
// slice, at the first frame observed. Frames released before a sweep reached
// them (shed, or all delivered by an operation's CatchUp) are not observed.
func (l *Loop) observeDelays(st *ChanState, head uint64, now *int64) {
	from := max(st.timed, st.base)
	st.timed = head
	for seq := from; seq < head; seq++ {
		if p := st.log[seq-st.base].posted; p != 0 {
			if *now == 0 {
				*now = monoNow()
			}
			l.delay.observe(*now - p)
		}
	}
}

// PushKind is what a push to a client is: centrifugo_transport_messages_sent's
// frame_type label (PushKindNames).
type PushKind uint8

// The pushes a uni_sse stream gets.
const (
	PushConnect PushKind = iota
	PushPublication
	PushJoin
	PushLeave
	PushDisconnect
	PushRefresh
	PushSubscribe
	PushUnsubscribe
	PushPing
	NumPushKinds
)

// PushKindNames are the frame_type label values, as centrifugal/protocol's
// FrameType names them.
var PushKindNames = [NumPushKinds]string{
	"push_connect", "push_publication", "push_join", "push_leave", "push_disconnect",
	"push_refresh", "push_subscribe", "push_unsubscribe", "server_ping",
}

// pushStats counts the pushes a loop wrote or queued, and their JSON bytes
// (without the SSE and chunked framing, as Centrifugo counts them).
type pushStats struct {
	n, bytes [NumPushKinds]atomic.Uint64
}

// bump adds v to a counter only the loop writes: a load and a store, no
// locked read-modify-write (readers see one value or the other).
func bump(a *atomic.Uint64, v uint64) { a.Store(a.Load() + v) }

// CountPush notes one push of kind with size bytes of JSON sent to a
// stream. Only on the loop.
func (l *Loop) CountPush(kind PushKind, size int) {
	bump(&l.pushes.n[kind], 1)
	bump(&l.pushes.bytes[kind], uint64(size))
}

// CountDisconnectPush notes a disconnect push d sent. Only on the loop.
func (l *Loop) CountDisconnectPush(d protocol.Disconnect) {
	l.scratch = protocol.AppendDisconnectPush(l.scratch[:0], d)
	l.CountPush(PushDisconnect, len(l.scratch))
}

// Pushes adds l's push counts and bytes by kind to n and bytes (each
// NumPushKinds long). Safe from any goroutine.
func (l *Loop) Pushes(n, bytes []uint64) {
	for k := range NumPushKinds {
		n[k] += l.pushes.n[k].Load()
		bytes[k] += l.pushes.bytes[k].Load()
	}
}
