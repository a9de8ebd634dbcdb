package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/config"
)

// TestNewBackendsMemory: the memory engine gets the memory broker and no
// presence manager (the node's connections answer presence); a broker type
// unisse does not have is refused naming its key.
func TestNewBackendsMemory(t *testing.T) {
	o := config.Default()
	be, err := newBackends(&o, newNodeID())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := be.broker.(*broker.Memory); !ok || be.presence != nil {
		t.Errorf("memory engine: broker %T, presence %v; want *broker.Memory and none", be.broker, be.presence)
	}
	o.Broker.Enabled, o.Broker.Type = true, "postgres"
	var fe *config.FieldError
	if _, err := newBackends(&o, newNodeID()); !errors.As(err, &fe) || fe.Key != "broker.type" {
		t.Errorf("postgres broker: newBackends error = %v, want a FieldError for broker.type", err)
	}
}

// TestNewBackendsNats: broker.type nats builds the NATS broker (against an
// embedded nats-server) with presence from the Redis engine beside it; an
// unreachable NATS is a start-up error naming the section.
func TestNewBackendsNats(t *testing.T) {
	ns := natstest.Start(t)
	rs := redistest.Start(t)
	o := config.Default()
	o.Engine.Type = "redis"
	o.Engine.Redis.Address = []string{rs.Addr()}
	o.Broker.Enabled, o.Broker.Type = true, "nats"
	o.Broker.Nats.URL = ns.URL()
	be, err := newBackends(&o, newNodeID())
	if err != nil {
		t.Fatal(err)
	}
	nb, ok := be.broker.(*natsbroker.Broker)
	if !ok || be.ownPresence == nil || be.presence != broker.PresenceManager(be.ownPresence) {
		t.Fatalf("broker %T, presence %T; want *natsbroker.Broker and the engine's Redis for presence", be.broker, be.presence)
	}
	if err := nb.Healthy(); err != nil {
		t.Error(err)
	}
	_ = nb.Close()
	be.closePresence()

	ns.Stop()
	o = config.Default()
	o.Broker.Enabled, o.Broker.Type = true, "nats"
	o.Broker.Nats.URL = ns.URL()
	o.Broker.Nats.DialTimeout = 200 * time.Millisecond
	if _, err := newBackends(&o, newNodeID()); err == nil || !strings.Contains(err.Error(), "broker: nats") {
		t.Errorf("unreachable NATS: %v", err)
	}
}

// TestNewBackendsRedis: engine.type redis builds one Redis client serving
// both publications and presence, against a real redis-server; a
// presence_manager section of its own gets its own client.
func TestNewBackendsRedis(t *testing.T) {
	rs := redistest.Start(t)
	o := config.Default()
	o.Engine.Type = "redis"
	o.Engine.Redis.Address = []string{rs.Addr()}
	be, err := newBackends(&o, newNodeID())
	if err != nil {
		t.Fatal(err)
	}
	rb, ok := be.broker.(*redisbroker.Broker)
	if !ok || be.presence != broker.PresenceManager(rb) || be.ownPresence != nil {
		t.Fatalf("engine.type redis: broker %T, presence %T (own %v); want one *redisbroker.Broker for both", be.broker, be.presence, be.ownPresence)
	}
	defer rb.Close()
	// The presence written through it is in that Redis under Centrifugo's key.
	done := make(chan error, 1)
	rb.AddPresence(context.Background(), "room", "c1", &broker.ClientInfo{ClientID: "c1", UserID: "u1"}, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := rs.Do("HLEN", "centrifugo.presence.data.room"); err != nil || n != "1" {
		t.Errorf("HLEN centrifugo.presence.data.room = %q, %v; want 1", n, err)
	}

	o = config.Default()
	o.PresenceManager.Enabled, o.PresenceManager.Type = true, "redis"
	o.PresenceManager.Redis.Address = []string{rs.Addr()}
	be, err = newBackends(&o, newNodeID())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := be.broker.(*broker.Memory); !ok || be.ownPresence == nil || be.presence != broker.PresenceManager(be.ownPresence) {
		t.Errorf("presence_manager redis: broker %T, presence %T; want memory broker and an own Redis presence manager", be.broker, be.presence)
	}
	be.closePresence()
}

// TestRunRedisUnreachable: a node whose Redis cannot be reached at start
// refuses to start (as Centrifugo does) instead of serving a channel space
// of its own, and says which section and address.
func TestRunRedisUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	err = run([]string{"-c", empty, "--engine.type", "redis", "--engine.redis.address", addr, "--engine.redis.connect_timeout", "200ms", "--log.level", "none"}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "engine: redis") || !strings.Contains(err.Error(), addr) {
		t.Errorf("run with an unreachable Redis = %v, want an error naming engine and %s", err, addr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("run took %v to give up", d)
	}
}

// TestRedisOptions: standalone shards keep their own db and credentials (one
// URL each, in order: the shard of a channel depends on it); a cluster or a
// sentinel set is the section's only shard.
func TestRedisOptions(t *testing.T) {
	r := &config.Redis{Prefix: "p", Shards: []config.RedisShard{
		{Mode: config.RedisStandalone, Network: "tcp", Addrs: []string{"127.0.0.1:6379"}},
		{Mode: config.RedisStandalone, Network: "tcp", Addrs: []string{"127.0.0.2:6380"}, DB: 2, User: "u", Password: "p@ss"},
	}, PresenceTTL: 9 * time.Second, HistoryUseLists: true, PresenceUserMapping: true, ClientName: "node-a"}
	r.Shards[0].ForceResp2 = true
	o, err := redisOptions(r, "engine", "n1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"redis://127.0.0.1:6379/0", "redis://u:p%40ss@127.0.0.2:6380/2"}
	if strings.Join(o.Addresses, " ") != strings.Join(want, " ") || o.Prefix != "p" || o.NodeID != "n1" || o.PresenceTTL != 9*time.Second || !o.HistoryUseLists ||
		!o.PresenceUserMapping || o.ClientName != "node-a" || !o.ForceRESP2 {
		t.Errorf("standalone shards: %+v, want addresses %v", o, want)
	}
	r.Shards = append(r.Shards, config.RedisShard{Mode: config.RedisCluster, Network: "tcp", Addrs: []string{"127.0.0.3:7000"}})
	if _, err := redisOptions(r, "engine", "n1"); !errors.Is(err, errRedisTopology) {
		t.Errorf("a cluster among shards: err = %v, want errRedisTopology", err)
	}
	r.Shards = []config.RedisShard{{Mode: config.RedisSentinel, Network: "tcp", Addrs: []string{"127.0.0.1:26379"}, MasterName: "m"}}
	o, err = redisOptions(r, "engine", "n1")
	if err != nil || o.SentinelMasterName != "m" || len(o.SentinelAddresses) != 1 {
		t.Errorf("sentinel: %+v, %v", o, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(newNodeID()) {
		t.Errorf("newNodeID is not a UUID v4")
	}
}

// TestRunNatsRefusesHistoryNamespace: with broker.type nats, a namespace
// that needs history stops the start with a message naming it, before any
// connection to NATS is tried.
func TestRunNatsRefusesHistoryNamespace(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	body := `{"broker": {"enabled": true, "type": "nats", "nats": {"url": "nats://127.0.0.1:1"}},
		"channel": {"namespaces": [{"name": "feed", "history_size": 10, "history_ttl": "60s"}]}}`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run([]string{"-c", cfg, "--log.level", "none"}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), `namespace "feed"`) || !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("run = %v, want an error naming namespace feed and NATS", err)
	}
}
