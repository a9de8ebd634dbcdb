package hub

import (
	"hash/maphash"
	"sync"
)

const numShards = 64

// Hub maps channels to their subscribers of type S (the engine's connection).
type Hub[S comparable] struct {
	loops  int
	seed   maphash.Seed
	shards [numShards]shard[S]
}

type shard[S comparable] struct {
	mu       sync.RWMutex
	channels map[string]*Channel[S]
}

// Channel is one channel's subscribers, grouped by event loop. The pointer stays
// valid while the channel has subscribers; after the last one leaves, the hub
// forgets it and a later Subscribe makes a new one.
type Channel[S comparable] struct {
	name   string
	counts []int32 // per loop; guarded by the shard lock
	total  int32   // guarded by the shard lock
	subs   [][]S   // per loop; only touched by that loop
}

// Name is the channel name.
func (c *Channel[S]) Name() string { return c.name }

// New returns a hub for a server with the given number of event loops.
func New[S comparable](loops int) *Hub[S] {
	h := &Hub[S]{loops: loops, seed: maphash.MakeSeed()}
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*Channel[S])
	}
	return h
}

func (h *Hub[S]) shardOf(ch string) *shard[S] {
	return &h.shards[maphash.String(h.seed, ch)%numShards]
}

// Subscribe adds sub, which lives on loop, to channel ch and returns the channel
// and sub's index in the loop's list (the caller keeps it for Unsubscribe).
// Only on that loop.
func (h *Hub[S]) Subscribe(ch string, loop int, sub S) (*Channel[S], int) {
	s := h.shardOf(ch)
	s.mu.Lock()
	c := s.channels[ch]
	if c == nil {
		c = &Channel[S]{name: ch, counts: make([]int32, h.loops), subs: make([][]S, h.loops)}
		s.channels[ch] = c
	}
	c.counts[loop]++
	c.total++
	s.mu.Unlock()
	c.subs[loop] = append(c.subs[loop], sub)
	return c, len(c.subs[loop]) - 1
}

// Unsubscribe removes the subscriber at index idx of loop's list by moving the
// last one into its place. If a subscriber was moved, it is returned with
// moved=true and now sits at idx: the caller must update its stored index.
// Only on that loop.
func (h *Hub[S]) Unsubscribe(c *Channel[S], loop, idx int) (movedSub S, moved bool) {
	list := c.subs[loop]
	last := len(list) - 1
	if idx != last {
		list[idx] = list[last]
		movedSub, moved = list[idx], true
	}
	var zero S
	list[last] = zero
	c.subs[loop] = list[:last]
	if last == 0 {
		c.subs[loop] = nil // an emptied list on a busy channel should not pin its array
	}

	s := h.shardOf(c.name)
	s.mu.Lock()
	c.counts[loop]--
	c.total--
	if c.total == 0 && s.channels[c.name] == c {
		delete(s.channels, c.name)
	}
	s.mu.Unlock()
	return movedSub, moved
}

// Subscribers returns loop's subscribers of c. The slice is valid until the loop
// next subscribes or unsubscribes on c; callers iterating it while writing must
// tolerate removals (iterate over a snapshot of the length, backwards).
// Only on that loop.
func (c *Channel[S]) Subscribers(loop int) []S { return c.subs[loop] }

// Broadcast calls deliver once for every loop that has subscribers on ch, with
// the shard's read lock held (so deliver must not call back into the hub). It
// reports whether the channel had any subscriber. Safe from any goroutine.
func (h *Hub[S]) Broadcast(ch string, deliver func(loop int, c *Channel[S])) bool {
	s := h.shardOf(ch)
	s.mu.RLock()
	c := s.channels[ch]
	if c == nil {
		s.mu.RUnlock()
		return false
	}
	for loop, n := range c.counts {
		if n > 0 {
			deliver(loop, c)
		}
	}
	s.mu.RUnlock()
	return true
}

// Lookup returns the channel named ch, or nil when it has no subscribers.
// The pointer may go stale (see Channel); use it on a loop only to read that
// loop's own list. Safe from any goroutine.
func (h *Hub[S]) Lookup(ch string) *Channel[S] {
	s := h.shardOf(ch)
	s.mu.RLock()
	c := s.channels[ch]
	s.mu.RUnlock()
	return c
}

// NumSubscribers is the number of subscribers of ch over all loops.
func (h *Hub[S]) NumSubscribers(ch string) int {
	s := h.shardOf(ch)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.channels[ch]; c != nil {
		return int(c.total)
	}
	return 0
}

// NumChannels is the number of channels with at least one subscriber.
func (h *Hub[S]) NumChannels() int {
	n := 0
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		n += len(s.channels)
		s.mu.RUnlock()
	}
	return n
}

// Channels calls fn for every channel with subscribers and its subscriber count,
// shard by shard (a consistent view per shard, not across shards). fn must not
// call back into the hub.
func (h *Hub[S]) Channels(fn func(name string, subscribers int)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for name, c := range s.channels {
			fn(name, int(c.total))
		}
		s.mu.RUnlock()
	}
}
