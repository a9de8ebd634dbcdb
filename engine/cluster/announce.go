package cluster

import (
	"context"
	"time"
)

// PublishFunc sends an encoded command to node, or to every node when node
// is empty, and completes by calling done once from any goroutine. It has
// the shape of broker.Broker.PublishControl, which is what the engine
// passes.
type PublishFunc func(ctx context.Context, data []byte, node string, done func(error))

// Identity is what a node announces about itself besides its counts.
type Identity struct {
	UID     string
	Name    string
	Version string
	Started time.Time // for the uptime
}

// Counts are this node's numbers for its announcement and /api/info.
type Counts struct {
	Clients  int
	Users    int
	Channels int
	Subs     int
}

// Announcer publishes this node's Node info every AnnounceInterval, and on
// demand to a node that just appeared. One goroutine runs it for the whole
// node (Run).
type Announcer struct {
	self    Identity
	counts  func() Counts
	publish PublishFunc
	nodes   *Registry
	now     func() time.Time
	// OnError, when set before Run, hears publish failures (to log them);
	// the next round retries anyway.
	OnError func(error)

	introduce chan string
}

// NewAnnouncer returns an announcer for self. counts is called once a round
// from Run's goroutine and must not block for long; nodes, when not nil, is
// cleaned of silent nodes every round and gives the clock.
func NewAnnouncer(self Identity, counts func() Counts, publish PublishFunc, nodes *Registry) *Announcer {
	a := &Announcer{
		self:      self,
		counts:    counts,
		publish:   publish,
		nodes:     nodes,
		now:       time.Now,
		introduce: make(chan string, 16),
	}
	if nodes != nil {
		a.now = nodes.now
	}
	return a
}

// Info is this node's Node as of now: the first entry of /api/info.
func (a *Announcer) Info() Node {
	c := a.counts()
	up := a.now().Sub(a.self.Started) / time.Second
	return Node{
		UID:         a.self.UID,
		Name:        a.self.Name,
		Version:     a.self.Version,
		NumClients:  clampUint32(c.Clients),
		NumUsers:    clampUint32(c.Users),
		NumChannels: clampUint32(c.Channels),
		NumSubs:     clampUint32(c.Subs),
		Uptime:      clampUint32(int(up)),
	}
}

// Announcement is the encoded Node command for this node as of now. It
// carries no metrics: unisse has no aggregated Prometheus snapshot to share
// (Centrifugo lists such a node without "metrics").
func (a *Announcer) Announcement() []byte {
	info := a.Info()
	return Encode(&Command{UID: a.self.UID, Node: &info})
}

// Introduce asks Run to send this node's announcement to node uid now, as
// centrifuge does when it hears from a node for the first time, so that the
// newcomer's /api/info lists this node without waiting for a round. It
// never blocks (the dispatcher calls it from the broker's goroutine): when
// many nodes appear at once the surplus waits for the next round.
func (a *Announcer) Introduce(uid string) {
	select {
	case a.introduce <- uid:
	default:
	}
}

// Run announces this node at once and then on every tick (a time.Ticker's
// C with AnnounceInterval in production) until ctx ends; each round also
// cleans the registry. Each publish is given AnnounceInterval to complete.
func (a *Announcer) Run(ctx context.Context, ticks <-chan time.Time) {
	a.send(ctx, "")
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if a.nodes != nil {
				a.nodes.Clean()
			}
			a.send(ctx, "")
		case uid := <-a.introduce:
			a.send(ctx, uid)
		}
	}
}

func (a *Announcer) send(ctx context.Context, node string) {
	a.publishCommand(ctx, a.Announcement(), node, nil)
}

// Leave tells the other nodes that this one is shutting down, so that they
// drop it from /api/info and stop counting it in surveys at once. done (if
// not nil) hears the outcome.
func (a *Announcer) Leave(ctx context.Context, done func(error)) {
	a.publishCommand(ctx, Encode(&Command{UID: a.self.UID, Shutdown: true}), "", done)
}

func (a *Announcer) publishCommand(ctx context.Context, data []byte, node string, done func(error)) {
	pctx, cancel := context.WithTimeout(ctx, AnnounceInterval)
	a.publish(pctx, data, node, func(err error) {
		cancel()
		if err != nil && a.OnError != nil {
			a.OnError(err)
		}
		if done != nil {
			done(err)
		}
	})
}

func clampUint32(v int) uint32 {
	switch {
	case v < 0:
		return 0
	case uint64(v) > 1<<32-1:
		return 1<<32 - 1
	}
	return uint32(v)
}
