package engine_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/enginetest"
)

// A PUB/SUB reconnect without a restart of Redis (CLIENT KILL TYPE pubsub:
// the history stays): the streams of positioned channels end only when a
// publication was really lost.

// cutPubSub drops every PUB/SUB connection Redis has; the nodes reconnect
// and resubscribe.
func cutPubSub(t *testing.T, rs *redistest.Server) {
	t.Helper()
	if _, err := rs.Do("CLIENT", "KILL", "TYPE", "pubsub"); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
}

// awaitNumSub waits until n nodes are subscribed at Redis to channel.
func awaitNumSub(t *testing.T, rs *redistest.Server, channel, n string) {
	t.Helper()
	enginetest.Eventually(t, redisTimeout, "PUBSUB NUMSUB "+channel+" "+n, func() bool {
		return strings.HasSuffix(numSub(t, rs, channel), "\n"+n)
	})
}

// nextEventHas fails unless the stream's next event contains every want.
func nextEventHas(t *testing.T, st *enginetest.Stream, what string, want ...string) string {
	t.Helper()
	ev, err := eventWithin(st, redisTimeout)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, w := range want {
		if !strings.Contains(ev, w) {
			t.Fatalf("%s: got %s, want %s", what, ev, w)
		}
	}
	return ev
}

func publishOK(t *testing.T, api *enginetest.APIClient, ch, data string) {
	t.Helper()
	if reply := api.Call(t, "publish", fmt.Sprintf(`{"channel":%q,"data":%s}`, ch, data)); strings.Contains(reply, "error") {
		t.Fatalf("publish %s: %s", ch, reply)
	}
}

// TestRedisResubscribeKeepsIntactStreams: nothing published while the
// node's PUB/SUB was cut: the streams of positioned channels (force_recovery,
// force_positioning) survive the reconnect and get later publications; the
// stream of a channel without positions, which cannot be checked, ends with
// 3010.
func TestRedisResubscribeKeepsIntactStreams(t *testing.T) {
	rs := redistest.Start(t)
	a, b := redisNode(t, rs, "a", 0), redisNode(t, rs, "b", 0)
	api := a.DialAPI(t)
	chans := []string{"hist:keep", "pos:keep", "keep"}
	streams := make([]*enginetest.Stream, len(chans))
	for i, ch := range chans {
		streams[i] = b.Connect(t, map[string]any{"token": subscriberToken(t, ch)})
		streams[i].ExpectPrefix(t, `{"connect":`)
		publishOK(t, api, ch, `{"before":1}`)
		nextEventHas(t, streams[i], ch+" before the cut", `"before":1`)
	}

	cutPubSub(t, rs)
	nextEventHas(t, streams[2], "keep after the reconnect", `"code":3010`)
	for i, ch := range chans[:2] {
		awaitNumSub(t, rs, ch, "1") // b is subscribed again: what follows reaches it
		publishOK(t, api, ch, `{"after":1}`)
		nextEventHas(t, streams[i], ch+" after the reconnect", `"after":1`, `"offset":2`)
	}
}

// gapBroker is a Redis broker whose handler, told of a PUB/SUB reconnect
// (before the node subscribes again), first runs gap: a publication made
// there goes into Redis's history but never reaches this node, exactly as
// one made during the outage.
type gapBroker struct {
	*redisbroker.Broker
	gap func(channels []string)
}

func (g *gapBroker) Run(h broker.Handler) error {
	return g.Broker.Run(&gapHandler{Handler: h, gap: g.gap})
}

type gapHandler struct {
	broker.Handler
	gap func([]string)
}

func (g *gapHandler) HandleResubscribed(channels []string) {
	g.Handler.HandleResubscribed(channels)
	g.gap(channels)
}

func (g *gapHandler) HandleResubscribeDone(channels []string, err error) {
	g.Handler.(broker.ResubscribeDoneHandler).HandleResubscribeDone(channels, err)
}

// TestRedisResubscribeEndsStreamsWithAGap: a publication made into Redis's
// history while node B's PUB/SUB was cut (by node A, before B subscribed
// again) ends B's stream of that channel with 3010, ahead of anything
// published after; the client then recovers it from history. A positioned
// channel that lost nothing keeps its stream.
func TestRedisResubscribeEndsStreamsWithAGap(t *testing.T) {
	rs := redistest.Start(t)
	a := redisNode(t, rs, "a", 0)
	gapErr := make(chan error, 1)
	rb, err := redisbroker.New(redisbroker.Options{Addresses: []string{rs.Addr()}, NodeID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	gb := &gapBroker{Broker: rb, gap: func([]string) {
		api, err := a.DialAPIE()
		if err == nil {
			defer api.Conn.Close()
			var r enginetest.Response
			r, err = api.Do("publish", `{"channel":"hist:gap","data":{"lost":2}}`)
			if err == nil && (r.Status != 200 || strings.Contains(r.Body, "error")) {
				err = fmt.Errorf("publish during the gap: %d %s", r.Status, r.Body)
			}
		}
		select {
		case gapErr <- err:
		default:
		}
	}}
	b := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"), engine.WithBroker(gb), engine.WithPresenceManager(rb), engine.WithNodeID("b"))
	api := a.DialAPI(t)

	gap := b.Connect(t, map[string]any{"token": subscriberToken(t, "hist:gap")})
	gap.ExpectPrefix(t, `{"connect":`)
	calm := b.Connect(t, map[string]any{"token": subscriberToken(t, "pos:calm")})
	calm.ExpectPrefix(t, `{"connect":`)
	publishOK(t, api, "hist:gap", `{"before":1}`)
	first := nextEventHas(t, gap, "hist:gap before the cut", `"before":1`, `"offset":1`)
	m := regexp.MustCompile(`"epoch":"([^"]+)"`).FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first publication without its epoch: %s", first)
	}
	publishOK(t, api, "pos:calm", `{"before":1}`)
	nextEventHas(t, calm, "pos:calm before the cut", `"before":1`)

	cutPubSub(t, rs)
	if err := <-gapErr; err != nil {
		t.Fatal(err)
	}
	awaitNumSub(t, rs, "hist:gap", "1")
	publishOK(t, api, "hist:gap", `{"after":3}`)
	nextEventHas(t, gap, "hist:gap after a lost publication", `"code":3010`)

	awaitNumSub(t, rs, "pos:calm", "1")
	publishOK(t, api, "pos:calm", `{"after":1}`)
	nextEventHas(t, calm, "pos:calm, which lost nothing", `"after":1`, `"offset":2`)

	// The client's recovery gets what the node lost.
	st := b.Connect(t, map[string]any{"token": subscriberToken(t, "hist:gap"),
		"subs": map[string]any{"hist:gap": map[string]any{"recover": true, "offset": 1, "epoch": m[1]}}})
	nextEventHas(t, st, "recovering connect", `"recovered":true`, `"lost":2`, `"after":3`)
}
