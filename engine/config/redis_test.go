package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRedisDefaults: Centrifugo v6.9.1's defaults for every Redis section,
// and the memory engine when nothing is configured.
func TestRedisDefaults(t *testing.T) {
	o := Default()
	for name, c := range map[string]*RedisConnection{
		"engine": &o.Engine.Redis.RedisConnection, "broker": &o.Broker.Redis.RedisConnection,
		"presence_manager": &o.PresenceManager.Redis.RedisConnection,
	} {
		if !slices.Equal(c.Address, []string{"redis://127.0.0.1:6379"}) || c.ConnectTimeout != time.Second || c.IOTimeout != 4*time.Second || c.DB != 0 {
			t.Errorf("%s.redis defaults = %+v", name, *c)
		}
	}
	if o.Engine.Redis.Prefix != "centrifugo" || o.Broker.Redis.Prefix != "centrifugo" || o.PresenceManager.Redis.Prefix != "centrifugo" {
		t.Errorf("prefixes = %q %q %q, want centrifugo", o.Engine.Redis.Prefix, o.Broker.Redis.Prefix, o.PresenceManager.Redis.Prefix)
	}
	if o.Engine.Redis.PresenceTTL != 60*time.Second || o.PresenceManager.Redis.PresenceTTL != 60*time.Second {
		t.Errorf("presence_ttl = %s %s, want 60s", o.Engine.Redis.PresenceTTL, o.PresenceManager.Redis.PresenceTTL)
	}
	if o.Own.ReusePort {
		t.Error("unisse.reuse_port is on by default")
	}
	// Each Options has its own address slice.
	o.Engine.Redis.Address[0] = "changed:1"
	if Default().Engine.Redis.Address[0] != "redis://127.0.0.1:6379" {
		t.Error("Default shares the address slice between calls")
	}
	b, err := o.Backends()
	if err != nil || b.Broker != BackendMemory || b.Presence != BackendMemory || b.BrokerRedis != nil || b.PresenceRedis != nil {
		t.Errorf("Backends() = %+v, %v; want memory for both", b, err)
	}
}

// TestLoadRedisEngine: a Centrifugo file with engine.type redis loads, the
// address given as a JSON string (one shard) or a list, and both halves use
// the engine's Redis.
func TestLoadRedisEngine(t *testing.T) {
	file := writeConfig(t, `{
		"engine": {"type": "redis", "redis": {
			"address": "redis://user:secret@127.0.0.1:6380/2",
			"prefix": "shared", "connect_timeout": "2s", "io_timeout": "3s",
			"presence_ttl": "30s", "tls": {"enabled": true, "server_name": "r.example"}
		}},
		"unisse": {"reuse_port": true}
	}`)
	o, rep := load(t, []string{"-c", file}, nil)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !o.Own.ReusePort {
		t.Error("unisse.reuse_port not loaded")
	}
	if len(rep.Ignored) != 0 {
		t.Errorf("Ignored = %q, want none", rep.Ignored)
	}
	b, err := o.Backends()
	if err != nil {
		t.Fatal(err)
	}
	if b.Broker != BackendRedis || b.Presence != BackendRedis || b.BrokerKey != "engine" || b.BrokerRedis != b.PresenceRedis {
		t.Fatalf("Backends() = %+v", b)
	}
	r := b.BrokerRedis
	want := RedisShard{
		Mode: RedisStandalone, Network: "tcp", Addrs: []string{"127.0.0.1:6380"}, DB: 2, User: "user", Password: "secret",
		TLS: true, ConnectTimeout: 2 * time.Second, IOTimeout: 3 * time.Second,
	}
	if len(r.Shards) != 1 || !shardEqual(r.Shards[0], want) {
		t.Errorf("shards = %+v, want [%+v]", r.Shards, want)
	}
	if r.Prefix != "shared" || r.PresenceTTL != 30*time.Second || r.TLSConfig.ServerName != "r.example" {
		t.Errorf("redis = %+v", *r)
	}

	// A list in the file, and space-separated in the environment (which wins).
	file = writeConfig(t, `{"engine": {"type": "redis", "redis": {"address": ["127.0.0.1:7001", "redis://127.0.0.1:7002"]}}}`)
	o, _ = load(t, []string{"-c", file}, nil)
	if b, err := o.Backends(); err != nil || len(b.BrokerRedis.Shards) != 2 || b.BrokerRedis.Shards[1].Addrs[0] != "127.0.0.1:7002" {
		t.Errorf("list address: %+v, %v", b.BrokerRedis, err)
	}
	o, _ = load(t, []string{"-c", file}, []string{"CENTRIFUGO_ENGINE_REDIS_ADDRESS=127.0.0.1:1 127.0.0.1:2 127.0.0.1:3"})
	if !slices.Equal(o.Engine.Redis.Address, []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}) {
		t.Errorf("env address = %q", o.Engine.Redis.Address)
	}
	o, _ = load(t, []string{"--engine.type", "redis", "--engine.redis.address", "127.0.0.1:9,127.0.0.1:10"}, nil)
	if o.Engine.Type != "redis" || !slices.Equal(o.Engine.Redis.Address, []string{"127.0.0.1:9", "127.0.0.1:10"}) {
		t.Errorf("flags: type %q address %q", o.Engine.Type, o.Engine.Redis.Address)
	}
}

func shardEqual(a, b RedisShard) bool { return reflect.DeepEqual(a, b) }

// TestBrokerAndPresenceSections: broker and presence_manager, when enabled,
// replace their half of the engine, each with its own Redis; when both are,
// the engine is not used at all (so its type is not checked, as Centrifugo).
func TestBrokerAndPresenceSections(t *testing.T) {
	file := writeConfig(t, `{
		"engine": {"type": "memory"},
		"broker": {"enabled": true, "type": "redis", "redis": {"address": "127.0.0.1:7000", "prefix": "b", "history_use_lists": false}},
		"presence_manager": {"enabled": false, "type": "redis"}
	}`)
	o, rep := load(t, []string{"-c", file}, nil)
	if len(rep.Ignored) != 0 {
		t.Errorf("Ignored = %q", rep.Ignored)
	}
	b, err := o.Backends()
	if err != nil {
		t.Fatal(err)
	}
	if b.Broker != BackendRedis || b.BrokerKey != "broker" || b.BrokerRedis.Prefix != "b" || b.Presence != BackendMemory || b.PresenceKey != "engine" || b.PresenceRedis != nil {
		t.Errorf("Backends() = %+v", b)
	}

	o = Default()
	o.Engine.Type = "bogus"
	o.Broker.Enabled, o.PresenceManager.Enabled = true, true
	o.PresenceManager.Type = BackendRedis
	o.PresenceManager.Redis.Address = []string{"127.0.0.1:7003"}
	b, err = o.Backends()
	if err != nil || b.Broker != BackendMemory || b.Presence != BackendRedis || b.PresenceRedis.Shards[0].Addrs[0] != "127.0.0.1:7003" || b.PresenceRedis.PresenceTTL != time.Minute {
		t.Errorf("both sections enabled: %+v, %v", b, err)
	}
}

// TestRedisAddressForms: every address form centrifuge accepts resolves to
// the shard it describes.
func TestRedisAddressForms(t *testing.T) {
	base := RedisShard{Network: "tcp", ConnectTimeout: time.Second, IOTimeout: 4 * time.Second}
	with := func(f func(s *RedisShard)) RedisShard { s := base; f(&s); return s }
	cases := []struct {
		addr string
		want RedisShard
	}{
		{"127.0.0.1:6379", with(func(s *RedisShard) { s.Addrs = []string{"127.0.0.1:6379"} })},
		{"redis.example:6379", with(func(s *RedisShard) { s.Addrs = []string{"redis.example:6379"} })},
		{"tcp://127.0.0.1:6379/3", with(func(s *RedisShard) { s.Addrs, s.DB = []string{"127.0.0.1:6379"}, 3 })},
		{"rediss://:pw@h:6380?io_timeout=250ms&force_resp2=true", with(func(s *RedisShard) {
			s.Addrs, s.Password, s.TLS, s.IOTimeout, s.ForceResp2 = []string{"h:6380"}, "pw", true, 250*time.Millisecond, true
		})},
		{"redis://h:1?tls_enabled=true&connect_timeout=5s", with(func(s *RedisShard) {
			s.Addrs, s.TLS, s.ConnectTimeout = []string{"h:1"}, true, 5*time.Second
		})},
		{"redis+cluster://h:7000?addr=h:7001&addr=h:7002", with(func(s *RedisShard) {
			s.Mode, s.Addrs = RedisCluster, []string{"h:7000", "h:7001", "h:7002"}
		})},
		{"redis+sentinel://h:26379?sentinel_master_name=mymaster&sentinel_password=sp&addr=h:26380", with(func(s *RedisShard) {
			s.Mode, s.Addrs, s.MasterName, s.SentinelPassword = RedisSentinel, []string{"h:26379", "h:26380"}, "mymaster", "sp"
		})},
		{"rediss+sentinel://h:26379?sentinel_master_name=m", with(func(s *RedisShard) {
			s.Mode, s.Addrs, s.MasterName, s.TLS, s.SentinelTLS = RedisSentinel, []string{"h:26379"}, "m", true, true
		})},
		{"unix:///run/redis.sock", with(func(s *RedisShard) { s.Network, s.Addrs = "unix", []string{"/run/redis.sock"} })},
	}
	for _, c := range cases {
		got, err := parseRedisAddress(c.addr, base)
		if err != nil {
			t.Errorf("%s: %v", c.addr, err)
			continue
		}
		if !shardEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.addr, got, c.want)
		}
	}
}

// TestRedisValidation: malformed addresses and unknown types fail with the
// key at fault; Validate reports what Backends does.
func TestRedisValidation(t *testing.T) {
	cases := []struct {
		name string
		set  func(o *Options)
		want []string
		msg  string
	}{
		{"engine unknown", func(o *Options) { o.Engine.Type = "nats" }, []string{"engine.type"}, `unknown engine "nats"`},
		{"broker postgres", func(o *Options) { o.Broker.Enabled, o.Broker.Type = true, "postgres" }, []string{"broker.type"}, "does not implement"},
		{"broker unknown", func(o *Options) { o.Broker.Enabled, o.Broker.Type = true, "kafka" }, []string{"broker.type"}, `unknown broker "kafka"`},
		{"broker disabled unknown type", func(o *Options) { o.Broker.Type = "kafka" }, nil, ""},
		{"presence unknown", func(o *Options) { o.PresenceManager.Enabled, o.PresenceManager.Type = true, "etcd" }, []string{"presence_manager.type"}, "unknown presence manager"},
		{"address host only", redisAt("localhost"), []string{"engine.redis.address[0]"}, "must be a Redis URL or host:port"},
		{"address bad port", redisAt("redis://h:http"), []string{"engine.redis.address[0]"}, "malformed address"},
		{"address bad db", redisAt("redis://h:1/zero"), []string{"engine.redis.address[0]"}, "is not a number"},
		{"address bad query", redisAt("redis://h:1?io_timeout=soon"), []string{"engine.redis.address[0]"}, "io_timeout"},
		{"address unknown scheme", redisAt("http://h:1"), []string{"engine.redis.address[0]"}, "must be a Redis URL or host:port"},
		{"second address bad", redisAt("h:1", "h"), []string{"engine.redis.address[1]"}, ""},
		{"no address", redisAt(), []string{"engine.redis.address"}, "no Redis address"},
		{"sentinel without master", redisAt("redis+sentinel://h:26379"), []string{"engine.redis.address[0]"}, "master name"},
		// centrifuge reads the master of a URL from the URL only.
		{"sentinel URL ignores master key", func(o *Options) {
			redisAt("redis+sentinel://h:26379")(o)
			o.Engine.Redis.SentinelMasterName = "m"
		}, []string{"engine.redis.address[0]"}, "sentinel_master_name"},
		{"sentinel URL with master", redisAt("redis+sentinel://h:26379?sentinel_master_name=m"), nil, ""},
		{"cluster ok", func(o *Options) { redisAt()(o); o.Engine.Redis.ClusterAddress = []string{"h:1,h:2", "g:1"} }, nil, ""},
		{"cluster malformed", func(o *Options) { redisAt()(o); o.Engine.Redis.ClusterAddress = []string{"h:1,h"} }, []string{"engine.redis.cluster_address[0]"}, "malformed address"},
		{"sentinel keys no master", func(o *Options) { redisAt()(o); o.Engine.Redis.SentinelAddress = []string{"h:26379"} }, []string{"engine.redis.sentinel_master_name"}, ""},
		// The key applies to sentinel_address only (and is reported as unsupported).
		{"replica key with address", func(o *Options) { redisAt("h:1")(o); o.Engine.Redis.ReplicaClient.Enabled = true }, nil, ""},
		{"replica URL on standalone", redisAt("redis://h:1?replica_client_enabled=true"), []string{"engine.redis.address[0]"}, "needs Redis Cluster or Sentinel"},
		{"replica URL on cluster", redisAt("redis+cluster://h:1?replica_client_enabled=true"), nil, ""},
		{"timeouts", func(o *Options) { redisAt("h:1")(o); o.Engine.Redis.ConnectTimeout, o.Engine.Redis.IOTimeout = 0, -1 }, []string{"engine.redis.connect_timeout", "engine.redis.io_timeout"}, ""},
		{"negative db", func(o *Options) { redisAt("h:1")(o); o.Engine.Redis.DB = -1 }, []string{"engine.redis.db"}, ""},
		{"broker section address", func(o *Options) {
			o.Broker.Enabled, o.Broker.Type, o.Broker.Redis.Address = true, "redis", []string{"nope"}
		}, []string{"broker.redis.address[0]"}, ""},
		{"presence section address", func(o *Options) {
			o.PresenceManager.Enabled, o.PresenceManager.Type, o.PresenceManager.Redis.Address = true, "redis", []string{"redis://:1"}
		}, []string{"presence_manager.redis.address[0]"}, "missing host"},
		// A section that is not used is not checked (Centrifugo builds only what it uses).
		{"engine redis unused", func(o *Options) {
			redisAt("nope")(o)
			o.Broker.Enabled, o.PresenceManager.Enabled = true, true
		}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Default()
			c.set(&o)
			err := o.Validate()
			if got := failedKeys(t, err); !slices.Equal(got, c.want) {
				t.Errorf("Validate() failed keys = %q, want %q (err: %v)", got, c.want, err)
			}
			if c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)) {
				t.Errorf("error %v does not say %q", err, c.msg)
			}
			_, berr := o.Backends()
			if (berr == nil) != (len(failedKeys(t, err)) == 0) {
				t.Errorf("Backends error %v disagrees with Validate %v", berr, err)
			}
			var fe *FieldError
			if berr != nil && !errors.As(berr, &fe) {
				t.Errorf("Backends error %v is not a *FieldError", berr)
			}
		})
	}
}

func redisAt(addrs ...string) func(o *Options) {
	return func(o *Options) { o.Engine.Type, o.Engine.Redis.Address = "redis", addrs }
}

// TestRedisUnimplementedReported: Redis keys unisse's broker does not act
// on are reported as unsupported when set in a section in use, and not when
// that section is unused.
func TestRedisUnimplementedReported(t *testing.T) {
	body := `{
		"engine": {"type": "%s", "redis": {"address": "127.0.0.1:6379", "history_use_lists": true, "presence_user_mapping": true,
			"presence_hash_field_ttl": true, "force_resp2": true, "client_name": "x"}},
		"map_broker": {"type": "memory"}
	}`
	_, rep := load(t, []string{"-c", writeConfig(t, strings.Replace(body, "%s", "redis", 1))}, nil)
	want := []string{
		"engine.redis.presence_hash_field_ttl", "map_broker",
	}
	if !slices.Equal(rep.Unsupported, want) {
		t.Errorf("Unsupported = %q, want %q", rep.Unsupported, want)
	}
	_, rep = load(t, []string{"-c", writeConfig(t, strings.Replace(body, "%s", "memory", 1))}, nil)
	if !slices.Equal(rep.Unsupported, []string{"map_broker"}) {
		t.Errorf("memory engine: Unsupported = %q, want only map_broker", rep.Unsupported)
	}
}

// TestHistoryUseLists: history_use_lists is implemented (not reported) and
// taken from the Redis that serves publications: engine.redis, or
// broker.redis when the broker section is enabled.
func TestHistoryUseLists(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       bool
	}{
		{"engine", `{"engine": {"type": "redis", "redis": {"history_use_lists": true}}}`, true},
		{"engine default", `{"engine": {"type": "redis"}}`, false},
		{"broker section", `{"broker": {"enabled": true, "type": "redis", "redis": {"history_use_lists": true}},
			"engine": {"type": "redis"}}`, true},
		{"broker section wins", `{"broker": {"enabled": true, "type": "redis", "redis": {}},
			"engine": {"type": "redis", "redis": {"history_use_lists": true}}}`, false},
	} {
		o, rep := load(t, []string{"-c", writeConfig(t, c.body)}, nil)
		if len(rep.Unsupported) != 0 {
			t.Errorf("%s: Unsupported = %q", c.name, rep.Unsupported)
		}
		b, err := o.Backends()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b.BrokerRedis == nil || b.BrokerRedis.HistoryUseLists != c.want {
			t.Errorf("%s: broker Redis %+v, want HistoryUseLists %v", c.name, b.BrokerRedis, c.want)
		}
	}
}
