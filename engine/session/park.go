package session

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/namespace"
	"github.com/unisse/unisse/engine/protocol"
)

// Parking: a subscription that needs the broker's answer before its first
// frame (a positioned or recovering one) is made in the hub first, then its
// connection is parked (Conn.Parked: the sweep leaves its frames in the
// channel logs) while the broker answers off the loop (askBroker). The answer
// comes back through the loop's inbox, behind every frame posted before it,
// and unpark moves each cursor past the frames at or below the position, so
// nothing is delivered twice or skipped. Connect (answerConnect) and the
// API's subscribe (executor.Subscribe) both park this way; everything that
// waits for the broker on a connection's behalf belongs here.

// positionQuery is a positioned subscription waiting for the broker: the
// connection is parked (its frames of the channel stay in the loop's log
// from start on) until the broker's answer arrives, and then it gets what
// is above the position it was told.
type positionQuery struct {
	channel string
	opts    broker.PublishOptions
	filter  broker.HistoryFilter
	recover bool   // asked to recover from recOffset
	offset  uint64 // the requested offset when recovering
	limit   int    // recovery_max_publication_limit
	start   uint64 // the subscription's cursor when it was added
	res     *protocol.SubscribeResult
	// Set by the broker's callback, read on the loop after it.
	answer broker.HistoryResult
	err    error
}

// subscribe adds c to channel in the hub. For a positioned channel
// (force_recovery or force_positioning) it returns the query that asks the
// broker for the position — and, when rec asks to recover, for the
// publications missed since rec's position; the caller parks c until it is
// answered (see askBroker and unpark). Subscribing before asking is what
// makes the answer exact: a publication above the position is posted after
// the subscription, so it is in the channel's log for c. On c's loop.
func (s *Node) subscribe(l *delivery.Loop, c *delivery.Conn, channel string, co chanOpts, rec *protocol.SubscribeRequest, res *protocol.SubscribeResult) *positionQuery {
	ch, idx := s.hub.Subscribe(channel, l.Idx, c)
	c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx), Flags: co.flags})
	if !co.positioned {
		return nil
	}
	res.Recoverable = co.recoverable
	res.Positioned = true
	q := &positionQuery{channel: channel, opts: historyOptions(co.ns), start: l.Cursor(ch, idx), res: res}
	if co.recoverable && rec != nil && rec.Recover {
		q.recover, q.offset = true, rec.Offset
		q.limit = s.opts.Client.RecoveryMaxPublicationLimit
		q.filter = broker.HistoryFilter{Since: &broker.StreamPosition{Offset: rec.Offset, Epoch: rec.Epoch}, Limit: q.limit + 1}
	}
	return q
}

// brokerTimeout bounds how long a parked connection waits for the broker.
const brokerTimeout = 5 * time.Second

// brokerContext is the context of a broker call made for a loop: none to
// cancel for a call the broker completes inline, brokerTimeout otherwise.
func (s *Node) brokerContext(op broker.Op) (context.Context, context.CancelFunc) {
	if s.broker.Inline(op) {
		return context.Background(), func() {}
	}
	return context.WithTimeout(context.Background(), brokerTimeout)
}

// askBroker parks c and sends its queries to the broker; when the last
// answer is in, then runs on c's loop. It always runs through the loop's
// inbox, even when the broker answers inline: the frames posted before the
// answer are then logged before then runs, so unpark sees every frame at or
// below the position. On c's loop.
func (s *Node) askBroker(l *delivery.Loop, c *delivery.Conn, qs []*positionQuery, then func(*delivery.Loop)) {
	c.Parked = true
	var left atomic.Int32
	left.Store(int32(len(qs)))
	ctx, cancel := s.brokerContext(broker.OpHistory)
	for _, q := range qs {
		s.broker.History(ctx, q.channel, q.opts, q.filter, func(h broker.HistoryResult, err error) {
			q.answer, q.err = h, err
			if left.Add(-1) == 0 {
				cancel()
				l.Post(then)
			}
		})
	}
}

// unpark applies the broker's answers to c's parked subscriptions: the
// results (position, recovery) and each subscription's cursor, moved past
// the buffered frames at or below the position (they are in the answer, or
// were published before it). It fails with 3008 when a frame c needed was
// shed while it was parked (the channel's log passed queue_max_size), and
// with an internal error when the broker failed. On c's loop.
func (s *Node) unpark(l *delivery.Loop, c *delivery.Conn, qs []*positionQuery) *connectFailure {
	c.Parked = false
	var fail *connectFailure
	for _, q := range qs {
		if q.err != nil && !errors.Is(q.err, broker.ErrUnrecoverablePosition) {
			s.log.Error("broker position failed", "channel", q.channel, "err", q.err)
			fail = failErr(protocol.ErrorInternal)
			continue
		}
		q.apply()
		i := c.Subscribed(q.channel)
		if i < 0 {
			continue // unsubscribed meanwhile (API unsubscribe)
		}
		if !l.SkipThrough(c.Subs[i], q.start, q.answer.Offset) {
			fail = failWith(protocol.DisconnectSlow) // shed while parked
		}
	}
	if fail == nil {
		// Frames buffered above the position go out with the next sweep.
		l.Resume(c)
	}
	return fail
}

// apply fills the subscribe result from the broker's answer, with
// Centrifugo's recovery rules: recovered when the stream still has every
// publication after the requested offset (or the offset is the top) in the
// same epoch (an empty epoch matches any), and they are no more than
// recovery_max_publication_limit. The reply then echoes the requested
// offset; otherwise it carries the current top.
func (q *positionQuery) apply() {
	res, h := q.res, &q.answer
	res.Epoch, res.Offset = h.Epoch, h.Offset
	if !q.recover {
		return
	}
	res.WasRecovering = true
	if q.err != nil || len(h.Publications) > q.limit {
		return
	}
	var ok bool
	if n := len(h.Publications); n == 0 {
		ok = h.Offset == q.offset
	} else {
		ok = h.Publications[0].Offset == q.offset+1 && h.Publications[n-1].Offset == h.Offset
	}
	if !ok {
		return
	}
	res.Recovered = true
	res.Offset = q.offset
	res.Publications = make([]protocol.Publication, len(h.Publications))
	for i, p := range h.Publications {
		res.Publications[i] = protocol.Publication{Data: p.Data, Info: p.Info, Offset: p.Offset, Tags: p.Tags}
		if p.Offset == 1 {
			res.Publications[i].Epoch = h.Epoch
		}
	}
}

func historyOptions(o *namespace.Options) broker.PublishOptions {
	return broker.PublishOptions{HistorySize: o.HistorySize, HistoryTTL: o.HistoryTTL, HistoryMetaTTL: o.HistoryMetaTTL}
}
