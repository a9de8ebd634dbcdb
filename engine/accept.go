package engine

import (
	"fmt"
	"net"

	"github.com/unisse/unisse/engine/listen"
	"github.com/unisse/unisse/engine/sockopt"
)

// bind binds every configured address (engine/listen); nothing is accepted
// until Start has the loops running and calls Serve. An accepted connection
// goes to the event loop with the fewest connections: gnet's EnrollContext
// duplicates the descriptor and runs OnOpen on that loop before it returns.
func (s *Server) bind() (*listen.Listeners, error) {
	u := &s.opts.Own
	return listen.Bind(listen.Config{
		Addrs: s.addrs,
		Keepalive: sockopt.Keepalive{
			Idle: u.TCPKeepAliveIdle, Interval: u.TCPKeepAliveInterval,
			Count: u.TCPKeepAliveCount, UserTimeout: u.TCPUserTimeout,
		},
		Hand: func(c *net.TCPConn) error {
			_, err := s.cli.EnrollContext(c, nil)
			return err
		},
		Shed:   s.node.CountShed,
		Failed: s.node.CountAcceptError,
		Gone:   s.fail,
		Log:    s.log,

		ReusePort: u.ReusePort, // unisse.reuse_port
	})
}

// fail reports an engine that stopped working by itself on Done, once. After
// Stop began nothing is reported: loops and listeners ending then is the plan.
func (s *Server) fail(err error) {
	if s.node.Stopping() {
		return
	}
	s.failOnce.Do(func() {
		s.log.Error("engine stopped unexpectedly", "err", err)
		s.died <- fmt.Errorf("engine: %w", err)
	})
}

// Done receives one error if the engine stops by itself: a listener is gone
// or an event loop ended without Stop. The server no longer serves fully
// then; a process should exit non-zero so that its supervisor restarts it.
// Nothing is sent after Stop. Meant for one receiver.
func (s *Server) Done() <-chan error { return s.died }
