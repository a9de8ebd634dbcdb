package broker

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultIdempotentResultTTL is how long a publish result is remembered for its
// idempotency key when the caller does not say (Centrifugo: 5 minutes).
const DefaultIdempotentResultTTL = 5 * time.Minute

const memoryShards = 64

// Memory is the in-process broker: publications are delivered to the local
// Handler synchronously, and every call completes before it returns. It keeps idempotency results; history streams are kept
// per channel when the publish options enable them.
type Memory struct {
	handler Handler
	stop    chan struct{}
	seed    maphash.Seed
	// epochSeed keys the derived epochs: unpredictable, and new for every
	// broker, so positions from a previous process never match.
	epochSeed maphash.Seed
	now       func() time.Time
	shards    [memoryShards]memShard
}

type memShard struct {
	mu sync.Mutex
	// results remembers publish results by idempotency key. Entries are
	// dropped lazily by expireResults, so the map stays bounded by the publish
	// rate times the result TTL.
	results map[idemKey]idemResult
	sweepAt time.Time
	// streams are the history streams of the shard's channels: only
	// channels that were published to (a read stores nothing, see epochFor).
	// Expired ones are removed by expireStreams, so memory follows the
	// channels that are live, not every channel ever published to.
	streams  map[string]*stream
	streamAt time.Time
	// gens are the generations of the shard's epoch slots: a slot's
	// generation goes up each time a stream of one of its channels is
	// forgotten, so that the channel's next epoch differs from the lost one.
	gens [epochSlots]uint32
}

// epochSlots is the number of epoch generation slots per shard (65536 in
// all, 256 KiB): a forgotten stream changes the unpublished epoch of the
// channels sharing its slot, one in 65536.
const epochSlots = 1024

type idemKey struct {
	channel, key string
}

type idemResult struct {
	pos     StreamPosition
	expires time.Time
}

// NewMemory returns an in-memory broker.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), epochSeed: maphash.MakeSeed(), now: time.Now, stop: make(chan struct{})}
	for i := range m.shards {
		m.shards[i].results = make(map[idemKey]idemResult)
		m.shards[i].streams = make(map[string]*stream)
	}
	return m
}

// Run attaches the handler.
func (m *Memory) Run(h Handler) error {
	if h == nil {
		return errors.New("broker: nil handler")
	}
	m.handler = h
	go m.sweep()
	return nil
}

// sweep expires history and idempotency results in the background, so memory
// is given back even when a shard sees no more publications.
func (m *Memory) sweep() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		now := m.now()
		for i := range m.shards {
			s := &m.shards[i]
			s.mu.Lock()
			m.expireStreams(s, now)
			m.expireResults(s, now)
			s.mu.Unlock()
		}
	}
}

// Close stops the background sweep.
func (m *Memory) Close() error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	return nil
}

// Inline implements Broker: every Memory call completes before it returns
// and takes one shard lock for a bounded time.
func (m *Memory) Inline(Op) bool { return true }

// Publish delivers pub to the handler unless its idempotency key was seen
// within the result TTL. For channels with history it first appends pub to
// the channel's stream; the shard lock is held while the handler queues it,
// so publications of a channel are queued in offset order, and released
// before the handler's deferred work (waking loops) runs.
func (m *Memory) Publish(_ context.Context, channel string, pub *Publication, opts PublishOptions, done func(StreamPosition, error)) {
	pos, d := m.publish(channel, pub, opts)
	m.handler.Flush(d)
	done(pos, nil)
}

func (m *Memory) publish(channel string, pub *Publication, opts PublishOptions) (StreamPosition, Deferred) {
	history := opts.HistorySize > 0 && opts.HistoryTTL > 0 && !opts.SkipHistory
	if !history && opts.IdempotencyKey == "" {
		// Nothing to record: the common case takes no lock at all.
		return StreamPosition{}, m.handler.HandlePublication(channel, pub, StreamPosition{})
	}
	s, slot := m.locate(channel)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Expired results and streams are removed by the background sweep, not
	// here: a publish costs the same however many a shard holds.
	var k idemKey
	if opts.IdempotencyKey != "" {
		k = idemKey{channel, opts.IdempotencyKey}
		if r, ok := s.results[k]; ok && now.Before(r.expires) {
			return r.pos, 0
		}
	}
	var pos StreamPosition
	if history {
		st := m.streamOf(s, slot, channel, now)
		pos = st.append(pub, opts, now)
	}
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = DefaultIdempotentResultTTL
		}
		s.results[k] = idemResult{pos: pos, expires: now.Add(ttl)}
	}
	return pos, m.handler.HandlePublication(channel, pub, pos)
}

// History implements Broker. A channel without a stream is at offset 0 of
// its derived epoch (see epochFor), and nothing is stored for it.
func (m *Memory) History(_ context.Context, channel string, opts PublishOptions, filter HistoryFilter, done func(HistoryResult, error)) {
	done(m.history(channel, filter))
}

func (m *Memory) history(channel string, filter HistoryFilter) (HistoryResult, error) {
	s, slot := m.locate(channel)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := m.liveStream(s, slot, channel, now)
	if st == nil {
		// Centrifugo creates the stream here and keeps it for the meta TTL
		// (30 days by default), so subscribers to channels that never see a
		// publication grow memory without bound. The empty stream is not
		// stored: its epoch is derived, and the first publication creates
		// the stream with that same epoch.
		unpublished := stream{epoch: m.epochFor(s, slot, channel)}
		return unpublished.history(filter, now)
	}
	return st.history(filter, now)
}

// RemoveHistory implements Broker.
func (m *Memory) RemoveHistory(_ context.Context, channel string, done func(error)) {
	s := m.shardOf(channel)
	s.mu.Lock()
	if st := s.streams[channel]; st != nil {
		clear(st.pubs)
		st.pubs = st.pubs[:0]
	}
	s.mu.Unlock()
	done(nil)
}

// Subscribe implements Broker: every publication reaches this node's
// handler anyway.
func (m *Memory) Subscribe(_ context.Context, _ string, done func(error)) { done(nil) }

// Unsubscribe implements Broker.
func (m *Memory) Unsubscribe(_ context.Context, _ string, done func(error)) { done(nil) }

// PublishControl implements Broker: with one node, every command is for
// this one.
func (m *Memory) PublishControl(_ context.Context, data []byte, _ string, done func(error)) {
	m.handler.HandleControl(data)
	done(nil)
}

func (m *Memory) shardOf(channel string) *memShard {
	s, _ := m.locate(channel)
	return s
}

// locate returns channel's shard and its epoch slot in the shard.
func (m *Memory) locate(channel string) (*memShard, int) {
	h := maphash.String(m.seed, channel)
	return &m.shards[h%memoryShards], int(h / memoryShards % epochSlots)
}

// epochFor is the epoch of channel while it has no stream: a keyed hash of
// the channel and its slot's generation, 8 letters like a random epoch. It
// is stable, so a subscriber positioned on a channel nobody published to
// (offset 0 of this epoch) recovers the first publications, and nothing needs
// to be stored for it. It changes when a stream of the slot is forgotten
// (forget), so a position in a lost stream never matches a later one: a
// reconnect then reports "not recovered", as after a lost epoch in
// Centrifugo. Under s.mu.
func (m *Memory) epochFor(s *memShard, slot int, channel string) string {
	var h maphash.Hash
	h.SetSeed(m.epochSeed)
	h.WriteString(channel)
	g := s.gens[slot]
	h.WriteByte(byte(g))
	h.WriteByte(byte(g >> 8))
	h.WriteByte(byte(g >> 16))
	h.WriteByte(byte(g >> 24))
	sum := h.Sum64()
	var b [8]byte
	for i := range b {
		b[i] = epochLetters[sum%uint64(len(epochLetters))]
		sum /= uint64(len(epochLetters))
	}
	return string(b[:])
}

// streamOf returns channel's stream, created (in the channel's current
// epoch) if absent or expired. Only publishing creates streams. Under s.mu.
func (m *Memory) streamOf(s *memShard, slot int, channel string, now time.Time) *stream {
	st := m.liveStream(s, slot, channel, now)
	if st == nil {
		st = &stream{epoch: m.epochFor(s, slot, channel)}
		s.streams[channel] = st
	}
	return st
}

// liveStream returns channel's stream, or nil when it has none or its meta
// TTL has passed (it is forgotten then). Under s.mu.
func (m *Memory) liveStream(s *memShard, slot int, channel string, now time.Time) *stream {
	st := s.streams[channel]
	if st != nil && !st.metaExp.IsZero() && !now.Before(st.metaExp) {
		m.forget(s, slot, channel)
		return nil
	}
	return st
}

// forget drops channel's stream and moves its slot to the next generation,
// so that the channel's next epoch is a new one. Under s.mu.
func (m *Memory) forget(s *memShard, slot int, channel string) {
	delete(s.streams, channel)
	s.gens[slot]++
}

// expireStreams trims expired publications and forgets streams whose meta
// TTL passed, at most once a second per shard. Only the background sweep
// calls it (a publish or read checks just its own stream, see liveStream
// and stream.trim). Under s.mu.
func (m *Memory) expireStreams(s *memShard, now time.Time) {
	if now.Before(s.streamAt) {
		return
	}
	s.streamAt = now.Add(time.Second)
	for ch, st := range s.streams {
		if !st.metaExp.IsZero() && !now.Before(st.metaExp) {
			_, slot := m.locate(ch)
			m.forget(s, slot, ch)
			continue
		}
		st.trim(len(st.pubs), now)
	}
}

// expireResults drops expired idempotency results, at most once a second per
// shard; only the background sweep calls it (Publish ignores an expired
// result it finds).
func (m *Memory) expireResults(s *memShard, now time.Time) {
	if now.Before(s.sweepAt) {
		return
	}
	s.sweepAt = now.Add(time.Second)
	for k, r := range s.results {
		if !now.Before(r.expires) {
			delete(s.results, k)
		}
	}
}

// Streams returns how many history streams the broker keeps: one per channel
// published to within its meta TTL. Reads of other channels keep none.
func (m *Memory) Streams() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.streams)
		s.mu.Unlock()
	}
	return n
}
