package engine

// wheelSlots × tickInterval is the wheel's span (51.2 s). Deadlines further
// away stay in their slot and are skipped until due, so any delay works.
const wheelSlots = 512

// wheel is a loop's hashed timing wheel: every connection with something
// timed (next ping, token expiry, read deadline) sits in exactly one slot, for
// the earliest of those. Advancing it touches only the connections that are
// due, so a loop with a million idle subscribers does no work per tick beyond
// the ones whose ping is due. Only on the loop.
type wheel struct {
	slots [wheelSlots]*conn // heads of intrusive doubly-linked lists
	tick  int64             // last tick processed
	due   []*conn           // scratch for advance
}

func (w *wheel) init(now int64) { w.tick = now }

// schedule puts c in the slot for tick at (moving it if already scheduled).
// A tick not after the current one fires on the next advance.
func (w *wheel) schedule(c *conn, at int64) {
	w.remove(c)
	if at <= w.tick {
		at = w.tick + 1
	}
	s := int16(at % wheelSlots)
	c.wheelDue = int32(at)
	c.wheelSlot = s
	c.wheelPrev = nil
	c.wheelNext = w.slots[s]
	if c.wheelNext != nil {
		c.wheelNext.wheelPrev = c
	}
	w.slots[s] = c
}

// remove takes c out of the wheel if it is in it.
func (w *wheel) remove(c *conn) {
	if c.wheelSlot < 0 {
		return
	}
	if c.wheelPrev != nil {
		c.wheelPrev.wheelNext = c.wheelNext
	} else {
		w.slots[c.wheelSlot] = c.wheelNext
	}
	if c.wheelNext != nil {
		c.wheelNext.wheelPrev = c.wheelPrev
	}
	c.wheelNext, c.wheelPrev = nil, nil
	c.wheelSlot = -1
}

// advance moves the wheel to tick now and returns the connections that came
// due, removed from the wheel. The slice is valid until the next advance.
func (w *wheel) advance(now int64) []*conn {
	w.due = w.due[:0]
	if now-w.tick > wheelSlots {
		// The loop was stalled for a whole revolution: visit every slot once.
		w.tick = now - wheelSlots
	}
	for w.tick < now {
		w.tick++
		s := w.tick % wheelSlots
		for c := w.slots[s]; c != nil; {
			next := c.wheelNext
			if int64(c.wheelDue) <= now {
				w.remove(c)
				w.due = append(w.due, c)
			}
			c = next
		}
	}
	return w.due
}
