package hub

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// conn stands for the engine's connection: a pointer, so comparable.
type conn struct {
	id   int
	loop int
	ch   *Channel[*conn, struct{}]
	idx  int // index in the loop's list, kept up to date from Unsubscribe's moved result
}

func TestSubscribeIndices(t *testing.T) {
	h := New[*conn, struct{}](3)
	a, b, c, d := &conn{id: 1}, &conn{id: 2}, &conn{id: 3}, &conn{id: 4}
	ca, ia := h.Subscribe("news", 0, a)
	cb, ib := h.Subscribe("news", 0, b)
	cc, ic := h.Subscribe("news", 0, c)
	cd, id := h.Subscribe("news", 2, d)
	if ia != 0 || ib != 1 || ic != 2 || id != 0 {
		t.Fatalf("indices %d %d %d %d, want 0 1 2 0", ia, ib, ic, id)
	}
	if ca != cb || cb != cc || cc != cd || ca == nil {
		t.Fatal("subscribers of one channel got different Channel pointers")
	}
	if ca.Name() != "news" {
		t.Errorf("Name() = %q", ca.Name())
	}
	if got := subscribers(ca, 0); !slices.Equal(got, []*conn{a, b, c}) {
		t.Errorf("loop 0 subscribers %v", ids(got))
	}
	if got := subscribers(ca, 1); len(got) != 0 {
		t.Errorf("loop 1 subscribers %v", ids(got))
	}
	if got := subscribers(ca, 2); !slices.Equal(got, []*conn{d}) {
		t.Errorf("loop 2 subscribers %v", ids(got))
	}
	if n := h.NumSubscribers("news"); n != 4 {
		t.Errorf("NumSubscribers = %d, want 4", n)
	}
	if h.Lookup("news") != ca {
		t.Error("Lookup returned another channel")
	}
}

// Unsubscribe swap-removes: the last subscriber of the loop's list takes the
// removed one's place and is reported as moved.
func TestUnsubscribeSwapRemove(t *testing.T) {
	h := New[*conn, struct{}](2)
	subs := make([]*conn, 5)
	var ch *Channel[*conn, struct{}]
	for i := range subs {
		subs[i] = &conn{id: i}
		ch, subs[i].idx = h.Subscribe("c", 1, subs[i])
	}
	// Remove the first: the last (4) moves to index 0.
	moved, ok := h.Unsubscribe(ch, 1, 0)
	if !ok || moved != subs[4] {
		t.Fatalf("Unsubscribe(0) = %v, %v; want subscriber 4 moved", idOf(moved), ok)
	}
	if got := subscribers(ch, 1); !slices.Equal(got, []*conn{subs[4], subs[1], subs[2], subs[3]}) {
		t.Fatalf("after removing 0: %v", ids(got))
	}
	// Remove from the middle: the last (3) moves to index 2.
	moved, ok = h.Unsubscribe(ch, 1, 2)
	if !ok || moved != subs[3] {
		t.Fatalf("Unsubscribe(2) = %v, %v; want subscriber 3 moved", idOf(moved), ok)
	}
	if got := subscribers(ch, 1); !slices.Equal(got, []*conn{subs[4], subs[1], subs[3]}) {
		t.Fatalf("after removing 2: %v", ids(got))
	}
	// Remove the last: nothing moves, the zero value comes back.
	moved, ok = h.Unsubscribe(ch, 1, 2)
	if ok || moved != nil {
		t.Fatalf("Unsubscribe(last) = %v, %v; want nothing moved", idOf(moved), ok)
	}
	if got := subscribers(ch, 1); !slices.Equal(got, []*conn{subs[4], subs[1]}) {
		t.Fatalf("after removing the last: %v", ids(got))
	}
	if n := h.NumSubscribers("c"); n != 2 {
		t.Errorf("NumSubscribers = %d, want 2", n)
	}
}

// The slot a removal vacates is cleared, so the hub does not keep a closed
// connection reachable through the list's backing array.
func TestUnsubscribeClearsVacatedSlot(t *testing.T) {
	h := New[*conn, struct{}](1)
	a, b, c := &conn{id: 1}, &conn{id: 2}, &conn{id: 3}
	ch, _ := h.Subscribe("x", 0, a)
	h.Subscribe("x", 0, b)
	h.Subscribe("x", 0, c)
	h.Unsubscribe(ch, 0, 0) // c moves to 0; slot 2 must be cleared
	list := subscribers(ch, 0)
	if tail := list[len(list):cap(list)]; slices.Contains(tail, c) || slices.Contains(tail, a) {
		t.Errorf("backing array still holds a removed or moved subscriber: %v", ids(tail))
	}
	h.Unsubscribe(ch, 0, 1) // b, the last
	list = subscribers(ch, 0)
	if tail := list[len(list):cap(list)]; slices.Contains(tail, b) {
		t.Errorf("backing array still holds removed subscriber b: %v", ids(tail))
	}
}

// Each loop's list is independent: removing on one loop never moves a
// subscriber of another.
func TestPerLoopLists(t *testing.T) {
	const loops = 4
	h := New[*conn, struct{}](loops)
	var ch *Channel[*conn, struct{}]
	byLoop := make([][]*conn, loops)
	for i := range 20 {
		c := &conn{id: i, loop: i % loops}
		ch, c.idx = h.Subscribe("room", c.loop, c)
		if c.idx != len(byLoop[c.loop]) {
			t.Fatalf("subscriber %d on loop %d got index %d, want %d", i, c.loop, c.idx, len(byLoop[c.loop]))
		}
		byLoop[c.loop] = append(byLoop[c.loop], c)
	}
	// Empty loop 1 entirely, front first.
	for len(byLoop[1]) > 0 {
		list := byLoop[1]
		moved, ok := h.Unsubscribe(ch, 1, 0)
		if ok != (len(list) > 1) {
			t.Fatalf("removing the front of %d reported moved=%v", len(list), ok)
		}
		if ok {
			if moved != list[len(list)-1] || moved.loop != 1 {
				t.Fatalf("loop 1 removal moved subscriber %d of loop %d", moved.id, moved.loop)
			}
			list[0] = moved
		}
		byLoop[1] = list[:len(list)-1]
		if got := subscribers(ch, 1); !slices.Equal(got, byLoop[1]) {
			t.Fatalf("loop 1: %v, want %v", ids(got), ids(byLoop[1]))
		}
	}
	for l := range loops {
		want := byLoop[l]
		if l != 1 && len(want) != 5 {
			t.Fatalf("loop %d lost subscribers: %v", l, ids(want))
		}
		if got := subscribers(ch, l); !slices.Equal(got, want) {
			t.Errorf("loop %d: %v, want %v", l, ids(got), ids(want))
		}
	}
	if n := h.NumSubscribers("room"); n != 15 {
		t.Errorf("NumSubscribers = %d, want 15", n)
	}
	var loopsDelivered []int
	h.Broadcast("room", func(loop int, c *Channel[*conn, struct{}]) { loopsDelivered = append(loopsDelivered, loop) })
	slices.Sort(loopsDelivered)
	if !slices.Equal(loopsDelivered, []int{0, 2, 3}) {
		t.Errorf("Broadcast delivered to loops %v, want [0 2 3]", loopsDelivered)
	}
}

// A channel exists while it has subscribers on any loop; after the last one
// leaves it is forgotten, and a later Subscribe makes a new one.
func TestChannelLifecycle(t *testing.T) {
	h := New[*conn, struct{}](2)
	if h.Lookup("a") != nil || h.NumChannels() != 0 || h.NumSubscribers("a") != 0 {
		t.Fatal("empty hub is not empty")
	}
	x, y := &conn{id: 1}, &conn{id: 2}
	c1, _ := h.Subscribe("a", 0, x)
	h.Subscribe("a", 1, y)
	if h.NumChannels() != 1 {
		t.Fatalf("NumChannels = %d", h.NumChannels())
	}
	h.Unsubscribe(c1, 0, 0)
	if h.Lookup("a") != c1 || h.NumChannels() != 1 || h.NumSubscribers("a") != 1 {
		t.Fatal("channel with a subscriber left on another loop was removed")
	}
	if got := subscribers(c1, 0); len(got) != 0 {
		t.Errorf("loop 0 list %v after its only subscriber left", ids(got))
	}
	h.Unsubscribe(c1, 1, 0)
	if h.Lookup("a") != nil || h.NumChannels() != 0 || h.NumSubscribers("a") != 0 {
		t.Fatal("channel without subscribers was kept")
	}
	if h.Broadcast("a", func(int, *Channel[*conn, struct{}]) { t.Error("deliver called for a removed channel") }) {
		t.Error("Broadcast reported subscribers for a removed channel")
	}
	var names []string
	h.Channels(func(name string, n int) { names = append(names, name) })
	if len(names) != 0 {
		t.Errorf("Channels lists %v", names)
	}
	// Recreated: a new Channel, index 0, no trace of the old subscribers.
	c2, idx := h.Subscribe("a", 1, x)
	if c2 == c1 || idx != 0 {
		t.Fatalf("resubscribe: same channel %v, index %d", c2 == c1, idx)
	}
	if h.Lookup("a") != c2 || h.NumSubscribers("a") != 1 || !slices.Equal(subscribers(c2, 1), []*conn{x}) || len(subscribers(c2, 0)) != 0 {
		t.Fatal("recreated channel is not fresh")
	}
	// The stale pointer does not bring the old channel back.
	if h.Lookup("a") == c1 {
		t.Fatal("Lookup returned the removed channel")
	}
}

// Broadcast calls deliver exactly once per loop that has subscribers, however
// many subscribers it has, and reports whether the channel had any.
func TestBroadcast(t *testing.T) {
	const loops = 5
	h := New[*conn, struct{}](loops)
	if h.Broadcast("none", func(int, *Channel[*conn, struct{}]) { t.Error("deliver called without subscribers") }) {
		t.Error("Broadcast to an unknown channel reported subscribers")
	}
	perLoop := map[int]int{0: 3, 2: 1, 4: 100}
	for loop, n := range perLoop {
		for i := range n {
			h.Subscribe("b", loop, &conn{id: i, loop: loop})
		}
	}
	h.Subscribe("other", 1, &conn{})
	calls := map[int]int{}
	var seen *Channel[*conn, struct{}]
	ok := h.Broadcast("b", func(loop int, c *Channel[*conn, struct{}]) {
		calls[loop]++
		seen = c
		if len(subscribers(c, loop)) != perLoop[loop] {
			t.Errorf("loop %d: %d subscribers, want %d", loop, len(subscribers(c, loop)), perLoop[loop])
		}
	})
	if !ok {
		t.Error("Broadcast reported no subscribers")
	}
	if want := map[int]int{0: 1, 2: 1, 4: 1}; !maps.Equal(calls, want) {
		t.Errorf("deliver calls per loop %v, want %v", calls, want)
	}
	if seen != h.Lookup("b") || seen.Name() != "b" {
		t.Errorf("deliver got channel %v", seen)
	}
}

func TestChannelsAndCounts(t *testing.T) {
	h := New[*conn, struct{}](3)
	want := map[string]int{}
	for i := range 200 {
		name := fmt.Sprintf("ch-%d", i%37)
		h.Subscribe(name, i%3, &conn{id: i})
		want[name]++
	}
	got := map[string]int{}
	h.Channels(func(name string, n int) {
		if _, dup := got[name]; dup {
			t.Errorf("channel %s listed twice", name)
		}
		got[name] = n
	})
	if !maps.Equal(got, want) {
		t.Errorf("Channels = %v, want %v", got, want)
	}
	if h.NumChannels() != len(want) {
		t.Errorf("NumChannels = %d, want %d", h.NumChannels(), len(want))
	}
	for name, n := range want {
		if h.NumSubscribers(name) != n {
			t.Errorf("NumSubscribers(%s) = %d, want %d", name, h.NumSubscribers(name), n)
		}
	}
	if h.NumSubscribers("missing") != 0 {
		t.Error("NumSubscribers of a missing channel")
	}
}

// loopModel is what one simulated event loop knows about its subscriptions.
type loopModel struct {
	loop int
	subs map[string][]*conn // per channel, in the hub's list order
}

func (m *loopModel) check(t *testing.T, h *Hub[*conn, struct{}], name string) {
	list := m.subs[name]
	if len(list) == 0 {
		return
	}
	ch := list[0].ch
	for i, c := range list {
		if c.ch != ch {
			t.Errorf("loop %d: subscribers of %s hold different Channel pointers", m.loop, name)
			return
		}
		if c.idx != i {
			t.Errorf("loop %d: subscriber %d of %s has index %d, sits at %d", m.loop, c.id, name, c.idx, i)
			return
		}
	}
	if got := subscribers(ch, m.loop); !slices.Equal(got, list) {
		t.Errorf("loop %d: hub list of %s %v, model %v", m.loop, name, ids(got), ids(list))
	}
}

// Event loops, simulated by goroutines each owning one loop index, subscribe
// and unsubscribe (driving channels through deletion and recreation) while
// broadcasters and readers use the hub from other goroutines. Each loop checks
// its own list against its model after every step; run with -race.
func TestConcurrentLoops(t *testing.T) {
	const (
		loops       = 4
		steps       = 3000
		broadcaster = 3
	)
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	h := New[*conn, struct{}](loops)
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		nextID  atomic.Int64
		bcalls  atomic.Int64
		failure atomic.Bool
	)
	models := make([]*loopModel, loops)
	for l := range loops {
		models[l] = &loopModel{loop: l, subs: map[string][]*conn{}}
	}
	var loopWG sync.WaitGroup
	for l := range loops {
		loopWG.Go(func() {
			m := models[l]
			r := rand.New(rand.NewPCG(uint64(l), 42))
			for range steps {
				name := names[r.IntN(len(names))]
				list := m.subs[name]
				if len(list) == 0 || r.IntN(3) > 0 && len(list) < 6 {
					c := &conn{id: int(nextID.Add(1)), loop: l}
					c.ch, c.idx = h.Subscribe(name, l, c)
					if len(list) > 0 && c.ch != list[0].ch {
						t.Errorf("loop %d: channel %s changed while the loop had subscribers", l, name)
					}
					m.subs[name] = append(list, c)
				} else {
					i := r.IntN(len(list))
					c := list[i]
					moved, ok := h.Unsubscribe(c.ch, l, c.idx)
					last := len(list) - 1
					if ok != (i != last) {
						t.Errorf("loop %d: removing %d of %d reported moved=%v", l, i, len(list), ok)
					}
					if ok {
						if moved != list[last] {
							t.Errorf("loop %d: moved %v, want %v", l, idOf(moved), list[last].id)
						}
						moved.idx = i
						list[i] = moved
					}
					list[last] = nil
					m.subs[name] = list[:last]
				}
				m.check(t, h, name)
				if t.Failed() {
					failure.Store(true)
					return
				}
			}
		})
	}
	for range broadcaster {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				name := names[i%len(names)]
				delivered := map[int]bool{}
				h.Broadcast(name, func(loop int, c *Channel[*conn, struct{}]) {
					if loop < 0 || loop >= loops || delivered[loop] || c.Name() != name || c.counts[loop] <= 0 {
						t.Errorf("deliver(%d, %q): bad call", loop, c.Name())
					}
					delivered[loop] = true
					bcalls.Add(1)
				})
				if c := h.Lookup(name); c != nil && c.Name() != name {
					t.Errorf("Lookup(%s) returned %s", name, c.Name())
				}
				if n := h.NumSubscribers(name); n < 0 || n > loops*6 {
					t.Errorf("NumSubscribers(%s) = %d", name, n)
				}
				if n := h.NumChannels(); n < 0 || n > len(names) {
					t.Errorf("NumChannels = %d", n)
				}
				h.Channels(func(ch string, n int) {
					if n <= 0 {
						t.Errorf("Channels lists %s with %d subscribers", ch, n)
					}
				})
			}
		})
	}
	loopWG.Wait()
	stop.Store(true)
	wg.Wait()
	if failure.Load() {
		return
	}
	if bcalls.Load() == 0 {
		t.Error("broadcasters never delivered")
	}
	// Quiescent: counts agree with the models.
	for _, name := range names {
		want := 0
		for _, m := range models {
			want += len(m.subs[name])
		}
		if got := h.NumSubscribers(name); got != want {
			t.Errorf("NumSubscribers(%s) = %d, models say %d", name, got, want)
		}
		if (want == 0) != (h.Lookup(name) == nil) {
			t.Errorf("channel %s with %d subscribers: Lookup %v", name, want, h.Lookup(name))
		}
	}
	// Tear down concurrently, each loop on its own goroutine: the hub ends empty.
	for l := range loops {
		loopWG.Go(func() {
			m := models[l]
			for name, list := range m.subs {
				for len(list) > 0 {
					c := list[0]
					if moved, ok := h.Unsubscribe(c.ch, l, 0); ok {
						moved.idx = 0
						list[0] = moved
					}
					list = list[:len(list)-1]
				}
				delete(m.subs, name)
			}
		})
	}
	loopWG.Wait()
	if n := h.NumChannels(); n != 0 {
		t.Errorf("NumChannels = %d after everyone left", n)
	}
	for _, name := range names {
		if h.Lookup(name) != nil {
			t.Errorf("channel %s survived", name)
		}
	}
}

func ids(cs []*conn) []int {
	out := make([]int, len(cs))
	for i, c := range cs {
		out[i] = idOf(c)
	}
	return out
}

func idOf(c *conn) int {
	if c == nil {
		return -1
	}
	return c.id
}

// TestCursors: each (channel, loop) numbers what is posted to it, and a new
// subscriber's cursor starts after everything posted before it subscribed;
// swap-removal moves a subscriber together with its cursor.
func TestCursors(t *testing.T) {
	h := New[*conn, struct{}](2)
	a, b, c := &conn{id: 1}, &conn{id: 2}, &conn{id: 3}
	ch, ia := h.Subscribe("seq", 0, a)
	if e := ch.Local(0).Entries[ia]; e.Next != 0 {
		t.Fatalf("first subscriber cursor %d, want 0", e.Next)
	}
	for want := uint64(0); want < 3; want++ {
		if got := ch.Local(0).NextSeq(); got != want {
			t.Fatalf("NextSeq = %d, want %d", got, want)
		}
	}
	if got := ch.Local(1).NextSeq(); got != 0 {
		t.Fatalf("loop 1 has its own sequence: got %d, want 0", got)
	}
	_, ib := h.Subscribe("seq", 0, b)
	if e := ch.Local(0).Entries[ib]; e.Next != 3 {
		t.Fatalf("late subscriber cursor %d, want 3 (after the three posted)", e.Next)
	}
	ch.Local(0).Entries[ib].Next = 7
	_, _ = h.Subscribe("seq", 0, c)
	moved, ok := h.Unsubscribe(ch, 0, ia)
	if !ok || moved != c {
		t.Fatalf("Unsubscribe moved %v, %v; want c", moved, ok)
	}
	if e := ch.Local(0).Entries[ia]; e.Sub != c || e.Next != 3 {
		t.Fatalf("moved entry %+v, want c with its cursor 3", e)
	}
	if e := ch.Local(0).Entries[ib]; e.Sub != b || e.Next != 7 {
		t.Fatalf("untouched entry %+v, want b with cursor 7", e)
	}
}
