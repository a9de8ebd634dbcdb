package bench

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// BenchmarkLoopbackWrite is the floor every SSE server pays here: one
// write(2) of a 150-byte event to a loopback TCP socket whose peer is reading
// (on another goroutine, so mostly on the other core). ns/op is the wall time
// of one write on the writing side; BENCHMARKS.md compares servers' CPU per
// delivered message with it.
func BenchmarkLoopbackWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const conns = 256
	fds := make([]int, 0, conns)
	var keep []net.Conn
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		keep = append(keep, c, s)
		go func() { _, _ = io.Copy(io.Discard, c) }()
		raw, _ := s.(*net.TCPConn).SyscallConn()
		_ = raw.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	defer func() {
		for _, c := range keep {
			c.Close()
		}
	}()
	msg := make([]byte, 150)
	for i := 0; b.Loop(); i++ {
		// The fds are blocking Go sockets in non-blocking mode; a full buffer
		// (EAGAIN) just skips, the peer drains it.
		_, _ = syscall.Write(fds[i%conns], msg)
	}
}
