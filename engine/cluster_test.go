package engine_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// Two engine nodes on one Redis, in one process: the cluster control
// protocol and the Redis presence manager wired into the session.

func startRedisNode(t *testing.T, rs *redistest.Server, opts config.Options, name string) (*enginetest.Server, string) {
	t.Helper()
	var u [16]byte
	_, _ = rand.Read(u[:])
	id := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	rb, err := redisbroker.New(redisbroker.Options{Addresses: []string{rs.Addr()}, NodeID: id})
	if err != nil {
		t.Fatalf("redisbroker: %v", err)
	}
	opts.Node.Name = name
	return enginetest.Start(t, opts, engine.WithBroker(rb), engine.WithNodeID(id)), id
}

type infoNode struct {
	UID        string          `json:"uid"`
	Name       string          `json:"name"`
	NumClients int             `json:"num_clients"`
	Metrics    json.RawMessage `json:"metrics"`
}

func clusterInfo(t *testing.T, srv *enginetest.Server) []infoNode {
	t.Helper()
	var r struct {
		Result struct {
			Nodes []infoNode `json:"nodes"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(srv.Call(t, "info", `{}`)), &r); err != nil {
		t.Fatalf("info: %v", err)
	}
	return r.Result.Nodes
}

func infoNames(nodes []infoNode) string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return strings.Join(names, ",")
}

func presenceStats(t *testing.T, srv *enginetest.Server, channel string) string {
	t.Helper()
	return srv.Call(t, "presence_stats", `{"channel":"`+channel+`"}`)
}

// nextEvent is the stream's next event that is not a ping (the capture
// config pings every 4 s).
func nextEvent(t *testing.T, s *enginetest.Stream) string {
	t.Helper()
	ev, err := s.EventSkipPings(enginetest.IOTimeout)
	if err != nil {
		t.Fatalf("next event: %v", err)
	}
	return ev
}

func expectEvent(t *testing.T, s *enginetest.Stream, want string) {
	t.Helper()
	if got := nextEvent(t, s); got != want {
		t.Fatalf("event:\n got %s\nwant %s", got, want)
	}
}

func expectPrefix(t *testing.T, s *enginetest.Stream, prefix string) {
	t.Helper()
	if got := nextEvent(t, s); !strings.HasPrefix(got, prefix) {
		t.Fatalf("event:\n got %s\nwant %s…", got, prefix)
	}
}

func TestClusterTwoNodes(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Channel.WithoutNamespace.Presence = true
	a, aID := startRedisNode(t, rs, opts, "A")
	b, bID := startRedisNode(t, rs, opts, "B")

	// /api/info on either node lists both, itself first; a unisse peer sent
	// no metrics, so its entry has none, while a node's own entry has its own.
	enginetest.Eventually(t, 10*time.Second, "both nodes in /api/info", func() bool {
		return infoNames(clusterInfo(t, a)) == "A,B" && infoNames(clusterInfo(t, b)) == "B,A"
	})
	nodes := clusterInfo(t, a)
	if nodes[0].UID != aID || nodes[1].UID != bID {
		t.Fatalf("info uids %s,%s; want %s,%s", nodes[0].UID, nodes[1].UID, aID, bID)
	}
	if nodes[0].Metrics == nil || nodes[1].Metrics != nil {
		t.Fatalf("metrics: own %s, peer %s; want own metrics and none for the peer", nodes[0].Metrics, nodes[1].Metrics)
	}

	conn := func(srv *enginetest.Server, user string, channels ...string) *enginetest.Stream {
		s := srv.Connect(t, tokenFor(t, map[string]any{"sub": user, "channels": channels}))
		s.ExpectPrefix(t, `{"connect":`)
		return s
	}
	conn(a, "u1", "news")
	u2 := conn(b, "u2", "news")
	u3 := conn(b, "u3", "news", "other")

	// /api/channels sums both nodes.
	var ch struct {
		Result struct {
			Channels map[string]struct {
				NumClients int `json:"num_clients"`
			} `json:"channels"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(a.Call(t, "channels", `{}`)), &ch); err != nil {
		t.Fatal(err)
	}
	if ch.Result.Channels["news"].NumClients != 3 || ch.Result.Channels["other"].NumClients != 1 {
		t.Fatalf("channels on A: %+v; want news 3, other 1", ch.Result.Channels)
	}
	if got := b.Call(t, "channels", `{"pattern":"oth*"}`); got != `{"result":{"channels":{"other":{"num_clients":1}}}}` {
		t.Fatalf("channels oth* on B: %s", got)
	}
	// The peers' announcements carry their counts.
	enginetest.Eventually(t, 10*time.Second, "B's clients in A's /api/info", func() bool {
		n := clusterInfo(t, a)
		return len(n) == 2 && n[1].NumClients == 2
	})

	// Presence counts the clients of both nodes.
	want3 := `{"result":{"num_clients":3,"num_users":3}}`
	enginetest.Eventually(t, 5*time.Second, "presence_stats 3 on both nodes", func() bool {
		return presenceStats(t, a, "news") == want3 && presenceStats(t, b, "news") == want3
	})
	var pr struct {
		Result struct {
			Presence map[string]struct {
				User string `json:"user"`
			} `json:"presence"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(a.Call(t, "presence", `{"channel":"news"}`)), &pr); err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, ci := range pr.Result.Presence {
		users[ci.User] = true
	}
	if len(pr.Result.Presence) != 3 || !users["u1"] || !users["u2"] || !users["u3"] {
		t.Fatalf("presence on A: %+v", pr.Result.Presence)
	}

	// /api/unsubscribe on A reaches u3 on B, and its presence goes.
	a.Call(t, "unsubscribe", `{"user":"u3","channel":"news"}`)
	expectEvent(t, u3, `{"channel":"news","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}`)
	enginetest.Eventually(t, 5*time.Second, "presence_stats 2", func() bool {
		return presenceStats(t, a, "news") == `{"result":{"num_clients":2,"num_users":2}}`
	})
	// /api/subscribe on A reaches it too.
	a.Call(t, "subscribe", `{"user":"u3","channel":"news"}`)
	expectPrefix(t, u3, `{"channel":"news","subscribe":`)
	enginetest.Eventually(t, 5*time.Second, "presence_stats 3 after subscribe", func() bool {
		return presenceStats(t, b, "news") == want3
	})
	// /api/refresh as well.
	a.Call(t, "refresh", fmt.Sprintf(`{"user":"u3","expire_at":%d}`, time.Now().Add(time.Hour).Unix()))
	expectPrefix(t, u3, `{"refresh":{"expires":true`)

	// /api/disconnect on A disconnects u2 on B (3503 by default) and u3 with
	// the code given; their presence goes.
	a.Call(t, "disconnect", `{"user":"u2"}`)
	expectEvent(t, u2, `{"disconnect":{"code":3503,"reason":"force disconnect"}}`)
	a.Call(t, "disconnect", `{"user":"u3","disconnect":{"code":4001,"reason":"bye"}}`)
	expectEvent(t, u3, `{"disconnect":{"code":4001,"reason":"bye"}}`)
	enginetest.Eventually(t, 5*time.Second, "presence_stats 1", func() bool {
		return presenceStats(t, b, "news") == `{"result":{"num_clients":1,"num_users":1}}`
	})

	// A stopped node leaves: its Shutdown command drops it from the other's
	// /api/info without waiting for its announcements to go stale (7 s).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn(b, "u4", "news")
	enginetest.Eventually(t, 5*time.Second, "u4 in presence", func() bool {
		return presenceStats(t, a, "news") == `{"result":{"num_clients":2,"num_users":2}}`
	})
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("stop B: %v", err)
	}
	enginetest.Eventually(t, 5*time.Second, "B gone from A's /api/info", func() bool {
		return infoNames(clusterInfo(t, a)) == "A"
	})
	// B's streams left the presence as they closed.
	enginetest.Eventually(t, 5*time.Second, "presence without B's clients", func() bool {
		return presenceStats(t, a, "news") == `{"result":{"num_clients":1,"num_users":1}}`
	})
	// With B gone, /api/channels is A's alone (no survey waits for B).
	if got := a.Call(t, "channels", `{}`); got != `{"result":{"channels":{"news":{"num_clients":1}}}}` {
		t.Fatalf("channels after B left: %s", got)
	}
}
