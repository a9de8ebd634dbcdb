package kick

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestKickWritesUntilStopped: an attached socket is written one byte per
// Kick; a full one still counts as a wake-up; after Stop, Kick reports false
// so that the caller wakes the loop another way.
func TestKickWritesUntilStopped(t *testing.T) {
	var k Socket
	if k.Ready() || k.Kick() {
		t.Fatal("a socket never started kicks")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	k.Attach(fds[1])
	if !k.Ready() || !k.Kick() {
		t.Fatal("attached socket does not kick")
	}
	var b [8]byte
	if n, err := unix.Read(fds[0], b[:]); err != nil || n != 1 {
		t.Fatalf("read end got %d bytes, %v; want 1", n, err)
	}
	for range 1 << 20 { // fill it: EAGAIN is still a wake-up
		if !k.Kick() {
			t.Fatal("a full kick socket reported no wake-up")
		}
		if _, err := unix.Write(fds[1], make([]byte, 4096)); err == unix.EAGAIN {
			break
		}
	}
	if !k.Kick() {
		t.Fatal("a full kick socket reported no wake-up")
	}
	k.Stop()
	if k.Ready() || k.Kick() {
		t.Fatal("a stopped socket kicks")
	}
	k.Stop() // twice is harmless
}
