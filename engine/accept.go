package engine

// Accepting connections.
//
// unisse owns its listening sockets instead of letting gnet accept. In gnet
// v2.9.7 an accept error such as EMFILE ends the event loop that accepted
// and, with it, the whole engine, while the process lives on with no
// listener; and gnet's SO_REUSEPORT listeners let a second process bind the
// same port without an error. So each address is a plain listening socket
// (SO_REUSEADDR so a restart binds while old connections sit in TIME_WAIT,
// no SO_REUSEPORT so a busy port fails Start) served by one goroutine. It
// hands every accepted connection to the event loop with the fewest
// connections (gnet.Client.EnrollContext, which duplicates the descriptor and
// runs OnOpen on that loop before it returns).
//
// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM) the
// goroutine never gives up: it frees its reserve descriptor, accepts the
// connection at the head of the queue and closes it with a 503 (so a client
// learns at once instead of waiting in the backlog), takes the reserve back,
// and retries after a backoff of 5 ms doubling to 1 s. A connection accepted
// with the last free descriptor cannot be duplicated for its loop; it is
// closed and the same backoff applies. It logs at most once a
// second, with the number of errors since the last line. Connections are
// accepted again as soon as descriptors free up. Only a listener that is gone
// (closed under us, not a socket any more) stops it; that is reported on
// Server.Done.
//
// Keepalive and TCP_USER_TIMEOUT are set on the listening socket: Linux
// copies them to every socket it accepts, so they cost nothing per connect.
//
// The price of owning the accept is the hand-off: gnet v2.9.7 adopts a socket
// only as a net.Conn (Go's accept registers it with Go's poller, reads its
// local address and sets TCP_NODELAY), duplicates it, and registers it on the
// loop while the accepting goroutine waits — two more thread wake-ups and
// about seven more system calls per connection than gnet accepting on its
// loop. Measured on a 2-core VM: about 80–150 µs more server CPU per paced
// connect (≈125 µs before). A gnet API that adopts a raw descriptor, or one
// whose accept survives EMFILE, would remove it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/config"
)

const (
	// acceptBackoffMin and acceptBackoffMax bound the pause after a failed
	// accept: short enough to pick up freed descriptors quickly, long enough
	// not to spin on a limit that stays hit.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// shedWait bounds the accept that sheds a connection: the one that made
	// accept fail may have left the queue in the meantime.
	shedWait = 5 * time.Millisecond
	// shedLinger bounds the wait for a refused client to read its 503 and
	// close.
	shedLinger = 50 * time.Millisecond
	// acceptLogEvery is the most often an accept failure is logged.
	acceptLogEvery = time.Second
)

// shedResponse is what a connection refused for lack of descriptors gets.
var shedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

// acceptor is one listening socket and what its goroutine needs.
type acceptor struct {
	ln   *net.TCPListener
	addr string
}

// listen binds every configured address, or none: a busy port is an error.
func (s *Server) listen() error {
	lc := listenConfig(s.opts.Own)
	for _, addr := range s.addrs {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			s.closeListeners()
			return err // net.OpError names the address: "listen tcp …: bind: address already in use"
		}
		s.acceptors = append(s.acceptors, &acceptor{ln: ln.(*net.TCPListener), addr: addr})
	}
	return nil
}

// listenConfig sets the listening socket's options before bind.
func listenConfig(u config.Own) net.ListenConfig {
	return net.ListenConfig{
		// Go would set keepalive on each accepted socket (four setsockopt
		// calls per connect); the listener's settings are inherited instead.
		KeepAlive: -1,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = setListenerOptions(int(fd), u) }); err != nil {
				return err
			}
			return serr
		},
	}
}

func setListenerOptions(fd int, u config.Own) error {
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt %s: %w", name, err)
		}
		return nil
	}
	if err := set(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"); err != nil {
		return err
	}
	if u.TCPKeepAliveIdle > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secondsUp(u.TCPKeepAliveIdle), "TCP_KEEPIDLE"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secondsUp(u.TCPKeepAliveInterval), "TCP_KEEPINTVL"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, u.TCPKeepAliveCount, "TCP_KEEPCNT"); err != nil {
			return err
		}
	}
	if u.TCPUserTimeout > 0 {
		if err := set(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(u.TCPUserTimeout.Milliseconds()), "TCP_USER_TIMEOUT"); err != nil {
			return err
		}
	}
	return nil
}

// secondsUp is d in whole seconds, rounded up (the kernel counts keepalive
// times in seconds; rounding down could turn 500ms into "off").
func secondsUp(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// closeListeners closes every listening socket; their goroutines end.
func (s *Server) closeListeners() {
	for _, a := range s.acceptors {
		_ = a.ln.Close()
	}
}

// serveListener accepts on a until the server stops or the listener is gone.
func (s *Server) serveListener(a *acceptor) {
	defer s.acceptWG.Done()
	var backoff time.Duration
	for {
		c, err := a.ln.AcceptTCP()
		if err == nil {
			// EnrollContext closes c (the loop keeps a duplicate). It fails
			// only before the loop has the connection: when dup hits the
			// descriptor limit the accept took the last free descriptor.
			// The client sees its connection close; that is shedding too,
			// and the backoff below keeps it from draining the whole queue.
			if _, err = s.cli.EnrollContext(c, nil); err == nil {
				backoff = 0
				continue
			}
			if outOfResources(err) {
				s.metrics.shed.Inc()
			}
			err = fmt.Errorf("handing a connection to a loop: %w", err)
		} else {
			if s.stopping.Load() {
				return
			}
			if listenerGone(err) {
				s.fail(fmt.Errorf("listener %s: %w", a.addr, err))
				return
			}
			if outOfResources(err) {
				s.shed(a)
			}
		}
		// Any other error (Linux passes on network errors of a connection
		// that failed in the queue) is retried too, after the same pause,
		// so that a persistent one cannot spin.
		s.acceptLog.note(s, a.addr, err)
		backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
		select {
		case <-s.quit:
			return
		case <-time.After(backoff):
		}
	}
}

// listenerGone says whether err means the listening socket cannot accept any
// more, as opposed to a failure of one attempt.
func listenerGone(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF) ||
		errors.Is(err, unix.ENOTSOCK) || errors.Is(err, unix.EINVAL)
}

// outOfResources says whether err is the process or system running out of
// descriptors or kernel memory.
func outOfResources(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}

// shed uses the reserve descriptor to take the connection at the head of a's
// queue and refuse it with a 503, then takes the reserve back. The reserve is
// shared by all listeners; if it cannot be reopened yet (the freed descriptor
// was taken elsewhere) the next shed tries again.
func (s *Server) shed(a *acceptor) {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if s.reserve >= 0 {
		_ = unix.Close(s.reserve)
		s.reserve = -1
	}
	_ = a.ln.SetDeadline(time.Now().Add(shedWait))
	c, err := a.ln.AcceptTCP()
	_ = a.ln.SetDeadline(time.Time{})
	if err == nil {
		s.metrics.shed.Inc()
		// Answer, then wait briefly for the client to close: closing with
		// its request unread would reset the connection and could destroy
		// the 503 before the client reads it (net/http's closeWriteAndWait).
		// Nothing else can be accepted meanwhile anyway.
		_ = c.SetDeadline(time.Now().Add(shedLinger))
		_, _ = c.Write(shedResponse)
		_ = c.CloseWrite()
		var buf [512]byte
		for n := 0; n < 64<<10; {
			m, err := c.Read(buf[:])
			if err != nil {
				break
			}
			n += m
		}
		_ = c.Close()
	}
	s.reserve = openReserve()
}

// openReserve opens the descriptor kept for shedding, or returns -1.
func openReserve() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// acceptLog rate-limits accept failure logs across all listeners.
type acceptLog struct {
	mu   sync.Mutex
	last time.Time
	n    int // failures since the last line
}

func (l *acceptLog) note(s *Server, addr string, err error) {
	s.metrics.acceptErrors.Inc()
	l.mu.Lock()
	l.n++
	now := time.Now()
	if now.Sub(l.last) < acceptLogEvery {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.last = 0, now
	l.mu.Unlock()
	s.log.Warn("accept failed; still serving, retrying with backoff", "addr", addr, "err", err, "failures", n)
}

// fail reports an engine that stopped working by itself on Done, once. After
// Stop began nothing is reported: loops and listeners ending then is the plan.
func (s *Server) fail(err error) {
	if s.stopping.Load() {
		return
	}
	s.failOnce.Do(func() {
		s.log.Error("engine stopped unexpectedly", "err", err)
		s.died <- fmt.Errorf("engine: %w", err)
	})
}

// Done receives one error if the engine stops by itself: a listener is gone
// or an event loop ended without Stop. The server no longer serves fully
// then; a process should exit non-zero so that its supervisor restarts it.
// Nothing is sent after Stop. Meant for one receiver.
func (s *Server) Done() <-chan error { return s.died }
