package redisbroker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
)

// subscribeBatch caps the channels of one SUBSCRIBE (centrifuge's limit).
const subscribeBatch = 512

// workerQueue is each PUB/SUB worker's backlog. When it is full the
// connection's reader waits (back pressure up to Redis, whose output buffer
// limit then drops the connection: a reconnect and HandleResubscribed rather
// than a silent loss).
const workerQueue = 4096

type subReq struct {
	ctx     context.Context
	channel string
	unsub   bool
	done    func(error)
}

type pubsubMsg struct {
	channel string // unisse channel name
	payload string // framed message
}

// shard is one Redis (or Cluster, or Sentinel-managed master): a pipelined
// client for commands and one dedicated PUB/SUB connection, kept up by run.
type shard struct {
	b      *Broker
	idx    int
	addr   string
	client rueidis.Client
	ready  chan error // the first connection attempt's result
	wake   chan struct{}

	mu sync.Mutex
	// subs are the channels this node wants: resubscribed after a reconnect.
	subs    map[string]struct{}
	queue   []subReq
	up      bool
	downErr error

	workers []chan pubsubMsg

	// Join/leave announcements waiting to be sent, in order (announce.go).
	annMu    sync.Mutex
	annQueue []announcement
	annWake  chan struct{}
	// subscribeCommands counts SUBSCRIBE commands sent (tests: batching).
	subscribeCommands atomic.Uint64
}

func newShard(b *Broker, idx int, addr string, c rueidis.Client) *shard {
	return &shard{b: b, idx: idx, addr: addr, client: c, ready: make(chan error, 1), wake: make(chan struct{}, 1), annWake: make(chan struct{}, 1), subs: make(map[string]struct{})}
}

func (s *shard) start() {
	n := defaultWorkers(s.b.opts.PubSubWorkers)
	s.workers = make([]chan pubsubMsg, n)
	for i := range s.workers {
		s.workers[i] = make(chan pubsubMsg, workerQueue)
		s.b.wg.Add(1)
		go s.work(s.workers[i])
	}
	s.b.wg.Add(2)
	go s.run()
	go s.announcer()
}

func (s *shard) enqueue(r subReq) {
	s.mu.Lock()
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run keeps the PUB/SUB connection up: connect, subscribe the control and
// node channels and every wanted channel, serve subscription requests until
// the connection breaks, wait, repeat.
func (s *shard) run() {
	defer s.b.wg.Done()
	first := true
	backoff := 50 * time.Millisecond
	for {
		err := s.session(&first)
		s.setDown(err)
		if first {
			first = false
			s.ready <- err
		}
		if s.closed() {
			s.failQueue(errors.New("redisbroker: closed"))
			return
		}
		if err == nil {
			backoff = 50 * time.Millisecond
		}
		// While down, requests fail at once instead of waiting out the retry.
		t := time.NewTimer(backoff)
	wait:
		for {
			select {
			case <-s.wake:
				s.failQueue(s.Healthy())
			case <-t.C:
				break wait
			case <-s.b.closeCh:
				t.Stop()
				s.failQueue(errors.New("redisbroker: closed"))
				return
			}
		}
		// A short cap: after an outage, every moment unsubscribed is
		// publications this node's subscribers miss (Centrifugo is back
		// within about 0.3 s).
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

func (s *shard) closed() bool {
	select {
	case <-s.b.closeCh:
		return true
	default:
		return false
	}
}

// Healthy is this shard's part of Broker.Healthy.
func (s *shard) Healthy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.up {
		return nil
	}
	if s.downErr != nil {
		return errors.Join(ErrUnavailable, s.downErr)
	}
	return ErrUnavailable
}

func (s *shard) setDown(err error) {
	if err == nil {
		err = errors.New("pub/sub connection closed")
	}
	s.mu.Lock()
	s.up, s.downErr = false, err
	s.mu.Unlock()
}

// session runs one PUB/SUB connection until it breaks (its error) or the
// broker closes (nil).
func (s *shard) session(first *bool) error {
	conn, cancel := s.client.Dedicate()
	defer cancel()
	wait := conn.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: s.onMessage})
	ctx, stop := context.WithTimeout(context.Background(), s.b.opts.ConnectTimeout+s.b.opts.IOTimeout)
	defer stop()
	k := s.b.keys
	s.subscribeCommands.Add(1)
	if err := conn.Do(ctx, conn.B().Subscribe().Channel(k.controlChannel(), k.nodeChannel(s.b.opts.NodeID)).Build()).Error(); err != nil {
		return err
	}
	// Resubscribe what this node wants; requests queued meanwhile are
	// served after, so none is lost in between.
	s.mu.Lock()
	chans := make([]string, 0, len(s.subs))
	for ch := range s.subs {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	if !*first && len(chans) > 0 {
		// Publications made while the connection was down were lost. The
		// handler hears it before SUBSCRIBE goes out: what it queues for
		// these channels (the engine ends their streams with 3010) is then
		// ahead of every publication the new subscription brings, so no
		// stream gets publications from past the gap before it is told.
		s.b.handler.HandleResubscribed(chans)
	}
	err := s.send(ctx, conn, chans, false)
	if !*first && len(chans) > 0 {
		if h, ok := s.b.handler.(broker.ResubscribeDoneHandler); ok {
			// Every publication from now on reaches the handler: a
			// position it reads now tells what the gap lost.
			h.HandleResubscribeDone(chans, wrap("resubscribe", err))
		}
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.up, s.downErr = true, nil
	s.mu.Unlock()
	if *first {
		*first = false
		s.ready <- nil
	}
	for {
		select {
		case err, ok := <-wait:
			if !ok || err == nil {
				err = errors.New("pub/sub connection closed")
			}
			return err
		case <-s.wake:
			if err := s.serve(conn); err != nil {
				return err
			}
		case <-s.b.closeCh:
			return nil
		}
	}
}

// serve sends the queued requests: consecutive requests of one kind go as one
// command (per 512 channels), in order, so the last request for a channel
// decides its state.
func (s *shard) serve(conn rueidis.DedicatedClient) error {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for len(q) > 0 {
		n := 1
		for n < len(q) && q[n].unsub == q[0].unsub {
			n++
		}
		run := q[:n]
		q = q[n:]
		chans := make([]string, 0, len(run))
		live := run[:0:0]
		seen := make(map[string]struct{}, len(run))
		for _, r := range run {
			if err := r.ctx.Err(); err != nil {
				r.done(err)
				continue
			}
			live = append(live, r)
			if _, dup := seen[r.channel]; !dup {
				seen[r.channel] = struct{}{}
				chans = append(chans, r.channel)
			}
		}
		unsub := run[0].unsub
		s.mu.Lock()
		for _, ch := range chans {
			if unsub {
				delete(s.subs, ch)
			} else {
				s.subs[ch] = struct{}{}
			}
		}
		s.mu.Unlock()
		ctx, stop := context.WithTimeout(context.Background(), s.b.opts.IOTimeout)
		err := s.send(ctx, conn, chans, unsub)
		stop()
		if err != nil && !unsub {
			// Not subscribed: the engine is told so and will not count on it.
			s.mu.Lock()
			for _, ch := range chans {
				delete(s.subs, ch)
			}
			s.mu.Unlock()
		}
		for _, r := range live {
			r.done(wrap("subscribe", err))
		}
		if err != nil {
			s.failRequests(q, err)
			return err
		}
	}
	return nil
}

func (s *shard) send(ctx context.Context, conn rueidis.DedicatedClient, chans []string, unsub bool) error {
	k := s.b.keys
	for len(chans) > 0 {
		n := min(len(chans), subscribeBatch)
		ids := make([]string, n)
		for i, ch := range chans[:n] {
			ids[i] = k.clientChannel(ch)
		}
		chans = chans[n:]
		var cmd rueidis.Completed
		if unsub {
			cmd = conn.B().Unsubscribe().Channel(ids...).Build()
		} else {
			s.subscribeCommands.Add(1)
			cmd = conn.B().Subscribe().Channel(ids...).Build()
		}
		if err := conn.Do(ctx, cmd).Error(); err != nil {
			return err
		}
	}
	return nil
}

func (s *shard) failQueue(err error) {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	s.failRequests(q, err)
}

func (s *shard) failRequests(q []subReq, err error) {
	for _, r := range q {
		if r.unsub {
			// Dropping the wish is all an unsubscribe needs: the channel is
			// not resubscribed after the reconnect.
			s.mu.Lock()
			delete(s.subs, r.channel)
			s.mu.Unlock()
			r.done(nil)
			continue
		}
		r.done(wrap("subscribe", err))
	}
}

// onMessage runs on the connection's reader: control goes to the handler at
// once, publications to the channel's worker.
func (s *shard) onMessage(m rueidis.PubSubMessage) {
	k := s.b.keys
	if m.Channel == k.controlChannel() || m.Channel == k.nodeChannel(s.b.opts.NodeID) {
		s.b.handler.HandleControl([]byte(m.Message))
		return
	}
	ch := k.channelOf(m.Channel)
	if ch == "" {
		return
	}
	w := s.workers[shardIndexFNV(ch)%uint64(len(s.workers))]
	select {
	case w <- pubsubMsg{channel: ch, payload: m.Message}:
	case <-s.b.closeCh:
	}
}

func shardIndexFNV(ch string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(ch); i++ {
		h ^= uint64(ch[i])
		h *= 1099511628211
	}
	return h
}

// work decodes a worker's publications and hands them to the handler, in
// the order they arrived (offset order per channel).
func (s *shard) work(in chan pubsubMsg) {
	defer s.b.wg.Done()
	var w worker
	for {
		select {
		case m := <-in:
			w.deliver(s.b.handler, m)
		case <-s.b.closeCh:
			return
		}
	}
}

// worker is one PUB/SUB worker's reusable decoding state: in steady state a
// delivery allocates nothing (the payload's bytes, the Publication's data
// buffer and tags map, and the epoch string are reused).
type worker struct {
	p     cproto.Publication
	pub   broker.Publication
	epoch string
}

func (w *worker) deliver(h broker.Handler, m pubsubMsg) {
	// The payload string is immutable and outlives the call: view it as
	// bytes without copying (nothing writes to it).
	raw := unsafe.Slice(unsafe.StringData(m.payload), len(m.payload))
	payload, kind, offset, epoch, err := splitPush(raw)
	if err != nil {
		return
	}
	if kind != pushPublication {
		// On the channel's worker: in order with its publications, as
		// centrifuge's node sees them.
		var info broker.ClientInfo
		if decodeClientInfo(payload, &info) == nil {
			h.HandleJoinLeave(m.channel, &info, kind == pushJoin)
		}
		return
	}
	if err := decodePublication(&w.p, payload, &w.pub); err != nil {
		return
	}
	if string(epoch) != w.epoch { // no allocation to compare
		w.epoch = string(epoch)
	}
	if w.pub.Offset == 0 {
		w.pub.Offset = offset
	}
	sp := broker.StreamPosition{Offset: offset, Epoch: w.epoch}
	h.Flush(h.HandlePublication(m.channel, &w.pub, sp))
}
