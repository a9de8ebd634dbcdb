package broker

import (
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
// Handler synchronously. It keeps idempotency results; history streams are kept
// per channel when the publish options enable them.
type Memory struct {
	handler Handler
	stop    chan struct{}
	seed    maphash.Seed
	now     func() time.Time
	shards  [memoryShards]memShard
}

type memShard struct {
	mu sync.Mutex
	// results remembers publish results by idempotency key. Entries are
	// dropped lazily by expireResults, so the map stays bounded by the publish
	// rate times the result TTL.
	results map[idemKey]idemResult
	sweepAt time.Time
	// streams are the history streams of the shard's channels. Expired ones
	// are removed by expireStreams, so memory follows the channels that are
	// live, not every channel ever published to.
	streams  map[string]*stream
	streamAt time.Time
}

type idemKey struct {
	channel, key string
}

type idemResult struct {
	pos     StreamPosition
	expires time.Time
}

// NewMemory returns an in-memory broker.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now, stop: make(chan struct{})}
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

// Publish delivers pub to the handler unless its idempotency key was seen
// within the result TTL. For channels with history it first appends pub to the
// channel's stream; the shard lock is held until the handler returns, so
// publications of a channel are delivered in offset order (the handler only
// queues, it never waits).
func (m *Memory) Publish(channel string, pub *Publication, opts PublishOptions) (StreamPosition, error) {
	history := opts.HistorySize > 0 && opts.HistoryTTL > 0 && !opts.SkipHistory
	if !history && opts.IdempotencyKey == "" {
		// Nothing to record: the common case takes no lock at all.
		m.handler.HandlePublication(channel, pub, StreamPosition{})
		return StreamPosition{}, nil
	}
	s := m.shardOf(channel)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var k idemKey
	if opts.IdempotencyKey != "" {
		m.expireResults(s, now)
		k = idemKey{channel, opts.IdempotencyKey}
		if r, ok := s.results[k]; ok && now.Before(r.expires) {
			return r.pos, nil
		}
	}
	var pos StreamPosition
	if history {
		st := m.streamOf(s, channel, now)
		pos = st.append(pub, opts, now)
	}
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = DefaultIdempotentResultTTL
		}
		s.results[k] = idemResult{pos: pos, expires: now.Add(ttl)}
	}
	m.handler.HandlePublication(channel, pub, pos)
	return pos, nil
}

// WithPosition calls fn with the current position of channel's stream under
// the shard lock that Publish holds while appending and delivering, creating
// the stream (with a new epoch) if it does not exist, as Centrifugo does when a
// client subscribes to a history channel nobody published to yet.
func (m *Memory) WithPosition(channel string, opts PublishOptions, fn func(StreamPosition)) error {
	return m.WithHistory(channel, opts, HistoryFilter{}, func(h HistoryResult, _ error) { fn(h.StreamPosition) })
}

// WithHistory implements Broker.
func (m *Memory) WithHistory(channel string, opts PublishOptions, filter HistoryFilter, fn func(HistoryResult, error)) error {
	s := m.shardOf(channel)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := m.streamOf(s, channel, now)
	if st.metaExp.IsZero() {
		st.metaExp = now.Add(metaTTL(opts))
	}
	fn(st.history(filter, now))
	return nil
}

// History implements Broker.
func (m *Memory) History(channel string, opts PublishOptions, filter HistoryFilter) (HistoryResult, error) {
	var res HistoryResult
	var err error
	_ = m.WithHistory(channel, opts, filter, func(r HistoryResult, e error) { res, err = r, e })
	return res, err
}

// RemoveHistory implements Broker.
func (m *Memory) RemoveHistory(channel string) error {
	s := m.shardOf(channel)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[channel]; st != nil {
		clear(st.pubs)
		st.pubs = st.pubs[:0]
	}
	return nil
}

func (m *Memory) shardOf(channel string) *memShard {
	return &m.shards[maphash.String(m.seed, channel)%memoryShards]
}

// streamOf returns channel's stream, new if absent or expired. Under s.mu.
func (m *Memory) streamOf(s *memShard, channel string, now time.Time) *stream {
	m.expireStreams(s, now)
	st := s.streams[channel]
	if st == nil || (!st.metaExp.IsZero() && !now.Before(st.metaExp)) {
		st = &stream{epoch: newEpoch()}
		s.streams[channel] = st
	}
	return st
}

// expireStreams trims expired publications and forgets streams whose meta
// TTL passed, at most once a second per shard. Under s.mu.
func (m *Memory) expireStreams(s *memShard, now time.Time) {
	if now.Before(s.streamAt) {
		return
	}
	s.streamAt = now.Add(time.Second)
	for ch, st := range s.streams {
		if !st.metaExp.IsZero() && !now.Before(st.metaExp) {
			delete(s.streams, ch)
			continue
		}
		st.trim(len(st.pubs), now)
	}
}

// expireResults drops expired idempotency results, at most once a second per
// shard so that the sweep cost is amortised over many publishes.
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
