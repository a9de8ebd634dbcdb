package sockopt

import "golang.org/x/sys/unix"

// setSendBufferForce sets SO_SNDBUF past net.core.wmem_max when the process
// has CAP_NET_ADMIN (SO_SNDBUFFORCE); otherwise it fails and the caller stays
// within wmem_max.
func setSendBufferForce(fd, n int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
}
