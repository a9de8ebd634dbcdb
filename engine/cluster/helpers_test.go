package cluster_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/cluster"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sent is one published control message.
type sent struct {
	data []byte
	node string
}

// recorder is a PublishFunc that keeps what was published and completes
// with err.
type recorder struct {
	mu   sync.Mutex
	msgs []sent
	err  error
}

func (r *recorder) publish(_ context.Context, data []byte, node string, done func(error)) {
	r.mu.Lock()
	r.msgs = append(r.msgs, sent{append([]byte(nil), data...), node})
	err := r.err
	r.mu.Unlock()
	done(err)
}

func (r *recorder) sent() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sent(nil), r.msgs...)
}

// waitSent polls until n messages were published.
func (r *recorder) waitSent(t *testing.T, n int) []sent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := r.sent()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages published, want %d", len(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func mustDecode(t *testing.T, data []byte) *cluster.Command {
	t.Helper()
	c, err := cluster.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handler records connection commands and answers surveys: "channels"
// from its channel map, anything else with SurveyMethodNotFound, or not at
// all when silent.
type handler struct {
	mu       sync.Mutex
	calls    []any
	channels map[string]int
	silent   bool
}

func (h *handler) record(c any) {
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
}

func (h *handler) Disconnect(d *cluster.Disconnect)   { h.record(d) }
func (h *handler) Unsubscribe(u *cluster.Unsubscribe) { h.record(u) }
func (h *handler) Subscribe(s *cluster.Subscribe)     { h.record(s) }
func (h *handler) Refresh(r *cluster.Refresh)         { h.record(r) }

func (h *handler) Survey(op string, data []byte, reply func(uint32, []byte)) {
	if h.silent {
		return
	}
	if op != cluster.ChannelsOp {
		reply(cluster.SurveyMethodNotFound, nil)
		return
	}
	reply(cluster.AnswerChannels(data, func(pattern string, fn func(string, int)) error {
		if pattern == "[" {
			return errBadPattern
		}
		for ch, n := range h.channels {
			if pattern == "" || pattern == ch {
				fn(ch, n)
			}
		}
		return nil
	}))
}

func (h *handler) recorded() []any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]any(nil), h.calls...)
}

type errString string

func (e errString) Error() string { return string(e) }

const errBadPattern = errString("bad pattern")

// bus connects Clusters as a shared control channel does: a message to ""
// reaches every node, the sender included; one to a UID reaches that node.
type bus struct {
	mu    sync.Mutex
	nodes map[string]*cluster.Cluster
	drop  map[string]bool // UIDs whose messages are lost
}

func newBus() *bus { return &bus{nodes: map[string]*cluster.Cluster{}, drop: map[string]bool{}} }

func (b *bus) publisher(from string) cluster.PublishFunc {
	return func(_ context.Context, data []byte, node string, done func(error)) {
		b.mu.Lock()
		var to []*cluster.Cluster
		if !b.drop[from] {
			for uid, c := range b.nodes {
				if node == "" || node == uid {
					to = append(to, c)
				}
			}
		}
		b.mu.Unlock()
		done(nil)
		for _, c := range to {
			if err := c.HandleControl(data); err != nil {
				panic(err)
			}
		}
	}
}

// silence loses uid's messages from now on.
func (b *bus) silence(uid string) {
	b.mu.Lock()
	b.drop[uid] = true
	b.mu.Unlock()
}

func (b *bus) join(uid string, h cluster.Handler, clock *fakeClock) *cluster.Cluster {
	c := cluster.New(cluster.Config{
		Identity: cluster.Identity{UID: uid, Name: "node-" + uid, Version: "test", Started: clock.Now()},
		Counts:   func() cluster.Counts { return cluster.Counts{Clients: len(uid)} },
		Publish:  b.publisher(uid),
		Handler:  h,
		Now:      clock.Now,
	})
	b.mu.Lock()
	b.nodes[uid] = c
	b.mu.Unlock()
	return c
}

// announce publishes every node's announcement once, as a round of Run.
func (b *bus) announce(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	var all, senders []*cluster.Cluster
	for uid, c := range b.nodes {
		all = append(all, c)
		if !b.drop[uid] {
			senders = append(senders, c)
		}
	}
	b.mu.Unlock()
	for _, c := range senders {
		for _, o := range all {
			if err := o.HandleControl(c.Announcer.Announcement()); err != nil {
				t.Fatal(err)
			}
		}
	}
}
