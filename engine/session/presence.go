package session

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
)

// Presence across nodes (Config.Presence, a Redis presence manager): a
// stream's presence-enabled subscriptions are added when the stream starts
// (or an API subscribe adds one), refreshed before the manager's
// presence_ttl (60 s by default) lets them expire, and removed when the
// stream closes or is unsubscribed. /api/presence and presence_stats read
// the manager, so they count every node's clients.
//
// Refreshes ride on the connection's one wheel slot (events.go): a stream
// with presence is scheduled at the latest client.presence_update_interval
// after its last timer, and every time its timer fires it refreshes its presence. No
// goroutine, timer or field per connection. The manager's calls are
// asynchronous (an event loop never waits for Redis); failures are counted
// and logged at most every 10 s, and when too many calls are in flight (a
// Redis that stopped answering) refreshes are skipped rather than piled
// up: the entries then expire after presence_ttl, as they would in
// Centrifugo.

// presenceTimeout bounds one presence manager call.
const presenceTimeout = 5 * time.Second

// maxPresenceInFlight bounds the presence calls in flight; past it,
// refreshes are skipped (adds and removes never are).
const maxPresenceInFlight = 1 << 16

// presenceState is the node's presence bookkeeping.
type presenceState struct {
	ticks    int64 // client.presence_update_interval in loop ticks, at least 1
	inFlight atomic.Int64
	errs     errorLog
}

func (p *presenceState) init(s *Node) {
	// Rounded up: a refresh never comes later than the operator asked.
	p.ticks = max(1, int64((s.opts.Client.PresenceUpdateInterval+delivery.TickInterval-1)/delivery.TickInterval))
	p.errs.log = s.log
}

// hasPresence reports whether c has a subscription counted in a shared
// presence.
func (s *Node) hasPresence(c *delivery.Conn) bool {
	if s.presence == nil {
		return false
	}
	for i := range c.Subs {
		if c.Subs[i].Flags&delivery.SubPresence != 0 {
			return true
		}
	}
	return false
}

// addStreamPresence adds a stream that just started to the presence of its
// presence-enabled channels. On c's loop.
func (s *Node) addStreamPresence(c *delivery.Conn) {
	if s.presence == nil {
		return
	}
	for i := range c.Subs {
		if c.Subs[i].Flags&delivery.SubPresence != 0 {
			s.addPresence(c, c.Subs[i].Ch.Name())
		}
	}
}

// removeStreamPresence removes a closed stream from the presence of its
// presence-enabled channels. On c's loop, before its subscriptions go.
func (s *Node) removeStreamPresence(c *delivery.Conn) {
	if s.presence == nil {
		return
	}
	for i := range c.Subs {
		if c.Subs[i].Flags&delivery.SubPresence != 0 {
			s.removePresence(c, c.Subs[i].Ch.Name())
		}
	}
}

// refreshPresence renews c's presence in its presence-enabled channels
// (its timer fired, or was reset). On c's loop.
func (s *Node) refreshPresence(c *delivery.Conn) {
	if s.presence == nil {
		return
	}
	for i := range c.Subs {
		if c.Subs[i].Flags&delivery.SubPresence != 0 {
			s.putPresence(c, c.Subs[i].Ch.Name(), false)
		}
	}
}

// addPresence adds c to channel's presence. On c's loop.
func (s *Node) addPresence(c *delivery.Conn, channel string) { s.putPresence(c, channel, true) }

// removePresence removes c from channel's presence. On c's loop.
func (s *Node) removePresence(c *delivery.Conn, channel string) {
	client, user := uuidString(c.Client), c.User
	s.presenceCall(true, func(ctx context.Context, done func(error)) {
		s.presence.RemovePresence(ctx, channel, client, user, done)
	})
}

// putPresence adds or renews c in channel's presence with the ClientInfo
// Centrifugo stores: client and user ids, conn_info and chan_info as raw
// JSON (never modified in place: SetInfo and SetChanInfo replace them).
func (s *Node) putPresence(c *delivery.Conn, channel string, must bool) {
	client := uuidString(c.Client)
	info := &broker.ClientInfo{ClientID: client, UserID: c.User, ConnInfo: c.Info(), ChanInfo: c.ChanInfo(channel)}
	s.presenceCall(must, func(ctx context.Context, done func(error)) {
		s.presence.AddPresence(ctx, channel, client, info, done)
	})
}

// presenceCall makes one asynchronous presence manager call with a
// timeout, counting and logging its failure; a call that need not be made
// (a refresh) is skipped when too many are in flight.
func (s *Node) presenceCall(must bool, call func(ctx context.Context, done func(error))) {
	p := &s.pres
	if p.inFlight.Add(1) > maxPresenceInFlight && !must {
		p.inFlight.Add(-1)
		s.metrics.presenceErrors.Inc()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	call(ctx, func(err error) {
		cancel()
		p.inFlight.Add(-1)
		if err != nil {
			s.metrics.presenceErrors.Inc()
			p.errs.note("presence update failed", err)
		}
	})
}

// presenceDeadline is the latest tick a stream with presence may next be
// woken at (now + the update interval), or 0 when it has none.
func (s *Node) presenceDeadline(c *delivery.Conn, now int64) int64 {
	if !s.hasPresence(c) {
		return 0
	}
	return now + s.pres.ticks
}

// FlushPresence waits (bounded by ctx) for the presence calls in flight,
// so that the removals of a stopping node's streams reach the manager
// before the broker closes. Server.Stop calls it.
// The leave announcements in flight (joinleave.go) are waited for too.
func (s *Node) FlushPresence(ctx context.Context) {
	if s.presence == nil && s.jl.publisher == nil {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.pres.inFlight.Load()+s.jl.inFlight.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sharedPresence is /api/presence from the presence manager: every node's
// clients. Off the loops.
func (s *Node) sharedPresence(channel string) ([]api.ClientInfo, *protocol.Error) {
	m, err := await(func(ctx context.Context, done func(map[string]*broker.ClientInfo, error)) {
		s.presence.Presence(ctx, channel, done)
	})
	if err != nil {
		s.log.Error("presence failed", "channel", channel, "err", err)
		return nil, protocol.ErrorInternal
	}
	infos := make([]api.ClientInfo, 0, len(m))
	for id, ci := range m {
		infos = append(infos, api.ClientInfo{Client: id, User: ci.UserID, ConnInfo: ci.ConnInfo, ChanInfo: ci.ChanInfo})
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Client < infos[j].Client })
	return infos, nil
}

// sharedPresenceStats is /api/presence_stats from the presence manager.
func (s *Node) sharedPresenceStats(channel string) (api.PresenceStats, *protocol.Error) {
	st, err := await(func(ctx context.Context, done func(broker.PresenceStats, error)) {
		s.presence.PresenceStats(ctx, channel, done)
	})
	if err != nil {
		s.log.Error("presence stats failed", "channel", channel, "err", err)
		return api.PresenceStats{}, protocol.ErrorInternal
	}
	return api.PresenceStats{NumClients: st.NumClients, NumUsers: st.NumUsers}, nil
}
