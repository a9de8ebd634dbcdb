package session

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/sse"
)

// Join/leave across nodes. A subscription with emit join/leave (join_leave,
// force_push_join_leave) announces its client's join when its stream starts
// (or an API subscribe adds it) and its leave when it ends (or an API
// unsubscribe removes it); subscriptions with push join/leave receive them.
//
// With a broker that carries them (broker.JoinLeavePublisher: Redis) the
// announcement is published through the broker only, as centrifuge's node
// does: every node subscribed to the channel, this one included, receives it
// back (HandleJoinLeave) and pushes it to its own subscribers, so each gets
// exactly one push and Centrifugo nodes on the same Redis take part. The
// publish is asynchronous (a loop never waits for Redis); failures are
// counted (unisse_join_leave_publish_errors_total) and logged at most every
// 10 s, and past maxJoinLeaveInFlight announcements are dropped rather than
// piled up. Without one (Memory) the announcement is broadcast to this
// node's subscribers directly: on one node that is everyone.

// joinLeaveTimeout bounds one announcement's publish.
const joinLeaveTimeout = 5 * time.Second

// maxJoinLeaveInFlight bounds the announcements in flight.
const maxJoinLeaveInFlight = 1 << 16

// joinLeaveState is the node's join/leave publishing bookkeeping.
type joinLeaveState struct {
	publisher broker.JoinLeavePublisher // nil: broadcast locally
	inFlight  atomic.Int64
	errs      errorLog
}

func (j *joinLeaveState) init(s *Node) {
	j.publisher, _ = s.broker.(broker.JoinLeavePublisher)
	j.errs.log = s.log
}

// broadcastJoinLeave announces that c joined (or left) channel name to the
// channel's subscribers that receive join/leave pushes, on every node. On
// c's loop (or where c may be read).
func (s *Node) broadcastJoinLeave(c *delivery.Conn, name string, join bool) {
	s.metrics.sent[joinLeaveType(join)].Inc()
	client := uuidString(c.Client)
	if j := &s.jl; j.publisher != nil {
		info := &broker.ClientInfo{ClientID: client, UserID: c.User, ConnInfo: c.Info(), ChanInfo: c.ChanInfo(name)}
		if j.inFlight.Add(1) > maxJoinLeaveInFlight {
			j.inFlight.Add(-1)
			s.metrics.joinLeaveErrors.Inc()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), joinLeaveTimeout)
		done := func(err error) {
			cancel()
			j.inFlight.Add(-1)
			if err != nil {
				s.metrics.joinLeaveErrors.Inc()
				j.errs.note("join/leave publish failed", err)
			}
		}
		if join {
			j.publisher.PublishJoin(ctx, name, info, done)
		} else {
			j.publisher.PublishLeave(ctx, name, info, done)
		}
		return
	}
	// Received at once, as from Centrifugo's memory broker.
	s.metrics.received[joinLeaveType(join)].Inc()
	s.pushJoinLeave(name, &protocol.ClientInfo{User: c.User, Client: client, ConnInfo: c.Info(), ChanInfo: c.ChanInfo(name)}, join)
}

// joinLeaveFrame is the kind of a join (or leave) frame in the loops' logs.
func joinLeaveFrame(join bool) uint8 {
	if join {
		return delivery.FrameJoin
	}
	return delivery.FrameLeave
}

// joinLeaveType is the type label of a join (or leave) message.
func joinLeaveType(join bool) int {
	if join {
		return msgJoin
	}
	return msgLeave
}

// HandleJoinLeave (broker.Handler): a join or leave announced through the
// broker, by any node, goes to this node's subscribers of channel that
// receive join/leave pushes. On the broker's goroutine; never blocks.
func (s *executor) HandleJoinLeave(channel string, info *broker.ClientInfo, join bool) {
	s.metrics.received[joinLeaveType(join)].Inc()
	s.pushJoinLeave(channel, &protocol.ClientInfo{User: info.UserID, Client: info.ClientID, ConnInfo: info.ConnInfo, ChanInfo: info.ChanInfo}, join)
}

// pushJoinLeave queues the join (or leave) push of ci to this node's
// subscribers of name; the loops deliver it to those with push join/leave.
// Safe from any goroutine.
func (s *Node) pushJoinLeave(name string, ci *protocol.ClientInfo, join bool) {
	loops := s.loops
	var f *sse.Frame
	var d broker.Deferred
	s.hub.Broadcast(name, func(loop int, ch *delivery.Channel) {
		if f == nil {
			f = sse.NewFrame()
			if join {
				f.End(protocol.AppendJoinPush(f.Begin(), name, ci))
			} else {
				f.End(protocol.AppendLeavePush(f.Begin(), name, ci))
			}
		}
		f.Retain(1)
		deferWake(&d, loops, loop, loops[loop].PostFrame(ch, f, joinLeaveFrame(join), 0, 0))
	})
	if f != nil {
		f.Release()
	}
	s.wakeLoops(d)
}
