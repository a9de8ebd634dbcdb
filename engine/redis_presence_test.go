package engine_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// redisNodeWith is redisNode (no subscribe delay) with options changed by
// set before the node starts.
func redisNodeWith(t *testing.T, rs *redistest.Server, nodeID string, set func(*config.Options)) *enginetest.Server {
	t.Helper()
	rb, err := redisbroker.New(redisbroker.Options{Addresses: []string{rs.Addr()}, NodeID: nodeID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rb.Close() })
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	set(&opts)
	return enginetest.Start(t, opts, engine.WithBroker(rb), engine.WithPresenceManager(rb), engine.WithNodeID(nodeID))
}

// presenceExpiry is the expiry (unix seconds) Redis holds for the one
// client in a channel's presence, 0 when there is none.
func presenceExpiry(t *testing.T, rs *redistest.Server, channel string) int64 {
	t.Helper()
	r, err := rs.Do("ZRANGE", "centrifugo.presence.expire."+channel, "0", "-1", "WITHSCORES")
	if err != nil {
		t.Fatalf("ZRANGE: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(r), "\n")
	if len(lines) < 2 {
		return 0
	}
	n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatalf("presence zset %q: %v", r, err)
	}
	return n
}

// TestRedisPresenceUpdateInterval: with client.presence_update_interval at
// 200 ms a stream's presence in Redis is refreshed that often: the expiry
// Redis holds for it moves forward within a few seconds, where the default
// 27 s (and pings a minute apart) would leave it unchanged.
func TestRedisPresenceUpdateInterval(t *testing.T) {
	rs := redistest.Start(t)
	srv := redisNodeWith(t, rs, "p", func(o *config.Options) {
		o.Client.PresenceUpdateInterval = 200 * time.Millisecond
		// Every firing of the stream's timer refreshes its presence: no
		// ping may come within the test's deadline.
		o.Client.PingInterval = time.Minute
	})
	const ch = "jl:refreshed"
	st := srv.Connect(t, map[string]any{"token": subscriberToken(t, ch)})
	st.ExpectPrefix(t, `{"connect":`)
	var first int64
	enginetest.Eventually(t, redisTimeout, "presence added", func() bool {
		first = presenceExpiry(t, rs, ch)
		return first > 0
	})
	// The expiry has second precision: a refresh a second later moves it.
	enginetest.Eventually(t, redisTimeout, "presence expiry refreshed", func() bool {
		return presenceExpiry(t, rs, ch) > first
	})
}
