package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/cluster"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
)

// The node's part in a cluster (engine/cluster): with a broker that carries
// control messages to other nodes (one that is not inline: Redis), the node
// announces itself, lists the others in /api/info, surveys them for
// /api/channels, and sends and obeys the connection commands of
// /api/disconnect, unsubscribe, subscribe and refresh. On the memory broker
// none of this exists and the node answers alone, as before.

// clusterTimeout bounds the publish of a command and a survey's wait, as
// Centrifugo's API does with its own timeouts.
const clusterTimeout = opTimeout

// leaveTimeout bounds the Shutdown announcement on Stop.
const leaveTimeout = time.Second

// countsTimeout bounds how long an announcement waits for the loops' user
// and subscription counts; past it the last counts are announced.
const countsTimeout = 500 * time.Millisecond

// clusterState is the node's cluster membership; nil on a single node.
type clusterState struct {
	c      *cluster.Cluster
	cancel context.CancelFunc // stops the announcer
	done   chan struct{}      // closed when the announcer returned
	joined atomic.Bool
	// last counts, kept for when the loops are too busy to answer in time
	mu         sync.Mutex
	lastUsers  int
	lastSubs   int
	controlErr errorLog
}

// newCluster makes the node a cluster member when its broker carries
// control messages to other nodes. Called by New.
func (s *Node) newCluster() {
	if s.nodeID == "" || s.broker.Inline(broker.OpControl) {
		return
	}
	cs := &clusterState{done: make(chan struct{})}
	cs.controlErr.log = s.log
	cs.c = cluster.New(cluster.Config{
		Identity: cluster.Identity{UID: s.nodeID, Name: s.nodeName(), Version: s.version, Started: time.Now()},
		Counts:   s.clusterCounts,
		Publish: func(ctx context.Context, data []byte, node string, done func(error)) {
			s.metrics.sent[msgControl].Inc()
			s.broker.PublishControl(ctx, data, node, done)
		},
		Handler: clusterHandler{s},
	})
	cs.c.Announcer.OnError = func(err error) {
		s.metrics.controlErrors.Inc()
		cs.controlErr.note("cluster announcement failed", err)
	}
	s.cluster = cs
	// The node's UID is the cluster's: /api/info, the announcements and the
	// broker's node channel name the same node.
	s.uid = s.nodeID
}

// JoinCluster starts announcing this node to the others (every 3 s until
// Leave); the engine calls it once the node serves. A single node has
// nothing to do.
func (s *Node) JoinCluster() {
	cs := s.cluster
	if cs == nil || !cs.joined.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs.cancel = cancel
	go func() {
		defer close(cs.done)
		cs.c.Run(ctx)
	}()
}

// LeaveCluster stops the announcements and tells the other nodes that this
// one is gone, so that they drop it from /api/info and their surveys at once
// rather than after 7 s of silence. Best effort, bounded by ctx and 1 s.
// Server.Stop calls it first.
func (s *Node) LeaveCluster(ctx context.Context) {
	cs := s.cluster
	if cs == nil || !cs.joined.Load() {
		return
	}
	cs.cancel()
	select {
	case <-cs.done: // no announcement can follow the Shutdown
	case <-ctx.Done():
		return
	}
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	left := make(chan struct{})
	cs.c.Leave(ctx, func(err error) {
		if err != nil {
			s.log.Warn("cluster leave failed", "err", err)
		}
		close(left)
	})
	select {
	case <-left:
	case <-ctx.Done():
	}
}

// clusterCounts is this node's numbers for its announcements (from the
// announcer's goroutine) and /api/info: users and subscriptions are asked
// of the loops, for at most countsTimeout.
func (s *Node) clusterCounts() cluster.Counts {
	cs := s.cluster
	users, subs, ok := s.countUsersAndSubs(countsTimeout)
	cs.mu.Lock()
	if ok {
		cs.lastUsers, cs.lastSubs = users, subs
	} else {
		users, subs = cs.lastUsers, cs.lastSubs
	}
	cs.mu.Unlock()
	return cluster.Counts{Clients: s.NumClients(), Users: users, Channels: s.hub.NumChannels(), Subs: subs}
}

// countUsersAndSubs counts the distinct users and the subscriptions of the
// streams on every loop. Never on a loop.
func (s *Node) countUsersAndSubs(timeout time.Duration) (users, subs int, ok bool) {
	// Each loop fills its own slot: no lock is shared across loops.
	type loopInfo struct {
		users []string
		subs  int
	}
	perLoop := make([]loopInfo, len(s.loops))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !s.OnAllLoops(ctx, func(l *delivery.Loop) {
		li := loopInfo{users: l.AppendUsers(nil)}
		for _, c := range l.Streams() {
			li.subs += len(c.Subs)
		}
		perLoop[l.Idx] = li
	}) {
		return 0, 0, false
	}
	seen := make(map[string]struct{})
	for _, li := range perLoop {
		for _, u := range li.users {
			seen[u] = struct{}{}
		}
		subs += li.subs
	}
	return len(seen), subs, true
}

// clusterInfo is /api/info across the cluster: this node first (with its
// own metrics), then the live others, with the metrics they sent, if any.
func (s *Node) clusterInfo() []api.NodeInfo {
	nodes := s.cluster.c.Info()
	out := make([]api.NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = api.NodeInfo{
			UID: n.UID, Name: n.Name, Version: n.Version,
			NumClients: int(n.NumClients), NumUsers: int(n.NumUsers), NumChannels: int(n.NumChannels),
			NumSubs: int(n.NumSubs), Uptime: int64(n.Uptime),
		}
		if n.Metrics != nil {
			out[i].Metrics, out[i].MetricsInterval = n.Metrics.Items, n.Metrics.Interval
			if out[i].Metrics == nil {
				out[i].Metrics = map[string]float64{}
			}
		}
	}
	out[0].Metrics = s.metrics.snapshot()
	return out
}

// clusterChannels is /api/channels across the cluster: every node's
// channels matching pattern, with their subscribers summed. Like
// Centrifugo, a node that does not answer in time fails the call.
func (s *Node) clusterChannels(pattern string, fn func(string, int)) *protocol.Error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	channels, err := s.cluster.c.Channels(ctx, pattern)
	if err != nil {
		s.log.Error("channels survey failed", "err", err)
		return protocol.ErrorInternal
	}
	for ch, n := range channels {
		fn(ch, int(n))
	}
	return nil
}

// broadcast sends a connection command to the other nodes and waits for the
// publish (off the loops). A single node has none.
func (s *Node) broadcast(cmd cluster.Command) error {
	cs := s.cluster
	if cs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	done := make(chan error, 1)
	cs.c.Broadcast(ctx, cmd, func(err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			s.metrics.controlErrors.Inc()
			return fmt.Errorf("cluster: broadcast: %w", err)
		}
		return nil
	case <-ctx.Done():
		s.metrics.controlErrors.Inc()
		return fmt.Errorf("cluster: broadcast: %w", ctx.Err())
	}
}

// handleControl is broker.Handler.HandleControl with a cluster.
func (s *Node) handleControl(data []byte) {
	cs := s.cluster
	if cs == nil {
		return // a single node sends itself nothing it must act on
	}
	if err := cs.c.HandleControl(data); err != nil {
		s.metrics.controlErrors.Inc()
		cs.controlErr.note("bad control message", err)
	}
}

// postAllLoops runs fn on every loop without waiting: how a command from
// another node, which arrives on the broker's goroutine, reaches the local
// connections.
func (s *Node) postAllLoops(fn func(*delivery.Loop)) {
	for _, l := range *s.known.Load() {
		l.Post(func(l *delivery.Loop) {
			fn(l)
			l.FlushDirty()
		})
	}
}

// clusterHandler obeys other nodes' commands (cluster.Handler). Its methods
// run on the broker's goroutine: they post to the loops and return.
type clusterHandler struct{ *Node }

var _ cluster.Handler = clusterHandler{}

// Survey answers another node's survey (and this node's own): the channels
// op as Centrifugo does; every other op with "method not found", so that the
// asker does not wait for its timeout.
func (h clusterHandler) Survey(op string, data []byte, reply func(code uint32, data []byte)) {
	if op != cluster.ChannelsOp {
		reply(cluster.SurveyMethodNotFound, nil)
		return
	}
	// Listing many channels takes a while: not on the broker's goroutine.
	go reply(cluster.AnswerChannels(data, func(pattern string, fn func(string, int)) error {
		if perr := (&executor{h.Node}).localChannels(pattern, fn); perr != nil {
			return errors.New(perr.Message)
		}
		return nil
	}))
}

// Disconnect ends the local connections another node's /api/disconnect
// selects.
func (h clusterHandler) Disconnect(d *cluster.Disconnect) {
	if d.LabelFilter != nil {
		return // unisse connections have no labels: none match
	}
	code := protocol.DisconnectForceNoReconnect
	if d.Code != 0 {
		code = protocol.Disconnect{Code: d.Code, Reason: d.Reason}
	}
	h.postAllLoops(h.disconnectOp(d.User, d.Client, d.Session, d.Whitelist, code, d.AllUsers))
}

// Unsubscribe obeys another node's /api/unsubscribe.
func (h clusterHandler) Unsubscribe(u *cluster.Unsubscribe) {
	if u.LabelFilter != nil {
		return
	}
	code, reason := uint32(protocol.UnsubscribeServer), "server unsubscribe"
	if u.Code != 0 {
		code, reason = u.Code, u.Reason
	}
	h.postAllLoops(h.unsubscribeOp(u.Channel, u.User, u.Client, u.Session, code, reason, u.AllUsers))
}

// Subscribe obeys another node's /api/subscribe, with the options it
// resolved (Centrifugo sends them resolved: presence, join/leave,
// positioning, recovery) on this node's namespace of the channel.
func (h clusterHandler) Subscribe(m *cluster.Subscribe) {
	if m.LabelFilter != nil {
		return
	}
	nsOpts, ok := h.ns.Lookup(m.Channel)
	if !ok {
		return
	}
	co := chanOpts{ns: nsOpts}
	if m.EmitPresence {
		co.flags |= delivery.SubPresence
	}
	if m.EmitJoinLeave {
		co.flags |= delivery.SubJoinLeave
	}
	if m.PushJoinLeave {
		co.flags |= delivery.SubPushJoinLeave
	}
	if nsOpts.HasHistory() {
		co.recoverable = m.Recover
		co.positioned = m.Recover || m.Position
	}
	h.postAllLoops(h.subscribeOp(m.Channel, m.User, m.Client, m.Session, m.AllUsers, co, m.ChannelInfo, m.Data, nil))
}

// Refresh obeys another node's /api/refresh.
func (h clusterHandler) Refresh(r *cluster.Refresh) {
	if r.LabelFilter != nil {
		return
	}
	h.postAllLoops(h.refreshOp(r.User, r.Client, r.Session, r.AllUsers, r.Expired, r.ExpireAt, r.Info))
}

// findTargets is Loop.Find, or every stream of the loop for a command with
// no user and all_users set.
func findTargets(l *delivery.Loop, user, client, session string, allUsers bool) []*delivery.Conn {
	if user == "" && allUsers && client == "" && session == "" {
		return append([]*delivery.Conn(nil), l.Streams()...)
	}
	return l.Find(user, client, session)
}

// errorLog logs an error at most once per errorLogEvery, counting the
// others, so that a broken Redis does not flood the log.
type errorLog struct {
	log        interface{ Warn(string, ...any) }
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const errorLogEvery = 10 * time.Second

func (e *errorLog) note(msg string, err error) {
	e.mu.Lock()
	now := time.Now()
	if now.Sub(e.last) < errorLogEvery {
		e.suppressed++
		e.mu.Unlock()
		return
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	e.mu.Unlock()
	e.log.Warn(msg, "err", err, "suppressed", n)
}
