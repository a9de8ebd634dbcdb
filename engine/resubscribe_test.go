package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/enginetest"
)

// gatedBroker is the memory broker with its position and history reads held
// until the test lets them go (release), so that a connect stays parked for
// as long as the test needs, with no sleep; entered says a read is held. It
// keeps the handler Run gave it, so the test can play the broker's part in
// a PUB/SUB reconnect (HandleResubscribed).
type gatedBroker struct {
	*broker.Memory
	handler broker.Handler
	entered chan struct{}
	release chan struct{}
}

func newGatedBroker() *gatedBroker {
	return &gatedBroker{Memory: broker.NewMemory(), entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gatedBroker) Run(h broker.Handler) error {
	g.handler = h
	return g.Memory.Run(h)
}

// Inline: history reads answer later, on another goroutine.
func (g *gatedBroker) Inline(op broker.Op) bool { return op != broker.OpHistory }

func (g *gatedBroker) History(ctx context.Context, ch string, opts broker.PublishOptions, f broker.HistoryFilter, done func(broker.HistoryResult, error)) {
	g.entered <- struct{}{}
	go func() {
		select {
		case <-g.release:
		case <-ctx.Done():
			done(broker.HistoryResult{}, ctx.Err())
			return
		}
		g.Memory.History(ctx, ch, opts, f, done)
	}()
}

// TestResubscribeRefusesParkedConnect: a connect parked for its position
// (the broker's answer held) when the broker resubscribes its channel after
// a PUB/SUB reconnect is refused with 3010 when the answer comes, since the
// position may predate publications this node lost; a connect parked on
// another channel, and one made after the reconnect, get their stream.
func TestResubscribeRefusesParkedConnect(t *testing.T) {
	g := newGatedBroker()
	srv := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"), engine.WithBroker(g))
	type result struct {
		st  *enginetest.Stream
		err error
	}
	connect := func(ch string) chan result {
		out := make(chan result, 1)
		go func() {
			st, err := srv.ConnectE(map[string]any{"token": subscriberToken(t, ch)})
			out <- result{st, err}
		}()
		return out
	}
	gapped, spared := connect("hist:parked"), connect("pos:other")
	for range 2 {
		<-g.entered // both are parked: their position reads are held
	}
	g.handler.HandleResubscribed([]string{"hist:parked"})
	close(g.release)

	firstEvent := func(r result) string {
		t.Helper()
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.st.Conn.Close()
		ev, err := eventWithin(r.st, redisTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := firstEvent(<-gapped); !strings.Contains(ev, `"disconnect":`) || !strings.Contains(ev, `"code":3010`) {
		t.Fatalf("connect parked on a resubscribed channel: %s, want a 3010 disconnect", ev)
	}
	if ev := firstEvent(<-spared); !strings.HasPrefix(ev, `{"connect":`) {
		t.Fatalf("connect parked on another channel: %s, want its connect push", ev)
	}
	again := connect("hist:parked")
	<-g.entered
	if ev := firstEvent(<-again); !strings.HasPrefix(ev, `{"connect":`) {
		t.Fatalf("connect after the reconnect: %s, want its connect push", ev)
	}
}

// lossyBroker is the memory broker playing a Redis broker whose PUB/SUB
// connection can be cut: while dropping, publications go into history but
// never reach the node, as when Redis has dropped the node's PUB/SUB client
// and the broker has not noticed yet. It confirms resubscriptions, so the
// node checks positioned channels for a gap instead of ending their streams
// at once; the test plays the broker's reconnect through handler.
type lossyBroker struct {
	*broker.Memory
	handler  broker.Handler
	dropping atomic.Bool
}

func (b *lossyBroker) ConfirmsResubscribe() bool { return true }

func (b *lossyBroker) Run(h broker.Handler) error {
	b.handler = h
	return b.Memory.Run(lossyHandler{Handler: h, b: b})
}

// reconnect plays a PUB/SUB reconnect of ch: resubscribed, then confirmed.
func (b *lossyBroker) reconnect(ch string) {
	b.handler.HandleResubscribed([]string{ch})
	b.handler.(broker.ResubscribeDoneHandler).HandleResubscribeDone([]string{ch}, nil)
}

type lossyHandler struct {
	broker.Handler
	b *lossyBroker
}

func (h lossyHandler) HandlePublication(ch string, p *broker.Publication, sp broker.StreamPosition) broker.Deferred {
	if h.b.dropping.Load() {
		return 0
	}
	return h.Handler.HandlePublication(ch, p, sp)
}

func startLossy(t *testing.T) (*lossyBroker, *enginetest.Server, *enginetest.APIClient) {
	b := &lossyBroker{Memory: broker.NewMemory()}
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.EventLoops = 1 // every stream shares one loop's view of the channel
	srv := enginetest.Start(t, opts, engine.WithBroker(b))
	return b, srv, srv.DialAPI(t)
}

// TestResubscribeGapSurvivesASecondReconnect: a publication lost while a
// positioned channel is held for its check is still a gap when the broker
// loses its connection again before that check ends: the subscriber gets
// 3010, not the publications after the gap.
func TestResubscribeGapSurvivesASecondReconnect(t *testing.T) {
	b, srv, api := startLossy(t)
	s := srv.Connect(t, map[string]any{"token": subscriberToken(t, "pos:x")})
	s.ExpectPrefix(t, `{"connect":`)
	publishOK(t, api, "pos:x", `{"n":1}`)
	nextEventHas(t, s, "publication 1", `"n":1`)

	b.handler.HandleResubscribed([]string{"pos:x"}) // first loss: held
	b.dropping.Store(true)
	publishOK(t, api, "pos:x", `{"n":2}`) // lost
	b.dropping.Store(false)
	publishOK(t, api, "pos:x", `{"n":3}`) // held, after the gap
	b.reconnect("pos:x")                  // lost again before the first check
	publishOK(t, api, "pos:x", `{"n":4}`)
	nextEventHas(t, s, "the disconnect for the lost publication 2", `"disconnect":`, `"code":3010`)
}

// TestResubscribeGapNotHiddenByANewcomer: a connect made while the broker's
// PUB/SUB connection is lost but before the broker knows reads a position
// past the publications this node lost; the check after the reconnect must
// still find the gap of the subscribers that were already streaming.
func TestResubscribeGapNotHiddenByANewcomer(t *testing.T) {
	b, srv, api := startLossy(t)
	s1 := srv.Connect(t, map[string]any{"token": subscriberToken(t, "pos:y")})
	s1.ExpectPrefix(t, `{"connect":`)
	publishOK(t, api, "pos:y", `{"n":1}`)
	nextEventHas(t, s1, "publication 1", `"n":1`)

	b.dropping.Store(true)
	publishOK(t, api, "pos:y", `{"n":2}`)
	publishOK(t, api, "pos:y", `{"n":3}`)
	s2 := srv.Connect(t, map[string]any{"token": subscriberToken(t, "pos:y")})
	s2.ExpectPrefix(t, `{"connect":`) // positioned at 3
	b.dropping.Store(false)
	b.reconnect("pos:y")
	publishOK(t, api, "pos:y", `{"n":4}`)
	nextEventHas(t, s1, "the disconnect for the lost publications 2 and 3", `"disconnect":`, `"code":3010`)
}
