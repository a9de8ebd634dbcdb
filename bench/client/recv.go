package client

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// tsReader reads with recvmsg(2) and picks up the kernel's receive time of
// the data (SO_TIMESTAMPNS), so that publish→receive latency is measured to
// when the bytes reached the subscriber's socket, not to when this loop got
// round to reading it: with thousands of sockets per loop, the read order
// would otherwise add the tool's own queueing to the server's latency.
//
// Its message header, iovec and control buffer live in the Loop (heap, stable)
// so that a read allocates nothing. Only on the loop's goroutine.
type tsReader struct {
	msg unix.Msghdr
	iov unix.Iovec
	oob [64]byte
}

// read reads into buf (len > 0) from fd. tsNs is the kernel receive time of
// the last segment read (unix ns), 0 when the kernel gave none.
func (r *tsReader) read(fd int, buf []byte) (n int, tsNs int64, err error) {
	r.iov.Base = &buf[0]
	r.iov.SetLen(len(buf))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = &r.oob[0]
	r.msg.SetControllen(len(r.oob))
	r.msg.Flags = 0
	nn, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&r.msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(nn), controlTimestamp(r.oob[:r.msg.Controllen]), nil
}

// controlTimestamp finds an SCM_TIMESTAMPNS message in a control buffer.
func controlTimestamp(oob []byte) int64 {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l >= hdr+int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[hdr]))
			return ts.Nano()
		}
		oob = oob[min(len(oob), unix.CmsgSpace(l-hdr)):]
	}
	return 0
}
