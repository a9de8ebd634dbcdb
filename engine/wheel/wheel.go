package wheel

// Slots is the number of slots: with the engine's 100 ms tick the wheel
// spans 51.2 s. Deadlines further away stay in their slot and are skipped
// until due, so any delay works.
const Slots = 512

// Node is the part of an item the wheel uses. Its zero value is not
// scheduled.
type Node[T any] struct {
	next, prev *T
	due        int32 // tick
	slot       int16 // slot + 1; 0 when not scheduled
}

// Scheduled reports whether the item is in a wheel.
func (n *Node[T]) Scheduled() bool { return n.slot != 0 }

// Item is a pointer to a type that embeds a Node and says where.
type Item[T any] interface {
	*T
	TimerNode() *Node[T]
}

// Wheel is a hashed timing wheel of items *T. The zero value is ready at
// tick 0; Init starts it elsewhere.
type Wheel[T any, P Item[T]] struct {
	slots [Slots]*T // heads of intrusive doubly-linked lists
	tick  int64     // last tick processed
	due   []*T      // scratch for Advance
}

// Init sets the current tick.
func (w *Wheel[T, P]) Init(now int64) { w.tick = now }

// Tick is the last tick Advance processed.
func (w *Wheel[T, P]) Tick() int64 { return w.tick }

// Schedule puts x in the slot for tick at, moving it if it is already
// scheduled. A tick not after the current one fires on the next Advance.
func (w *Wheel[T, P]) Schedule(x *T, at int64) {
	w.Remove(x)
	if at <= w.tick {
		at = w.tick + 1
	}
	s := int16(at % Slots)
	n := P(x).TimerNode()
	n.due = int32(at)
	n.slot = s + 1
	n.prev = nil
	n.next = w.slots[s]
	if n.next != nil {
		P(n.next).TimerNode().prev = x
	}
	w.slots[s] = x
}

// Remove takes x out of the wheel if it is in it.
func (w *Wheel[T, P]) Remove(x *T) {
	n := P(x).TimerNode()
	if n.slot == 0 {
		return
	}
	if n.prev != nil {
		P(n.prev).TimerNode().next = n.next
	} else {
		w.slots[n.slot-1] = n.next
	}
	if n.next != nil {
		P(n.next).TimerNode().prev = n.prev
	}
	n.next, n.prev = nil, nil
	n.slot = 0
}

// Advance moves the wheel to tick now and returns the items that came due,
// removed from the wheel. The slice is valid until the next Advance.
func (w *Wheel[T, P]) Advance(now int64) []*T {
	w.due = w.due[:0]
	if now-w.tick > Slots {
		// The loop was stalled for a whole revolution: visit every slot once.
		w.tick = now - Slots
	}
	for w.tick < now {
		w.tick++
		s := w.tick % Slots
		for x := w.slots[s]; x != nil; {
			n := P(x).TimerNode()
			next := n.next
			if int64(n.due) <= now {
				w.Remove(x)
				w.due = append(w.due, x)
			}
			x = next
		}
	}
	return w.due
}
