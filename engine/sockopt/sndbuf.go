package sockopt

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// sendBufferMax is the largest SO_SNDBUF an unprivileged process may ask for
// (net.core.wmem_max); the kernel doubles what it is given for its own
// bookkeeping. Read once.
var sendBufferMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 212992 // Linux's usual default
})

// Fder is the part of a connection (gnet.Conn) that GrowSendBuffer needs.
type Fder interface{ Fd() int }

// GrowSendBuffer makes room for n more bytes in a socket whose send buffer is
// full, so that they can be written before it is closed (closeSlow). The
// kernel charges each queued segment its buffer overhead too, so it asks for
// twice n and a page more. It never shrinks the buffer (autotuning may have
// grown it past what SO_SNDBUF may set), and it is best effort: the caller
// checks what was actually written.
func GrowSendBuffer(c Fder, n int) {
	fd := c.Fd()
	cur, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return
	}
	want := (cur + 2*n + 4096) / 2 // the kernel doubles the value it is given
	if setSendBufferForce(fd, want) == nil {
		return
	}
	want = min(want, sendBufferMax())
	if 2*want > cur {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, want)
	}
}
