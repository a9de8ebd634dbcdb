package engine_test

import (
	"context"
	"strings"
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
