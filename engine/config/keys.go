package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

// kind is how a leaf key is parsed from text (env, flags) and exposed as a flag.
type kind int

const (
	kindString   kind = iota
	kindBool          // strconv.ParseBool
	kindInt           // strconv.ParseInt, base prefix allowed (0x..)
	kindInt64         // same, 64-bit
	kindUint32        // strconv.ParseUint
	kindDuration      // time.ParseDuration
	kindStrings       // []string: env space-separated, flag comma-separated
	kindJSON          // slice of structs: not a flag, env is JSON
)

// leaf is one settable key of Options.
type leaf struct {
	key   string // dotted JSON key, e.g. "client.token.hmac_secret_key"
	env   string // env name without prefix, e.g. "CLIENT_TOKEN_HMAC_SECRET_KEY"
	index []int  // reflect field index path from the root struct
	typ   reflect.Type
	kind  kind
}

var durationType = reflect.TypeFor[time.Duration]()

// jsonName returns a struct field's JSON key and whether it is squashed into its parent.
func jsonName(f reflect.StructField) (name string, squash, skip bool) {
	if !f.IsExported() {
		return "", false, true
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	squash = strings.Contains(","+opts+",", ",squash,")
	if name == "" && !squash {
		name = f.Name
	}
	return name, squash, false
}

func kindOf(t reflect.Type) (kind, bool) {
	if t == durationType {
		return kindDuration, true
	}
	switch t.Kind() {
	case reflect.String:
		return kindString, true
	case reflect.Bool:
		return kindBool, true
	case reflect.Int:
		return kindInt, true
	case reflect.Int64:
		return kindInt64, true
	case reflect.Uint32:
		return kindUint32, true
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.String:
			return kindStrings, true
		case reflect.Struct:
			return kindJSON, true
		}
	}
	return 0, false
}

// envName maps a dotted key to its env name without prefix.
func envName(key string) string {
	return strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// collectLeaves walks struct type t and returns its leaves. It panics on a field
// type it cannot load: that is a programming error in options.go, caught by tests.
func collectLeaves(t reflect.Type) []leaf {
	var out []leaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, squash, skip := jsonName(f)
			if skip {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			if squash {
				walk(f.Type, prefix, idx)
				continue
			}
			key := prefix + name
			if k, ok := kindOf(f.Type); ok {
				out = append(out, leaf{key: key, env: envName(key), index: idx, typ: f.Type, kind: k})
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key+".", idx)
				continue
			}
			panic(fmt.Sprintf("config: unsupported type %s for key %s", f.Type, key))
		}
	}
	walk(t, "", nil)
	return out
}

// schema is the key table of Options, built once.
type schema struct {
	leaves []leaf
	byEnv  map[string]*leaf // env name without prefix → leaf
	byKey  map[string]*leaf
	// nsLeaves are the ChannelOptions leaves, for per-namespace env variables.
	nsLeaves []leaf
}

var keys = buildSchema()

func buildSchema() *schema {
	s := &schema{
		leaves:   collectLeaves(reflect.TypeFor[Options]()),
		nsLeaves: collectLeaves(reflect.TypeFor[ChannelOptions]()),
		byEnv:    map[string]*leaf{},
		byKey:    map[string]*leaf{},
	}
	for i := range s.leaves {
		l := &s.leaves[i]
		if prev, dup := s.byEnv[l.env]; dup {
			panic(fmt.Sprintf("config: keys %s and %s share env name %s", prev.key, l.key, l.env))
		}
		s.byEnv[l.env] = l
		s.byKey[l.key] = l
	}
	return s
}

// structFields maps the lower-cased JSON keys of struct t (squashed fields
// flattened) to their types. Matching is case-insensitive, as the decoder's is.
func structFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, squash, skip := jsonName(f)
		if skip {
			continue
		}
		if squash {
			for k, v := range structFields(f.Type) {
				m[k] = v
			}
			continue
		}
		m[strings.ToLower(name)] = f.Type
	}
	return m
}

// unknownKeys walks raw decoded JSON against type t and calls add with the
// dotted path of every key t does not have, e.g. "channel.namespaces[2].foo".
// Values of the wrong shape are skipped: type errors are the decoder's job.
func unknownKeys(raw any, t reflect.Type, path string, add func(string)) {
	switch {
	case t == durationType:
		return
	case t.Kind() == reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return
		}
		fields := structFields(t)
		for k, v := range m {
			p := k
			if path != "" {
				p = path + "." + k
			}
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				add(p)
				continue
			}
			unknownKeys(v, ft, p, add)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		arr, ok := raw.([]any)
		if !ok {
			return
		}
		for i, e := range arr {
			unknownKeys(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), add)
		}
	}
}

// lowerKeys returns a copy of v with every object key lower-cased, as Centrifugo
// (viper) reads config keys case-insensitively. Keys are visited in sorted order
// so that "Port" and "port" in one object resolve the same way every run.
func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		ks := make([]string, 0, len(x))
		for k := range x {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		out := make(map[string]any, len(x))
		for _, k := range ks {
			out[strings.ToLower(k)] = lowerKeys(x[k])
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = lowerKeys(e)
		}
		return out
	}
	return v
}

// Centrifugo v6 keys that unisse accepts but does not implement. An entry names a
// key or a whole subtree; "[]" stands for any slice index. Checked against every
// key of Centrifugo v6.9.1's configtypes.Config (keys_audit_test.go and
// testdata/centrifugo-v6.9.1-keys.txt): each one is either a field of Options or
// covered here. A key added to Centrifugo later is reported as unknown rather
// than unsupported, and is ignored either way.
var centrifugoOnlyTop = []string{
	"pid_file", "enable_unreleased_features", "map_broker",
	"rpc", "proxies", "grpc_api", "consumers", "websocket", "sse", "http_stream",
	"webtransport", "uni_http_stream", "uni_websocket", "uni_grpc", "emulation", "admin",
	"swagger", "debug", "dev", "init", "opentelemetry", "graphite", "shared_poll",
	"controller",
}

var centrifugoOnlyNested = []string{
	"http_server.tls", "http_server.tls_autocert", "http_server.tls_external",
	"http_server.internal_tls", "http_server.http3", "http_server.h2c_external",
	"broker.nats.allow_wildcards", "broker.nats.raw_mode", "broker.postgres", "broker.redisnats",
	"client.token.insecure_skip_jwks_endpoint_safety_check",
	"client.proxy", "client.subscription_token", "client.expired_sub_close_delay",
	"client.concurrency", "client.channel_position_check_delay",
	"client.channel_position_max_time_lag", "client.user_id_http_header",
	"channel.proxy", "channel.user_separator", "channel.publication_data_format",
	"http_api.disabled",
	"prometheus.instrument_http_handlers",
	"prometheus.native_histograms",
	"node.info_metrics_aggregate_interval",
}

// Channel options Centrifugo has and unisse does not (in without_namespace and namespaces[]).
var centrifugoOnlyChannelOptions = []string{
	"allow_positioning", "allow_recovery", "allowed_delta_types", "allow_tags_filter",
	"delta_publish", "allow_publish_for_anonymous", "allow_publish_for_subscriber",
	"allow_publish_for_client", "allow_presence_for_anonymous", "allow_presence_for_subscriber",
	"allow_presence_for_client", "allow_history_for_anonymous", "allow_history_for_subscriber",
	"allow_history_for_client", "subscribe_proxy_enabled", "subscribe_proxy_name",
	"publish_proxy_enabled", "publish_proxy_name", "sub_refresh_proxy_enabled",
	"sub_refresh_proxy_name", "subscribe_stream_proxy_enabled", "subscribe_stream_proxy_name",
	"subscribe_stream_proxy_bidirectional", "subscription_type", "map", "shared_poll",
	"map_clients_presence_channel_prefix", "map_users_presence_channel_prefix",
}

var centrifugoOnlyRoots = func() []string {
	r := append(append([]string(nil), centrifugoOnlyTop...), centrifugoOnlyNested...)
	for _, o := range centrifugoOnlyChannelOptions {
		r = append(r, "channel.without_namespace."+o, "channel.namespaces[]."+o)
	}
	return r
}()

var indexRe = regexp.MustCompile(`\[\d+\]`)

// isCentrifugoKey reports whether dotted key (as produced by unknownKeys) is a
// Centrifugo v6 key, or lies under a Centrifugo-only subtree.
func isCentrifugoKey(key string) bool {
	k := indexRe.ReplaceAllString(strings.ToLower(key), "[]")
	for _, r := range centrifugoOnlyRoots {
		if k == r || strings.HasPrefix(k, r+".") || strings.HasPrefix(k, r+"[") {
			return true
		}
	}
	return false
}

// isCentrifugoEnv is isCentrifugoKey for an env name without prefix.
func isCentrifugoEnv(name string) bool {
	for _, r := range centrifugoOnlyRoots {
		if strings.Contains(r, "[]") {
			continue
		}
		e := envName(r)
		if name == e || strings.HasPrefix(name, e+"_") {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(name, "CHANNEL_NAMESPACES_"); ok {
		for _, o := range centrifugoOnlyChannelOptions {
			e := "_" + envName(o)
			if strings.HasSuffix(rest, e) || strings.Contains(rest, e+"_") {
				return true
			}
		}
	}
	return false
}

// unimplementedValues returns the dotted keys of o that hold a value unisse
// accepts (Validate passes it, so a Centrifugo config loads) but does not
// implement: the server behaves as with Centrifugo's default for them, and the
// operator must be told. A key whose value makes no difference to uni_sse
// clients in Centrifugo either (pong_timeout, stale_close_delay,
// history_max_publication_limit: bidirectional clients only) is not listed.
func unimplementedValues(o *Options) []string {
	var out []string
	check := func(prefix string, c *ChannelOptions) {
		if c.ForceRecoveryMode == "cache" {
			out = append(out, prefix+"force_recovery_mode") // recovery always works in stream mode
		}
		if c.AutoCacheRecover {
			out = append(out, prefix+"auto_cache_recover")
		}
		if c.PublicationDataFormat != "" {
			out = append(out, prefix+"publication_data_format") // the API does not validate data by format
		}
	}
	out = append(out, unimplementedRedis(o)...)
	check("channel.without_namespace.", &o.Channel.WithoutNamespace)
	for i := range o.Channel.Namespaces {
		check(fmt.Sprintf("channel.namespaces[%d].", i), &o.Channel.Namespaces[i].ChannelOptions)
	}
	return out
}

// nameForEnv is Centrifugo's namespace-name mangling for per-namespace env
// variables: '.' and '-' become '_' (then the whole name is upper-cased).
func nameForEnv(name string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

// unimplementedRedis lists the Redis keys that load (so that a Centrifugo
// config works unchanged) but that unisse's Redis broker does not act on,
// when they are set in a section that is in use: presence hash-field TTLs (a
// Redis data layout unisse does not write), replica reads and the sentinels'
// client name.
func unimplementedRedis(o *Options) []string {
	var out []string
	conn := func(prefix string, c *RedisConnection) {
		if c.ReplicaClient.Enabled {
			out = append(out, prefix+"replica_client.enabled")
		}
		if c.SentinelClientName != "" {
			out = append(out, prefix+"sentinel_client_name")
		}
	}
	presence := func(prefix string, p *RedisPresence) {
		if p.PresenceHashFieldTTL {
			out = append(out, prefix+"presence_hash_field_ttl")
		}
	}
	if (!o.Broker.Enabled || !o.PresenceManager.Enabled) && o.Engine.Type == BackendRedis {
		r := &o.Engine.Redis
		conn("engine.redis.", &r.RedisConnection)
		if !o.PresenceManager.Enabled {
			presence("engine.redis.", &r.RedisPresence)
		}
	}
	if o.Broker.Enabled && o.Broker.Type == BackendRedis {
		r := &o.Broker.Redis
		conn("broker.redis.", &r.RedisConnection)
	}
	if o.PresenceManager.Enabled && o.PresenceManager.Type == BackendRedis {
		r := &o.PresenceManager.Redis
		conn("presence_manager.redis.", &r.RedisConnection)
		presence("presence_manager.redis.", &r.RedisPresence)
	}
	return out
}
