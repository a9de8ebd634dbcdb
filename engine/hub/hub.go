package hub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

const numShards = 64

// Hub maps channels to their subscribers of type S (the engine's connection).
// X is per-channel, per-loop state that the owning loop keeps beside the
// subscriber list (the engine's delivery cursor and frame log).
type Hub[S comparable, X any] struct {
	loops int
	seed  maphash.Seed
	// hooked: WithBrokerHooks was given. Without hooks channels are born
	// Ready and Subscribe/Unsubscribe never touch Channel.mu.
	hooked bool
	first  func(Attempt[S, X])
	last   func(channel string)
	shards [numShards]shard[S, X]
}

type shard[S comparable, X any] struct {
	mu       sync.RWMutex
	channels map[string]*Channel[S, X]
}

// Channel is one channel's subscribers, grouped by event loop. The pointer stays
// valid while the channel has subscribers; after the last one leaves, the hub
// forgets it and a later Subscribe makes a new one.
type Channel[S comparable, X any] struct {
	name   string
	counts []int32 // per loop; guarded by the shard lock
	total  int32   // guarded by the shard lock
	local  []Local[S, X]
	// broker is the channel's broker subscription, only with broker hooks
	// (nil otherwise: the channel is Ready, and a hub without hooks pays one
	// pointer per channel for the feature).
	broker *brokerSub[S]
}

// Local is a channel's state on one event loop.
type Local[S comparable, X any] struct {
	// Entries are the loop's subscribers with their delivery cursors; only
	// that loop touches them.
	Entries []Entry[S]
	// posted numbers what is posted to the loop for this channel, so that a
	// subscriber starts exactly after what was posted before it subscribed.
	posted atomic.Uint64
	// X is the loop's own state for the channel; only that loop touches it.
	X X
}

// Entry is one subscriber and the sequence number of the next item it is
// to receive on this channel.
type Entry[S comparable] struct {
	Sub  S
	Next uint64
}

// Name is the channel name.
func (c *Channel[S, X]) Name() string { return c.name }

// Local returns the channel's state on loop. The Entries and X fields are
// only for that loop.
func (c *Channel[S, X]) Local(loop int) *Local[S, X] { return &c.local[loop] }

// NextSeq numbers one more item posted to this loop for the channel and
// returns its sequence number. Callers must number and queue items for a loop
// under one lock, so that the loop sees them in sequence order. Safe from any
// goroutine.
func (l *Local[S, X]) NextSeq() uint64 { return l.posted.Add(1) - 1 }

// New returns a hub for a server with the given number of event loops.
func New[S comparable, X any](loops int, opts ...Option[S, X]) *Hub[S, X] {
	h := &Hub[S, X]{loops: loops, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(h)
	}
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*Channel[S, X])
	}
	return h
}

func (h *Hub[S, X]) shardOf(ch string) *shard[S, X] {
	return &h.shards[maphash.String(h.seed, ch)%numShards]
}

// Subscribe adds sub, which lives on loop, to channel ch and returns the channel
// and sub's index in the loop's list (the caller keeps it for Unsubscribe). The
// new entry's cursor is the loop's next sequence number: the subscriber gets
// what is posted after it subscribed, nothing before. Only on that loop.
//
// With broker hooks, a new channel is born Pending and the subscribe hook is
// called for it, and a join on a Failed channel retries (Pending again, the
// hook called again); the caller learns with Wait whether sub must wait.
func (h *Hub[S, X]) Subscribe(ch string, loop int, sub S) (*Channel[S, X], int) {
	s := h.shardOf(ch)
	s.mu.Lock()
	c := s.channels[ch]
	if c == nil {
		c = &Channel[S, X]{name: ch, counts: make([]int32, h.loops), local: make([]Local[S, X], h.loops)}
		s.channels[ch] = c
		if h.hooked {
			c.broker = &brokerSub[S]{state: Pending, attempt: 1}
			h.first(Attempt[S, X]{c: c, n: 1}) // under the shard lock: see doc.go
		}
	} else if h.hooked {
		h.retryFailed(c)
	}
	c.counts[loop]++
	c.total++
	s.mu.Unlock()
	l := &c.local[loop]
	l.Entries = append(l.Entries, Entry[S]{Sub: sub, Next: l.posted.Load()})
	return c, len(l.Entries) - 1
}

// Unsubscribe removes the subscriber at index idx of loop's list by moving the
// last one into its place. If a subscriber was moved, it is returned with
// moved=true and now sits at idx: the caller must update its stored index.
// With broker hooks, the last subscriber's leave calls the unsubscribe hook,
// and a leaving subscriber's waiter (Wait) is dropped. Only on that loop.
func (h *Hub[S, X]) Unsubscribe(c *Channel[S, X], loop, idx int) (movedSub S, moved bool) {
	l := &c.local[loop]
	list := l.Entries
	last := len(list) - 1
	leaving := list[idx].Sub
	if idx != last {
		list[idx] = list[last]
		movedSub, moved = list[idx].Sub, true
	}
	list[last] = Entry[S]{}
	l.Entries = list[:last]
	if last == 0 {
		l.Entries = nil // an emptied list on a busy channel should not pin its array
	}

	s := h.shardOf(c.name)
	s.mu.Lock()
	c.counts[loop]--
	c.total--
	if c.total == 0 && s.channels[c.name] == c {
		delete(s.channels, c.name)
		if h.hooked {
			c.broker.forget()
			h.last(c.name) // under the shard lock: see doc.go
		}
	} else if h.hooked {
		c.broker.dropWaiter(loop, leaving)
	}
	s.mu.Unlock()
	return movedSub, moved
}

// Broadcast calls deliver once for every loop that has subscribers on ch, with
// the shard's read lock held (so deliver must not call back into the hub). It
// reports whether the channel had any subscriber. Safe from any goroutine.
func (h *Hub[S, X]) Broadcast(ch string, deliver func(loop int, c *Channel[S, X])) bool {
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
func (h *Hub[S, X]) Lookup(ch string) *Channel[S, X] {
	s := h.shardOf(ch)
	s.mu.RLock()
	c := s.channels[ch]
	s.mu.RUnlock()
	return c
}

// NumSubscribers is the number of subscribers of ch over all loops.
func (h *Hub[S, X]) NumSubscribers(ch string) int {
	s := h.shardOf(ch)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.channels[ch]; c != nil {
		return int(c.total)
	}
	return 0
}

// NumChannels is the number of channels with at least one subscriber.
func (h *Hub[S, X]) NumChannels() int {
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
// call back into the hub; it may enqueue with the broker as a hook does (to
// resubscribe after a reconnect: see doc.go).
func (h *Hub[S, X]) Channels(fn func(name string, subscribers int)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for name, c := range s.channels {
			fn(name, int(c.total))
		}
		s.mu.RUnlock()
	}
}
