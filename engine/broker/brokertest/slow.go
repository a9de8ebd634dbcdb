// Package brokertest has brokers for tests of the broker seam: Slow, a
// broker that answers like one a network hop away.
package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/unisse/unisse/engine/broker"
)

// Slow wraps a broker so that every call takes Delay plus a random part of
// Jitter and completes on another goroutine, as a broker across a network
// would: nothing completes inline, and a call whose context ends first
// completes with the context's error without reaching the wrapped broker.
type Slow struct {
	inner         broker.Broker
	delay, jitter time.Duration
}

var (
	_ broker.Broker = (*Slow)(nil)
)

// NewSlow wraps inner.
func NewSlow(inner broker.Broker, delay, jitter time.Duration) *Slow {
	return &Slow{inner: inner, delay: delay, jitter: jitter}
}

// after runs call after the broker's latency, on its own goroutine, unless
// ctx ends first (then fail runs with ctx's error).
func (s *Slow) after(ctx context.Context, call func(), fail func(error)) {
	d := s.delay
	if s.jitter > 0 {
		d += rand.N(s.jitter)
	}
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			call()
		case <-ctx.Done():
			fail(fmt.Errorf("slow broker: %w", ctx.Err()))
		}
	}()
}

// Run implements broker.Broker.
func (s *Slow) Run(h broker.Handler) error { return s.inner.Run(h) }

// Inline implements broker.Broker: nothing completes inline.
func (s *Slow) Inline(broker.Op) bool { return false }

// Publish implements broker.Broker.
func (s *Slow) Publish(ctx context.Context, channel string, pub *broker.Publication, opts broker.PublishOptions, done func(broker.StreamPosition, error)) {
	s.after(ctx, func() { s.inner.Publish(ctx, channel, pub, opts, done) }, func(err error) { done(broker.StreamPosition{}, err) })
}

// History implements broker.Broker.
func (s *Slow) History(ctx context.Context, channel string, opts broker.PublishOptions, f broker.HistoryFilter, done func(broker.HistoryResult, error)) {
	s.after(ctx, func() { s.inner.History(ctx, channel, opts, f, done) }, func(err error) { done(broker.HistoryResult{}, err) })
}

// RemoveHistory implements broker.Broker.
func (s *Slow) RemoveHistory(ctx context.Context, channel string, done func(error)) {
	s.after(ctx, func() { s.inner.RemoveHistory(ctx, channel, done) }, done)
}

// Subscribe implements broker.Broker.
func (s *Slow) Subscribe(ctx context.Context, channel string, done func(error)) {
	s.after(ctx, func() { s.inner.Subscribe(ctx, channel, done) }, done)
}

// Unsubscribe implements broker.Broker.
func (s *Slow) Unsubscribe(ctx context.Context, channel string, done func(error)) {
	s.after(ctx, func() { s.inner.Unsubscribe(ctx, channel, done) }, done)
}

// PublishControl implements broker.Broker.
func (s *Slow) PublishControl(ctx context.Context, data []byte, node string, done func(error)) {
	s.after(ctx, func() { s.inner.PublishControl(ctx, data, node, done) }, done)
}

// Close implements broker.Broker.
func (s *Slow) Close() error { return s.inner.Close() }
