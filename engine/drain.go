package engine

import (
	"context"
	"net"
	"os"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/protocol"
)

// How a loop drains its inbox.
//
// Publications are posted to a loop's inbox by any goroutine; the loop drains
// them in slices. A slice visits at most sliceBudget subscribers, then flushes
// every connection it queued frames for (one write each) and returns to gnet's
// poller, kicking itself to continue. That keeps a fan-out to tens of
// thousands of subscribers from delaying the loop's other work — API
// requests, new connects — by more than a few milliseconds, and it is what
// lets publish latency stay independent of fan-out size.
//
// Consecutive publications to the same channel form a group (up to
// maxFramesPerPass frames): each subscriber gets all of them queued before its
// one write, which is where coalescing under load comes from.
//
// While a group is being delivered across slices, the channel's subscriber
// list must keep its order, so connections that close meanwhile are removed
// from the hub only after the group ends (OnClose defers them); new
// subscribers are appended past the group's snapshot length and do not get
// frames published before they subscribed.

const (
	// sliceBudget is how many subscribers a loop visits before it flushes and
	// yields to its poller (≈ 1 ms of writes at 6–9 µs per write).
	sliceBudget = 128
	// maxFramesPerPass bounds the frames queued to one subscriber before a
	// write, so the pending arena stays small even on huge channels.
	maxFramesPerPass = 16
	// connectsPerSlice is how many connects a loop serves between slices. A
	// connect costs about as much as tens of writes (more with recovery), so
	// a storm of thousands is spread over slices instead of stalling the
	// loop's deliveries for as long as they all take.
	connectsPerSlice = 4
)

// drainState is a loop's progress through its current batch.
type drainState struct {
	batch    []item
	pos      int // next item to start
	done     int // items [0:done) are fully delivered
	released int // items [0:released) have released their frames

	gActive      bool // a group is being delivered
	gStart, gEnd int  // the group's items
	gNext, gLen  int  // next subscriber index; subscriber count at group start

	closedInGroup []*conn // closed during a group; removed from the hub after it
}

// Run drains the inbox (gnet.Runnable), used when the loop is woken with
// Execute before its kick socket is registered.
func (l *loop) Run(context.Context) error {
	l.drain()
	return nil
}

// post queues it for the loop and wakes the loop if it is not already
// draining. Under load many posts share one wake-up. Safe from any goroutine.
func (l *loop) post(it item) {
	l.mu.Lock()
	l.inbox = append(l.inbox, it)
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

var kickByte = []byte{1}

// wake makes the loop call drain soon. Safe from any goroutine.
func (l *loop) wake() {
	if l.kickOn.Load() {
		// The read lock keeps stopKick from closing the descriptor while we
		// write: a closed number can be reused by another socket at once.
		l.kickMu.RLock()
		var err error = unix.EBADF
		if l.kickOn.Load() {
			_, err = unix.Write(l.kickFD, kickByte)
		}
		l.kickMu.RUnlock()
		if err == nil || err == unix.EAGAIN {
			return // EAGAIN: the socket is full of kicks, the loop will wake anyway
		}
	}
	// gnet's Execute allocates a closure and a queue node per call; it is
	// only the fallback until the kick socket is registered.
	if err := l.el.Execute(context.Background(), l); err != nil {
		l.srv.log.Debug("loop execute failed", "loop", l.idx, "err", err)
	}
}

// drain delivers one slice of the loop's work and reschedules itself if work
// remains. Only on the loop.
func (l *loop) drain() {
	l.connectsInSlice = 0
	l.serveDeferred()
	budget := sliceBudget
	for budget > 0 {
		if l.gActive {
			budget -= l.continueGroup(budget)
			continue
		}
		if l.pos == len(l.batch) {
			if !l.nextBatch() {
				break
			}
			continue
		}
		it := &l.batch[l.pos]
		switch {
		case it.op != nil:
			// Operations see every frame posted before them delivered.
			l.flushDirty()
			l.releaseDone()
			l.pos++
			l.done = l.pos
			it.op(l)
			budget -= 64 // an operation is a unit of work too; keep slices bounded
		case it.notJSON:
			l.disconnectSubscribers(it.ch, protocol.DisconnectInappropriateProtocol)
			l.pos++
			l.done = l.pos
		default:
			l.startGroup()
		}
	}
	l.flushDirty()
	l.releaseDone()
	if !l.gActive {
		l.applyDeferred()
	}
	l.mu.Lock()
	more := l.gActive || l.pos < len(l.batch) || len(l.inbox) > 0 || len(l.waiting) > 0
	if !more {
		l.scheduled = false
	}
	l.mu.Unlock()
	if more {
		l.wake()
	}
}

// deferConnect parks a connection whose connect request arrived after this
// slice's connects were used up; the request stays in its input buffer. Only
// on the loop.
func (l *loop) deferConnect(c *conn) {
	c.state = stateDeferred
	l.waiting = append(l.waiting, c)
	l.mu.Lock()
	wake := !l.scheduled
	l.scheduled = true
	l.mu.Unlock()
	if wake {
		l.wake()
	}
}

// serveDeferred serves parked connects, oldest first, up to this slice's
// share. Only on the loop.
func (l *loop) serveDeferred() {
	n := 0
	for n < len(l.waiting) && l.connectsInSlice < connectsPerSlice {
		c := l.waiting[n]
		n++
		if c.state != stateDeferred {
			continue // closed meanwhile
		}
		c.state = stateReading
		l.srv.serveInput(c)
	}
	if n > 0 {
		rest := copy(l.waiting, l.waiting[n:])
		clear(l.waiting[rest:])
		l.waiting = l.waiting[:rest]
	}
}

// nextBatch swaps in the inbox as the new batch; false when it is empty.
func (l *loop) nextBatch() bool {
	// Frames of the old batch may still be queued to connections: write
	// them before giving the frames back to the pool.
	l.flushDirty()
	l.releaseDone()
	clear(l.batch)
	old := l.batch[:0]
	l.mu.Lock()
	if len(l.inbox) == 0 {
		l.mu.Unlock()
		l.batch = old
		l.pos, l.done, l.released = 0, 0, 0
		return false
	}
	l.batch = l.inbox
	l.inbox = old
	l.mu.Unlock()
	l.pos, l.done, l.released = 0, 0, 0
	return true
}

// startGroup begins delivering the frames at l.pos and the ones right after
// it for the same channel.
func (l *loop) startGroup() {
	ch := l.batch[l.pos].ch
	end := l.pos + 1
	joinLeave := l.batch[l.pos].joinLeave
	for end < len(l.batch) && end-l.pos < maxFramesPerPass {
		it := &l.batch[end]
		if it.ch != ch || it.op != nil || it.notJSON || it.joinLeave != joinLeave {
			break
		}
		end++
	}
	l.gActive = true
	l.gStart, l.gEnd = l.pos, end
	l.gNext, l.gLen = 0, len(ch.Subscribers(l.idx))
	l.pos = end
}

// continueGroup queues the group's frames to up to budget more subscribers
// and returns how many it visited (at least 1, so a slice always progresses).
func (l *loop) continueGroup(budget int) int {
	group := l.batch[l.gStart:l.gEnd]
	ch := group[0].ch
	joinLeave := group[0].joinLeave
	subs := ch.Subscribers(l.idx)
	end := min(l.gLen, l.gNext+budget)
	queued := 0
	for _, c := range subs[l.gNext:end] {
		if c.state != stateStreaming {
			continue
		}
		if joinLeave && c.flagsFor(ch)&subPushJoinLeave == 0 {
			continue
		}
		for i := range group {
			if l.q.Push(&c.pending, group[i].frame, c.chunked) {
				l.dirty = append(l.dirty, c)
			}
		}
		queued += len(group)
	}
	l.framesQueued.Add(uint64(queued))
	visited := end - l.gNext
	l.gNext = end
	if end == l.gLen {
		l.gActive = false
		l.done = l.gEnd
	}
	return max(visited, 1)
}

// releaseDone drops the loop's reference on the frames of finished items. Call
// it only right after flushDirty: then each was written or copied into the
// connections' outbound buffers and nothing queued still points at it.
func (l *loop) releaseDone() {
	for i := l.released; i < l.done; i++ {
		if f := l.batch[i].frame; f != nil {
			f.Release()
			l.batch[i].frame = nil
		}
	}
	l.released = l.done
}

// unsubscribeClosed removes a closed connection from the hub, or defers that
// until the group in progress is delivered.
func (l *loop) unsubscribeClosed(c *conn) {
	if l.gActive {
		l.closedInGroup = append(l.closedInGroup, c)
		return
	}
	l.srv.unsubscribeAll(l, c)
}

func (l *loop) applyDeferred() {
	for _, c := range l.closedInGroup {
		l.srv.unsubscribeAll(l, c)
	}
	clear(l.closedInGroup)
	l.closedInGroup = l.closedInGroup[:0]
}

// startKick registers the loop's kick socket with gnet, off the loop (gnet's
// Enroll completes asynchronously). Until it is ready the loop is woken with
// Execute.
func (l *loop) startKick() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.srv.log.Warn("kick socket unavailable; waking loops with tasks", "err", err)
		return
	}
	f := os.NewFile(uintptr(fds[0]), "unisse-kick")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		l.srv.log.Warn("kick socket unavailable; waking loops with tasks", "err", err)
		return
	}
	res, err := l.el.Enroll(gnet.NewContext(context.Background(), kickContext{l}), nc)
	if err != nil {
		_ = nc.Close()
		_ = unix.Close(fds[1])
		return
	}
	go func() {
		r := <-res
		if r.Err != nil {
			_ = unix.Close(fds[1])
			l.srv.log.Warn("kick socket registration failed", "err", r.Err)
			return
		}
		l.kickMu.Lock()
		defer l.kickMu.Unlock()
		if l.kickClosed { // the loop closed the read end already (shutdown)
			_ = unix.Close(fds[1])
			return
		}
		l.kickFD = fds[1]
		l.kickOn.Store(true)
	}()
}

// kickContext marks a loop's kick connection in gnet callbacks.
type kickContext struct{ l *loop }

// stopKick closes the write end (the read end is closed by gnet).
func (l *loop) stopKick() {
	l.kickMu.Lock()
	defer l.kickMu.Unlock()
	l.kickClosed = true
	if l.kickOn.CompareAndSwap(true, false) {
		_ = unix.Close(l.kickFD)
	}
}
