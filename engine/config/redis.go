package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The Redis sections mirror Centrifugo v6.9.1's configtypes (Redis,
// RedisPrefixed, RedisEngine, RedisBroker, RedisPresenceManager) key for
// key, so that unisse and Centrifugo nodes can be given the same file and
// share one Redis.

// RedisTLS is Centrifugo's TLSConfig for a connection to Redis or Sentinel.
// The *_pem values are a file path, a PEM string or base64 PEM, as in Centrifugo.
type RedisTLS struct {
	Enabled            bool   `json:"enabled"`              // use TLS
	CertPem            string `json:"cert_pem"`             // client certificate (file path, PEM or base64 PEM)
	KeyPem             string `json:"key_pem"`              // client certificate's private key
	ServerCAPem        string `json:"server_ca_pem"`        // CA that signs the server's certificate; system roots when empty
	ClientCAPem        string `json:"client_ca_pem"`        // server side only: unused by a client
	InsecureSkipVerify bool   `json:"insecure_skip_verify"` // do not verify the server certificate (testing only)
	ServerName         string `json:"server_name"`          // name to verify the certificate against; the host by default
}

// RedisReplicaClient is Centrifugo's replica_client (reads from replicas).
type RedisReplicaClient struct {
	Enabled bool `json:"enabled"` // read from replicas (accepted, not implemented)
}

// RedisConnection is how to reach Redis: the keys every Redis section shares.
type RedisConnection struct {
	// Address lists shards, each a Redis URL (redis://, rediss://,
	// redis+sentinel://, rediss+sentinel://, redis+cluster://, unix://,
	// tcp://) or host:port. A JSON string is one shard. Default
	// redis://127.0.0.1:6379. Used unless cluster_address or sentinel_address is set.
	Address        []string      `json:"address"`
	ConnectTimeout time.Duration `json:"connect_timeout"` // default 1s
	IOTimeout      time.Duration `json:"io_timeout"`      // default 4s
	DB             int           `json:"db"`              // Redis database number
	User           string        `json:"user"`            // ACL user name
	Password       string        `json:"password"`        // password (AUTH)
	ClientName     string        `json:"client_name"`     // name set with CLIENT SETNAME on every connection
	ForceResp2     bool          `json:"force_resp2"`     // speak RESP2, for proxies without RESP3
	// ClusterAddress lists Redis Cluster shards; one shard's seed addresses
	// are comma-separated host:port. Takes precedence over the others.
	ClusterAddress []string `json:"cluster_address"`
	TLS            RedisTLS `json:"tls"`
	// SentinelAddress lists Sentinel shards, one shard's sentinels
	// comma-separated host:port; takes precedence over Address.
	SentinelAddress    []string           `json:"sentinel_address"`
	SentinelUser       string             `json:"sentinel_user"`        // ACL user name for the sentinels
	SentinelPassword   string             `json:"sentinel_password"`    // password for the sentinels
	SentinelMasterName string             `json:"sentinel_master_name"` // name of the master the sentinels watch
	SentinelClientName string             `json:"sentinel_client_name"` // CLIENT SETNAME on sentinels (accepted, not implemented)
	SentinelTLS        RedisTLS           `json:"sentinel_tls"`
	ReplicaClient      RedisReplicaClient `json:"replica_client"`
}

// EngineRedis is engine.redis: one Redis for both broker and presence.
type EngineRedis struct {
	// Prefix starts every Redis key and PUB/SUB channel. Default "centrifugo";
	// nodes share channels only with the same prefix.
	Prefix          string `json:"prefix"`
	RedisConnection `json:",squash"`
	// HistoryUseLists keeps history in Redis lists (keys prefix.list.channel
	// and prefix.list.meta.channel) instead of streams, in Centrifugo's
	// layout: every node on the Redis, unisse or Centrifugo, must set the
	// same value.
	HistoryUseLists bool `json:"history_use_lists"`
	RedisPresence   `json:",squash"`
}

// RedisPresence holds the presence keys of engine.redis and presence_manager.redis.
type RedisPresence struct {
	PresenceTTL          time.Duration `json:"presence_ttl"`            // default 60s
	PresenceHashFieldTTL bool          `json:"presence_hash_field_ttl"` // per-field TTLs (accepted, not implemented)
	PresenceUserMapping  bool          `json:"presence_user_mapping"`   // per-user counters for presence stats, in Centrifugo's layout
}

// Broker is Centrifugo's broker section: when Enabled, it serves
// publications and history instead of the engine. unisse supports the types
// "memory", "redis" and "nats" (Centrifugo also has postgres and redisnats).
type Broker struct {
	Enabled bool        `json:"enabled"` // use this broker instead of the engine's
	Type    string      `json:"type"`    // default "memory"
	Redis   BrokerRedis `json:"redis"`
	Nats    BrokerNats  `json:"nats"`
}

// BrokerNats is broker.nats, Centrifugo v6.9.1's NatsBroker less
// allow_wildcards and raw_mode (reported as unsupported: unisse's channels
// are never wildcards, and raw mode drops Centrifugo's message encoding).
type BrokerNats struct {
	// Prefix starts every subject; nodes share publications only under the
	// same prefix.
	Prefix       string        `json:"prefix"`        // default "centrifugo"
	URL          string        `json:"url"`           // default "nats://localhost:4222"
	DialTimeout  time.Duration `json:"dial_timeout"`  // default 1s
	WriteTimeout time.Duration `json:"write_timeout"` // default 1s
	// TLS has Centrifugo's TLSConfig shape, as Redis's.
	TLS RedisTLS `json:"tls"`
}

// BrokerRedis is broker.redis.
type BrokerRedis struct {
	Prefix          string `json:"prefix"` // default "centrifugo"
	RedisConnection `json:",squash"`
	// HistoryUseLists keeps history in Redis lists instead of streams, as
	// engine.redis.history_use_lists; all nodes must agree on it.
	HistoryUseLists bool `json:"history_use_lists"`
}

// PresenceManager is Centrifugo's presence_manager section: when Enabled, it
// serves presence instead of the engine. Types "memory" and "redis".
type PresenceManager struct {
	Enabled bool          `json:"enabled"` // use this presence manager instead of the engine's
	Type    string        `json:"type"`    // default "memory"
	Redis   PresenceRedis `json:"redis"`
}

// PresenceRedis is presence_manager.redis.
type PresenceRedis struct {
	Prefix          string `json:"prefix"` // default "centrifugo"
	RedisConnection `json:",squash"`
	RedisPresence   `json:",squash"`
}

// Backend types.
const (
	BackendMemory = "memory"
	BackendRedis  = "redis"
	// BackendNats is a broker only (Centrifugo has no NATS engine nor
	// presence manager); it keeps no history.
	BackendNats = "nats"
)

// Backends says what serves publications and history (Broker) and presence
// (Presence), resolved from engine, broker and presence_manager as
// Centrifugo does: an enabled broker or presence_manager section replaces
// that half of the engine. BrokerRedis and PresenceRedis are set when the
// type is "redis", BrokerNats when the broker is "nats".
type Backends struct {
	Broker        string // BackendMemory, BackendRedis or BackendNats
	BrokerRedis   *Redis
	BrokerNats    *BrokerNats
	Presence      string
	PresenceRedis *Redis
	// BrokerKey and PresenceKey name the section that chose each, e.g.
	// "engine" or "broker", for messages.
	BrokerKey, PresenceKey string
}

// RedisMode is how a shard's addresses are used.
type RedisMode int

const (
	// RedisStandalone: one Redis server (Addrs has one element).
	RedisStandalone RedisMode = iota
	// RedisCluster: Addrs are seeds of one Redis Cluster.
	RedisCluster
	// RedisSentinel: Addrs are the sentinels watching MasterName.
	RedisSentinel
)

func (m RedisMode) String() string {
	switch m {
	case RedisCluster:
		return "cluster"
	case RedisSentinel:
		return "sentinel"
	}
	return "standalone"
}

// RedisShard is one shard with Centrifugo's address forms resolved: keys
// are spread over shards by consistent hashing, so every node must list the
// same shards in the same order.
type RedisShard struct {
	Mode RedisMode
	// Network is "tcp" or, for a unix:// address, "unix" (Addrs then holds
	// the socket path).
	Network string
	Addrs   []string
	// MasterName is the Sentinel master set (RedisSentinel only).
	MasterName string
	DB         int
	User       string
	Password   string
	// TLS: rediss:// URLs, ?tls_enabled=true or tls.enabled. TLSConfig
	// holds the certificates of the section's tls.
	TLS            bool
	ConnectTimeout time.Duration
	IOTimeout      time.Duration
	ForceResp2     bool
	ReplicaClient  bool
	// SentinelTLS: rediss+sentinel://, ?sentinel_tls_enabled=true or sentinel_tls.enabled.
	SentinelTLS      bool
	SentinelUser     string
	SentinelPassword string
}

// Redis is one Redis section parsed for a broker or presence manager.
type Redis struct {
	Shards []RedisShard
	// Prefix starts every key and channel name.
	Prefix string
	// TLSConfig and SentinelTLSConfig are the certificates to use for
	// shards with TLS (respectively SentinelTLS) set.
	TLSConfig, SentinelTLSConfig   RedisTLS
	ClientName, SentinelClientName string
	// Broker settings.
	HistoryUseLists bool
	// Presence settings.
	PresenceTTL          time.Duration
	PresenceHashFieldTTL bool
	PresenceUserMapping  bool
}

// Backends resolves engine, broker and presence_manager. Its errors are
// *FieldError values naming the key at fault (Validate reports the same).
func (o *Options) Backends() (Backends, error) {
	var v validator
	b := v.backends(o)
	if err := errors.Join(v.errs...); err != nil {
		return Backends{}, err
	}
	return b, nil
}

func (v *validator) backends(o *Options) Backends {
	var b Backends
	if !o.Broker.Enabled || !o.PresenceManager.Enabled {
		e := &o.Engine
		switch e.Type {
		case BackendMemory:
			b.Broker, b.Presence = BackendMemory, BackendMemory
		case BackendRedis:
			r := v.redis("engine.redis.", e.Redis.Prefix, &e.Redis.RedisConnection)
			r.HistoryUseLists = e.Redis.HistoryUseLists
			setPresence(r, e.Redis.RedisPresence)
			b.Broker, b.Presence = BackendRedis, BackendRedis
			b.BrokerRedis, b.PresenceRedis = r, r
		default:
			v.failf("engine.type", `unknown engine %q; want "memory" or "redis"`, e.Type)
		}
		b.BrokerKey, b.PresenceKey = "engine", "engine"
	}
	if o.Broker.Enabled {
		br := &o.Broker
		b.BrokerKey, b.BrokerRedis = "broker", nil
		switch br.Type {
		case BackendMemory:
			b.Broker = BackendMemory
		case BackendRedis:
			r := v.redis("broker.redis.", br.Redis.Prefix, &br.Redis.RedisConnection)
			r.HistoryUseLists = br.Redis.HistoryUseLists
			b.Broker, b.BrokerRedis = BackendRedis, r
		case BackendNats:
			b.Broker, b.BrokerNats = BackendNats, v.nats("broker.nats.", &br.Nats)
			v.noHistoryWithNats(o)
		case "postgres", "redisnats":
			v.failf("broker.type", `%q is a Centrifugo broker unisse does not implement; want "memory", "redis" or "nats"`, br.Type)
		default:
			v.failf("broker.type", `unknown broker %q; want "memory", "redis" or "nats"`, br.Type)
		}
	}
	if o.PresenceManager.Enabled {
		pm := &o.PresenceManager
		b.PresenceKey, b.PresenceRedis = "presence_manager", nil
		switch pm.Type {
		case BackendMemory:
			b.Presence = BackendMemory
		case BackendRedis:
			r := v.redis("presence_manager.redis.", pm.Redis.Prefix, &pm.Redis.RedisConnection)
			setPresence(r, pm.Redis.RedisPresence)
			b.Presence, b.PresenceRedis = BackendRedis, r
		default:
			v.failf("presence_manager.type", `unknown presence manager %q; want "memory" or "redis"`, pm.Type)
		}
	}
	return b
}

// nats checks broker.nats (prefix is its dotted key with a trailing '.').
func (v *validator) nats(prefix string, n *BrokerNats) *BrokerNats {
	c := *n
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, "*> \t\r\n") ||
		strings.HasPrefix(c.Prefix, ".") || strings.HasSuffix(c.Prefix, ".") || strings.Contains(c.Prefix, "..") {
		v.failf(prefix+"prefix", "%q cannot start a NATS subject (empty, a wildcard, whitespace or an empty token)", c.Prefix)
	}
	if strings.TrimSpace(c.URL) == "" {
		v.failf(prefix+"url", "must not be empty")
	}
	for _, u := range strings.Split(c.URL, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "nats://" + u // as nats.go reads a bare host:port
		}
		pu, err := url.Parse(u)
		if err != nil {
			v.failf(prefix+"url", "not a URL: %w", err)
		} else if pu.Host == "" {
			v.failf(prefix+"url", "%q has no host (want e.g. nats://host:4222)", pu.Redacted())
		}
	}
	if c.DialTimeout <= 0 {
		v.failf(prefix+"dial_timeout", "must be > 0, got %s", c.DialTimeout)
	}
	if c.WriteTimeout <= 0 {
		v.failf(prefix+"write_timeout", "must be > 0, got %s", c.WriteTimeout)
	}
	return &c
}

// noHistoryWithNats refuses namespaces that need a history stream (history,
// recovery, positioning) with the NATS broker, which keeps none. Centrifugo
// starts and fails their subscriptions and history calls at run time
// instead; unisse says so at start, naming the namespace.
func (v *validator) noHistoryWithNats(o *Options) {
	check := func(key, name string, c *ChannelOptions) {
		what := ""
		switch {
		case c.HistorySize > 0 || c.HistoryTTL > 0:
			what = "history_size/history_ttl"
		case c.ForceRecovery:
			what = "force_recovery"
		case c.ForcePositioning:
			what = "force_positioning"
		default:
			return
		}
		v.failf(key, "%s sets %s, but the NATS broker (broker.type \"nats\") keeps no history: "+
			"remove it or use a Redis broker", name, what)
	}
	check("channel.without_namespace", "channels without a namespace", &o.Channel.WithoutNamespace)
	for i := range o.Channel.Namespaces {
		ns := &o.Channel.Namespaces[i]
		check(fmt.Sprintf("channel.namespaces[%d]", i), fmt.Sprintf("namespace %q", ns.Name), &ns.ChannelOptions)
	}
}

func setPresence(r *Redis, p RedisPresence) {
	r.PresenceTTL = p.PresenceTTL
	r.PresenceHashFieldTTL = p.PresenceHashFieldTTL
	r.PresenceUserMapping = p.PresenceUserMapping
}

// redis parses one section's connection keys (prefix is the dotted key of
// the section with a trailing '.') as Centrifugo v6.9.1 does: cluster_address
// first, then sentinel_address, then address.
func (v *validator) redis(prefix, keyPrefix string, c *RedisConnection) *Redis {
	r := &Redis{
		Prefix:             keyPrefix,
		TLSConfig:          c.TLS,
		SentinelTLSConfig:  c.SentinelTLS,
		ClientName:         c.ClientName,
		SentinelClientName: c.SentinelClientName,
	}
	if c.ConnectTimeout <= 0 {
		v.failf(prefix+"connect_timeout", "must be > 0, got %s", c.ConnectTimeout)
	}
	if c.IOTimeout <= 0 {
		v.failf(prefix+"io_timeout", "must be > 0, got %s", c.IOTimeout)
	}
	if c.DB < 0 {
		v.failf(prefix+"db", "must be >= 0, got %d", c.DB)
	}
	base := RedisShard{
		Network: "tcp", DB: c.DB, User: c.User, Password: c.Password, TLS: c.TLS.Enabled,
		ConnectTimeout: c.ConnectTimeout, IOTimeout: c.IOTimeout, ForceResp2: c.ForceResp2,
		ReplicaClient: c.ReplicaClient.Enabled,
	}
	// seeds parses one comma-separated shard of cluster or sentinel addresses.
	seeds := func(key, shard string) ([]string, bool) {
		addrs := strings.Split(shard, ",")
		for _, a := range addrs {
			if err := hostPort(a); err != nil {
				v.failf(key, "malformed address %q: %w", a, err)
				return nil, false
			}
		}
		return addrs, true
	}
	switch {
	case len(c.ClusterAddress) > 0:
		for i, shard := range c.ClusterAddress {
			if addrs, ok := seeds(fmt.Sprintf("%scluster_address[%d]", prefix, i), shard); ok {
				s := base
				s.Mode, s.Addrs = RedisCluster, addrs
				r.Shards = append(r.Shards, s)
			}
		}
	case len(c.SentinelAddress) > 0:
		if c.SentinelMasterName == "" {
			v.failf(prefix+"sentinel_master_name", "must be set when sentinel_address is")
		}
		for i, shard := range c.SentinelAddress {
			if addrs, ok := seeds(fmt.Sprintf("%ssentinel_address[%d]", prefix, i), shard); ok {
				s := base
				s.Mode, s.Addrs, s.MasterName = RedisSentinel, addrs, c.SentinelMasterName
				s.SentinelUser, s.SentinelPassword, s.SentinelTLS = c.SentinelUser, c.SentinelPassword, c.SentinelTLS.Enabled
				r.Shards = append(r.Shards, s)
			}
		}
	default:
		if len(c.Address) == 0 {
			v.failf(prefix+"address", "no Redis address configured")
		}
		// As in centrifuge, an address URL alone says whether to use a
		// replica client and which Sentinel master to ask for: the
		// replica_client and sentinel_* keys apply to sentinel_address only.
		base.ReplicaClient = false
		for i, a := range c.Address {
			key := fmt.Sprintf("%saddress[%d]", prefix, i)
			s, err := parseRedisAddress(a, base)
			if err != nil {
				v.failf(key, "%w", err)
				continue
			}
			if s.Mode == RedisSentinel && s.MasterName == "" {
				v.failf(key, "a Sentinel address needs a master name (?sentinel_master_name=)")
			}
			if s.ReplicaClient && s.Mode == RedisStandalone {
				v.failf(key, "replica_client_enabled needs Redis Cluster or Sentinel")
			}
			r.Shards = append(r.Shards, s)
		}
	}
	return r
}

// hostPort checks a host:port address with a non-empty host and a numeric port.
func hostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// redisSchemes are the URL schemes centrifuge's address parser knows.
var redisSchemes = []string{"redis", "rediss", "redis+sentinel", "rediss+sentinel", "redis+cluster", "unix", "tcp"}

// parseRedisAddress resolves one engine.redis.address element the way
// centrifuge (optionsFromAddress) does: host:port, or a URL whose path is the
// DB, whose user info is the credentials, and whose query may set addr
// (more seeds), connect_timeout, io_timeout, tls_enabled, force_resp2,
// sentinel_master_name, sentinel_user, sentinel_password,
// sentinel_tls_enabled and replica_client_enabled. base holds the
// section's keys, which the URL overrides.
func parseRedisAddress(address string, base RedisShard) (RedisShard, error) {
	s := base
	scheme, _, isURL := strings.Cut(address, "://")
	known := false
	for _, k := range redisSchemes {
		known = known || (isURL && scheme == k)
	}
	if !known {
		if err := hostPort(address); err != nil {
			return s, fmt.Errorf("malformed address %q: must be a Redis URL or host:port (%w)", address, err)
		}
		s.Addrs = []string{address}
		return s, nil
	}
	u, err := url.Parse(address)
	if err != nil {
		return s, fmt.Errorf("malformed address: not a valid URL: %w", err)
	}
	q := u.Query()
	s.MasterName = q.Get("sentinel_master_name")
	switch {
	case u.Scheme == "redis+cluster":
		s.Mode = RedisCluster
	case u.Scheme == "redis+sentinel" || u.Scheme == "rediss+sentinel" || s.MasterName != "":
		s.Mode = RedisSentinel
	}
	if u.Scheme == "unix" {
		if u.Path == "" {
			return s, fmt.Errorf("malformed address %q: unix:// needs a socket path", address)
		}
		s.Network, s.Addrs = "unix", []string{u.Path}
	} else {
		if err := hostPort(u.Host); err != nil {
			return s, fmt.Errorf("malformed address %q: %w", address, err)
		}
		s.Addrs = []string{u.Host}
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			db, err := strconv.Atoi(p)
			if err != nil || db < 0 {
				return s, fmt.Errorf("malformed address %q: DB %q is not a number", address, p)
			}
			s.DB = db
		}
		if strings.HasPrefix(u.Scheme, "rediss") {
			s.TLS = true
			s.SentinelTLS = s.SentinelTLS || s.Mode == RedisSentinel
		}
	}
	if u.User != nil {
		if name := u.User.Username(); name != "" {
			s.User = name
		}
		if pass, ok := u.User.Password(); ok {
			s.Password = pass
		}
	}
	for _, a := range q["addr"] {
		if err := hostPort(a); err != nil {
			return s, fmt.Errorf("malformed addr %q in %q: %w", a, address, err)
		}
		s.Addrs = append(s.Addrs, a)
	}
	durations := []struct {
		name string
		to   *time.Duration
	}{{"connect_timeout", &s.ConnectTimeout}, {"io_timeout", &s.IOTimeout}}
	for _, d := range durations {
		if !q.Has(d.name) {
			continue
		}
		if *d.to, err = time.ParseDuration(q.Get(d.name)); err != nil || *d.to <= 0 {
			return s, fmt.Errorf("malformed address %q: %s %q is not a positive duration", address, d.name, q.Get(d.name))
		}
	}
	// As in centrifuge, a query flag only turns TLS on (rediss:// or
	// tls.enabled cannot be turned off by it); the others replace the
	// section's value.
	flags := []struct {
		name    string
		to      *bool
		orValue bool
	}{
		{"tls_enabled", &s.TLS, true}, {"sentinel_tls_enabled", &s.SentinelTLS, true},
		{"force_resp2", &s.ForceResp2, false}, {"replica_client_enabled", &s.ReplicaClient, false},
	}
	for _, f := range flags {
		if !q.Has(f.name) {
			continue
		}
		val, err := strconv.ParseBool(q.Get(f.name))
		if err != nil {
			return s, fmt.Errorf("malformed address %q: %s %q is not a boolean", address, f.name, q.Get(f.name))
		}
		*f.to = val || (f.orValue && *f.to)
	}
	if q.Has("sentinel_user") {
		s.SentinelUser = q.Get("sentinel_user")
	}
	if q.Has("sentinel_password") {
		s.SentinelPassword = q.Get("sentinel_password")
	}
	return s, nil
}
