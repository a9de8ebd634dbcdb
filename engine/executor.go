package engine

import (
	"encoding/base64"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gobwas/glob"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// This file implements api.Executor: what the server API does to channels and
// connections. Publish never waits; the other methods post an operation to
// every loop and wait for it, so that when the API replies the effect has
// happened (a publish sent after a subscribe reply reaches the new subscriber).

var _ api.Executor = (*Server)(nil)

// Publish hands a publication to the broker.
func (s *Server) Publish(p *api.Publication) (api.PublishResult, *protocol.Error) {
	nsOpts, ok := s.ns.Lookup(p.Channel)
	if !ok {
		return api.PublishResult{}, protocol.ErrorUnknownChannel
	}
	pub := broker.Publication{Data: p.Data, Tags: p.Tags, NotJSON: p.NotJSON}
	pos, err := s.broker.Publish(p.Channel, &pub, broker.PublishOptions{
		HistorySize:    nsOpts.HistorySize,
		HistoryTTL:     nsOpts.HistoryTTL,
		HistoryMetaTTL: nsOpts.HistoryMetaTTL,
		IdempotencyKey: p.IdempotencyKey,
		SkipHistory:    p.SkipHistory,
	})
	if err != nil {
		s.log.Error("publish failed", "channel", p.Channel, "err", err)
		return api.PublishResult{}, protocol.ErrorInternal
	}
	s.metrics.publications.Inc()
	return api.PublishResult{Offset: pos.Offset, Epoch: pos.Epoch}, nil
}

// HandlePublication frames a publication once and posts it to every loop with
// subscribers on the channel (broker.Handler). Safe from any goroutine.
func (s *Server) HandlePublication(name string, pub *broker.Publication, sp broker.StreamPosition) {
	loops := s.loops
	if pub.NotJSON {
		s.hub.Broadcast(name, func(loop int, c *channel) {
			loops[loop].postFrame(c, nil, frameNotJSON)
		})
		return
	}
	var f *sse.Frame
	s.hub.Broadcast(name, func(loop int, c *channel) {
		if f == nil {
			f = sse.NewFrame()
			p := protocol.Publication{Data: pub.Data, Info: pub.Info, Offset: pub.Offset, Tags: pub.Tags}
			if pub.Offset == 1 {
				p.Epoch = sp.Epoch // Centrifugo sends the epoch only with the first offset
			}
			f.End(protocol.AppendPublicationPush(f.Begin(), name, &p))
		}
		f.Retain(1)
		loops[loop].postFrame(c, f, framePub)
	})
	if f != nil {
		f.Release() // the publisher's reference; each loop holds its own
	}
}

// broadcastJoinLeave announces that cs joined (or left) channel to the
// channel's subscribers that receive join/leave pushes. Safe from any
// goroutine that may read cs (its loop).
func (s *Server) broadcastJoinLeave(cs *conn, name string, join bool) {
	ci := protocol.ClientInfo{User: cs.user, ConnInfo: cs.info(), ChanInfo: cs.chanInfo(name)}
	var id [36]byte
	ci.Client = string(protocol.AppendUUID(id[:0], cs.client))
	loops := s.loops
	var f *sse.Frame
	s.hub.Broadcast(name, func(loop int, c *channel) {
		if f == nil {
			f = sse.NewFrame()
			if join {
				f.End(protocol.AppendJoinPush(f.Begin(), name, &ci))
			} else {
				f.End(protocol.AppendLeavePush(f.Begin(), name, &ci))
			}
		}
		f.Retain(1)
		loops[loop].postFrame(c, f, frameJoinLeave)
	})
	if f != nil {
		f.Release()
	}
}

// Subscribe subscribes the selected connections to a channel and sends them
// the subscribe push.
func (s *Server) Subscribe(r *api.SubscribeRequest) *protocol.Error {
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
	if !s.onAllLoopsTimeout(func(l *loop) {
		for _, c := range l.find(r.User, r.Client, r.Session) {
			if c.subscribed(r.Channel) >= 0 {
				continue
			}
			c.setChanInfo(r.Channel, info)
			var res protocol.SubscribeResult
			if err := s.subscribe(l, c, r.Channel, co, nil, &res); err != nil {
				s.log.Error("api subscribe failed", "channel", r.Channel, "err", err)
				continue
			}
			res.Data = data
			l.tmp = protocol.AppendSubscribePush(l.tmp[:0], r.Channel, &res)
			l.writeEvent(c, l.tmp)
			if co.flags&subJoinLeave != 0 {
				s.broadcastJoinLeave(c, r.Channel, true)
			}
		}
	}) {
		return protocol.ErrorInternal
	}
	return nil
}

// Unsubscribe removes the selected connections from a channel with an
// unsubscribe push. Without a channel Centrifugo sends a channel-less
// unsubscribe push and keeps the subscriptions; so does unisse.
func (s *Server) Unsubscribe(r *api.UnsubscribeRequest) *protocol.Error {
	if r.Channel != "" {
		if _, ok := s.ns.Lookup(r.Channel); !ok {
			return protocol.ErrorUnknownChannel
		}
	}
	push := protocol.AppendUnsubscribePush(nil, r.Channel, protocol.UnsubscribeServer, "server unsubscribe")
	if !s.onAllLoopsTimeout(func(l *loop) {
		for _, c := range l.find(r.User, r.Client, r.Session) {
			if r.Channel != "" {
				i := c.subscribed(r.Channel)
				if i < 0 {
					continue
				}
				// What was published before the unsubscribe still arrives; a
				// client too far behind to take it now cannot get the push in
				// order (see writeEvent).
				if !l.catchUp(c) {
					l.closeSlow(c)
					continue
				}
				flags := c.subs[i].flags
				s.unsubscribeAt(l, c, i)
				c.subs = append(c.subs[:i], c.subs[i+1:]...)
				c.setChanInfo(r.Channel, nil)
				if flags&subJoinLeave != 0 {
					s.broadcastJoinLeave(c, r.Channel, false)
				}
			}
			l.writeEvent(c, push)
		}
	}) {
		return protocol.ErrorInternal
	}
	return nil
}

// Disconnect ends the selected connections' streams (default 3503 "force
// disconnect"), sparing the whitelisted client ids.
func (s *Server) Disconnect(r *api.DisconnectRequest) *protocol.Error {
	d := protocol.DisconnectForceNoReconnect
	if r.Disconnect != nil {
		d = protocol.Disconnect{Code: r.Disconnect.Code, Reason: r.Disconnect.Reason}
	}
	if !s.onAllLoopsTimeout(func(l *loop) {
		targets := l.find(r.User, r.Client, r.Session)
	next:
		for _, c := range targets {
			for _, w := range r.Whitelist {
				if id, ok := protocol.ParseUUID(w); ok && id == c.client {
					continue next
				}
			}
			l.finish(c, d)
		}
	}) {
		return protocol.ErrorInternal
	}
	return nil
}

// Refresh extends (or ends, with expired) the selected connections' lifetime.
func (s *Server) Refresh(r *api.RefreshRequest) *protocol.Error {
	delay := s.opts.Client.ExpiredCloseDelay
	if !s.onAllLoopsTimeout(func(l *loop) {
		now := time.Now()
		for _, c := range l.find(r.User, r.Client, r.Session) {
			if r.Expired {
				l.finish(c, protocol.DisconnectExpired)
				continue
			}
			if len(r.Info) > 0 {
				c.setInfo(append([]byte(nil), r.Info...))
			}
			var push []byte
			if r.ExpireAt > 0 {
				ttl := r.ExpireAt - now.Unix()
				if ttl <= 0 {
					l.finish(c, protocol.DisconnectExpired)
					continue
				}
				c.closeAt = int32(s.ticksAfter(time.Duration(ttl)*time.Second + delay))
				push = protocol.AppendRefreshPush(l.tmp[:0], true, uint32(ttl))
			} else {
				c.closeAt = 0
				push = protocol.AppendRefreshPush(l.tmp[:0], false, 0)
			}
			l.tmp = push
			l.writeEvent(c, push)
			s.scheduleStream(l, c, l.wheel.tick)
		}
	}) {
		return protocol.ErrorInternal
	}
	return nil
}

// Presence lists the connections subscribed to a presence-enabled channel.
func (s *Server) Presence(channel string) ([]api.ClientInfo, *protocol.Error) {
	if perr := s.presenceAvailable(channel); perr != nil {
		return nil, perr
	}
	var infos []api.ClientInfo
	var mu sync.Mutex
	if !s.onAllLoopsTimeout(func(l *loop) {
		local := s.channelClients(l, channel)
		mu.Lock()
		infos = append(infos, local...)
		mu.Unlock()
	}) {
		return nil, protocol.ErrorInternal
	}
	return infos, nil
}

// PresenceStats counts a presence-enabled channel's connections and users.
func (s *Server) PresenceStats(channel string) (api.PresenceStats, *protocol.Error) {
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

func (s *Server) presenceAvailable(channel string) *protocol.Error {
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
func (s *Server) channelClients(l *loop, channel string) []api.ClientInfo {
	ch := s.hub.Lookup(channel)
	if ch == nil {
		return nil
	}
	var out []api.ClientInfo
	for _, e := range ch.Local(l.idx).Entries {
		if c := e.Sub; c.state == stateStreaming && c.flagsFor(ch)&subPresence != 0 {
			out = append(out, api.ClientInfo{User: c.user, Client: uuidString(c.client), ConnInfo: c.info(), ChanInfo: c.chanInfo(channel)})
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

// nodeName is node.name, or the host name as Centrifugo defaults to.
func (s *Server) nodeName() string {
	if s.opts.Node.Name != "" {
		return s.opts.Node.Name
	}
	h, _ := os.Hostname()
	return h
}

// History reads a channel's history stream.
func (s *Server) History(r *api.HistoryRequest) (api.HistoryResult, *protocol.Error) {
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
	h, err := s.broker.History(r.Channel, historyOptions(nsOpts), filter)
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
func (s *Server) HistoryRemove(channel string) *protocol.Error {
	nsOpts, ok := s.ns.Lookup(channel)
	if !ok {
		return protocol.ErrorUnknownChannel
	}
	if !nsOpts.HasHistory() {
		return protocol.ErrorNotAvailable
	}
	if err := s.broker.RemoveHistory(channel); err != nil {
		s.log.Error("history remove failed", "channel", channel, "err", err)
		return protocol.ErrorInternal
	}
	return nil
}

// Channels lists channels with subscribers, optionally filtered by a glob.
func (s *Server) Channels(pattern string, fn func(string, int)) *protocol.Error {
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

// Info describes this node.
func (s *Server) Info() ([]api.NodeInfo, *protocol.Error) {
	users := make(map[string]struct{})
	subs := 0
	var mu sync.Mutex
	if !s.onAllLoopsTimeout(func(l *loop) {
		mu.Lock()
		for u := range l.users {
			users[u] = struct{}{}
		}
		for _, c := range l.streams {
			subs += len(c.subs)
		}
		mu.Unlock()
	}) {
		return nil, protocol.ErrorInternal
	}
	return []api.NodeInfo{{
		UID:         s.uid,
		Name:        s.nodeName(),
		Version:     Version,
		NumClients:  s.NumClients(),
		NumUsers:    len(users),
		NumChannels: s.hub.NumChannels(),
		NumSubs:     subs,
		Uptime:      int64(time.Since(s.startedAt) / time.Second),
		Metrics:     s.metrics.snapshot(),
	}}, nil
}
