package natsbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/nats-io/nats.go"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/clientinfo"
)

// Options configures a Broker (Centrifugo's broker.nats.*).
type Options struct {
	// URL is the NATS server ("nats://localhost:4222" when empty); several
	// may be given comma-separated, as nats.go accepts.
	URL string
	// Prefix starts every subject ("centrifugo" when empty): nodes share
	// publications only under the same prefix.
	Prefix string
	// NodeID names this node: PublishControl to it arrives on
	// Prefix+".node."+NodeID.
	NodeID string
	// DialTimeout bounds a connection attempt (1 s when 0).
	DialTimeout time.Duration
	// WriteTimeout bounds a write to NATS and the flush round trip a
	// publish waits for (1 s when 0).
	WriteTimeout time.Duration
	// ReconnectWait is the pause between reconnection attempts (250 ms
	// when 0).
	ReconnectWait time.Duration
	// TLS, when set, is used for the connection.
	TLS *tls.Config
	// Name is the client name the server sees ("unisse" when empty).
	Name string
}

// ErrHistoryNotAvailable is History's and RemoveHistory's answer: NATS
// keeps no streams, as in Centrifugo, whose NATS broker answers
// ErrorNotAvailable.
var ErrHistoryNotAvailable = errors.New("natsbroker: history is not available with the NATS broker")

var (
	errClosed       = errors.New("natsbroker: closed")
	errNotConnected = errors.New("natsbroker: not connected to NATS")
	errBadChannel   = errors.New("natsbroker: channel cannot be a NATS subject")
)

// Broker carries publications and node-to-node commands over NATS core
// pub/sub, wire-compatible with Centrifugo v6's NATS broker. It keeps no
// history and no presence.
type Broker struct {
	opts          Options
	nc            *nats.Conn
	clientPrefix  string
	controlSubj   string
	nodeSubj      string
	handler       atomic.Pointer[handlerBox]
	lastDisconErr atomic.Pointer[errorBox]

	// mu guards subs. Lock order: mu, then a channelSub's mu (never two
	// channelSub locks except in onReconnect, which alone does so).
	mu   sync.Mutex
	subs map[string]*channelSub
	// workers deliver channels' messages: nats.go puts each subscription's
	// messages, in order, on the worker its channel hashes to (not a
	// goroutine per subscription, as its callback subscriptions have: a
	// node may hold one channel per user).
	workers []chan *nats.Msg

	// flushMu guards pending and closed: publishes written to the
	// connection and waiting for the flusher's round trip.
	flushMu sync.Mutex
	pending []func(broker.StreamPosition, error)
	closed  bool
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

type handlerBox struct{ h broker.Handler }
type errorBox struct{ err error }

// workerQueue is each worker's queue length: a full queue drops messages
// (nats.go's slow consumer; the handler is told of the gap, see deliver).
// The handler never blocks, so a queue only fills in a burst that outruns
// a core.
const workerQueue = 16384

// channelSub is this node's subscription to one channel's subject.
type channelSub struct {
	channel string
	sub     *nats.Subscription
	gone    atomic.Bool // unsubscribed: onReconnect skips it
	// mu guards gen and dropped, and is held by onReconnect while it tells
	// the handler, so that the channel's worker waits.
	mu sync.Mutex
	// gen is the connection's reconnect count the handler last knew this
	// channel under; dropped the slow-consumer drops it was told of.
	gen     uint64
	dropped int
}

var _ broker.Broker = (*Broker)(nil)
var _ broker.HealthChecker = (*Broker)(nil)

// New connects to NATS; it fails when the server cannot be reached, as
// Centrifugo does at start.
func New(opts Options) (*Broker, error) {
	if opts.URL == "" {
		opts.URL = nats.DefaultURL
	}
	if opts.Prefix == "" {
		opts.Prefix = "centrifugo"
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = time.Second
	}
	if opts.ReconnectWait <= 0 {
		opts.ReconnectWait = 250 * time.Millisecond
	}
	if opts.Name == "" {
		opts.Name = "unisse"
	}
	b := &Broker{
		opts:         opts,
		clientPrefix: opts.Prefix + ".client.",
		controlSubj:  opts.Prefix + ".control",
		nodeSubj:     opts.Prefix + ".node." + opts.NodeID,
		subs:         make(map[string]*channelSub),
		kick:         make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	b.workers = make([]chan *nats.Msg, min(max(runtime.GOMAXPROCS(0), 1), 16))
	for i := range b.workers {
		b.workers[i] = make(chan *nats.Msg, workerQueue)
	}
	no := []nats.Option{
		nats.Name(opts.Name),
		// No buffering while reconnecting (as Centrifugo): a publish made
		// while NATS is away fails at once instead of being sent late or
		// lost with the buffer.
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(opts.ReconnectWait),
		nats.Timeout(opts.DialTimeout),
		nats.FlusherTimeout(opts.WriteTimeout),
		nats.DisconnectErrHandler(b.onDisconnect),
		nats.ReconnectHandler(b.onReconnect),
	}
	if opts.TLS != nil {
		no = append(no, nats.Secure(opts.TLS))
	}
	nc, err := nats.Connect(opts.URL, no...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connect to %s: %w", redactURL(opts.URL), err)
	}
	b.nc = nc
	return b, nil
}

// redactURL drops passwords from a (comma-separated) URL list for messages.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// Run attaches h and subscribes to the control and node subjects.
func (b *Broker) Run(h broker.Handler) error {
	b.handler.Store(&handlerBox{h})
	onControl := func(m *nats.Msg) { h.HandleControl(m.Data) }
	if _, err := b.nc.Subscribe(b.controlSubj, onControl); err != nil {
		return fmt.Errorf("natsbroker: subscribe %s: %w", b.controlSubj, err)
	}
	if _, err := b.nc.Subscribe(b.nodeSubj, onControl); err != nil {
		return fmt.Errorf("natsbroker: subscribe %s: %w", b.nodeSubj, err)
	}
	if err := b.nc.FlushTimeout(b.opts.WriteTimeout); err != nil {
		return fmt.Errorf("natsbroker: subscribe control subjects: %w", err)
	}
	b.wg.Add(1 + len(b.workers))
	go b.flusher()
	for _, w := range b.workers {
		go b.worker(w)
	}
	return nil
}

// worker delivers the messages nats.go queued on w until Close. The queue
// is never closed: nats.go may still be sending to it while it closes.
func (b *Broker) worker(w chan *nats.Msg) {
	defer b.wg.Done()
	for {
		select {
		case m := <-w:
			b.deliver(m)
		case <-b.done:
			return
		}
	}
}

// workerFor is channel's worker (FNV-1a), so that one channel's messages
// are delivered in order.
func (b *Broker) workerFor(channel string) chan *nats.Msg {
	h := uint32(2166136261)
	for i := 0; i < len(channel); i++ {
		h = (h ^ uint32(channel[i])) * 16777619
	}
	return b.workers[h%uint32(len(b.workers))]
}

// Inline: History and RemoveHistory answer at once (not available);
// everything else goes over the network.
func (b *Broker) Inline(op broker.Op) bool {
	return op == broker.OpHistory || op == broker.OpRemoveHistory
}

// Healthy reports nil while connected to NATS.
func (b *Broker) Healthy() error {
	if b.nc.IsConnected() {
		return nil
	}
	st := strings.ToLower(b.nc.Status().String())
	if e := b.lastDisconErr.Load(); e != nil && e.err != nil {
		return fmt.Errorf("natsbroker: %s (%v): %w", st, e.err, errNotConnected)
	}
	return fmt.Errorf("natsbroker: %s: %w", st, errNotConnected)
}

// maxSubject bounds a subject well under nats-server's default
// max_control_line (4 KiB): a longer PUB or SUB line makes the server
// close the connection, cutting every channel of the node off.
const maxSubject = 3072

// subject is channel's subject, or an error for a channel NATS would read
// as a wildcard or reject (Centrifugo refuses '*' and '>' too).
func (b *Broker) subject(channel string) (string, error) {
	if channel == "" || len(b.clientPrefix)+len(channel) > maxSubject || strings.ContainsAny(channel, "*> \t\r\n") ||
		channel[0] == '.' || channel[len(channel)-1] == '.' || strings.Contains(channel, "..") {
		return "", fmt.Errorf("%w: %q", errBadChannel, channel)
	}
	return b.clientPrefix + channel, nil
}

// Publish sends pub as Centrifugo's NATS broker does and completes once
// the server has acknowledged everything written before it (a PING/PONG
// round trip shared by all publishes waiting), or with the error. History
// options are ignored as in Centrifugo (namespaces with history are
// refused at start with this broker); the position is always zero.
func (b *Broker) Publish(ctx context.Context, channel string, pub *broker.Publication, _ broker.PublishOptions, done func(broker.StreamPosition, error)) {
	if err := ctx.Err(); err != nil {
		done(broker.StreamPosition{}, err)
		return
	}
	subj, err := b.subject(channel)
	if err != nil {
		done(broker.StreamPosition{}, err)
		return
	}
	data, err := encodePublication(channel, pub)
	if err != nil {
		done(broker.StreamPosition{}, err)
		return
	}
	b.publish(subj, data, done)
}

func (b *Broker) publish(subj string, data []byte, done func(broker.StreamPosition, error)) {
	if err := b.nc.Publish(subj, data); err != nil {
		done(broker.StreamPosition{}, fmt.Errorf("natsbroker: publish: %w", err))
		return
	}
	b.afterFlush(done)
}

// afterFlush calls done after the next flush round trip: the server has
// then processed everything written to the connection before.
func (b *Broker) afterFlush(done func(broker.StreamPosition, error)) {
	b.flushMu.Lock()
	if b.closed {
		b.flushMu.Unlock()
		done(broker.StreamPosition{}, errClosed)
		return
	}
	b.pending = append(b.pending, done)
	b.flushMu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// flusher completes publishes in batches after a flush round trip.
func (b *Broker) flusher() {
	defer b.wg.Done()
	var batch []func(broker.StreamPosition, error)
	for {
		select {
		case <-b.kick:
		case <-b.done:
			b.flushMu.Lock()
			batch, b.pending = b.pending, nil
			b.flushMu.Unlock()
			for _, d := range batch {
				d(broker.StreamPosition{}, errClosed)
			}
			return
		}
		b.flushMu.Lock()
		batch, b.pending = b.pending, batch[:0]
		b.flushMu.Unlock()
		if len(batch) == 0 {
			continue
		}
		err := b.nc.FlushTimeout(b.opts.WriteTimeout)
		if err != nil {
			err = fmt.Errorf("natsbroker: flush: %w", err)
		}
		for _, d := range batch {
			d(broker.StreamPosition{}, err)
		}
		clear(batch)
	}
}

// History is not available with NATS.
func (b *Broker) History(_ context.Context, _ string, _ broker.PublishOptions, _ broker.HistoryFilter, done func(broker.HistoryResult, error)) {
	done(broker.HistoryResult{}, ErrHistoryNotAvailable)
}

// RemoveHistory is not available with NATS.
func (b *Broker) RemoveHistory(_ context.Context, _ string, done func(error)) {
	done(ErrHistoryNotAvailable)
}

// generation is the connection's reconnect count. nats.go increments it
// under its lock before the new connection reads anything, so a message
// handler that sees the old count got its message from the old connection.
func (b *Broker) generation() uint64 { return b.nc.Stats().Reconnects }

// Subscribe starts delivery of channel's publications and completes once
// the server has the subscription (the flush round trip publishes wait
// for), so that whatever is published after it completes reaches this
// node. It fails while NATS is away rather than promise a subscription
// that misses what is published until the reconnect. A subscription whose
// round trip fails stays (nats.go resends it on reconnect, and the handler
// is told of the gap then); the engine's Unsubscribe removes it.
func (b *Broker) Subscribe(ctx context.Context, channel string, done func(error)) {
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	subj, err := b.subject(channel)
	if err != nil {
		done(err)
		return
	}
	if !b.nc.IsConnected() {
		done(errNotConnected)
		return
	}
	b.mu.Lock()
	if _, ok := b.subs[channel]; !ok {
		s := &channelSub{channel: channel, gen: b.generation()}
		// nats.go writes SUB to its buffer and returns; the round trip
		// below sees it to the server.
		ns, err := b.nc.ChanSubscribe(subj, b.workerFor(channel))
		if err != nil {
			b.mu.Unlock()
			done(fmt.Errorf("natsbroker: subscribe %q: %w", channel, err))
			return
		}
		s.sub = ns
		b.subs[channel] = s
	}
	b.mu.Unlock()
	// Also for a channel already subscribed: its SUB may still be on the
	// way.
	b.afterFlush(func(_ broker.StreamPosition, err error) { done(err) })
}

// Unsubscribe stops delivery of channel's publications.
func (b *Broker) Unsubscribe(_ context.Context, channel string, done func(error)) {
	b.mu.Lock()
	s, ok := b.subs[channel]
	delete(b.subs, channel)
	b.mu.Unlock()
	if !ok {
		done(nil)
		return
	}
	s.gone.Store(true)
	err := s.sub.Unsubscribe()
	if err != nil && !s.sub.IsValid() {
		// Removed locally (the UNSUB could not be written while NATS is
		// away); the server forgets it with the old connection and the
		// reconnect does not resend it.
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("natsbroker: unsubscribe %q: %w", channel, err)
	}
	done(err)
}

// PublishJoin and PublishLeave announce a client joining or leaving
// channel to the nodes subscribed to it, as Centrifugo's NATS broker does
// (a protobuf Push with join or leave and the ClientInfo, on the channel's
// subject), with redisbroker's signature (broker.JoinLeavePublisher).
// Every subscribed node, this one included, hears them back through
// Handler.HandleJoinLeave.
func (b *Broker) PublishJoin(ctx context.Context, channel string, info *broker.ClientInfo, done func(error)) {
	b.publishJoinLeave(ctx, channel, &cproto.Push{Channel: channel, Join: &cproto.Join{Info: clientinfo.ToProto(info)}}, done)
}

// PublishLeave: see PublishJoin.
func (b *Broker) PublishLeave(ctx context.Context, channel string, info *broker.ClientInfo, done func(error)) {
	b.publishJoinLeave(ctx, channel, &cproto.Push{Channel: channel, Leave: &cproto.Leave{Info: clientinfo.ToProto(info)}}, done)
}

func (b *Broker) publishJoinLeave(ctx context.Context, channel string, push *cproto.Push, done func(error)) {
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	subj, err := b.subject(channel)
	if err != nil {
		done(err)
		return
	}
	data, err := push.MarshalVT()
	if err != nil {
		done(err)
		return
	}
	b.publish(subj, data, func(_ broker.StreamPosition, err error) { done(err) })
}

// PublishControl sends data to node's subject, or to every node's.
func (b *Broker) PublishControl(ctx context.Context, data []byte, node string, done func(error)) {
	if err := ctx.Err(); err != nil {
		done(err)
		return
	}
	subj := b.controlSubj
	if node != "" {
		subj = b.opts.Prefix + ".node." + node
	}
	b.publish(subj, data, func(_ broker.StreamPosition, err error) { done(err) })
}

// Close fails waiting publishes and closes the connection.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.flushMu.Lock()
		b.closed = true
		b.flushMu.Unlock()
		close(b.done)
		b.wg.Wait()
		b.nc.Close()
		// A flusher that never ran (no Run) leaves pending to fail here.
		b.flushMu.Lock()
		rest := b.pending
		b.pending = nil
		b.flushMu.Unlock()
		for _, d := range rest {
			d(broker.StreamPosition{}, errClosed)
		}
	})
	return nil
}

func (b *Broker) onDisconnect(_ *nats.Conn, err error) {
	b.lastDisconErr.Store(&errorBox{err})
}

// onReconnect tells the handler about every subscribed channel it has not
// been told about for this reconnect yet. nats.go resends the SUBs before
// it runs this callback, so a channel's worker may deliver first: it then
// tells the handler itself (see deliver). Each channel's lock is held
// while the handler is told, so that its worker cannot pass a publication
// from the new connection ahead of the news.
func (b *Broker) onReconnect(_ *nats.Conn) {
	hb := b.handler.Load()
	if hb == nil {
		return
	}
	gen := b.generation()
	b.mu.Lock()
	all := make([]*channelSub, 0, len(b.subs))
	for _, s := range b.subs {
		all = append(all, s)
	}
	b.mu.Unlock()
	var (
		locked   []*channelSub
		channels []string
	)
	for _, s := range all {
		s.mu.Lock()
		if s.gen == gen || s.gone.Load() {
			s.mu.Unlock()
			continue
		}
		s.gen = gen
		locked = append(locked, s)
		channels = append(channels, s.channel)
	}
	if len(channels) > 0 {
		hb.h.HandleResubscribed(channels)
	}
	for _, s := range locked {
		s.mu.Unlock()
	}
}

// deliver delivers one message of a channel's subject, on the channel's
// worker, in order. Before delivering, it tells the handler of a gap the
// handler does not know of yet: a reconnect since the channel was
// subscribed or last told, or messages nats.go dropped for a slow consumer
// (a full worker queue).
func (b *Broker) deliver(m *nats.Msg) {
	hb := b.handler.Load()
	channel, ok := strings.CutPrefix(m.Subject, b.clientPrefix)
	if hb == nil || !ok {
		return
	}
	b.mu.Lock()
	s := b.subs[channel]
	b.mu.Unlock()
	if s == nil || s.sub != m.Sub {
		return // unsubscribed since (perhaps subscribed again)
	}
	h := hb.h
	gen := b.generation()
	dropped, err := m.Sub.Dropped()
	s.mu.Lock()
	if err != nil {
		dropped = s.dropped // unsubscribed meanwhile: not a gap
	}
	gap := s.gen != gen || dropped != s.dropped
	s.gen, s.dropped = gen, dropped
	s.mu.Unlock()
	if gap {
		h.HandleResubscribed([]string{channel})
	}
	var (
		pub  broker.Publication
		sp   broker.StreamPosition
		info broker.ClientInfo
	)
	kind, err := decode(m.Data, &pub, &sp, &info)
	if err != nil {
		return // malformed: not from a Centrifugo-compatible node
	}
	switch kind {
	case pushPublication:
		h.Flush(h.HandlePublication(channel, &pub, sp))
	case pushJoin, pushLeave:
		// Every node, this one included, hears its own announcements
		// back, as in centrifuge: the handler pushes them to its
		// subscribers once.
		h.HandleJoinLeave(channel, &info, kind == pushJoin)
	}
}
