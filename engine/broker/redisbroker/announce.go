package redisbroker

import (
	"context"
	"errors"

	"github.com/redis/rueidis"
)

// maxAnnouncements bounds a shard's join/leave backlog: past it (a Redis
// that stopped answering) announcements fail at once instead of piling up.
const maxAnnouncements = 1 << 16

// errAnnounceBacklog: too many join/leave announcements are waiting.
var errAnnounceBacklog = errors.New("redisbroker: join/leave backlog full")

// announcement is one join/leave PUBLISH waiting its turn.
type announcement struct {
	ctx     context.Context
	channel string // Redis channel
	msg     string // framed ClientInfo
	done    func(error)
}

// announce queues a join/leave PUBLISH. Unlike publications (one goroutine
// each, pipelined in whatever order they reach rueidis), announcements keep
// their order: a client's join and leave are made in order on its event
// loop, and a leave that overtook its join would leave every subscriber
// believing the client is there.
func (s *shard) announce(a announcement) {
	s.annMu.Lock()
	if len(s.annQueue) >= maxAnnouncements {
		s.annMu.Unlock()
		a.done(errAnnounceBacklog)
		return
	}
	s.annQueue = append(s.annQueue, a)
	s.annMu.Unlock()
	select {
	case s.annWake <- struct{}{}:
	default:
	}
}

// announcer sends the queued announcements: what accumulated as one DoMulti
// (written in order on one connection), the next batch only after it
// completed, so order holds on a Cluster too.
func (s *shard) announcer() {
	defer s.b.wg.Done()
	for {
		select {
		case <-s.annWake:
		case <-s.b.closeCh:
			s.annMu.Lock()
			q := s.annQueue
			s.annQueue = nil
			s.annMu.Unlock()
			for _, a := range q {
				a.done(errors.New("redisbroker: closed"))
			}
			return
		}
		s.annMu.Lock()
		q := s.annQueue
		s.annQueue = nil
		s.annMu.Unlock()
		live := q[:0]
		cmds := make(rueidis.Commands, 0, len(q))
		for _, a := range q {
			if err := a.ctx.Err(); err != nil {
				a.done(err)
				continue
			}
			live = append(live, a)
			cmds = append(cmds, s.client.B().Publish().Channel(a.channel).Message(a.msg).Build())
		}
		if len(cmds) == 0 {
			continue
		}
		ctx, stop := context.WithTimeout(context.Background(), s.b.opts.IOTimeout)
		res := s.client.DoMulti(ctx, cmds...)
		stop()
		for i, a := range live {
			a.done(wrap("publish join/leave", res[i].Error()))
		}
	}
}
