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
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now}
	for i := range m.shards {
		m.shards[i].results = make(map[idemKey]idemResult)
	}
	return m
}

// Run attaches the handler.
func (m *Memory) Run(h Handler) error {
	if h == nil {
		return errors.New("broker: nil handler")
	}
	m.handler = h
	return nil
}

// Close does nothing for the memory broker.
func (m *Memory) Close() error { return nil }

// Publish delivers pub to the handler unless its idempotency key was seen
// within the result TTL.
func (m *Memory) Publish(channel string, pub *Publication, opts PublishOptions) (StreamPosition, error) {
	if opts.IdempotencyKey != "" {
		s := &m.shards[maphash.String(m.seed, channel)%memoryShards]
		now := m.now()
		k := idemKey{channel, opts.IdempotencyKey}
		s.mu.Lock()
		m.expireResults(s, now)
		if r, ok := s.results[k]; ok && now.Before(r.expires) {
			s.mu.Unlock()
			return r.pos, nil
		}
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = DefaultIdempotentResultTTL
		}
		// Record before delivering so a concurrent duplicate is suppressed too.
		var pos StreamPosition
		s.results[k] = idemResult{pos: pos, expires: now.Add(ttl)}
		s.mu.Unlock()
	}
	m.handler.HandlePublication(channel, pub, StreamPosition{})
	return StreamPosition{}, nil
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
