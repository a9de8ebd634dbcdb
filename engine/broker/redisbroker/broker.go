package redisbroker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/clientinfo"
)

// ErrUnavailable: the shard's PUB/SUB connection is down (Redis unreachable),
// so a subscription cannot be made now.
var ErrUnavailable = errors.New("redisbroker: redis unavailable")

// Broker is a broker.Broker and broker.PresenceManager on Redis, compatible
// with Centrifugo v6's Redis engine on the same Redis (see doc.go).
type Broker struct {
	opts    Options
	keys    keys
	shards  []*shard
	handler broker.Handler
	control atomic.Uint64 // round robin of PublishControl over shards

	closeCh   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var (
	_ broker.Broker             = (*Broker)(nil)
	_ broker.PresenceManager    = (*Broker)(nil)
	_ broker.JoinLeavePublisher = (*Broker)(nil)
)

// New connects to every shard. It fails when a shard cannot be reached, as
// Centrifugo does at start; later outages are survived (see Healthy).
func New(opts Options) (*Broker, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, err
	}
	specs, cluster, err := opts.shardSpecs()
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, keys: keys{prefix: opts.Prefix, cluster: cluster}, closeCh: make(chan struct{})}
	for i, spec := range specs {
		c, err := rueidis.NewClient(spec)
		if err != nil {
			for _, s := range b.shards {
				s.client.Close()
			}
			return nil, fmt.Errorf("redisbroker: shard %s: %w", strings.Join(spec.InitAddress, ","), err)
		}
		b.shards = append(b.shards, newShard(b, i, strings.Join(spec.InitAddress, ","), c))
	}
	return b, nil
}

// Run attaches the handler and starts every shard's PUB/SUB connection: it
// returns once each has subscribed to the control channels, or with the
// first shard's error.
func (b *Broker) Run(h broker.Handler) error {
	if h == nil {
		return errors.New("redisbroker: nil handler")
	}
	b.handler = h
	for _, s := range b.shards {
		s.start()
	}
	for _, s := range b.shards {
		select {
		case err := <-s.ready:
			if err != nil {
				return fmt.Errorf("redisbroker: shard %s: %w", s.addr, err)
			}
		case <-b.closeCh:
			return errors.New("redisbroker: closed")
		}
	}
	return nil
}

// Inline implements broker.Broker: everything goes over the network.
func (b *Broker) Inline(broker.Op) bool { return false }

// ConfirmsResubscribe implements broker.ResubscribeConfirmer: after a
// PUB/SUB reconnect, a handler that is a broker.ResubscribeDoneHandler
// hears when the channels' SUBSCRIBE is done (or failed).
func (b *Broker) ConfirmsResubscribe() bool { return true }

// Healthy reports nil while every shard's PUB/SUB connection is up, else why
// not (for a /health answering 503).
func (b *Broker) Healthy() error {
	var errs []error
	for _, s := range b.shards {
		s.mu.Lock()
		up, err := s.up, s.downErr
		s.mu.Unlock()
		if !up {
			if err == nil {
				err = ErrUnavailable
			}
			errs = append(errs, fmt.Errorf("redis shard %s unavailable: %w", s.addr, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops the PUB/SUB connections and closes the clients; calls made
// after it complete with an error.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.closeCh)
		b.wg.Wait()
		for _, s := range b.shards {
			s.client.Close()
		}
	})
	return nil
}

func (b *Broker) shardFor(channel string) *shard {
	return b.shards[shardIndex(channel, len(b.shards))]
}

// seconds rounds a TTL up to whole seconds, at least one: EXPIRE 0 would
// delete the key at once.
func seconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// newEpoch returns a fresh epoch, shaped as centrifuge's (8 letters).
func newEpoch() string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b[:])
}

// async runs a network call on its own goroutine: the caller (an event loop)
// never waits, and rueidis pipelines what concurrent goroutines send.
func (b *Broker) async(f func()) { go f() }

// Publish implements broker.Broker: one script appends to the stream, bumps
// the meta offset and publishes (with history), or one PUBLISH (without).
func (b *Broker) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions, done func(broker.StreamPosition, error)) {
	payload, err := encodePublication(pub)
	if err != nil {
		done(broker.StreamPosition{}, err)
		return
	}
	b.async(func() {
		pos, err := b.publish(ctx, channel, payload, opts)
		done(pos, err)
	})
}

func (b *Broker) publish(ctx context.Context, channel string, payload []byte, opts broker.PublishOptions) (broker.StreamPosition, error) {
	s := b.shardFor(channel)
	var resultTTL string
	if opts.IdempotencyKey != "" {
		ttl := opts.IdempotentResultTTL
		if ttl <= 0 {
			ttl = broker.DefaultIdempotentResultTTL
		}
		resultTTL = seconds(ttl)
	}
	msg := rueidis.BinaryString(payload)
	if opts.HistorySize <= 0 || opts.HistoryTTL <= 0 || opts.SkipHistory {
		if resultTTL == "" {
			err := s.client.Do(ctx, s.client.B().Publish().Channel(b.keys.clientChannel(channel)).Message(msg).Build()).Error()
			return broker.StreamPosition{}, wrap("publish", err)
		}
		err := publishOnce.Exec(ctx, s.client,
			[]string{b.keys.result(channel, opts.IdempotencyKey)},
			[]string{msg, b.keys.clientChannel(channel), resultTTL}).Error()
		return broker.StreamPosition{}, wrap("publish", err)
	}
	metaTTL := opts.HistoryMetaTTL
	if metaTTL <= 0 {
		metaTTL = b.opts.HistoryMetaTTL
	}
	// Both scripts take the same arguments; a stream's MAXLEN is the size, a
	// list's LTRIM keeps indices 0..size-1 (what centrifuge passes).
	script, histKey, size := publishHistory, b.keys.stream(channel), opts.HistorySize
	if b.opts.HistoryUseLists {
		script, histKey, size = publishHistoryList, b.keys.list(channel), opts.HistorySize-1
	}
	reply, err := script.Exec(ctx, s.client,
		[]string{histKey, b.metaKey(channel), b.keys.result(channel, opts.IdempotencyKey)},
		[]string{msg, strconv.Itoa(size), seconds(opts.HistoryTTL), b.keys.clientChannel(channel),
			seconds(metaTTL), newEpoch(), resultTTL}).ToArray()
	if err != nil {
		return broker.StreamPosition{}, wrap("publish", err)
	}
	if len(reply) != 3 {
		return broker.StreamPosition{}, errors.New("redisbroker: publish: unexpected reply")
	}
	off, err1 := reply[0].AsInt64()
	epoch, err2 := reply[1].ToString()
	if err := errors.Join(err1, err2); err != nil || off < 0 {
		return broker.StreamPosition{}, fmt.Errorf("redisbroker: publish: unexpected reply: %w", err)
	}
	return broker.StreamPosition{Offset: uint64(off), Epoch: epoch}, nil
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisbroker: %s: %w", op, err)
}

// History implements broker.Broker.
func (b *Broker) History(ctx context.Context, channel string, opts broker.PublishOptions, filter broker.HistoryFilter, done func(broker.HistoryResult, error)) {
	b.async(func() {
		res, err := b.history(ctx, channel, opts, filter)
		done(res, err)
	})
}

func (b *Broker) history(ctx context.Context, channel string, opts broker.PublishOptions, f broker.HistoryFilter) (broker.HistoryResult, error) {
	if b.opts.HistoryUseLists {
		return b.historyList(ctx, channel, opts, f)
	}
	s := b.shardFor(channel)
	include := "1"
	if f.Limit == 0 {
		include = "0"
	}
	// Stream ids are "<offset>-0"; the range is inclusive.
	start, end := "-", "+"
	if f.Since != nil {
		start = strconv.FormatUint(f.Since.Offset+1, 10)
	}
	reverse := "0"
	if f.Reverse {
		reverse = "1"
		start, end = end, start // XREVRANGE takes the upper bound first
	}
	count := "0"
	if f.Limit > 0 {
		count = strconv.Itoa(f.Limit)
	}
	metaTTL := opts.HistoryMetaTTL
	if metaTTL <= 0 {
		metaTTL = b.opts.HistoryMetaTTL
	}
	reply, err := readHistory.Exec(ctx, s.client,
		[]string{b.keys.stream(channel), b.keys.meta(channel)},
		[]string{include, start, end, count, reverse, seconds(metaTTL), newEpoch()}).ToArray()
	if err != nil {
		return broker.HistoryResult{}, wrap("history", err)
	}
	res, entries, err := historyReply(reply, f, include == "1")
	if err != nil || entries == nil {
		return res, err
	}
	res.Publications = make([]broker.Publication, 0, len(entries))
	for _, e := range entries {
		pub, err := decodeEntry(e)
		if err != nil {
			return broker.HistoryResult{}, wrap("history", err)
		}
		res.Publications = append(res.Publications, pub)
	}
	return res, nil
}

// historyReply reads what both history scripts (streams and lists) return,
// {offset, epoch, entries}: the stream's position, and its entries when
// asked for (withEntries) and the filter's epoch is the stream's. A Since
// in another epoch is broker.ErrUnrecoverablePosition, with the position.
func historyReply(reply []rueidis.RedisMessage, f broker.HistoryFilter, withEntries bool) (broker.HistoryResult, []rueidis.RedisMessage, error) {
	if len(reply) < 2 {
		return broker.HistoryResult{}, nil, errors.New("redisbroker: history: unexpected reply")
	}
	off, err1 := reply[0].AsInt64()
	epoch, err2 := reply[1].ToString()
	if err := errors.Join(err1, err2); err != nil || off < 0 {
		return broker.HistoryResult{}, nil, fmt.Errorf("redisbroker: history: unexpected reply: %w", err)
	}
	res := broker.HistoryResult{StreamPosition: broker.StreamPosition{Offset: uint64(off), Epoch: epoch}}
	if f.Since != nil && f.Since.Epoch != "" && f.Since.Epoch != epoch {
		return res, nil, broker.ErrUnrecoverablePosition
	}
	if !withEntries || len(reply) < 3 || reply[2].IsNil() {
		return res, nil, nil
	}
	entries, err := reply[2].ToArray()
	if err != nil {
		return broker.HistoryResult{}, nil, wrap("history", err)
	}
	return res, entries, nil
}

// decodeEntry decodes one XRANGE entry: [id, [field, value, ...]].
func decodeEntry(e rueidis.RedisMessage) (broker.Publication, error) {
	var pub broker.Publication
	parts, err := e.ToArray()
	if err != nil || len(parts) != 2 {
		return pub, errors.New("malformed stream entry")
	}
	id, err := parts[0].ToString()
	if err != nil {
		return pub, err
	}
	dash := strings.IndexByte(id, '-')
	if dash <= 0 {
		return pub, fmt.Errorf("stream entry id %q", id)
	}
	off, err := strconv.ParseUint(id[:dash], 10, 64)
	if err != nil {
		return pub, err
	}
	fields, err := parts[1].ToArray()
	if err != nil {
		return pub, err
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if k, _ := fields[i].ToString(); k != "d" {
			continue
		}
		v, err := fields[i+1].ToString()
		if err != nil {
			return pub, err
		}
		var p cproto.Publication
		if err := decodePublication(&p, []byte(v), &pub); err != nil {
			return pub, err
		}
		pub.Offset = off
		return pub, nil
	}
	return pub, errors.New("stream entry without field d")
}

// RemoveHistory implements broker.Broker: the stream (or list) goes, its meta (epoch
// and offset) stays, as in centrifuge.
func (b *Broker) RemoveHistory(ctx context.Context, channel string, done func(error)) {
	b.async(func() {
		s := b.shardFor(channel)
		key := b.keys.stream(channel)
		if b.opts.HistoryUseLists {
			key = b.keys.list(channel)
		}
		done(wrap("remove history", s.client.Do(ctx, s.client.B().Del().Key(key).Build()).Error()))
	})
}

// PublishControl implements broker.Broker: to <prefix>.control (every node)
// or <prefix>.node.<node>, on the shards in turn (every node listens on all).
func (b *Broker) PublishControl(ctx context.Context, data []byte, node string, done func(error)) {
	ch := b.keys.controlChannel()
	if node != "" {
		ch = b.keys.nodeChannel(node)
	}
	msg := string(data)
	b.async(func() {
		s := b.shards[b.control.Add(1)%uint64(len(b.shards))]
		done(wrap("publish control", s.client.Do(ctx, s.client.B().Publish().Channel(ch).Message(msg).Build()).Error()))
	})
}

// PublishJoin and PublishLeave announce a client joining or leaving channel
// (broker.JoinLeavePublisher) to every node subscribed to it, this one
// included, unisse's and Centrifugo's alike, framed as centrifuge frames them
// ("__j__"/"__l__" + protobuf ClientInfo). They go out in call order per
// shard (announce), so a client's leave never overtakes its join.
func (b *Broker) PublishJoin(ctx context.Context, channel string, info *broker.ClientInfo, done func(error)) {
	b.publishJoinLeave(ctx, channel, joinPrefix, info, done)
}

// PublishLeave: see PublishJoin.
func (b *Broker) PublishLeave(ctx context.Context, channel string, info *broker.ClientInfo, done func(error)) {
	b.publishJoinLeave(ctx, channel, leavePrefix, info, done)
}

func (b *Broker) publishJoinLeave(ctx context.Context, channel string, prefix []byte, info *broker.ClientInfo, done func(error)) {
	data, err := clientinfo.ToProto(info).MarshalVT()
	if err != nil {
		done(err)
		return
	}
	msg := string(append(append(make([]byte, 0, len(prefix)+len(data)), prefix...), data...))
	b.shardFor(channel).announce(announcement{ctx: ctx, channel: b.keys.clientChannel(channel), msg: msg, done: done})
}

// Subscribe implements broker.Broker: the shard's subscriber sends what
// accumulated meanwhile as one SUBSCRIBE (up to 512 channels).
func (b *Broker) Subscribe(ctx context.Context, channel string, done func(error)) {
	b.shardFor(channel).enqueue(subReq{ctx: ctx, channel: channel, done: done})
}

// Unsubscribe implements broker.Broker, batched as Subscribe.
func (b *Broker) Unsubscribe(ctx context.Context, channel string, done func(error)) {
	b.shardFor(channel).enqueue(subReq{ctx: ctx, channel: channel, unsub: true, done: done})
}

func defaultWorkers(n int) int {
	if n > 0 {
		return n
	}
	return max(1, runtime.GOMAXPROCS(0))
}
