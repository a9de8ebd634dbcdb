package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/glob"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/cluster"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// This file implements api.Executor: what the server API does to channels and
// connections, and broker.Handler. Broker calls go through awaitBroker: a
// call the broker completes inline (Broker.Inline; the memory broker's) is
// used at once, even on an event loop, any other is waited for off the
// loops. The methods on connections post an operation to every loop and
// wait for it, so that when the API replies the effect has happened (a
// publish sent after a subscribe reply reaches the new subscriber).

// executor is the node as the API and the broker see it: its methods are
// api.Executor and broker.Handler, kept off Node so that the engine sees
// only what it wires (New, Handler, the stop window, counts).
type executor struct{ *Node }

var (
	_ api.Executor                  = (*executor)(nil)
	_ broker.Handler                = (*executor)(nil)
	_ broker.ResubscribeDoneHandler = (*executor)(nil)
)

// Publish hands a publication to the broker.
func (s *executor) Publish(p *api.Publication) (api.PublishResult, *protocol.Error) {
	nsOpts, ok := s.ns.Lookup(p.Channel)
	if !ok {
		return api.PublishResult{}, protocol.ErrorUnknownChannel
	}
	pub := broker.Publication{Data: p.Data, Tags: p.Tags, NotJSON: p.NotJSON}
	opts := broker.PublishOptions{
		HistorySize:    nsOpts.HistorySize,
		HistoryTTL:     nsOpts.HistoryTTL,
		HistoryMetaTTL: nsOpts.HistoryMetaTTL,
		IdempotencyKey: p.IdempotencyKey,
		SkipHistory:    p.SkipHistory,
	}
	pos, err := awaitBroker(s.Node, broker.OpPublish, func(ctx context.Context, done func(broker.StreamPosition, error)) {
		s.broker.Publish(ctx, p.Channel, &pub, opts, done)
	})
	if err != nil {
		s.log.Error("publish failed", "channel", p.Channel, "err", err)
		return api.PublishResult{}, protocol.ErrorInternal
	}
	s.metrics.sent[msgPublication].Inc()
	return api.PublishResult{Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

// awaitBroker makes a broker call and returns its result: at once when
// the broker completes op inline (then it never blocks, and an event loop
// may call it), else after waiting up to opTimeout (only off the loops).
func awaitBroker[T any](s *Node, op broker.Op, call func(ctx context.Context, done func(T, error))) (T, error) {
	type result struct {
		v   T
		err error
	}
	if s.broker.Inline(op) {
		var r result
		called := false
		call(context.Background(), func(v T, err error) { r, called = result{v, err}, true })
		if called {
			return r.v, r.err
		}
		return r.v, errNotInline
	}
	v, err := await(call)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("broker: %w", err)
	}
	return v, err
}

// await makes an asynchronous call (broker, presence manager) and waits for
// its result, at most opTimeout. Never on a loop.
func await[T any](call func(ctx context.Context, done func(T, error))) (T, error) {
	type result struct {
		v   T
		err error
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	ch := make(chan result, 1)
	call(ctx, func(v T, err error) { ch <- result{v, err} })
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// errNotInline: a broker said a call completes inline and it did not.
var errNotInline = errors.New("broker call did not complete inline")

// HandlePublication frames a publication once and posts it to every loop with
// subscribers on the channel (broker.Handler). The loops are woken by
// Flush, once the broker and the hub hold no lock. Safe from any goroutine.
func (s *executor) HandlePublication(name string, pub *broker.Publication, sp broker.StreamPosition) broker.Deferred {
	s.metrics.received[msgPublication].Inc()
	loops := s.loops
	var d broker.Deferred
	if pub.NotJSON {
		s.hub.Broadcast(name, func(loop int, ch *delivery.Channel) {
			deferWake(&d, loops, loop, loops[loop].PostFrame(ch, nil, delivery.FrameNotJSON, pub.Offset, 0))
		})
		return d
	}
	var f *sse.Frame
	var posted int64 // read once, for every loop: the delay histogram's start
	s.hub.Broadcast(name, func(loop int, ch *delivery.Channel) {
		if f == nil {
			posted = delivery.Now()
			f = sse.NewFrame()
			p := protocol.Publication{Data: pub.Data, Info: pub.Info, Offset: pub.Offset, Tags: pub.Tags}
			if pub.Offset == 1 {
				p.Epoch = sp.Epoch // Centrifugo sends the epoch only with the first offset
			}
			f.End(protocol.AppendPublicationPush(f.Begin(), name, &p))
			f.Epoch = sp.Epoch // for connections with SSE ids (delivery)
		}
		f.Retain(1)
		deferWake(&d, loops, loop, loops[loop].PostFrame(ch, f, delivery.FramePub, pub.Offset, posted))
	})
	if f != nil {
		f.Release() // the publisher's reference; each loop holds its own
	}
	return d
}

// deferWake notes that loop idx must be woken once the caller's locks are
// released. Loops past the 64 a Deferred can name are woken at once.
func deferWake(d *broker.Deferred, loops []*delivery.Loop, idx int, wake bool) {
	switch {
	case !wake:
	case idx < 64:
		*d |= 1 << idx
	default:
		loops[idx].Wake()
	}
}

// Flush wakes the loops a HandlePublication posted to (broker.Handler).
func (s *executor) Flush(d broker.Deferred) { s.wakeLoops(d) }

// wakeLoops wakes the loops d names, once the caller holds no lock.
func (s *Node) wakeLoops(d broker.Deferred) {
	for d != 0 {
		i := bits.TrailingZeros64(uint64(d))
		d &^= 1 << i
		s.loops[i].Wake()
	}
}

// HandleControl receives node-to-node commands (broker.Handler): the
// cluster's dispatcher acts on them (cluster.go); a single node ignores
// what the memory broker hands back.
func (s *executor) HandleControl(data []byte) {
	s.metrics.received[msgControl].Inc()
	s.handleControl(data)
}

// Subscribe subscribes the selected connections to a channel and sends them
// the subscribe push, on every node.
func (s *executor) Subscribe(r *api.SubscribeRequest) *protocol.Error {
	nsOpts, ok := s.ns.Lookup(r.Channel)
	if !ok {
		return protocol.ErrorUnknownChannel
	}
	data, err1 := rawOrB64(r.Data, r.B64Data)
	info, err2 := rawOrB64(r.Info, r.B64Info)
	if err1 != nil || err2 != nil {
		return protocol.ErrorBadRequest
	}
	co := resolveChanOpts(nsOpts, overrideOf(r.Override))
	cmd := &cluster.Subscribe{
		User: r.User, Channel: r.Channel, Client: r.Client, Session: r.Session,
		EmitPresence: co.flags&delivery.SubPresence != 0, EmitJoinLeave: co.flags&delivery.SubJoinLeave != 0,
		PushJoinLeave: co.flags&delivery.SubPushJoinLeave != 0, Position: co.positioned, Recover: co.recoverable,
		ExpireAt: r.ExpireAt, ChannelInfo: info, Data: data, Source: subscribeSourceAPI,
	}
	if r.RecoverSince != nil {
		cmd.RecoverSince = &cluster.StreamPosition{Offset: r.RecoverSince.Offset, Epoch: r.RecoverSince.Epoch}
	}
	if err := s.broadcast(cluster.Command{Subscribe: cmd}); err != nil {
		s.log.Error("subscribe broadcast failed", "err", err)
		return protocol.ErrorInternal
	}
	// A positioned subscription waits for the broker with its connection
	// parked; the reply waits for those too, so that when it is sent the
	// subscribe push is.
	var parked sync.WaitGroup
	if !s.onAllLoopsTimeout(s.subscribeOp(r.Channel, r.User, r.Client, r.Session, false, co, info, data, &parked)) ||
		!waitTimeout(&parked, brokerTimeout+time.Second) {
		return protocol.ErrorInternal
	}
	return nil
}

// subscribeSourceAPI is the subscription source Centrifugo's server API
// puts in its subscribe command.
const subscribeSourceAPI = 10

// subscribeOp is the per-loop work of a subscribe (from this node's API or
// another node's): it subscribes the selected connections that are not yet
// subscribed and sends them the subscribe push. parked, when not nil, counts
// the connections that wait for the broker until they are answered.
func (s *Node) subscribeOp(channel, user, client, session string, allUsers bool, co chanOpts, info, data []byte, parked *sync.WaitGroup) func(*delivery.Loop) {
	return func(l *delivery.Loop) {
		for _, c := range findTargets(l, user, client, session, allUsers) {
			if c.Subscribed(channel) >= 0 || c.Parked {
				continue
			}
			c.SetChanInfo(channel, info)
			res := new(protocol.SubscribeResult)
			q := s.subscribe(l, c, channel, co, nil, res)
			if q == nil {
				s.pushSubscribed(l, c, channel, co, res, data)
				continue
			}
			if parked != nil {
				parked.Add(1)
			}
			s.askBroker(l, c, []*positionQuery{q}, func(l *delivery.Loop) {
				if parked != nil {
					defer parked.Done()
				}
				if c.State != delivery.StateStreaming {
					c.Parked = false
					return
				}
				if fail := s.unpark(l, c, []*positionQuery{q}); fail != nil {
					d := fail.disconnect
					if fail.err != nil {
						d = protocol.DisconnectServerError
					}
					l.Finish(c, d)
					return
				}
				s.pushSubscribed(l, c, channel, co, res, data)
				l.FlushDirty()
			})
		}
	}
}

// pushSubscribed sends c the subscribe push of an API subscribe and
// announces the join. On c's loop.
func (s *Node) pushSubscribed(l *delivery.Loop, c *delivery.Conn, channel string, co chanOpts, res *protocol.SubscribeResult, data []byte) {
	res.Data = data
	l.Tmp = protocol.AppendSubscribePush(l.Tmp[:0], channel, res)
	l.WriteEvent(c, delivery.PushSubscribe, l.Tmp)
	if co.flags&delivery.SubJoinLeave != 0 {
		s.broadcastJoinLeave(c, channel, true)
	}
	if co.flags&delivery.SubPresence != 0 && s.presence != nil {
		s.addPresence(c, channel)
		// Its next timer may be a long ping away: bring it within the
		// presence update interval.
		s.scheduleStream(l, c, l.Wheel.Tick())
	}
}

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Unsubscribe removes the selected connections from a channel with an
// unsubscribe push, on every node. Without a channel Centrifugo sends a
// channel-less unsubscribe push and keeps the subscriptions; so does unisse.
func (s *executor) Unsubscribe(r *api.UnsubscribeRequest) *protocol.Error {
	if r.Channel != "" {
		if _, ok := s.ns.Lookup(r.Channel); !ok {
			return protocol.ErrorUnknownChannel
		}
	}
	if err := s.broadcast(cluster.Command{Unsubscribe: &cluster.Unsubscribe{
		Channel: r.Channel, User: r.User, Client: r.Client, Session: r.Session,
		Code: protocol.UnsubscribeServer, Reason: unsubscribeServerReason,
	}}); err != nil {
		s.log.Error("unsubscribe broadcast failed", "err", err)
		return protocol.ErrorInternal
	}
	if !s.onAllLoopsTimeout(s.unsubscribeOp(r.Channel, r.User, r.Client, r.Session, protocol.UnsubscribeServer, unsubscribeServerReason, false)) {
		return protocol.ErrorInternal
	}
	return nil
}

const unsubscribeServerReason = "server unsubscribe"

// unsubscribeOp is the per-loop work of an unsubscribe (from this node's API
// or another node's).
func (s *Node) unsubscribeOp(channel, user, client, session string, code uint32, reason string, allUsers bool) func(*delivery.Loop) {
	push := protocol.AppendUnsubscribePush(nil, channel, code, reason)
	return func(l *delivery.Loop) {
		for _, c := range findTargets(l, user, client, session, allUsers) {
			if channel != "" {
				i := c.Subscribed(channel)
				if i < 0 {
					continue
				}
				// What was published before the unsubscribe still arrives; a
				// client too far behind to take it now cannot get the push in
				// order (see writeEvent).
				if !l.CatchUp(c) {
					l.CloseSlow(c)
					continue
				}
				flags := c.Subs[i].Flags
				s.unsubscribeAt(l, c, i)
				c.Subs = append(c.Subs[:i], c.Subs[i+1:]...)
				c.SetChanInfo(channel, nil)
				if flags&delivery.SubJoinLeave != 0 {
					s.broadcastJoinLeave(c, channel, false)
				}
				if flags&delivery.SubPresence != 0 && s.presence != nil {
					s.removePresence(c, channel)
				}
			}
			l.WriteEvent(c, delivery.PushUnsubscribe, push)
		}
	}
}

// Disconnect ends the selected connections' streams (default 3503 "force
// disconnect"), sparing the whitelisted client ids, on every node.
func (s *executor) Disconnect(r *api.DisconnectRequest) *protocol.Error {
	d := protocol.DisconnectForceNoReconnect
	if r.Disconnect != nil {
		d = protocol.Disconnect{Code: r.Disconnect.Code, Reason: r.Disconnect.Reason}
	}
	if err := s.broadcast(cluster.Command{Disconnect: &cluster.Disconnect{
		User: r.User, Client: r.Client, Session: r.Session, Whitelist: r.Whitelist, Code: d.Code, Reason: d.Reason,
	}}); err != nil {
		s.log.Error("disconnect broadcast failed", "err", err)
		return protocol.ErrorInternal
	}
	if !s.onAllLoopsTimeout(s.disconnectOp(r.User, r.Client, r.Session, r.Whitelist, d, false)) {
		return protocol.ErrorInternal
	}
	return nil
}

// disconnectOp is the per-loop work of a disconnect (from this node's API or
// another node's).
func (s *Node) disconnectOp(user, client, session string, whitelist []string, d protocol.Disconnect, allUsers bool) func(*delivery.Loop) {
	return func(l *delivery.Loop) {
		targets := findTargets(l, user, client, session, allUsers)
	next:
		for _, c := range targets {
			for _, w := range whitelist {
				if id, ok := protocol.ParseUUID(w); ok && id == c.Client {
					continue next
				}
			}
			l.Finish(c, d)
		}
	}
}

// Refresh extends (or ends, with expired) the selected connections'
// lifetime, on every node.
func (s *executor) Refresh(r *api.RefreshRequest) *protocol.Error {
	if err := s.broadcast(cluster.Command{Refresh: &cluster.Refresh{
		User: r.User, Client: r.Client, Session: r.Session, Expired: r.Expired, ExpireAt: r.ExpireAt, Info: r.Info,
	}}); err != nil {
		s.log.Error("refresh broadcast failed", "err", err)
		return protocol.ErrorInternal
	}
	if !s.onAllLoopsTimeout(s.refreshOp(r.User, r.Client, r.Session, false, r.Expired, r.ExpireAt, r.Info)) {
		return protocol.ErrorInternal
	}
	return nil
}

// refreshOp is the per-loop work of a refresh (from this node's API or
// another node's).
func (s *Node) refreshOp(user, client, session string, allUsers, expired bool, expireAt int64, info []byte) func(*delivery.Loop) {
	delay := s.opts.Client.ExpiredCloseDelay
	return func(l *delivery.Loop) {
		now := time.Now()
		for _, c := range findTargets(l, user, client, session, allUsers) {
			if expired {
				l.Finish(c, protocol.DisconnectExpired)
				continue
			}
			if len(info) > 0 {
				c.SetInfo(append([]byte(nil), info...))
			}
			var push []byte
			if expireAt > 0 {
				ttl := expireAt - now.Unix()
				if ttl <= 0 {
					l.Finish(c, protocol.DisconnectExpired)
					continue
				}
				c.CloseAt = int32(s.ticksAfter(time.Duration(ttl)*time.Second + delay))
				push = protocol.AppendRefreshPush(l.Tmp[:0], true, uint32(ttl))
			} else {
				c.CloseAt = 0
				push = protocol.AppendRefreshPush(l.Tmp[:0], false, 0)
			}
			l.Tmp = push
			l.WriteEvent(c, delivery.PushRefresh, push)
			// Rescheduling restarts the presence interval: refresh it now.
			s.refreshPresence(c)
			s.scheduleStream(l, c, l.Wheel.Tick())
		}
	}
}

// Presence lists the connections subscribed to a presence-enabled channel:
// from the presence manager (every node's) when there is one, else from the
// loops.
func (s *executor) Presence(channel string) ([]api.ClientInfo, *protocol.Error) {
	if perr := s.presenceAvailable(channel); perr != nil {
		return nil, perr
	}
	if s.presence != nil {
		return s.sharedPresence(channel)
	}
	// Each loop fills its own slot: no lock is shared across loops.
	perLoop := make([][]api.ClientInfo, len(s.loops))
	if !s.onAllLoopsTimeout(func(l *delivery.Loop) {
		perLoop[l.Idx] = s.channelClients(l, channel)
	}) {
		return nil, protocol.ErrorInternal
	}
	var infos []api.ClientInfo
	for _, local := range perLoop {
		infos = append(infos, local...)
	}
	return infos, nil
}

// PresenceStats counts a presence-enabled channel's connections and users.
func (s *executor) PresenceStats(channel string) (api.PresenceStats, *protocol.Error) {
	if s.presence != nil {
		if perr := s.presenceAvailable(channel); perr != nil {
			return api.PresenceStats{}, perr
		}
		return s.sharedPresenceStats(channel)
	}
	infos, perr := s.Presence(channel)
	if perr != nil {
		return api.PresenceStats{}, perr
	}
	users := make(map[string]struct{}, len(infos))
	for _, ci := range infos {
		users[ci.User] = struct{}{}
	}
	return api.PresenceStats{NumClients: len(infos), NumUsers: len(users)}, nil
}

func (s *Node) presenceAvailable(channel string) *protocol.Error {
	nsOpts, ok := s.ns.Lookup(channel)
	if !ok {
		return protocol.ErrorUnknownChannel
	}
	if !nsOpts.Presence {
		return protocol.ErrorNotAvailable
	}
	return nil
}

// channelClients describes loop l's subscribers of channel. On the loop.
func (s *Node) channelClients(l *delivery.Loop, channel string) []api.ClientInfo {
	ch := s.hub.Lookup(channel)
	if ch == nil {
		return nil
	}
	var out []api.ClientInfo
	for _, e := range ch.Local(l.Idx).Entries {
		if c := e.Sub; c.State == delivery.StateStreaming && c.FlagsFor(ch)&delivery.SubPresence != 0 {
			out = append(out, api.ClientInfo{User: c.User, Client: uuidString(c.Client), ConnInfo: c.Info(), ChanInfo: c.ChanInfo(channel)})
		}
	}
	return out
}

// rawOrB64 is the payload of a field pair like data/b64data: the decoded
// base64 when given, else the raw JSON.
func rawOrB64(raw []byte, b64 string) ([]byte, error) {
	if b64 != "" {
		return base64.StdEncoding.DecodeString(b64)
	}
	return raw, nil
}

// nodeName is node.name, or what Centrifugo defaults to: the host name and
// the port, "host_8000".
func (s *Node) nodeName() string {
	if s.opts.Node.Name != "" {
		return s.opts.Node.Name
	}
	h, err := os.Hostname()
	if err != nil {
		h = "?"
	}
	return h + "_" + strconv.Itoa(s.opts.HTTPServer.Port)
}

// History reads a channel's history stream.
func (s *executor) History(r *api.HistoryRequest) (api.HistoryResult, *protocol.Error) {
	nsOpts, ok := s.ns.Lookup(r.Channel)
	if !ok {
		return api.HistoryResult{}, protocol.ErrorUnknownChannel
	}
	if !nsOpts.HasHistory() {
		return api.HistoryResult{}, protocol.ErrorNotAvailable
	}
	filter := broker.HistoryFilter{Reverse: r.Reverse}
	if r.Limit != nil {
		filter.Limit = int(*r.Limit)
	}
	if r.Since != nil {
		filter.Since = &broker.StreamPosition{Offset: r.Since.Offset, Epoch: r.Since.Epoch}
	}
	h, err := awaitBroker(s.Node, broker.OpHistory, func(ctx context.Context, done func(broker.HistoryResult, error)) {
		s.broker.History(ctx, r.Channel, historyOptions(nsOpts), filter, done)
	})
	switch {
	case errors.Is(err, broker.ErrUnrecoverablePosition):
		return api.HistoryResult{}, protocol.ErrorUnrecoverablePosition
	case err != nil:
		s.log.Error("history failed", "channel", r.Channel, "err", err)
		return api.HistoryResult{}, protocol.ErrorInternal
	}
	res := api.HistoryResult{Offset: h.Offset, Epoch: h.Epoch, Publications: make([]protocol.Publication, len(h.Publications))}
	for i, p := range h.Publications {
		res.Publications[i] = protocol.Publication{Data: p.Data, Info: p.Info, Offset: p.Offset, Tags: p.Tags}
	}
	return res, nil
}

// HistoryRemove drops a channel's history (its position stays).
func (s *executor) HistoryRemove(channel string) *protocol.Error {
	nsOpts, ok := s.ns.Lookup(channel)
	if !ok {
		return protocol.ErrorUnknownChannel
	}
	if !nsOpts.HasHistory() {
		return protocol.ErrorNotAvailable
	}
	_, err := awaitBroker(s.Node, broker.OpRemoveHistory, func(ctx context.Context, done func(struct{}, error)) {
		s.broker.RemoveHistory(ctx, channel, func(err error) { done(struct{}{}, err) })
	})
	if err != nil {
		s.log.Error("history remove failed", "channel", channel, "err", err)
		return protocol.ErrorInternal
	}
	return nil
}

// Channels lists channels with subscribers, optionally filtered by a glob:
// on every node of a cluster (summed), else this node's.
func (s *executor) Channels(pattern string, fn func(string, int)) *protocol.Error {
	if s.cluster != nil {
		if pattern != "" {
			if _, err := glob.Compile(pattern); err != nil {
				return protocol.ErrorBadRequest
			}
		}
		return s.clusterChannels(pattern, fn)
	}
	return s.localChannels(pattern, fn)
}

// localChannels lists this node's channels with subscribers matching
// pattern.
func (s *executor) localChannels(pattern string, fn func(string, int)) *protocol.Error {
	var g glob.Glob
	if pattern != "" {
		var err error
		if g, err = glob.Compile(pattern); err != nil {
			return protocol.ErrorBadRequest
		}
	}
	s.hub.Channels(func(name string, n int) {
		if g == nil || g.Match(name) {
			fn(name, n)
		}
	})
	return nil
}

// Info describes this node, and in a cluster every live node, this one
// first.
func (s *executor) Info() ([]api.NodeInfo, *protocol.Error) {
	if s.cluster != nil {
		return s.clusterInfo(), nil
	}
	users, subs, ok := s.countUsersAndSubs(opTimeout)
	if !ok {
		return nil, protocol.ErrorInternal
	}
	return []api.NodeInfo{{
		UID:         s.uid,
		Name:        s.nodeName(),
		Version:     s.version,
		NumClients:  s.NumClients(),
		NumUsers:    users,
		NumChannels: s.hub.NumChannels(),
		NumSubs:     subs,
		Uptime:      int64(time.Since(s.startedAt) / time.Second),
		Metrics:     s.metrics.snapshot(),
	}}, nil
}
