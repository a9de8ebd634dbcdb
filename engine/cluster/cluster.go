package cluster

import (
	"context"
	"time"
)

// Config is what New needs to take part in a cluster.
type Config struct {
	Identity
	// Counts reports this node's numbers for its announcements and
	// /api/info; it is called every AnnounceInterval and must not block for
	// long.
	Counts func() Counts
	// Publish sends control commands: the broker's PublishControl.
	Publish PublishFunc
	// Handler acts on commands for connections and answers surveys, for
	// other nodes and for this node's own surveys alike.
	Handler Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Cluster is this node's part in the control protocol: the registry of the
// other nodes, the announcer, the survey correlator and the dispatcher
// that feeds them, wired together.
type Cluster struct {
	uid     string
	publish PublishFunc

	Nodes      *Registry
	Announcer  *Announcer
	Surveys    *Surveys
	Dispatcher *Dispatcher
}

// New wires a Cluster for the node cfg describes.
func New(cfg Config) *Cluster {
	nodes := NewRegistry(cfg.UID, cfg.Now)
	c := &Cluster{
		uid:       cfg.UID,
		publish:   cfg.Publish,
		Nodes:     nodes,
		Announcer: NewAnnouncer(cfg.Identity, cfg.Counts, cfg.Publish, nodes),
		Surveys:   NewSurveys(cfg.UID, nodes, cfg.Publish, cfg.Handler),
	}
	c.Dispatcher = &Dispatcher{
		UID:       cfg.UID,
		Nodes:     nodes,
		Surveys:   c.Surveys,
		Announcer: c.Announcer,
		Handler:   cfg.Handler,
		Publish:   cfg.Publish,
	}
	return c
}

// Run announces this node every AnnounceInterval until ctx ends; run it in
// one goroutine per node.
func (c *Cluster) Run(ctx context.Context) {
	t := time.NewTicker(AnnounceInterval)
	defer t.Stop()
	c.Announcer.Run(ctx, t.C)
}

// HandleControl acts on a control message (broker.Handler.HandleControl).
func (c *Cluster) HandleControl(data []byte) error {
	return c.Dispatcher.Dispatch(data)
}

// Info lists this node and the live others, for /api/info.
func (c *Cluster) Info() []Node {
	return c.Nodes.List(c.Announcer.Info())
}

// Channels runs /api/channels across the cluster.
func (c *Cluster) Channels(ctx context.Context, pattern string) (map[string]uint32, error) {
	return SurveyChannels(ctx, c.Surveys, pattern)
}

// Leave announces this node's shutdown to the others.
func (c *Cluster) Leave(ctx context.Context, done func(error)) {
	c.Announcer.Leave(ctx, done)
}

// Broadcast sends cmd, stamped with this node's UID, to every other node:
// how the API's disconnect, unsubscribe, subscribe and refresh reach
// connections elsewhere (the caller acts on its own connections itself,
// since a node ignores its own commands). done hears the publish's outcome.
func (c *Cluster) Broadcast(ctx context.Context, cmd Command, done func(error)) {
	cmd.UID = c.uid
	c.publish(ctx, Encode(&cmd), "", done)
}
