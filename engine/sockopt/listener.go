package sockopt

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Keepalive is how accepted connections detect a peer that is gone without
// a word: TCP keepalive probes after Idle of silence, every Interval, Count
// of them; and TCP_USER_TIMEOUT, how long sent data may stay unacknowledged.
// Zero Idle or UserTimeout leaves that mechanism off.
type Keepalive struct {
	Idle, Interval time.Duration
	Count          int
	UserTimeout    time.Duration
}

// SetListener sets a listening socket's options before bind: SO_REUSEADDR
// (a restart binds while old connections sit in TIME_WAIT) and k. Linux
// copies keepalive and TCP_USER_TIMEOUT to every socket the listener
// accepts, so they cost nothing per connect. SO_REUSEPORT is not set here,
// so that a busy port fails: see SetReusePort.
func SetListener(fd int, k Keepalive) error {
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt %s: %w", name, err)
		}
		return nil
	}
	if err := set(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"); err != nil {
		return err
	}
	if k.Idle > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secondsUp(k.Idle), "TCP_KEEPIDLE"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secondsUp(k.Interval), "TCP_KEEPINTVL"); err != nil {
			return err
		}
		if err := set(unix.IPPROTO_TCP, unix.TCP_KEEPCNT, k.Count, "TCP_KEEPCNT"); err != nil {
			return err
		}
	}
	if k.UserTimeout > 0 {
		if err := set(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(k.UserTimeout.Milliseconds()), "TCP_USER_TIMEOUT"); err != nil {
			return err
		}
	}
	return nil
}

// secondsUp is d in whole seconds, rounded up (the kernel counts keepalive
// times in seconds; rounding down could turn 500ms into "off").
func secondsUp(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// SetReusePort sets SO_REUSEPORT before bind: every socket of the same user
// bound to the port with it shares the port, the kernel spreading new
// connections among them. Only when explicitly configured
// (unisse.reuse_port): a second process started by mistake would otherwise
// take a share of the clients silently.
func SetReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("setsockopt SO_REUSEPORT: %w", err)
	}
	return nil
}
