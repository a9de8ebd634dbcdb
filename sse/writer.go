package sse

import "errors"

// Sink is where a connection's bytes go. gnet.Conn satisfies it: Write sends
// what the socket takes now and copies the rest into the connection's outbound
// buffer; OutboundBuffered reports how much is waiting there.
type Sink interface {
	Write(p []byte) (int, error)
	OutboundBuffered() int
}

// ErrSlow means a connection's unsent bytes passed its cap; the caller
// disconnects the client with 3008 "slow".
var ErrSlow = errors.New("sse: client too slow, write queue over limit")

// Pending is one connection's queue of frames not yet written. The zero value is
// an empty queue; embed it in the connection. It costs 12 bytes and no buffer.
type Pending struct {
	head, tail int32 // 1-based indexes into Queue.entries; 0 = empty
	bytes      int32 // total bytes of the queued frames (as they will be written)
}

// Empty reports whether nothing is queued.
func (p *Pending) Empty() bool { return p.head == 0 }

// Bytes is the number of bytes queued.
func (p *Pending) Bytes() int { return int(p.bytes) }

// Queue is an event loop's arena of queued frame references, shared by all the
// loop's connections: each Pending is a linked list threaded through it. It is
// emptied with Reset after every pass in which all Pendings were flushed, so it
// stays as large as the busiest pass and never allocates in steady state.
type Queue struct {
	entries []entry
	scratch []byte // coalescing buffer for flushes of several frames
	// ids holds the id lines (AppendIDField) queued in front of frames,
	// back to back; an entry names its own by offsets.
	ids []byte
}

type entry struct {
	frame    *Frame
	next     int32
	id0, id1 int32 // the entry's id line: ids[id0:id1]; empty without one
}

// Push queues f behind whatever p already holds. chunked selects which bytes of
// the frame will be written (and counted). It reports whether p was empty
// before, so the caller can put the connection on its dirty list exactly once.
// Only on the owning loop.
func (q *Queue) Push(p *Pending, f *Frame, chunked bool) (wasEmpty bool) {
	return q.push(p, entry{frame: f}, len(f.Bytes(chunked)))
}

// PushWithID is Push with an SSE id for this connection only: the line
// "id: <id>" goes out right before f's event (see AppendIDField), so the
// shared frame is not encoded again. id is copied. Only on the owning loop.
func (q *Queue) PushWithID(p *Pending, f *Frame, chunked bool, id []byte) (wasEmpty bool) {
	id0 := len(q.ids)
	q.ids = AppendIDField(q.ids, id, chunked)
	e := entry{frame: f, id0: int32(id0), id1: int32(len(q.ids))}
	return q.push(p, e, len(f.Bytes(chunked))+len(q.ids)-id0)
}

func (q *Queue) push(p *Pending, e entry, size int) (wasEmpty bool) {
	q.entries = append(q.entries, e)
	idx := int32(len(q.entries))
	wasEmpty = p.head == 0
	if wasEmpty {
		p.head = idx
	} else {
		q.entries[p.tail-1].next = idx
	}
	p.tail = idx
	p.bytes += int32(size)
	return wasEmpty
}

// Flush writes everything p holds to s in a single Write and empties p. What
// the socket does not take stays buffered in s; if that leaves more than limit
// bytes waiting, the connection cannot keep up and Flush returns ErrSlow (the
// bytes are written, the caller disconnects). Measuring after the write, like
// Centrifugo measures its write queue, means a burst that a healthy client
// absorbs is never mistaken for slowness. A Write error is returned as is
// (gnet has then already closed the connection). Only on the owning loop.
func (q *Queue) Flush(p *Pending, s Sink, chunked bool, limit int) error {
	_, err := q.FlushBuffered(p, s, chunked, limit)
	return err
}

// FlushBuffered is Flush that also returns how many bytes s still holds
// after the write (its OutboundBuffered), so a caller that watches for a
// full socket does not ask again.
func (q *Queue) FlushBuffered(p *Pending, s Sink, chunked bool, limit int) (buffered int, err error) {
	if p.head == 0 {
		return 0, nil
	}
	e := &q.entries[p.head-1]
	single := e.next == 0 && e.id1 == e.id0
	p.head, p.tail, p.bytes = 0, 0, 0
	if single {
		// The common case when the loop keeps up: one frame, written straight
		// from the shared bytes with no copy.
		_, err = s.Write(e.frame.Bytes(chunked))
	} else {
		// Several frames arrived since the last flush, or a frame with its
		// id line: coalesce them into one write(2), which is what makes a
		// busy loop cheap per event.
		buf := q.scratch[:0]
		for {
			buf = append(buf, q.ids[e.id0:e.id1]...)
			buf = append(buf, e.frame.Bytes(chunked)...)
			if e.next == 0 {
				break
			}
			e = &q.entries[e.next-1]
		}
		q.scratch = buf
		_, err = s.Write(buf)
	}
	if err != nil {
		return 0, err
	}
	if buffered = s.OutboundBuffered(); buffered > limit {
		return buffered, ErrSlow
	}
	return buffered, nil
}

// Drop empties p without writing (the connection is going away).
func (q *Queue) Drop(p *Pending) { p.head, p.tail, p.bytes = 0, 0, 0 }

// Reset forgets all queued references. Call it once every Pending threaded
// through q has been flushed or dropped. Only on the owning loop.
func (q *Queue) Reset() {
	clear(q.entries) // drop frame pointers so recycled frames are not pinned
	q.entries = q.entries[:0]
	q.ids = q.ids[:0]
	if cap(q.scratch) > maxScratch {
		q.scratch = nil // a burst to one slow client should not pin megabytes
	}
	if cap(q.ids) > maxScratch {
		q.ids = nil
	}
}

// maxScratch is the largest coalescing buffer a loop keeps between passes.
const maxScratch = 1 << 20
