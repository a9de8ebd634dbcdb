package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/listen"
	"github.com/unisse/unisse/engine/session"
)

// Version is what unisse reports in the connect push and /api/info.
var Version = "0.1.0 unisse"

// Server is a running unisse node: listeners (engine/listen), gnet event loops
// serving the session (engine/session: uni_sse streams and the server API),
// and a broker.
type Server struct {
	opts     config.Options
	log      *slog.Logger
	broker   broker.Broker
	presence broker.PresenceManager
	nodeID   string
	node     *session.Node
	addrs    []string
	// spreadMinRate overrides the session's slowest shutdown pace when > 0
	// (tests).
	spreadMinRate int

	// Accepting (engine/listen): our listeners, and the gnet client whose
	// loops serve what they accept.
	listeners *listen.Listeners
	cli       *gnet.Client
	died      chan error // Done
	failOnce  sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithBroker replaces the in-memory broker.
func WithBroker(b broker.Broker) Option { return func(s *Server) { s.broker = b } }

// WithPresenceManager keeps presence in pm (a Redis presence manager shared
// by the nodes) instead of the broker or, for the memory broker, the
// node's own connections.
func WithPresenceManager(pm broker.PresenceManager) Option {
	return func(s *Server) { s.presence = pm }
}

// WithNodeID names this node to the other nodes of a cluster: the same ID
// the broker was built with.
func WithNodeID(id string) Option { return func(s *Server) { s.nodeID = id } }

// New validates opts and builds a server; Start runs it.
func New(opts config.Options, options ...Option) (*Server, error) {
	s := &Server{opts: opts, log: slog.Default(), died: make(chan error, 1)}
	for _, o := range options {
		o(s)
	}
	if s.broker == nil {
		s.broker = broker.NewMemory()
	}
	s.addrs = []string{net.JoinHostPort(opts.HTTPServer.Address, strconv.Itoa(opts.HTTPServer.Port))}
	internalPort := 0 // everything on the external port
	if opts.HTTPServer.InternalPort != "" {
		p, err := strconv.Atoi(opts.HTTPServer.InternalPort)
		if err != nil {
			return nil, fmt.Errorf("engine: http_server.internal_port %q: %w", opts.HTTPServer.InternalPort, err)
		}
		if p != opts.HTTPServer.Port {
			internalPort = p
			addr := opts.HTTPServer.InternalAddress
			if addr == "" {
				addr = opts.HTTPServer.Address
			}
			s.addrs = append(s.addrs, net.JoinHostPort(addr, strconv.Itoa(p)))
		}
	}
	node, err := session.New(session.Config{
		Opts: opts, Log: s.log, Broker: s.broker, Presence: s.presence, NodeID: s.nodeID, Version: Version,
		InternalPort: internalPort, Fail: s.fail, ShutdownMinRate: s.spreadMinRate,
	})
	if err != nil {
		return nil, err
	}
	s.node = node
	return s, nil
}

// Start binds the listeners, runs the event loops and starts accepting. It
// fails when a port is busy (no two processes share a port by accident). A
// server whose Start failed has released everything and cannot be started
// again.
func (s *Server) Start() error {
	s.node.Begin()
	ls, err := s.bind()
	if err != nil {
		_ = s.broker.Close()
		return fmt.Errorf("engine: start: %w", err)
	}
	// A gnet client has event loops and no listeners of its own: it serves
	// the connections engine/listen hands it, and never ends on an accept
	// error.
	cli, err := gnet.NewClient(s.node.Handler(),
		gnet.WithNumEventLoop(s.node.NumLoops()),
		gnet.WithTicker(true),
		gnet.WithTCPNoDelay(gnet.TCPDelay), // Go's accept set TCP_NODELAY already; skip a second setsockopt
		gnet.WithReadBufferCap(16<<10),     // per loop; requests are small
		gnet.WithWriteBufferCap(64<<10),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err == nil {
		err = cli.Start()
	}
	if err != nil {
		ls.Close()
		ls.Wait(context.Background())
		_ = s.broker.Close()
		return fmt.Errorf("engine: start: %w", err)
	}
	s.cli = cli
	s.listeners = ls
	s.node.JoinCluster() // announces this node to the others (engine/session)
	ls.Serve()
	return nil
}

// Stop stops accepting, ends every stream with disconnect 3001 "shutdown"
// spread over unisse.shutdown_spread (bounded by ctx's deadline), then stops
// the loops. Connects already accepted meanwhile are refused with 3001. It
// returns when the engine has stopped or ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	if !s.node.BeginStop() {
		return nil
	}
	if s.cli == nil { // never started, or Start failed and released everything
		return nil
	}
	// The other nodes drop this one from /api/info and their surveys now.
	s.node.LeaveCluster(ctx)
	s.listeners.Close()
	s.listeners.Wait(ctx)
	s.node.DisconnectAll(ctx) // spread over unisse.shutdown_spread (engine/session)
	// Client.Stop waits for the loops without a deadline; ctx bounds ours.
	stopped := make(chan error, 1)
	go func() { stopped <- s.cli.Stop() }()
	var err error
	select {
	case err = <-stopped:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.node.FlushPresence(ctx) // the closed streams' presence removals
	if cerr := s.broker.Close(); err == nil {
		err = cerr
	}
	s.node.ReleaseMetrics()
	return err
}

// NumClients is the number of open uni_sse streams.
func (s *Server) NumClients() int { return s.node.NumClients() }

// gnetLogger routes gnet's logs to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }

// Infof is start-up chatter ("Starting gnet client…": gnet only runs the
// loops, engine/listen listens); the operator's line is the banner.
func (g gnetLogger) Infof(f string, a ...any)  { g.l.Debug("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + fmt.Sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: fatal: " + fmt.Sprintf(f, a...)) }
