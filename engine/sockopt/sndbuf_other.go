//go:build !linux

package sockopt

import "errors"

// setSendBufferForce has no equivalent outside Linux.
func setSendBufferForce(fd, n int) error { return errors.ErrUnsupported }
