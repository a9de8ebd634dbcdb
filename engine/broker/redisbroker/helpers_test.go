package redisbroker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// got is one publication a node's handler received.
type got struct {
	data    string
	offset  uint64
	epoch   string
	tags    map[string]string
	notJSON bool
	info    string
}

// rec is a Handler recording what a node receives.
type rec struct {
	mu      sync.Mutex
	pubs    map[string][]got
	control []string
	resub   [][]string
	// events is everything delivered per channel, in order: "pub:<data>",
	// "join:<client>:<user>:<conn_info>:<chan_info>", "leave:…".
	events map[string][]string
}

func newRec() *rec { return &rec{pubs: make(map[string][]got), events: make(map[string][]string)} }

func (r *rec) HandlePublication(ch string, pub *broker.Publication, sp broker.StreamPosition) broker.Deferred {
	g := got{data: string(pub.Data), offset: pub.Offset, epoch: sp.Epoch, notJSON: pub.NotJSON, info: string(pub.Info)}
	if pub.Tags != nil {
		g.tags = make(map[string]string, len(pub.Tags))
		for k, v := range pub.Tags {
			g.tags[k] = v
		}
	}
	r.mu.Lock()
	r.pubs[ch] = append(r.pubs[ch], g)
	r.events[ch] = append(r.events[ch], "pub:"+g.data)
	r.mu.Unlock()
	return 0
}

func (r *rec) Flush(broker.Deferred) {}

func (r *rec) HandleControl(data []byte) {
	r.mu.Lock()
	r.control = append(r.control, string(data))
	r.mu.Unlock()
}

func (r *rec) HandleResubscribed(chs []string) {
	r.mu.Lock()
	r.resub = append(r.resub, append([]string(nil), chs...))
	r.mu.Unlock()
}

func (r *rec) HandleJoinLeave(ch string, info *broker.ClientInfo, join bool) {
	kind := "leave:"
	if join {
		kind = "join:"
	}
	e := kind + info.ClientID + ":" + info.UserID + ":" + string(info.ConnInfo) + ":" + string(info.ChanInfo)
	r.mu.Lock()
	r.events[ch] = append(r.events[ch], e)
	r.mu.Unlock()
}

func (r *rec) eventsOf(ch string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events[ch]...)
}

func (r *rec) received(ch string) []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.pubs[ch]...)
}

func (r *rec) controls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.control...)
}

func (r *rec) resubscribed() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.resub...)
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// node starts a broker named id on the given servers.
func node(t *testing.T, id string, opts Options, servers ...*redistest.Server) (*Broker, *rec) {
	t.Helper()
	for _, s := range servers {
		opts.Addresses = append(opts.Addresses, s.Addr())
	}
	opts.NodeID = id
	if opts.IOTimeout == 0 {
		opts.IOTimeout = 2 * time.Second
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	r := newRec()
	if err := b.Run(r); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, r
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Synchronous wrappers over the asynchronous calls.

func publish(t *testing.T, b *Broker, ch, data string, opts broker.PublishOptions) (broker.StreamPosition, error) {
	t.Helper()
	type res struct {
		sp  broker.StreamPosition
		err error
	}
	c := make(chan res, 1)
	b.Publish(ctx5(t), ch, &broker.Publication{Data: []byte(data)}, opts, func(sp broker.StreamPosition, err error) { c <- res{sp, err} })
	r := <-c
	return r.sp, r.err
}

func mustPublish(t *testing.T, b *Broker, ch, data string, opts broker.PublishOptions) broker.StreamPosition {
	t.Helper()
	sp, err := publish(t, b, ch, data, opts)
	if err != nil {
		t.Fatalf("publish %s: %v", ch, err)
	}
	return sp
}

func history(t *testing.T, b *Broker, ch string, f broker.HistoryFilter) (broker.HistoryResult, error) {
	t.Helper()
	type res struct {
		r   broker.HistoryResult
		err error
	}
	c := make(chan res, 1)
	b.History(ctx5(t), ch, broker.PublishOptions{}, f, func(r broker.HistoryResult, err error) { c <- res{r, err} })
	r := <-c
	return r.r, r.err
}

func wait1(t *testing.T, call func(done func(error))) error {
	t.Helper()
	c := make(chan error, 1)
	call(func(err error) { c <- err })
	select {
	case err := <-c:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not complete in 10s")
		return errors.New("unreachable")
	}
}

func subscribe(t *testing.T, b *Broker, ch string) {
	t.Helper()
	if err := wait1(t, func(done func(error)) { b.Subscribe(ctx5(t), ch, done) }); err != nil {
		t.Fatalf("subscribe %s: %v", ch, err)
	}
}

func unsubscribe(t *testing.T, b *Broker, ch string) {
	t.Helper()
	if err := wait1(t, func(done func(error)) { b.Unsubscribe(ctx5(t), ch, done) }); err != nil {
		t.Fatalf("unsubscribe %s: %v", ch, err)
	}
}

// numsub is PUBSUB NUMSUB of a channel's Redis PUB/SUB name.
func numsub(t *testing.T, s *redistest.Server, redisChannel string) string {
	t.Helper()
	out, err := s.Do("PUBSUB", "NUMSUB", redisChannel)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(out, "\n")
	return parts[len(parts)-1]
}

var withHistory = broker.PublishOptions{HistorySize: 100, HistoryTTL: time.Minute}

func offsets(gs []got) []uint64 {
	o := make([]uint64, len(gs))
	for i, g := range gs {
		o[i] = g.offset
	}
	return o
}
