package hub

import (
	"errors"
	"slices"
	"sync"
)

// State is a channel's broker subscription on this node.
type State uint8

const (
	// Ready: the broker delivers the channel's publications to this node
	// (always so without broker hooks).
	Ready State = iota
	// Pending: the broker subscription is in flight; a joining subscriber
	// must wait for it before it treats the channel as live.
	Pending
	// Failed: the broker subscription failed. The next Subscribe to the
	// channel retries it.
	Failed
	// gone: the channel lost its last subscriber; a later Subscribe makes a
	// new Channel. Settle ignores attempts of a gone channel.
	gone
)

func (s State) String() string {
	switch s {
	case Ready:
		return "ready"
	case Pending:
		return "pending"
	case Failed:
		return "failed"
	}
	return "gone"
}

// ErrUnsubscribed is what Wait answers for a channel the subscriber has
// already left (a caller's mistake: Wait belongs right after Subscribe).
var ErrUnsubscribed = errors.New("hub: channel has no subscribers")

// Option configures a hub (New).
type Option[S comparable, X any] func(*Hub[S, X])

// WithBrokerHooks makes the hub track each channel's broker subscription.
//
// subscribe is called when the channel gets its first subscriber on this
// node, and again when a subscriber joins a channel whose subscription
// failed (a retry); unsubscribe is called when the channel loses its last
// subscriber. Both are called with the channel's shard lock held, so for one
// channel the calls are made in the order of the transitions they report:
// a last leave on one loop and a first join on another reach the broker as
// Unsubscribe then Subscribe, never the other way round. They must not
// block and must not call back into the hub: they hand the channel to the
// broker's queue (a broker's Subscribe/Unsubscribe only enqueue; see
// doc.go for the locks it may hold). The broker's answer to subscribe's
// attempt goes to Settle, from any goroutine, even inline.
//
// Without this option (a broker that subscribes inline, such as the memory
// broker) every channel is Ready and Subscribe/Unsubscribe cost what they did
// before.
func WithBrokerHooks[S comparable, X any](subscribe func(Attempt[S, X]), unsubscribe func(channel string)) Option[S, X] {
	return func(h *Hub[S, X]) {
		h.hooked = subscribe != nil || unsubscribe != nil
		h.first, h.last = subscribe, unsubscribe
		if h.first == nil {
			h.first = func(Attempt[S, X]) {}
		}
		if h.last == nil {
			h.last = func(string) {}
		}
	}
}

// brokerSub is a channel's broker subscription. mu guards it; it is taken
// under the shard lock or alone (Wait, Settle, BrokerState), and never held
// around a hook call, so a broker that answers inline cannot deadlock the
// hub.
type brokerSub[S comparable] struct {
	mu      sync.Mutex
	state   State
	attempt uint32 // numbers the subscriptions made for this Channel
	err     error  // why the last attempt failed (state Failed)
	waiters []Waiter[S]
}

// Attempt is one broker subscription made for one Channel: the subscribe
// hook gets it and Settle takes it back with the broker's answer. A channel
// deleted and created again is another Channel, so an answer that comes
// back late for the old one does not settle the new one.
type Attempt[S comparable, X any] struct {
	c *Channel[S, X]
	n uint32
}

// Channel is the channel the attempt subscribes to.
func (a Attempt[S, X]) Channel() *Channel[S, X] { return a.c }

// Waiter is a subscriber waiting for its channel's broker subscription: the
// loop it lives on, the subscriber, and an opaque token of the caller's
// (for instance a connection serial, so that a notice reaching a reused
// connection can be told apart).
type Waiter[S comparable] struct {
	Loop  int
	Sub   S
	Token uint64
}

// Wait tells whether the subscriber w.Sub, which has just subscribed to c on
// w.Loop, may treat c as live. Ready: yes. Pending: the broker subscription
// is in flight, w is registered and comes back once from the Settle that
// ends it. Failed: the attempt w joined has failed, with the error returned;
// nothing is registered. Without broker hooks it answers Ready at once. Only
// on w.Loop, between Subscribe and Unsubscribe of w.Sub; Unsubscribe drops a
// waiter that has not been handed out yet.
func (h *Hub[S, X]) Wait(c *Channel[S, X], w Waiter[S]) (State, error) {
	b := c.broker
	if b == nil {
		return Ready, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Pending:
		b.waiters = append(b.waiters, w)
		return Pending, nil
	case Failed:
		return Failed, b.err
	case gone:
		return Failed, ErrUnsubscribed
	}
	return Ready, nil
}

// Settle ends attempt a with the broker's answer: its channel becomes Ready
// (err nil) or Failed (err), and the subscribers waiting for it are returned,
// each once; the caller tells each one's loop (the slice is the caller's).
// An answer for an attempt that is no longer the channel's pending one (the
// channel lost all its subscribers meanwhile) changes nothing and returns
// nil. Safe from any goroutine, with any broker lock held, even inline from
// the subscribe hook: it takes only the channel's own lock.
func (h *Hub[S, X]) Settle(a Attempt[S, X], err error) []Waiter[S] {
	b := a.c.broker
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Pending || b.attempt != a.n {
		return nil
	}
	if err != nil {
		b.state, b.err = Failed, err
	} else {
		b.state = Ready
	}
	ws := b.waiters
	b.waiters = nil
	return ws
}

// BrokerState is c's broker subscription state and, when Failed, why.
// Safe from any goroutine; the answer may be stale at once.
func (h *Hub[S, X]) BrokerState(c *Channel[S, X]) (State, error) {
	b := c.broker
	if b == nil {
		return Ready, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == gone {
		return Failed, ErrUnsubscribed
	}
	return b.state, b.err
}

// retryFailed starts a new attempt for a Failed channel that a subscriber
// joins (Centrifugo retries the broker subscription for every subscribe
// that finds the node unsubscribed). With the shard lock held.
func (h *Hub[S, X]) retryFailed(c *Channel[S, X]) {
	b := c.broker
	b.mu.Lock()
	if b.state != Failed {
		b.mu.Unlock()
		return
	}
	b.attempt++
	b.state, b.err = Pending, nil
	a := Attempt[S, X]{c: c, n: b.attempt}
	b.mu.Unlock()
	h.first(a) // without b.mu: the broker may answer inline
}

// forget marks a channel that lost its last subscriber, so that a late
// answer for its attempt is ignored. With the shard lock held.
func (b *brokerSub[S]) forget() {
	b.mu.Lock()
	b.state, b.err, b.waiters = gone, nil, nil
	b.mu.Unlock()
}

// dropWaiter removes sub's registration (on loop) as a waiter, if any: it
// is leaving the channel. With the shard lock held.
func (b *brokerSub[S]) dropWaiter(loop int, sub S) {
	b.mu.Lock()
	if len(b.waiters) > 0 {
		if i := slices.IndexFunc(b.waiters, func(w Waiter[S]) bool { return w.Loop == loop && w.Sub == sub }); i >= 0 {
			b.waiters = slices.Delete(b.waiters, i, i+1)
		}
	}
	b.mu.Unlock()
}
