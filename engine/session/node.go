package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"runtime"
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
	"github.com/unisse/unisse/engine/namespace"
)

// Config is what the engine hands a Node.
type Config struct {
	Opts   config.Options
	Log    *slog.Logger
	Broker broker.Broker
	// Presence, when set, keeps presence across nodes (a Redis presence
	// manager); nil: the broker if it implements broker.PresenceManager,
	// else the node's own loops answer (one node).
	Presence broker.PresenceManager
	// NodeID names this node to the others (the broker's node channel, the
	// control protocol's uid); empty on a single node.
	NodeID string
	// Version is what the node reports in the connect push and /api/info.
	Version string
	// InternalPort is the port of the internal listener, 0 when everything
	// is served on the external one.
	InternalPort int
	// Fail is told once the node sees it cannot serve fully any more (an
	// event loop ended); the engine reports it on Server.Done.
	Fail func(error)
	// ShutdownMinRate overrides shutdownMinRate when > 0 (tests).
	ShutdownMinRate int
}

// Node is the session side of a unisse node: what happens on a connection
// (requests, connects, subscriptions, timers), the server API's executor,
// the broker's handler, and the loops it discovers through gnet.
type Node struct {
	opts     config.Options
	log      *slog.Logger
	version  string
	fail     func(error)
	hub      *hub.Hub[*delivery.Conn, delivery.ChanState]
	broker   broker.Broker
	presence broker.PresenceManager // nil: answered from the loops
	nodeID   string
	cluster  *clusterState     // nil on a single node (cluster.go)
	pres     presenceState     // presence updates (presence.go)
	resub    resubscribeChecks // positioned channels checked after a broker reconnect (resubscribe.go)
	jl       joinLeaveState    // join/leave through the broker (joinleave.go)
	// hooked: the broker subscribes over the network (Inline(OpSubscribe)
	// false), so the hub tells it which channels this node needs
	// (brokerSubscribe) and a subscription may have to wait for it.
	hooked   bool
	waitSeq  atomic.Uint64 // tokens of hub.Waiters (positionQuery.token)
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
}

// New builds a node and runs its broker (broker.Broker.Run with the node as
// its handler); the engine's gnet client serves it (Handler).
func New(cfg Config) (*Node, error) {
	opts := cfg.Opts
	s := &Node{opts: opts, log: cfg.Log, broker: cfg.Broker, version: cfg.Version, fail: cfg.Fail,
		internalPort: cfg.InternalPort, spreadMinRate: cfg.ShutdownMinRate}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.broker == nil {
		s.broker = broker.NewMemory()
	}
	s.nodeID, s.presence = cfg.NodeID, cfg.Presence
	if pm, ok := s.broker.(broker.PresenceManager); ok && s.presence == nil {
		s.presence = pm
	}
	if s.fail == nil {
		s.fail = func(error) {}
	}
	s.jl.init(s)
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
	s.metrics = newMetrics(s)
	s.api = api.NewHandler(&executor{s}, api.Config{Key: opts.HTTPAPI.Key, Insecure: opts.HTTPAPI.Insecure, ErrorMode: opts.HTTPAPI.ErrorMode, Observer: s.metrics})
	s.numLoops = opts.Own.EventLoops
	if s.numLoops <= 0 {
		// GOMAXPROCS, not NumCPU: a loop is worth a core only if the
		// process may run on one. Go sets it from the container's CPU
		// limit, and an operator packing several nodes on one machine
		// sets it (or event_loops) to each node's share: loops beyond the
		// cores wait for each other's time slices, which is what a
		// publication's fan-out across every loop then waits for too.
		s.numLoops = runtime.GOMAXPROCS(0)
	}
	var hubOpts []hub.Option[*delivery.Conn, delivery.ChanState]
	if !s.broker.Inline(broker.OpSubscribe) {
		s.hooked = true
		hubOpts = append(hubOpts, hub.WithBrokerHooks(s.brokerSubscribe, s.brokerUnsubscribe))
	}
	s.hub = hub.New[*delivery.Conn, delivery.ChanState](s.numLoops, hubOpts...)
	s.loops = make([]*delivery.Loop, s.numLoops)
	s.loopOf = make(map[gnet.EventLoop]*delivery.Loop, s.numLoops)
	empty := []*delivery.Loop{}
	s.known.Store(&empty)
	s.loopCfg = delivery.Config{Opts: &s.opts, Log: s.log, Disconnects: &s.metrics.disconnects, PushWaits: s.metrics.slowPushWaits, Host: host{s}}
	s.scratch = make([]connectScratch, s.numLoops)
	s.tickOp = s.tickLoop
	s.users = limits.NewUserSlots()
	s.admit = limits.NewAdmission(&opts.Client, s.log, s.metrics.set)

	var u [16]byte
	newUUID(&u)
	s.uid = uuidString(u)
	s.newCluster() // before the broker runs: it may deliver control at once
	s.pres.init(s)
	if err := s.broker.Run(&executor{s}); err != nil {
		return nil, fmt.Errorf("engine: broker: %w", err)
	}
	return s, nil
}

// brokerSubscribe is the hub's subscribe hook: the channel's first
// subscriber on this node (or a retry after a failure) subscribes the node
// at the broker. The broker only enqueues (we are under the hub's shard
// lock); its answer settles the hub's attempt and each subscriber waiting
// for it is told on its own loop (subscriptionSettled). The attempt has its
// own deadline, so that a broker that cannot serve it leaves the channel
// Failed (retried by its next subscriber) rather than Pending for ever.
func (s *Node) brokerSubscribe(a hub.Attempt[*delivery.Conn, delivery.ChanState]) {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	name := a.Channel().Name()
	s.broker.Subscribe(ctx, name, func(err error) {
		cancel()
		if err != nil {
			s.metrics.brokerSubscribeErrors.Inc()
			// Debug: during an outage every connect to a new channel fails
			// here, and unpark logs each refused connect already.
			s.log.Debug("broker subscribe failed", "channel", name, "err", err)
		}
		for _, w := range s.hub.Settle(a, err) {
			s.loops[w.Loop].Post(func(l *delivery.Loop) { s.subscriptionSettled(l, w.Token, err) })
		}
	})
}

// brokerUnsubscribe is the hub's unsubscribe hook: the channel lost its last
// subscriber on this node. A failure leaves the node subscribed to a
// channel nobody here reads (the broker's publications for it find no
// subscriber and are dropped); the next reconnect of the broker's PUB/SUB
// connection forgets it.
func (s *Node) brokerUnsubscribe(channel string) {
	s.broker.Unsubscribe(context.Background(), channel, func(err error) {
		if err != nil {
			s.log.Debug("broker unsubscribe failed", "channel", channel, "err", err)
		}
	})
}

// NumLoops is the number of event loops the node is built for.
func (s *Node) NumLoops() int { return s.numLoops }

// Handler is the node as gnet sees it: the callbacks of the engine's gnet
// client. Begin must have been called.
func (s *Node) Handler() gnet.EventHandler { return &events{Node: s} }

// Begin starts the node's clocks (the loops' ticks, uptime); the engine
// calls it when it starts.
func (s *Node) Begin() {
	s.tickStart = time.Now()
	s.startedAt = s.tickStart
}

// NumClients is the number of open uni_sse streams.
func (s *Node) NumClients() int { return int(s.numClients.Load()) }

// BeginStop refuses connects from now on (3001); it reports false if a stop
// had begun already.
func (s *Node) BeginStop() bool { return s.stopping.CompareAndSwap(false, true) }

// Stopping reports whether BeginStop was called.
func (s *Node) Stopping() bool { return s.stopping.Load() }

// CountShed and CountAcceptError count the listeners' events in the node's
// metrics (engine/listen: a connection shed with 503, an accept or
// hand-off failure).
func (s *Node) CountShed()        { s.metrics.shed.Inc() }
func (s *Node) CountAcceptError() { s.metrics.acceptErrors.Inc() }

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
func (s *Node) tickNow() int64 { return int64(time.Since(s.tickStart) / delivery.TickInterval) }

// loopFor returns unisse's state for gc's event loop, creating it on first sight
// (gnet offers no way to enumerate loops, only to reach them through conns).
func (s *Node) loopFor(gc gnet.Conn) *delivery.Loop {
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

// Loops is a snapshot of the loops that have had a connection (the engine's
// tests look at them).
func (s *Node) Loops() []*delivery.Loop { return *s.known.Load() }

// OnAllLoops runs fn on every loop that has ever had a connection and waits
// for all of them (or ctx). Never call it on a loop: it blocks.
func (s *Node) OnAllLoops(ctx context.Context, fn func(*delivery.Loop)) bool {
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

func (s *Node) onAllLoopsTimeout(fn func(*delivery.Loop)) bool {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return s.OnAllLoops(ctx, fn)
}

// host is the node as its loops see it (delivery.Host), kept off Node so
// that it is not part of the session's API.
type host struct{ s *Node }

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
