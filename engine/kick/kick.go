package kick

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Socket is the write end of a loop's kick socket pair.
type Socket struct {
	mu     sync.RWMutex // write: registering or closing fd; read: writing to it
	fd     int
	on     atomic.Bool
	closed bool // guarded by mu
}

var kickByte = []byte{1}

// Start registers the read end with el, off the loop (gnet's Enroll
// completes asynchronously); marker is the read end's gnet context, by which
// the loop's callbacks recognize it.
func (k *Socket) Start(el gnet.EventLoop, marker any, log *slog.Logger) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Warn("kick socket unavailable; waking loops with tasks", "err", err)
		return
	}
	f := os.NewFile(uintptr(fds[0]), "unisse-kick")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		_ = unix.Close(fds[1])
		log.Warn("kick socket unavailable; waking loops with tasks", "err", err)
		return
	}
	res, err := el.Enroll(gnet.NewContext(context.Background(), marker), nc)
	if err != nil {
		_ = nc.Close()
		_ = unix.Close(fds[1])
		return
	}
	go func() {
		r := <-res
		if r.Err != nil {
			_ = unix.Close(fds[1])
			log.Warn("kick socket registration failed", "err", r.Err)
			return
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.closed { // the loop closed the read end already (shutdown)
			_ = unix.Close(fds[1])
			return
		}
		k.fd = fds[1]
		k.on.Store(true)
	}()
}

// Attach makes fd, the write end of a socket whose read end the caller has
// registered (or, in tests, never reads), the kick.
func (k *Socket) Attach(fd int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fd = fd
	k.on.Store(true)
}

// Ready reports whether the socket is registered and Kick can wake the loop.
func (k *Socket) Ready() bool { return k.on.Load() }

// Kick wakes the loop and reports true, or reports false when the socket is
// not (or no longer) usable and the caller must wake the loop another way.
func (k *Socket) Kick() bool {
	if !k.on.Load() {
		return false
	}
	// The read lock keeps Stop from closing the descriptor while we write: a
	// closed number can be reused by another socket at once.
	k.mu.RLock()
	var err error = unix.EBADF
	if k.on.Load() {
		_, err = unix.Write(k.fd, kickByte)
	}
	k.mu.RUnlock()
	return err == nil || err == unix.EAGAIN // EAGAIN: full of kicks, the loop will wake anyway
}

// Stop closes the write end (gnet closes the read end with the loop).
func (k *Socket) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if k.on.CompareAndSwap(true, false) {
		_ = unix.Close(k.fd)
	}
}
