package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker/natsbroker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
	"github.com/unisse/unisse/engine/enginetest"
)

// Two unisse nodes in this process on one embedded NATS server: what their
// clients see across nodes, and when NATS goes away and comes back.

func natsNode(t *testing.T, ns *natstest.Server, nodeID string) *enginetest.Server {
	t.Helper()
	nb, err := natsbroker.New(natsbroker.Options{URL: ns.URL(), NodeID: nodeID, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the server's cleanup, so run after it.
	t.Cleanup(func() { _ = nb.Close() })
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	return enginetest.Start(t, opts, engine.WithBroker(nb), engine.WithNodeID(nodeID))
}

// TestNatsTwoNodes: a publication through one node's API reaches the
// subscribers of another, in order; the nodes see each other in /api/info
// and an API disconnect (a control command to every node) reaches a user
// connected to the other node.
func TestNatsTwoNodes(t *testing.T) {
	ns := natstest.Start(t)
	a, b := natsNode(t, ns, "a"), natsNode(t, ns, "b")
	st := b.Connect(t, map[string]any{"token": subscriberToken(t, "room")})
	st.ExpectPrefix(t, `{"connect":`)
	api := a.DialAPI(t)
	for i := range 20 {
		if reply := api.Call(t, "publish", fmt.Sprintf(`{"channel":"room","data":{"n":%d}}`, i)); strings.Contains(reply, "error") {
			t.Fatalf("publish: %s", reply)
		}
	}
	for i := range 20 {
		ev, err := eventWithin(st, redisTimeout)
		if err != nil || !strings.Contains(ev, fmt.Sprintf(`"data":{"n":%d}`, i)) || !strings.Contains(ev, `"channel":"room"`) {
			t.Fatalf("publication %d on b: %q %v", i, ev, err)
		}
	}
	// The nodes announce themselves over NATS: each one's info lists both.
	enginetest.Eventually(t, redisTimeout, "two nodes in /api/info", func() bool {
		return strings.Count(api.Call(t, "info", `{}`), `"uid":`) == 2
	})
	if reply := api.Call(t, "disconnect", `{"user":"u"}`); strings.Contains(reply, "error") {
		t.Fatalf("disconnect: %s", reply)
	}
	enginetest.Eventually(t, redisTimeout, "u disconnected from b", func() bool { return b.NumClients() == 0 })
}

// TestNatsOutage: while NATS is down /health answers 503 with the reason
// and an API publish an internal error, a connect that needs a new
// subscription gets 3004 and connected clients stay; once NATS is back the subscribers
// of b's channels get 3010 (publications of the outage were lost) and,
// reconnected, receive later publications.
func TestNatsOutage(t *testing.T) {
	ns := natstest.Start(t)
	a, b := natsNode(t, ns, "a"), natsNode(t, ns, "b")
	if code, body := health(t, b); code != 200 || body != "{}" {
		t.Fatalf("health before: %d %q", code, body)
	}
	st := b.Connect(t, map[string]any{"token": subscriberToken(t, "out")})
	st.ExpectPrefix(t, `{"connect":`)

	ns.Stop()
	enginetest.Eventually(t, redisTimeout, "/health 503", func() bool {
		code, _ := health(t, b)
		return code == 503
	})
	if _, body := health(t, b); !strings.Contains(body, `"error":"`) || !strings.Contains(body, "nats") {
		t.Fatalf("health body %q: want the reason", body)
	}
	if reply := a.Call(t, "publish", `{"channel":"out","data":{}}`); !strings.Contains(reply, `"error":{"code":100`) {
		t.Fatalf("publish while NATS is down: %s, want internal error 100", reply)
	}
	// A connect that needs a new subscription is refused with 3004 at once
	// (no subscription is promised while NATS is away).
	nst := b.Connect(t, map[string]any{"token": subscriberToken(t, "new")})
	if ev := nst.ExpectPrefix(t, `{"disconnect":`); !strings.Contains(ev, `"code":3004`) {
		t.Fatalf("connect while NATS is down: %s", ev)
	}
	if n := b.NumClients(); n != 1 {
		t.Fatalf("%d clients on b while NATS is down, want the one connected before", n)
	}

	ns.Restart()
	ev, err := eventWithin(st, redisTimeout)
	if err != nil || !strings.Contains(ev, `"code":3010`) {
		t.Fatalf("after NATS is back: %q %v, want 3010", ev, err)
	}
	enginetest.Eventually(t, redisTimeout, "/health 200", func() bool {
		code, _ := health(t, b)
		return code == 200
	})
	st = b.Connect(t, map[string]any{"token": subscriberToken(t, "out")})
	st.ExpectPrefix(t, `{"connect":`)
	// a's own reconnect may still be on its way: publish until one lands.
	enginetest.Eventually(t, redisTimeout, "publish after NATS is back", func() bool {
		return !strings.Contains(a.Call(t, "publish", `{"channel":"out","data":{"after":1}}`), "error")
	})
	if ev, err := eventWithin(st, redisTimeout); err != nil || !strings.Contains(ev, `"after":1`) {
		t.Fatalf("after reconnect: %q %v", ev, err)
	}
}
