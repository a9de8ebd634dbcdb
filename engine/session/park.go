package session

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/hub"
	"github.com/unisse/unisse/engine/namespace"
	"github.com/unisse/unisse/engine/protocol"
)

// Parking: a subscription that needs the broker's answer before its first
// frame (a positioned or recovering one, or one whose channel this node has
// only just asked the broker to subscribe to) is made in the hub first, then
// its connection is parked (Conn.Parked: the sweep leaves its frames in the
// channel logs) while the broker answers off the loop (askBroker). The
// answers come back through the loop's inbox, behind every frame posted
// before them, and unpark moves each cursor past the frames at or below the
// position, so nothing is delivered twice or skipped. Connect
// (answerConnect) and the API's subscribe (executor.Subscribe) both park
// this way; everything that waits for the broker on a connection's behalf
// belongs here.
//
// With a networked broker (Redis: Inline(OpSubscribe) false) the node
// subscribes to a channel at the broker only while it has local subscribers
// (the hub's broker hooks, brokerSubscribe). A subscription that finds its
// channel Pending waits for the broker's SUBSCRIBE first: until it is done,
// publications made elsewhere do not reach this node, so a stream started
// earlier could silently miss the first ones, and a position read earlier
// could be above publications that never arrive. The wait and the position
// read are chained under one deadline (brokerTimeout): SUBSCRIBE, then
// History, then unpark.

// positionQuery is a positioned subscription waiting for the broker: the
// connection is parked (its frames of the channel stay in the loop's log
// from start on) until the broker's answer arrives, and then it gets what
// is above the position it was told.
//
// With a networked broker a query may also (or only) wait for the node's
// broker subscription to the channel (wait): then its subscription is not
// positioned (positioned false) or it reads the position once subscribed.
type positionQuery struct {
	channel    string
	positioned bool // read the position (and maybe recover); false: wait only
	// wait: the channel's broker subscription was Pending at subscribe;
	// token names this query's hub.Waiter. subErr is why the broker
	// subscription failed (or its wait timed out).
	wait    bool
	token   uint64
	subErr  error
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
	group  *subscribeWait // with wait: the connection's wait
}

// subscribe adds c to channel in the hub. For a positioned channel
// (force_recovery or force_positioning) it returns the query that asks the
// broker for the position — and, when rec asks to recover, for the
// publications missed since rec's position; the caller parks c until it is
// answered (see askBroker and unpark). Subscribing before asking is what
// makes the answer exact: a publication above the position is posted after
// the subscription, so it is in the channel's log for c. With a networked
// broker it also returns a query (a wait only, when not positioned) when
// the node's broker subscription to the channel is still in flight or has
// failed; without one (the memory broker) a plain subscription returns nil
// and costs nothing more. On c's loop.
func (s *Node) subscribe(l *delivery.Loop, c *delivery.Conn, channel string, co chanOpts, rec *protocol.SubscribeRequest, res *protocol.SubscribeResult) *positionQuery {
	ch, idx := s.hub.Subscribe(channel, l.Idx, c)
	c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx), Flags: co.flags})
	var q *positionQuery
	if s.hooked {
		token := s.waitSeq.Add(1)
		switch st, err := s.hub.Wait(ch, hub.Waiter[*delivery.Conn]{Loop: l.Idx, Sub: c, Token: token}); st {
		case hub.Pending:
			q = &positionQuery{channel: channel, wait: true, token: token, res: res}
		case hub.Failed:
			q = &positionQuery{channel: channel, subErr: err, res: res}
		}
	}
	if !co.positioned {
		return q
	}
	res.Recoverable = co.recoverable
	res.Positioned = true
	if q == nil {
		q = &positionQuery{channel: channel, res: res}
	}
	q.positioned, q.opts, q.start = true, historyOptions(co.ns), l.Cursor(ch, idx)
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

// errSubscribeTimeout: the broker did not subscribe the node to a channel
// within brokerTimeout.
var errSubscribeTimeout = errors.New("broker subscribe: timed out")

// askBroker parks c and sends its queries to the broker; when the last
// answer is in, then runs on c's loop. Queries that wait for the node's
// broker subscription (wait) are answered first (subscriptionSettled), and
// only then are positions read, all within one brokerTimeout. It always
// runs through the loop's inbox, even when the broker answers inline: the
// frames posted before the answer are then logged before then runs, so
// unpark sees every frame at or below the position. On c's loop.
func (s *Node) askBroker(l *delivery.Loop, c *delivery.Conn, qs []*positionQuery, then func(*delivery.Loop)) {
	c.Parked = true
	waits := 0
	for _, q := range qs {
		if q.wait {
			waits++
		}
	}
	if waits == 0 {
		ctx, cancel := s.brokerContext(broker.OpHistory)
		s.readPositions(ctx, cancel, l, c, qs, then)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	g := &subscribeWait{left: waits}
	sc := &s.scratch[l.Idx]
	if sc.waits == nil {
		sc.waits = make(map[uint64]*positionQuery)
	}
	for _, q := range qs {
		if q.wait {
			q.group = g
			sc.waits[q.token] = q
		}
	}
	g.done = func(l *delivery.Loop) {
		g.stop()
		s.readPositions(ctx, cancel, l, c, qs, then)
	}
	// The deadline ends the wait for the answers still missing.
	g.stop = context.AfterFunc(ctx, func() {
		l.Post(func(l *delivery.Loop) {
			for _, q := range qs {
				if q.wait && s.scratch[l.Idx].waits[q.token] == q {
					s.subscriptionSettled(l, q.token, errSubscribeTimeout)
				}
			}
		})
	})
}

// subscribeWait is a parked connection's wait for the broker subscriptions
// of its channels: done runs on the loop once left reaches 0.
type subscribeWait struct {
	left int
	done func(*delivery.Loop)
	stop func() bool // stops the deadline's callback
}

// subscriptionSettled is the broker's answer to the subscription a query
// waits for (err nil: subscribed), or the end of its wait. A token no query
// waits for any more (the connection went away, or timed out) is ignored.
// On the query's loop.
func (s *Node) subscriptionSettled(l *delivery.Loop, token uint64, err error) {
	waits := s.scratch[l.Idx].waits
	q := waits[token]
	if q == nil {
		return
	}
	delete(waits, token)
	q.wait, q.subErr = false, err
	if q.group.left--; q.group.left == 0 {
		q.group.done(l)
	}
}

// readPositions asks the broker for the positions of qs' positioned
// queries whose broker subscription is in place, within ctx (cancel ends
// it); then runs on the loop once all are answered (through the inbox, see
// askBroker). Nothing is asked for a connection closed meanwhile. On c's
// loop.
func (s *Node) readPositions(ctx context.Context, cancel context.CancelFunc, l *delivery.Loop, c *delivery.Conn, qs []*positionQuery, then func(*delivery.Loop)) {
	n := 0
	for _, q := range qs {
		if q.positioned && q.subErr == nil && c.State != delivery.StateClosed {
			n++
		}
	}
	if n == 0 {
		cancel()
		l.Post(then)
		return
	}
	var left atomic.Int32
	left.Store(int32(n))
	for _, q := range qs {
		if !q.positioned || q.subErr != nil || c.State == delivery.StateClosed {
			continue
		}
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
	if c.Gap {
		// The broker resubscribed one of c's channels while it was parked
		// (executor.HandleResubscribed): its answers may be from before
		// publications this node lost.
		c.Gap = false
		fail = failWith(protocol.DisconnectInsufficientState)
	}
	for _, q := range qs {
		if q.subErr != nil {
			// Centrifugo answers a subscription the broker failed to make
			// with 3004 (DisconnectServerError), on connect as on a
			// server-side subscribe.
			s.log.Error("broker subscribe failed", "channel", q.channel, "err", q.subErr)
			fail = failWith(protocol.DisconnectServerError)
			continue
		}
		if !q.positioned {
			continue
		}
		if q.err != nil && !errors.Is(q.err, broker.ErrUnrecoverablePosition) {
			s.log.Error("broker position failed", "channel", q.channel, "err", q.err)
			fail = failErr(protocol.ErrorInternal)
			continue
		}
		q.apply()
		if q.recover {
			// Resolved, as Centrifugo counts: an unrecoverable position
			// included, a broker failure (above) not.
			s.scratch[l.Idx].counts.recovery(q.res.Recovered, len(q.res.Publications))
		}
		i := c.Subscribed(q.channel)
		if i < 0 {
			continue // unsubscribed meanwhile (API unsubscribe)
		}
		if q.err == nil {
			// Where a check after a broker reconnect starts from when no
			// publication of the channel was logged here (resubscribe.go).
			l.NotePosition(c.Subs[i].Ch, q.answer.Offset, q.answer.Epoch)
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
