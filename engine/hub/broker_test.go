package hub

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeBroker records the hook calls of a hub and holds the subscribe
// attempts until the test settles them.
type fakeBroker struct {
	mu       sync.Mutex
	calls    []string // "+name" for subscribe, "-name" for unsubscribe
	attempts []Attempt[*conn, struct{}]
}

func (f *fakeBroker) hooks() Option[*conn, struct{}] {
	return WithBrokerHooks(func(a Attempt[*conn, struct{}]) {
		f.mu.Lock()
		f.calls = append(f.calls, "+"+a.Channel().Name())
		f.attempts = append(f.attempts, a)
		f.mu.Unlock()
	}, func(name string) {
		f.mu.Lock()
		f.calls = append(f.calls, "-"+name)
		f.mu.Unlock()
	})
}

func (f *fakeBroker) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// takeAttempt returns the only attempt made since the last take.
func (f *fakeBroker) takeAttempt(t *testing.T) Attempt[*conn, struct{}] {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.attempts) != 1 {
		t.Fatalf("%d subscribe attempts, want 1", len(f.attempts))
	}
	a := f.attempts[0]
	f.attempts = nil
	return a
}

func waiterOf(c *conn) Waiter[*conn] { return Waiter[*conn]{Loop: c.loop, Sub: c, Token: uint64(c.id)} }

func (c *conn) join(t *testing.T, h *Hub[*conn, struct{}], name string) State {
	t.Helper()
	c.ch, c.idx = h.Subscribe(name, c.loop, c)
	st, err := h.Wait(c.ch, waiterOf(c))
	if (st == Failed) != (err != nil) {
		t.Errorf("Wait = %v, %v", st, err) // not Fatal: loops run on goroutines
	}
	return st
}

func tokens(ws []Waiter[*conn]) []uint64 {
	out := make([]uint64, len(ws))
	for i, w := range ws {
		out[i] = w.Token
	}
	slices.Sort(out)
	return out
}

// Without hooks channels are born Ready, carry no broker state and nobody
// ever waits.
func TestNoHooksChannelsReady(t *testing.T) {
	h := New[*conn, struct{}](2)
	a := &conn{id: 1, loop: 1}
	if st := a.join(t, h, "x"); st != Ready {
		t.Fatalf("Wait = %v without hooks, want ready", st)
	}
	if a.ch.broker != nil {
		t.Error("a hub without hooks allocated broker state for a channel")
	}
	if st, err := h.BrokerState(a.ch); st != Ready || err != nil {
		t.Errorf("BrokerState = %v, %v", st, err)
	}
}

// A new channel is Pending until its attempt settles; every subscriber that
// joined meanwhile is handed back exactly once, except one that left; later
// joiners find it Ready and trigger no broker call.
func TestWaitersSettleReady(t *testing.T) {
	var f fakeBroker
	h := New(3, f.hooks())
	a, b, c := &conn{id: 1, loop: 0}, &conn{id: 2, loop: 1}, &conn{id: 3, loop: 1}
	if st := a.join(t, h, "news"); st != Pending {
		t.Fatalf("first subscriber: %v, want pending", st)
	}
	att := f.takeAttempt(t)
	if att.Channel() != a.ch {
		t.Fatal("the attempt is for another channel")
	}
	if st := b.join(t, h, "news"); st != Pending {
		t.Fatalf("second subscriber: %v, want pending", st)
	}
	if st := c.join(t, h, "news"); st != Pending {
		t.Fatalf("third subscriber: %v, want pending", st)
	}
	if got := f.takeCalls(); !slices.Equal(got, []string{"+news"}) {
		t.Fatalf("hook calls %v, want one subscribe", got)
	}
	// b leaves while waiting (c moves into its slot): its waiter goes too.
	if moved, _ := h.Unsubscribe(b.ch, b.loop, b.idx); moved != c {
		t.Fatal("c did not move into b's slot")
	}
	c.idx = b.idx
	if st, _ := h.BrokerState(a.ch); st != Pending {
		t.Fatalf("BrokerState = %v before the broker answered", st)
	}
	ws := h.Settle(att, nil)
	if got := tokens(ws); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("Settle handed back waiters %v, want [1 3]", got)
	}
	for _, w := range ws {
		if w.Loop != w.Sub.loop {
			t.Errorf("waiter %d on loop %d, its subscriber lives on %d", w.Token, w.Loop, w.Sub.loop)
		}
	}
	if ws := h.Settle(att, nil); ws != nil {
		t.Fatalf("a second answer for the attempt handed back %v", tokens(ws))
	}
	if st, err := h.BrokerState(a.ch); st != Ready || err != nil {
		t.Fatalf("BrokerState = %v, %v after success", st, err)
	}
	d := &conn{id: 4, loop: 2}
	if st := d.join(t, h, "news"); st != Ready {
		t.Fatalf("joiner of a ready channel: %v", st)
	}
	if got := f.takeCalls(); len(got) != 0 {
		t.Fatalf("joining a ready channel called hooks %v", got)
	}
}

// A failed attempt hands its waiters back for the error; the channel stays
// Failed for its subscribers, and the next joiner retries with a new attempt
// that an answer for the old one cannot settle.
func TestWaitersSettleFailedThenRetry(t *testing.T) {
	var f fakeBroker
	h := New(2, f.hooks())
	a, b := &conn{id: 1, loop: 0}, &conn{id: 2, loop: 1}
	a.join(t, h, "x")
	b.join(t, h, "x")
	att := f.takeAttempt(t)
	boom := errors.New("redis: connection refused")
	if got := tokens(h.Settle(att, boom)); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("failed Settle handed back %v, want [1 2]", got)
	}
	if st, err := h.BrokerState(a.ch); st != Failed || !errors.Is(err, boom) {
		t.Fatalf("BrokerState = %v, %v; want failed with the broker's error", st, err)
	}
	if st, err := h.Wait(a.ch, waiterOf(a)); st != Failed || !errors.Is(err, boom) {
		t.Fatalf("Wait on a failed channel = %v, %v", st, err)
	}
	// The next joiner retries.
	c := &conn{id: 3, loop: 1}
	if st := c.join(t, h, "x"); st != Pending {
		t.Fatalf("joiner of a failed channel: %v, want pending (a retry)", st)
	}
	if c.ch != a.ch {
		t.Fatal("the retry made a new channel while it had subscribers")
	}
	if got := f.takeCalls(); !slices.Equal(got, []string{"+x", "+x"}) {
		t.Fatalf("hook calls %v, want the first subscribe and the retry", got)
	}
	retry := f.takeAttempt(t)
	if ws := h.Settle(att, nil); ws != nil {
		t.Fatalf("the old attempt's answer settled the retry: %v", tokens(ws))
	}
	if st, _ := h.BrokerState(c.ch); st != Pending {
		t.Fatalf("BrokerState = %v after a stale answer, want pending", st)
	}
	if got := tokens(h.Settle(retry, nil)); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("retry handed back %v, want [3]", got)
	}
	if st, err := h.BrokerState(c.ch); st != Ready || err != nil {
		t.Fatalf("BrokerState = %v, %v after the retry succeeded", st, err)
	}
	// Everyone leaves: one unsubscribe.
	for _, s := range []*conn{a, b, c} {
		h.Unsubscribe(s.ch, s.loop, 0)
	}
	if got := f.takeCalls(); !slices.Equal(got, []string{"-x"}) {
		t.Fatalf("hook calls %v, want one unsubscribe", got)
	}
}

// An answer that comes back after its channel lost every subscriber and was
// created again does not settle the new channel.
func TestStaleSettleOnRecreatedChannel(t *testing.T) {
	var f fakeBroker
	h := New(1, f.hooks())
	a := &conn{id: 1}
	a.join(t, h, "x")
	old, oldAttempt := a.ch, f.takeAttempt(t)
	h.Unsubscribe(a.ch, 0, a.idx)
	b := &conn{id: 2}
	if st := b.join(t, h, "x"); st != Pending {
		t.Fatalf("joiner of the re-created channel: %v", st)
	}
	if b.ch == old {
		t.Fatal("the channel was not re-created")
	}
	if got := f.takeCalls(); !slices.Equal(got, []string{"+x", "-x", "+x"}) {
		t.Fatalf("hook calls %v", got)
	}
	if ws := h.Settle(oldAttempt, nil); ws != nil {
		t.Fatalf("the old channel's answer handed back %v", tokens(ws))
	}
	if st, _ := h.BrokerState(b.ch); st != Pending {
		t.Fatalf("re-created channel is %v after the old channel's answer", st)
	}
	if st, err := h.BrokerState(old); st != Failed || !errors.Is(err, ErrUnsubscribed) {
		t.Errorf("the old channel reads %v, %v", st, err)
	}
	if got := tokens(h.Settle(f.takeAttempt(t), nil)); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("the new attempt handed back %v, want [2]", got)
	}
}

// A broker may answer from inside the hook (the hub holds its shard lock
// there, not the channel's lock): no deadlock, and the answer counts.
func TestSettleInline(t *testing.T) {
	var h *Hub[*conn, struct{}]
	var fail error
	var unsubscribes int
	h = New(1, WithBrokerHooks(func(a Attempt[*conn, struct{}]) {
		if ws := h.Settle(a, fail); ws != nil {
			t.Errorf("inline answer handed back waiters %v before anyone waited", tokens(ws))
		}
	}, func(string) { unsubscribes++ }))
	a := &conn{id: 1}
	if st := a.join(t, h, "ok"); st != Ready {
		t.Fatalf("inline success: %v, want ready", st)
	}
	fail = errors.New("closed")
	b := &conn{id: 2}
	if st := b.join(t, h, "bad"); st != Failed {
		t.Fatalf("inline failure: %v, want failed", st)
	}
	fail = nil
	c := &conn{id: 3}
	if st := c.join(t, h, "bad"); st != Ready {
		t.Fatalf("inline retry: %v, want ready", st)
	}
	h.Unsubscribe(a.ch, 0, a.idx)
	if unsubscribes != 1 {
		t.Errorf("%d unsubscribes, want 1", unsubscribes)
	}
}

// Event loops, simulated by goroutines, join and leave a few channels while
// a broker goroutine answers the attempts in order and posts the waiters to
// the loops' inboxes. For each channel the hook calls alternate subscribe /
// unsubscribe, starting with subscribe, and the broker's last word agrees
// with whether the channel has subscribers; every subscriber that waited is
// told once, unless it left first. Run with -race.
func TestBrokerHooksConcurrent(t *testing.T) {
	const (
		loops = 4
		steps = 5000
	)
	names := []string{"a", "b", "c"}
	var (
		mu       sync.Mutex
		seq      = map[string][]byte{}
		attempts = make(chan Attempt[*conn, struct{}], loops*steps+1)
		inboxMu  [loops]sync.Mutex
		inbox    [loops][]Waiter[*conn]
		waited   atomic.Int64 // subscribers told their channel is ready
	)
	var h *Hub[*conn, struct{}]
	// The hooks yield before they record, widening the window in which a
	// transition on another loop could overtake them were they not called
	// under the shard lock.
	h = New(loops, WithBrokerHooks(func(a Attempt[*conn, struct{}]) {
		runtime.Gosched()
		mu.Lock()
		seq[a.Channel().Name()] = append(seq[a.Channel().Name()], '+')
		mu.Unlock()
		attempts <- a // buffered for every join: never blocks
	}, func(name string) {
		runtime.Gosched()
		mu.Lock()
		seq[name] = append(seq[name], '-')
		mu.Unlock()
	}))
	brokerDone := make(chan struct{})
	go func() {
		defer close(brokerDone)
		for a := range attempts {
			for _, w := range h.Settle(a, nil) {
				inboxMu[w.Loop].Lock()
				inbox[w.Loop] = append(inbox[w.Loop], w)
				inboxMu[w.Loop].Unlock()
			}
		}
	}()

	models := make([]*loopModel, loops)
	var wg sync.WaitGroup
	for l := range loops {
		models[l] = &loopModel{loop: l, subs: map[string][]*conn{}}
		wg.Go(func() {
			m := models[l]
			r := rand.New(rand.NewPCG(uint64(l), 7))
			waiting := map[uint64]bool{}
			told := map[uint64]bool{}
			drain := func() {
				inboxMu[l].Lock()
				ws := inbox[l]
				inbox[l] = nil
				inboxMu[l].Unlock()
				for _, w := range ws {
					if w.Loop != l || w.Sub.loop != l {
						t.Errorf("loop %d got a notice for loop %d", l, w.Loop)
					}
					if told[w.Token] {
						t.Errorf("loop %d: subscriber %d told twice", l, w.Token)
					}
					told[w.Token] = true
					waited.Add(1)
					delete(waiting, w.Token) // absent: it left after the notice was handed out
				}
			}
			for i := range steps {
				name := names[r.IntN(len(names))]
				list := m.subs[name]
				// Mostly one subscriber per loop and channel, so that
				// channels often empty and come back (the transitions).
				if len(list) == 0 || r.IntN(4) == 0 && len(list) < 2 {
					c := &conn{id: l<<20 | i, loop: l}
					switch st := c.join(t, h, name); st {
					case Pending:
						waiting[uint64(c.id)] = true
					case Failed:
						t.Errorf("loop %d: channel %s failed without a broker error", l, name)
					}
					m.subs[name] = append(list, c)
				} else {
					j := r.IntN(len(list))
					c := list[j]
					if moved, ok := h.Unsubscribe(c.ch, l, c.idx); ok {
						moved.idx = j
						list[j] = moved
					}
					delete(waiting, uint64(c.id))
					m.subs[name] = list[:len(list)-1]
				}
				drain()
				runtime.Gosched() // interleave the loops, even on one core
			}
			for deadline := time.Now().Add(10 * time.Second); len(waiting) > 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
				drain()
			}
			if len(waiting) > 0 {
				t.Errorf("loop %d: %d subscribers never told their channel is ready", l, len(waiting))
			}
		})
	}
	wg.Wait()
	if waited.Load() == 0 {
		t.Error("no subscriber ever waited for the broker: the test exercised nothing")
	}

	check := func(when string) {
		mu.Lock()
		defer mu.Unlock()
		for _, name := range names {
			s := seq[name]
			for i, op := range s {
				if want := "+-"[i%2]; op != want {
					t.Errorf("%s: channel %s hook calls %q do not alternate", when, name, s)
					break
				}
			}
			subscribed := len(s)%2 == 1
			if n := h.NumSubscribers(name); subscribed != (n > 0) {
				t.Errorf("%s: channel %s has %d subscribers, broker subscribed=%v (%q)", when, name, n, subscribed, s)
			}
		}
	}
	check("quiescent")
	for l := range loops { // tear down
		wg.Go(func() {
			for _, list := range models[l].subs {
				for len(list) > 0 {
					if moved, ok := h.Unsubscribe(list[0].ch, l, 0); ok {
						list[0] = moved
					}
					list = list[:len(list)-1]
				}
			}
		})
	}
	wg.Wait()
	check("emptied")
	close(attempts)
	<-brokerDone
}
