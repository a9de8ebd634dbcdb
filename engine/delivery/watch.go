package delivery

import (
	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/input"
)

// Serving keep-alive clients during a storm of hang-ups.
//
// gnet handles the events of one epoll_wait in order, and epoll's ready list
// is first in, first out: a request that arrives while thousands of clients
// are hanging up waits behind every hang-up queued before it, up to 1024 per
// wait at ~30 µs each. NotePeerClose already runs the loop's pending
// deliveries every ClosesPerSlice hang-ups; a publish, though, is itself
// input on an API connection of some loop, so the publication would not
// even be posted until that loop reached it. A loop therefore keeps a few
// keep-alive connections waiting for their next request (in practice the
// API clients: a connection whose request was served whole and that stays
// open), and every ClosesPerSlice hang-ups it reads their sockets itself and
// serves what arrived, ahead of the ready list.
//
// The bytes read here go into the connection's own input buffer
// (engine/input), behind whatever gnet still holds for it, so the request
// stream stays in order whichever of the two reads next; gnet's own read of
// the same socket later finds nothing (EAGAIN, which it ignores) or the
// bytes that arrived after ours. An end of stream or an error read here is
// left for gnet's read, which sees the socket closed too.

// maxWatched is how many keep-alive connections a loop polls during a storm
// of hang-ups: one read each per ClosesPerSlice hang-ups (a fraction of one
// close each), and enough for the few API clients a node has.
const maxWatched = 16

// watchReadSize is how much one poll reads from a connection: a request or
// a few; the rest waits for gnet's read, behind these bytes.
const watchReadSize = 16 << 10

// Watch marks c, a connection that was just served a whole request (or
// whose request is being served off the loop) and stays open for the next,
// as one to poll during a storm of hang-ups (see above); it does nothing
// for a connection in any other state. A loop watches at most maxWatched
// at a time. Only on the loop.
func (l *Loop) Watch(c *Conn) {
	if c.watched || !keepAlive(c.State) {
		return
	}
	if len(l.watched) >= maxWatched {
		l.pruneWatched()
		if len(l.watched) >= maxWatched {
			return
		}
	}
	c.watched = true
	l.watched = append(l.watched, c)
}

// keepAlive reports whether a connection in state st is between requests
// or serving one off the loop: what a keep-alive client's connection does.
func keepAlive(st State) bool { return st == StateReading || st == StateAwaiting }

// pruneWatched drops the watched connections that are no longer keep-alive
// ones (they stream now, or close).
func (l *Loop) pruneWatched() {
	for i := len(l.watched) - 1; i >= 0; i-- {
		if !keepAlive(l.watched[i].State) {
			l.unwatchAt(i)
		}
	}
}

// unwatch stops polling c (it closed).
func (l *Loop) unwatch(c *Conn) {
	if !c.watched {
		return
	}
	for i, w := range l.watched {
		if w == c {
			l.unwatchAt(i)
			return
		}
	}
}

func (l *Loop) unwatchAt(i int) {
	l.watched[i].watched = false
	last := len(l.watched) - 1
	l.watched[i] = l.watched[last]
	l.watched[last] = nil
	l.watched = l.watched[:last]
}

// pollWatched reads the watched connections' sockets and serves the
// requests that arrived (Host.ServeInput), ahead of gnet's ready list. Only
// where NotePeerClose runs: nothing of unisse's is half done on the loop.
func (l *Loop) pollWatched() {
	// Backwards: serving a request can close a connection, which
	// swap-removes it (Closed), moving a visited one into its place — at
	// worst read once more, finding nothing.
	for i := len(l.watched) - 1; i >= 0; i-- {
		if i >= len(l.watched) {
			continue
		}
		c := l.watched[i]
		if c.State != StateReading {
			if !keepAlive(c.State) {
				l.unwatchAt(i)
			}
			continue // awaiting an off-loop reply: its next request waits anyway
		}
		if l.watchBuf == nil {
			l.watchBuf = make([]byte, watchReadSize)
		}
		n, err := unix.Read(c.GC.Fd(), l.watchBuf)
		if n <= 0 {
			if err != unix.EAGAIN && err != unix.EINTR {
				// End of stream or an error: gnet's read closes it.
				l.unwatchAt(i)
			}
			continue
		}
		l.earlyServed.Add(1)
		input.Append(c.GC, &c.In, l.watchBuf[:n])
		l.cfg.Host.ServeInput(c)
	}
}

// EarlyServed is how many times a loop served input it read itself during a
// storm of hang-ups (pollWatched). Safe from any goroutine.
func (l *Loop) EarlyServed() uint64 { return l.earlyServed.Load() }
