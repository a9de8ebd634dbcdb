package engine_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/brokertest"
	"github.com/unisse/unisse/engine/enginetest"
)

type pubEvent struct {
	Channel string `json:"channel"`
	Pub     *struct {
		Data   struct{ N int } `json:"data"`
		Offset uint64          `json:"offset"`
		Epoch  string          `json:"epoch"`
	} `json:"pub"`
}

type connectEvent struct {
	Connect struct {
		Subs map[string]struct {
			Recovered     bool   `json:"recovered"`
			WasRecovering bool   `json:"was_recovering"`
			Epoch         string `json:"epoch"`
			Offset        uint64 `json:"offset"`
			Publications  []struct {
				Data   struct{ N int } `json:"data"`
				Offset uint64          `json:"offset"`
			} `json:"publications"`
		} `json:"subs"`
	} `json:"connect"`
}

// TestRecoveryWhilePublishing: a client that disconnects and reconnects with
// recover gets exactly the publications it missed — from history in its
// connect push, then live — while a publisher keeps publishing: across
// several reconnects it sees every offset once, in order, with no gap.
func TestRecoveryWhilePublishing(t *testing.T) {
	t.Parallel()
	recoveryWhilePublishing(t, 40, 30)
}

// TestRecoveryWhilePublishingSlowBroker is the same on a broker that takes
// 10–60 ms for every call and completes none inline: each reconnect is
// parked until its history arrives, buffering live publications meanwhile,
// and still sees every offset once (fewer rounds of publications: each
// publish takes the broker's time too).
func TestRecoveryWhilePublishingSlowBroker(t *testing.T) {
	t.Parallel()
	recoveryWhilePublishing(t, 10, 10, engine.WithBroker(brokertest.NewSlow(broker.NewMemory(), 10*time.Millisecond, 50*time.Millisecond)))
}

// recoveryWhilePublishing reads live publications per round and lets away
// publications happen between rounds.
func recoveryWhilePublishing(t *testing.T, live int, away int64, options ...engine.Option) {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	for i := range opts.Channel.Namespaces {
		if opts.Channel.Namespaces[i].Name == "hist" {
			opts.Channel.Namespaces[i].HistorySize = 10000
		}
	}
	srv := enginetest.Start(t, opts, options...)
	const ch = "hist:recovery"
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "r", "channels": []string{ch}})

	// The publisher runs until told to stop, numbering its publications.
	var published atomic.Int64
	stop := make(chan struct{})
	var stopOnce sync.Once
	var wg sync.WaitGroup
	// Stop the publisher however the test ends (a Fatal included), before
	// the server stops: it must not report on a finished test.
	stopPublisher := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	t.Cleanup(stopPublisher)
	wg.Add(1)
	go func() {
		defer wg.Done()
		api, err := srv.DialAPIE()
		if err != nil {
			t.Error(err)
			return
		}
		defer api.Conn.Close()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := api.Do("publish", fmt.Sprintf(`{"channel":%q,"data":{"n":%d}}`, ch, n))
			if err != nil || resp.Status != 200 {
				t.Errorf("publish %d: %v %+v", n, err, resp)
				return
			}
			published.Store(int64(n))
		}
	}()

	seen := map[uint64]bool{}
	var last, start uint64 // start: the position of the first connect
	var epoch string
	record := func(off uint64, n int) {
		if off != last+1 {
			t.Fatalf("offset %d after %d: gap or duplicate", off, last)
		}
		if uint64(n) != off {
			t.Fatalf("offset %d carries publication %d", off, n)
		}
		seen[off] = true
		last = off
	}
	for round := 0; round < 6; round++ {
		req := map[string]any{"token": token}
		if round > 0 {
			req["subs"] = map[string]any{ch: map[string]any{"recover": true, "offset": last, "epoch": epoch}}
		}
		s, err := srv.ConnectE(req)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := s.Event(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var c connectEvent
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatalf("connect push %s: %v", ev, err)
		}
		sub, ok := c.Connect.Subs[ch]
		if !ok {
			t.Fatalf("connect push without %s: %s", ch, ev)
		}
		if round == 0 {
			epoch, last, start = sub.Epoch, sub.Offset, sub.Offset
		} else {
			if !sub.Recovered || !sub.WasRecovering || sub.Epoch != epoch {
				t.Fatalf("round %d: not recovered: %s", round, ev)
			}
			for _, p := range sub.Publications {
				record(p.Offset, p.Data.N)
			}
		}
		// Read some live publications, then drop the connection.
		for i := 0; i < live; i++ {
			ev, err := s.Event(5 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var p pubEvent
			if err := json.Unmarshal([]byte(ev), &p); err != nil || p.Pub == nil {
				continue // a ping
			}
			if p.Pub.Offset == 1 && p.Pub.Epoch != epoch {
				t.Fatalf("offset 1 with epoch %q, stream epoch %q", p.Pub.Epoch, epoch)
			}
			record(p.Pub.Offset, p.Pub.Data.N)
		}
		s.Conn.Close()
		// Let publications happen while we are away.
		target := published.Load() + away
		enginetest.Eventually(t, 10*time.Second, "publisher progress", func() bool { return published.Load() >= target })
	}
	stopPublisher()

	// A last reconnect recovers everything up to the final top, exactly.
	s, err := srv.ConnectE(map[string]any{"token": token, "subs": map[string]any{ch: map[string]any{"recover": true, "offset": last, "epoch": epoch}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Conn.Close()
	ev, err := s.Event(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var c connectEvent
	if err := json.Unmarshal([]byte(ev), &c); err != nil {
		t.Fatal(err)
	}
	sub := c.Connect.Subs[ch]
	if !sub.Recovered {
		t.Fatalf("final reconnect not recovered: %s", ev)
	}
	for _, p := range sub.Publications {
		record(p.Offset, p.Data.N)
	}
	if total := uint64(published.Load()); last != total || uint64(len(seen)) != total-start {
		t.Fatalf("saw %d publications from offset %d up to %d, published %d", len(seen), start+1, last, total)
	}
}

// TestLoopStepsWithinBudget runs the slow-broker recovery workload alone
// under the loop watchdog (watchdog_test.go): parked connects, recoveries
// and publishes through a broker that answers in 10–60 ms, and no loop step
// may take more than the budget (2 ms of CPU; ×10 under -race).
func TestLoopStepsWithinBudget(t *testing.T) {
	engine.WatchLoopSteps(t)
	recoveryWhilePublishing(t, 10, 10, engine.WithBroker(brokertest.NewSlow(broker.NewMemory(), 10*time.Millisecond, 50*time.Millisecond)))
}
