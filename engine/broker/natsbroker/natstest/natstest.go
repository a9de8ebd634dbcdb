// Package natstest runs an embedded NATS server (nats-server) on loopback
// for tests: stopped and started again on the same port, it is a NATS
// restart as nodes see one.
package natstest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is an embedded nats-server.
type Server struct {
	t    testing.TB
	mu   sync.Mutex
	port int
	srv  *server.Server
}

// Start runs a server on a free 127.0.0.1 port; it is shut down when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, port: server.RANDOM_PORT}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's nats:// address.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}

// Stop shuts the server down (clients see the connection drop).
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts the server again on the same port (a fresh server: it
// knows no subscriptions until clients resend them).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.t.Fatal("natstest: Restart while running")
	}
	opts := &server.Options{
		Host:   "127.0.0.1",
		Port:   s.port,
		NoLog:  true,
		NoSigs: true,
		// The default write deadline; a test never parks a slow reader.
		MaxPayload: 1 << 20,
	}
	var (
		srv *server.Server
		err error
	)
	// The port of a just-stopped server can take a moment to free.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv, err = server.NewServer(opts)
		if err == nil {
			go srv.Start()
			if srv.ReadyForConnections(5 * time.Second) {
				break
			}
			srv.Shutdown()
			err = fmt.Errorf("not ready")
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("natstest: start on port %d: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.srv = srv
	if s.port == server.RANDOM_PORT {
		s.port = srv.Addr().(*net.TCPAddr).Port
	}
}
