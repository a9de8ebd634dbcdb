package client

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestControlTimestamp(t *testing.T) {
	hdr := unix.CmsgLen(0)
	tsLen := int(unsafe.Sizeof(unix.Timespec{}))
	// An unrelated message first, then SCM_TIMESTAMPNS.
	buf := make([]byte, unix.CmsgSpace(4)+unix.CmsgSpace(tsLen))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&buf[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
	h.SetLen(unix.CmsgLen(4))
	off := unix.CmsgSpace(4)
	h = (*unix.Cmsghdr)(unsafe.Pointer(&buf[off]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(tsLen))
	*(*unix.Timespec)(unsafe.Pointer(&buf[off+hdr])) = unix.Timespec{Sec: 1700000000, Nsec: 123}
	if got := controlTimestamp(buf); got != 1700000000_000000123 {
		t.Fatalf("got %d", got)
	}
	if controlTimestamp(buf[:off]) != 0 || controlTimestamp(nil) != 0 || controlTimestamp(buf[:off+hdr+4]) != 0 {
		t.Fatal("timestamp found where there is none")
	}
}
