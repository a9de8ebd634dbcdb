package listen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/sockopt"
)

const (
	// backoffMin and backoffMax bound the pause after a failed accept:
	// short enough to pick up freed descriptors quickly, long enough not to
	// spin on a limit that stays hit.
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
	// shedWait bounds the accept that sheds a connection: the one that made
	// accept fail may have left the queue in the meantime.
	shedWait = 5 * time.Millisecond
	// shedLinger bounds the wait for a refused client to read its 503 and
	// close.
	shedLinger = 50 * time.Millisecond
	// logEvery is the most often an accept failure is logged.
	logEvery = time.Second
)

// shedResponse is what a connection refused for lack of descriptors gets.
var shedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

// Config says where to listen and what to do with what is accepted.
type Config struct {
	Addrs     []string
	Keepalive sockopt.Keepalive
	// Hand gives an accepted connection to the server, which owns it from
	// then on (gnet.Client.EnrollContext: it closes c). An error means the
	// connection was not taken; an out-of-resources one counts as shed.
	Hand func(c *net.TCPConn) error
	// Shed and Failed count connections refused for lack of resources and
	// failed accepts (metrics); Gone reports a listener that cannot accept
	// any more (closed under us). All are called from accepting goroutines.
	Shed, Failed func()
	Gone         func(err error)
	Log          *slog.Logger
	// ReusePort binds with SO_REUSEPORT (unisse.reuse_port), so that other
	// sockets with it can share the port; off, a busy port fails Bind.
	ReusePort bool
}

// Listeners are the bound sockets and their accepting goroutines.
type Listeners struct {
	cfg       Config
	acceptors []*acceptor
	wg        sync.WaitGroup
	log       failureLog
	quit      chan struct{}
	closed    atomic.Bool
	reserveMu sync.Mutex
	reserve   int // descriptor kept free for shedding; -1 when none
}

// acceptor is one listening socket.
type acceptor struct {
	ln   *net.TCPListener
	addr string
}

// Bind binds every address in cfg, or none: a busy port is an error unless
// cfg.ReusePort is set and every socket on it was bound with SO_REUSEPORT.
func Bind(cfg Config) (*Listeners, error) {
	ls := &Listeners{cfg: cfg, quit: make(chan struct{}), reserve: -1}
	lc := net.ListenConfig{
		// Go would set keepalive on each accepted socket (four setsockopt
		// calls per connect); the listener's settings are inherited instead.
		KeepAlive: -1,
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = sockopt.SetListener(int(fd), cfg.Keepalive)
				if serr == nil && cfg.ReusePort {
					serr = sockopt.SetReusePort(int(fd))
				}
			}); err != nil {
				return err
			}
			return serr
		},
	}
	for _, addr := range cfg.Addrs {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			ls.closeSockets()
			return nil, err // net.OpError names the address: "listen tcp …: bind: address already in use"
		}
		ls.acceptors = append(ls.acceptors, &acceptor{ln: ln.(*net.TCPListener), addr: addr})
	}
	return ls, nil
}

// Serve takes the reserve descriptor and starts accepting, one goroutine per
// listener.
func (ls *Listeners) Serve() {
	ls.reserve = openReserve()
	for _, a := range ls.acceptors {
		ls.wg.Add(1)
		go ls.serve(a)
	}
}

// Close stops accepting: the listeners close and their goroutines end. Wait
// waits for them; the reserve is released after.
func (ls *Listeners) Close() {
	if ls.closed.CompareAndSwap(false, true) {
		close(ls.quit)
	}
	ls.closeSockets()
}

// Wait waits until every accepting goroutine has ended (after Close) or ctx
// is done, then releases the reserve descriptor.
func (ls *Listeners) Wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { ls.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	ls.reserveMu.Lock()
	if ls.reserve >= 0 {
		_ = unix.Close(ls.reserve)
		ls.reserve = -1
	}
	ls.reserveMu.Unlock()
}

func (ls *Listeners) closeSockets() {
	for _, a := range ls.acceptors {
		_ = a.ln.Close()
	}
}

// serve accepts on a until Close or until the listener is gone.
func (ls *Listeners) serve(a *acceptor) {
	defer ls.wg.Done()
	var backoff time.Duration
	for {
		c, err := a.ln.AcceptTCP()
		if err == nil {
			// Hand closes c (the loop keeps a duplicate). It fails only
			// before the loop has the connection: when dup hits the
			// descriptor limit the accept took the last free descriptor.
			// The client sees its connection close; that is shedding too,
			// and the backoff below keeps it from draining the whole queue.
			if err = ls.cfg.Hand(c); err == nil {
				backoff = 0
				continue
			}
			if outOfResources(err) {
				ls.cfg.Shed()
			}
			err = fmt.Errorf("handing a connection to a loop: %w", err)
		} else {
			if ls.closed.Load() {
				return
			}
			if listenerGone(err) {
				ls.cfg.Gone(fmt.Errorf("listener %s: %w", a.addr, err))
				return
			}
			if outOfResources(err) {
				ls.shed(a)
			}
		}
		// Any other error (Linux passes on network errors of a connection
		// that failed in the queue) is retried too, after the same pause,
		// so that a persistent one cannot spin.
		ls.log.note(&ls.cfg, a.addr, err)
		backoff = min(max(2*backoff, backoffMin), backoffMax)
		select {
		case <-ls.quit:
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
func (ls *Listeners) shed(a *acceptor) {
	ls.reserveMu.Lock()
	defer ls.reserveMu.Unlock()
	if ls.reserve >= 0 {
		_ = unix.Close(ls.reserve)
		ls.reserve = -1
	}
	_ = a.ln.SetDeadline(time.Now().Add(shedWait))
	c, err := a.ln.AcceptTCP()
	_ = a.ln.SetDeadline(time.Time{})
	if err == nil {
		ls.cfg.Shed()
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
	ls.reserve = openReserve()
}

// openReserve opens the descriptor kept for shedding, or returns -1.
func openReserve() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// failureLog rate-limits accept failure logs across all listeners.
type failureLog struct {
	mu   sync.Mutex
	last time.Time
	n    int // failures since the last line
}

func (l *failureLog) note(cfg *Config, addr string, err error) {
	cfg.Failed()
	l.mu.Lock()
	l.n++
	now := time.Now()
	if now.Sub(l.last) < logEvery {
		l.mu.Unlock()
		return
	}
	n := l.n
	l.n, l.last = 0, now
	l.mu.Unlock()
	cfg.Log.Warn("accept failed; still serving, retrying with backoff", "addr", addr, "err", err, "failures", n)
}

// Lose closes listener i under its goroutine, as a failure of the socket
// would; tests use it to see Config.Gone called.
func (ls *Listeners) Lose(i int) error { return ls.acceptors[i].ln.Close() }
