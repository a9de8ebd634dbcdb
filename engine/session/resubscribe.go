package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/protocol"
)

// After a broker reconnect (Redis PUB/SUB): the broker says which channels
// it subscribes again (HandleResubscribed, before its SUBSCRIBE goes out);
// what was published to them meanwhile never reached this node. Never a
// silent gap:
//
//   - A channel without stream positions (its namespace neither
//     force_positioning nor force_recovery), or any channel when the broker
//     does not confirm its resubscriptions (broker.ResubscribeConfirmer):
//     every stream subscribed to it here is ended with 3010 "insufficient
//     state" (reconnect) at once, so its client reconnects and, where the
//     namespace allows, recovers from history.
//   - A positioned channel is checked instead. Each loop holds it
//     (delivery.Loop.Hold: its subscribers get what was logged before, and
//     nothing after); once the broker's SUBSCRIBE is done
//     (HandleResubscribeDone) the stream's position is read, and each loop
//     compares it with the last position it knew the channel at
//     (delivery.Loop.HoldIntact: the publications it logged, or the
//     positions its subscribers were told). Same epoch and no offset
//     missing: nothing was lost, the hold ends and nobody is disconnected.
//     Otherwise (or when the broker or the read fails, or no answer comes
//     within resubscribeCheckTimeout) its streams get 3010, ahead of every
//     frame past the gap.
//
// This is centrifuge's own check moved to the moment it matters: centrifuge
// does nothing on a PUB/SUB reconnect but resubscribe, and a positioned
// client finds a gap either when its next publication's offset is not the
// one it expects or when its periodic position check
// (client.channel_position_check_delay, 40 s) finds the stream's top
// elsewhere (client.go: checkPosition, writePublicationUpdatePosition), and
// then gets insufficient state (3010 for a unidirectional client). A
// channel without positions cannot be checked: centrifuge lets its clients
// miss the gap silently, unisse ends them.
//
// A connect still parked (waiting for a position, history or the node's
// SUBSCRIBE) on a resubscribed channel has no stream to end yet: it is
// marked (Conn.Gap), at once for an unchecked channel and at a failed
// check for a positioned one, and refused with 3010 when it unparks. Its
// position may have been read before the gap, and what it would stream
// continues past publications it never gets. Centrifugo does not re-read a
// subscribing client's position either: that client's next publication
// arrives past the offset it expects, and centrifuge answers with
// insufficient state; refusing at unpark is the same answer, given before
// a frame could be skipped.

// resubscribeCheckTimeout bounds a positioned channel's check: the
// broker's SUBSCRIBE, then the position read (brokerTimeout each).
const resubscribeCheckTimeout = 2*brokerTimeout + time.Second

// errResubscribeTimeout: no answer within resubscribeCheckTimeout.
var errResubscribeTimeout = errors.New("resubscribe check: timed out")

// resubscribeChecks are the positioned channels being checked, each with
// the id of its loops' holds.
type resubscribeChecks struct {
	seq     atomic.Uint64
	mu      sync.Mutex
	pending map[string]uint64
}

// take removes and returns the checks of channels still pending, all of
// them, or (id != 0) only those of hold id.
func (r *resubscribeChecks) take(channels []string, id uint64) map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out map[string]uint64
	for _, ch := range channels {
		if got, ok := r.pending[ch]; ok && (id == 0 || got == id) {
			delete(r.pending, ch)
			if out == nil {
				out = make(map[string]uint64)
			}
			out[ch] = got
		}
	}
	return out
}

// positioned reports whether channel's subscribers have stream positions
// a check can compare (force_positioning or force_recovery, with history).
func (s *Node) positioned(channel string) bool {
	o, ok := s.ns.Lookup(channel)
	return ok && o.HasHistory() && (o.ForcePositioning || o.ForceRecovery)
}

// HandleResubscribed (broker.Handler): see above. It runs on the broker's
// goroutine and must not block: the loops are told with a posted
// operation each, not waited for.
func (s *executor) HandleResubscribed(channels []string) {
	confirms := false
	if c, ok := s.broker.(broker.ResubscribeConfirmer); ok {
		confirms = c.ConfirmsResubscribe()
	}
	var ended, checked []string // copies: channels is the broker's
	for _, ch := range channels {
		switch {
		case s.hub.Lookup(ch) == nil:
		case confirms && s.positioned(ch):
			checked = append(checked, ch)
		default:
			ended = append(ended, ch)
		}
	}
	var id uint64
	if len(checked) > 0 {
		id = s.resub.seq.Add(1)
		s.resub.mu.Lock()
		if s.resub.pending == nil {
			s.resub.pending = make(map[string]uint64)
		}
		for _, ch := range checked {
			s.resub.pending[ch] = id
		}
		s.resub.mu.Unlock()
		s.log.Warn("broker resubscribed after a connection loss: checking positioned channels for lost publications", "channels", len(checked))
		time.AfterFunc(resubscribeCheckTimeout, func() {
			for ch := range s.resub.take(checked, id) {
				s.postVerdict(ch, id, broker.HistoryResult{}, errResubscribeTimeout)
			}
		})
	}
	if len(ended) > 0 {
		s.log.Warn("broker resubscribed after a connection loss: ending the channels' streams with 3010", "channels", len(ended))
	}
	if len(ended)+len(checked) == 0 {
		return
	}
	for _, l := range *s.known.Load() {
		l.Post(func(l *delivery.Loop) {
			for _, name := range checked {
				if ch := s.hub.Lookup(name); ch != nil {
					l.Hold(ch, id)
				}
			}
			s.endResubscribed(l, ended)
		})
	}
}

// HandleResubscribeDone (broker.ResubscribeDoneHandler): the broker's
// SUBSCRIBE to channels is back (err nil): every publication from now on
// reaches this node, so each checked channel's position is read now and
// compared on the loops. Runs on the broker's goroutine; never blocks.
func (s *executor) HandleResubscribeDone(channels []string, err error) {
	for ch, id := range s.resub.take(channels, 0) {
		if err != nil {
			s.postVerdict(ch, id, broker.HistoryResult{}, err)
			continue
		}
		o, ok := s.ns.Lookup(ch)
		if !ok {
			continue // cannot happen: it was positioned
		}
		ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
		s.broker.History(ctx, ch, historyOptions(o), broker.HistoryFilter{}, func(h broker.HistoryResult, err error) {
			cancel()
			s.postVerdict(ch, id, h, err)
		})
	}
}

// postVerdict has every loop end channel's hold id with the stream's
// position read after the resubscription (or err). Safe from any
// goroutine.
func (s *Node) postVerdict(channel string, id uint64, h broker.HistoryResult, err error) {
	if err != nil {
		s.log.Error("resubscribe check failed: ending the channel's streams with 3010", "channel", channel, "err", err)
	}
	for _, l := range *s.known.Load() {
		l.Post(s.verdictOp(channel, id, h.Offset, h.Epoch, err, 0))
	}
}

// Publications up to the position read may still be on their way to a
// loop: its verdict waits for them resubscribeRecheck, doubled each time,
// resubscribeRechecks times (315 ms in all) with the channel held, then
// counts them lost.
const (
	resubscribeRecheck  = 5 * time.Millisecond
	resubscribeRechecks = 6
)

// verdictOp ends a loop's hold of channel: 3010 for its streams when a
// publication is missing (or err), nothing otherwise; while the
// publications up to offset have not all arrived, it looks again a little
// later (attempt counts the looks).
func (s *Node) verdictOp(channel string, id, offset uint64, epoch string, err error, attempt int) func(*delivery.Loop) {
	return func(l *delivery.Loop) {
		ch := s.hub.Lookup(channel)
		if ch == nil {
			return
		}
		held, intact, lost := l.HoldCheck(ch, id, offset, epoch)
		switch {
		case !held:
			return // a later reconnect's hold replaced it, or the channel is new
		case err == nil && !intact && !lost && attempt < resubscribeRechecks:
			time.AfterFunc(resubscribeRecheck<<attempt, func() {
				l.Post(s.verdictOp(channel, id, offset, epoch, nil, attempt+1))
			})
			return
		case err != nil || !intact:
			// Still held: what they get before the 3010 stops where the
			// gap may begin.
			s.endResubscribed(l, []string{channel})
		}
		l.Unhold(ch, id)
	}
}

// endResubscribed ends the streams subscribed to channels on l with 3010
// and marks the connects parked on them (Conn.Gap: refused when they
// unpark). On the loop.
func (s *Node) endResubscribed(l *delivery.Loop, channels []string) {
	var targets []*delivery.Conn
	for _, name := range channels {
		ch := s.hub.Lookup(name)
		if ch == nil {
			continue
		}
		for _, e := range ch.Local(l.Idx).Entries {
			switch c := e.Sub; {
			case c.State == delivery.StateStreaming:
				// Parked for an API subscribe too: ended now.
				targets = append(targets, c)
			case c.Parked:
				c.Gap = true
			}
		}
	}
	// Finish's close may unsubscribe (OnClose): the entries are collected
	// first. A connection on several of the channels is listed more than
	// once and finished once (it is no longer streaming the second time).
	for _, c := range targets {
		if c.State == delivery.StateStreaming {
			l.Finish(c, protocol.DisconnectInsufficientState)
		}
	}
}
