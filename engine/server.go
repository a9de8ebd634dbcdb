package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/glob"
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/auth"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/httpwrite"
	"github.com/unisse/unisse/engine/hub"
	"github.com/unisse/unisse/engine/limits"
	"github.com/unisse/unisse/engine/listen"
	"github.com/unisse/unisse/engine/namespace"
)

// Version is what unisse reports in the connect push and /api/info.
var Version = "0.1.0 unisse"

// Server is a running unisse node: listeners (engine/listen), gnet event loops
// serving uni_sse streams and the server API, a hub of channels, and a broker.
type Server struct {
	opts     config.Options
	log      *slog.Logger
	hub      *hub.Hub[*delivery.Conn, delivery.ChanState]
	broker   broker.Broker
	verifier *auth.Verifier
	ns       *namespace.Resolver
	api      *api.Handler
	origins  []glob.Glob
	anyOrig  bool
	uid      string
	metrics  *metricsSet
	// loopCfg is what the loops share (engine/delivery); scratch holds each
	// loop's connect scratch, by loop index.
	loopCfg delivery.Config
	scratch []connectScratch
	tickOp  func(*delivery.Loop) // s.tickLoop, made once
	users   *limits.UserSlots    // client.user_connection_limit bookkeeping
	admit   *limits.Admission    // client.connection_limit and connection_rate_limit; nil when neither is set

	addrs        []string
	externalPort int
	internalPort int // 0: everything on the external port

	numLoops int
	loopsMu  sync.Mutex
	loops    []*delivery.Loop                  // by index; nil until the loop's first connection
	loopOf   map[gnet.EventLoop]*delivery.Loop // guarded by loopsMu
	known    atomic.Pointer[[]*delivery.Loop]  // snapshot of discovered loops, for broadcasters

	tickStart  time.Time
	startedAt  time.Time
	numClients atomic.Int64
	stopping   atomic.Bool // Stop has begun: connects are refused
	// spreadMinRate overrides shutdownMinRate when > 0 (tests).
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

// New validates opts and builds a server; Start runs it.
func New(opts config.Options, options ...Option) (*Server, error) {
	s := &Server{opts: opts, log: slog.Default(), died: make(chan error, 1)}
	for _, o := range options {
		o(s)
	}
	if s.broker == nil {
		s.broker = broker.NewMemory()
	}
	var err error
	var vopts []auth.Option
	if opts.Client.InsecureSkipTokenSignatureVerify {
		vopts = append(vopts, auth.WithSkipSignatureVerify())
	}
	if s.verifier, err = auth.NewVerifier(opts.Client.Token, vopts...); err != nil {
		return nil, fmt.Errorf("engine: client.token: %w", err)
	}
	if s.ns, err = namespace.New(opts.Channel); err != nil {
		return nil, fmt.Errorf("engine: channel: %w", err)
	}
	for _, o := range opts.Client.AllowedOrigins {
		if o == "*" {
			s.anyOrig = true
			continue
		}
		g, err := glob.Compile(lowerASCII(o))
		if err != nil {
			return nil, fmt.Errorf("engine: client.allowed_origins %q: %w", o, err)
		}
		s.origins = append(s.origins, g)
	}
	s.api = api.NewHandler(&executor{s}, api.Config{Key: opts.HTTPAPI.Key, Insecure: opts.HTTPAPI.Insecure, ErrorMode: opts.HTTPAPI.ErrorMode})
	s.numLoops = opts.Own.EventLoops
	if s.numLoops <= 0 {
		s.numLoops = runtime.NumCPU()
	}
	s.hub = hub.New[*delivery.Conn, delivery.ChanState](s.numLoops)
	s.loops = make([]*delivery.Loop, s.numLoops)
	s.loopOf = make(map[gnet.EventLoop]*delivery.Loop, s.numLoops)
	empty := []*delivery.Loop{}
	s.known.Store(&empty)
	s.metrics = newMetrics(s)
	s.loopCfg = delivery.Config{Opts: &s.opts, Log: s.log, SlowDisconnects: s.metrics.slowDisconnects, PushWaits: s.metrics.slowPushWaits, Host: host{s}}
	s.scratch = make([]connectScratch, s.numLoops)
	s.tickOp = s.tickLoop
	s.users = limits.NewUserSlots()
	s.admit = limits.NewAdmission(&opts.Client, s.log, s.metrics.set)

	s.externalPort = opts.HTTPServer.Port
	s.addrs = []string{net.JoinHostPort(opts.HTTPServer.Address, strconv.Itoa(opts.HTTPServer.Port))}
	if opts.HTTPServer.InternalPort != "" {
		p, err := strconv.Atoi(opts.HTTPServer.InternalPort)
		if err != nil {
			return nil, fmt.Errorf("engine: http_server.internal_port %q: %w", opts.HTTPServer.InternalPort, err)
		}
		if p != opts.HTTPServer.Port {
			s.internalPort = p
			addr := opts.HTTPServer.InternalAddress
			if addr == "" {
				addr = opts.HTTPServer.Address
			}
			s.addrs = append(s.addrs, net.JoinHostPort(addr, strconv.Itoa(p)))
		}
	}
	var u [16]byte
	newUUID(&u)
	s.uid = uuidString(u)
	if err := s.broker.Run(&executor{s}); err != nil {
		return nil, fmt.Errorf("engine: broker: %w", err)
	}
	return s, nil
}

// Start binds the listeners, runs the event loops and starts accepting. It
// fails when a port is busy (no two processes share a port by accident). A
// server whose Start failed has released everything and cannot be started
// again.
func (s *Server) Start() error {
	s.tickStart = time.Now()
	s.startedAt = s.tickStart
	ls, err := s.bind()
	if err != nil {
		_ = s.broker.Close()
		return fmt.Errorf("engine: start: %w", err)
	}
	// A gnet client has event loops and no listeners of its own: it serves
	// the connections engine/listen hands it, and never ends on an accept
	// error.
	cli, err := gnet.NewClient(&events{Server: s},
		gnet.WithNumEventLoop(s.numLoops),
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
	ls.Serve()
	return nil
}

// Stop stops accepting, ends every stream with disconnect 3001 "shutdown"
// spread over unisse.shutdown_spread (bounded by ctx's deadline), then stops
// the loops. Connects already accepted meanwhile are refused with 3001. It
// returns when the engine has stopped or ctx is done.
func (s *Server) Stop(ctx context.Context) error {
	if !s.stopping.CompareAndSwap(false, true) {
		return nil
	}
	if s.cli == nil { // never started, or Start failed and released everything
		return nil
	}
	s.listeners.Close()
	s.listeners.Wait(ctx)
	s.disconnectAll(ctx) // spread over unisse.shutdown_spread (shutdown.go)
	// Client.Stop waits for the loops without a deadline; ctx bounds ours.
	stopped := make(chan error, 1)
	go func() { stopped <- s.cli.Stop() }()
	var err error
	select {
	case err = <-stopped:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cerr := s.broker.Close(); err == nil {
		err = cerr
	}
	return err
}

// NumClients is the number of open uni_sse streams.
func (s *Server) NumClients() int { return int(s.numClients.Load()) }

// OnTick refreshes the Date header and asks every loop to run its timer sweep.
// It runs on gnet's ticker goroutine, never on a loop.
func (s *events) OnTick() (time.Duration, gnet.Action) {
	httpwrite.RefreshDate(time.Now())
	for _, l := range *s.known.Load() {
		l.Post(s.tickOp)
	}
	return delivery.TickInterval, gnet.None
}

// tickNow is the current tick number since start.
func (s *Server) tickNow() int64 { return int64(time.Since(s.tickStart) / delivery.TickInterval) }

// loopFor returns unisse's state for gc's event loop, creating it on first sight
// (gnet offers no way to enumerate loops, only to reach them through conns).
func (s *Server) loopFor(gc gnet.Conn) *delivery.Loop {
	el := gc.EventLoop()
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	if l := s.loopOf[el]; l != nil {
		return l
	}
	idx := len(s.loopOf)
	if idx >= s.numLoops {
		// More loops than configured cannot happen with WithNumEventLoop;
		// fail loudly rather than index out of range later.
		panic("engine: more event loops than configured")
	}
	l := delivery.NewLoop(&s.loopCfg, idx, el, s.tickNow())
	l.StartKick()
	s.loopOf[el] = l
	s.loops[idx] = l
	known := make([]*delivery.Loop, 0, idx+1)
	for _, x := range s.loops {
		if x != nil {
			known = append(known, x)
		}
	}
	s.known.Store(&known)
	return l
}

// onAllLoops runs fn on every loop that has ever had a connection and waits
// for all of them (or ctx). Never call it on a loop: it blocks.
func (s *Server) onAllLoops(ctx context.Context, fn func(*delivery.Loop)) bool {
	loops := *s.known.Load()
	var wg sync.WaitGroup
	wg.Add(len(loops))
	for _, l := range loops {
		l.Post(func(l *delivery.Loop) {
			defer wg.Done()
			fn(l)
			l.FlushDirty()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// opTimeout bounds how long an API operation waits for the loops.
const opTimeout = 5 * time.Second

func (s *Server) onAllLoopsTimeout(fn func(*delivery.Loop)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return s.onAllLoops(ctx, fn)
}

// host is the server as its loops see it (delivery.Host), kept off Server so
// that it is not part of the engine's API.
type host struct{ s *Server }

func (h host) CloseWhenSent(c *delivery.Conn, linger bool) { h.s.closeWhenSent(c, linger) }
func (h host) ServeInput(c *delivery.Conn)                 { h.s.serveInput(c) }

func newUUID(u *[16]byte) {
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
}

func lowerASCII(s string) string {
	buf := []byte(s)
	for i, b := range buf {
		if 'A' <= b && b <= 'Z' {
			buf[i] = b + 'a' - 'A'
		}
	}
	return string(buf)
}
