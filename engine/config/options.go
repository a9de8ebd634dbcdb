package config

import "time"

// Options is the whole server configuration. Field names follow Centrifugo v6's
// JSON keys (the json tags), so a Centrifugo config file loads unchanged. Defaults
// live in Default(); file, environment and flags all fill this one struct (see Load).
//
// Every leaf's dotted key (e.g. "client.token.hmac_secret_key") is also its flag name
// and, upper-cased with '.' → '_', its environment variable after the UNISSE_ (or
// CENTRIFUGO_) prefix.
//
// Durations: in the JSON file a string in Go syntax ("25s", "300ms", "1h30m") or a
// bare number, which is nanoseconds (Centrifugo decodes it the same way; almost
// always a mistake, and Validate catches the usual cases). In env and flags only
// the Go syntax ("0" is allowed, "25" is not).
//
// Options is a plain value: copy it freely; it is read-only after Load by convention.
type Options struct {
	HTTPServer HTTPServer `json:"http_server"`
	Client     Client     `json:"client"`
	Channel    Channel    `json:"channel"`
	HTTPAPI    HTTPAPI    `json:"http_api"`
	UniSSE     UniSSE     `json:"uni_sse"`
	Health     Health     `json:"health"`
	Prometheus Prometheus `json:"prometheus"`
	Node       Node       `json:"node"`
	Log        Log        `json:"log"`
	UsageStats UsageStats `json:"usage_stats"`
	Engine     Engine     `json:"engine"`
	// Broker and PresenceManager, when enabled, replace the engine's broker
	// or presence manager (Centrifugo's "broker" and "presence_manager").
	Broker          Broker          `json:"broker"`
	PresenceManager PresenceManager `json:"presence_manager"`
	Shutdown        Shutdown        `json:"shutdown"`
	// Own holds unisse's own settings, which Centrifugo does not have
	// (limits of our own HTTP parser, event loop count), under the JSON key
	// "unisse" so a Centrifugo config never collides with them. Not to be
	// confused with UniSSE, Centrifugo's "uni_sse" endpoint section.
	Own Own `json:"unisse"`
}

// HTTPServer is where the server listens.
type HTTPServer struct {
	// Address to bind to; empty means all interfaces.
	Address string `json:"address"`
	// Port for client connections (and everything else unless InternalPort is set). Default 8000.
	Port int `json:"port"`
	// InternalAddress binds the internal port; empty means Address.
	InternalAddress string `json:"internal_address"`
	// InternalPort, when set, serves the API, health and metrics instead of Port.
	// A string, as in Centrifugo; Validate requires a number in 1..65535 that differs
	// from Port unless InternalAddress differs from Address.
	InternalPort string `json:"internal_port"`
}

// Token configures connection JWT verification.
type Token struct {
	// HMACSecretKey verifies HS256/384/512 tokens.
	HMACSecretKey string `json:"hmac_secret_key"`
	// HMACPreviousSecretKey is also accepted until HMACPreviousSecretKeyValidUntil (key rotation).
	HMACPreviousSecretKey           string `json:"hmac_previous_secret_key"`
	HMACPreviousSecretKeyValidUntil int64  `json:"hmac_previous_secret_key_valid_until"` // Unix seconds until which the previous key is accepted
	RSAPublicKey                    string `json:"rsa_public_key"`                       // PEM public key that verifies RS256/384/512 tokens
	ECDSAPublicKey                  string `json:"ecdsa_public_key"`                     // PEM public key that verifies ES256/384/512 tokens
	// JWKSPublicEndpoint is a URL to fetch verification keys from.
	JWKSPublicEndpoint string `json:"jwks_public_endpoint"`
	// Audience, when set, must equal a token's aud (string or one array element).
	Audience string `json:"audience"`
	// AudienceRegex, when set, must match the aud; Validate compiles it (Go regexp).
	AudienceRegex string `json:"audience_regex"`
	// Issuer, when set, must equal a token's iss.
	Issuer string `json:"issuer"`
	// IssuerRegex, when set, must match the iss; Validate compiles it (Go regexp).
	IssuerRegex string `json:"issuer_regex"`
	// UserIDClaim names the claim holding the user ID instead of sub; must match ^[a-zA-Z_]+$.
	UserIDClaim string `json:"user_id_claim"`
}

// DisconnectTransform maps a connect error code to a disconnect push.
// Validate requires Code and To.Code to be non-zero and To.Reason to be ASCII.
type DisconnectTransform struct {
	Code uint32 `json:"code"` // connect error code, e.g. 109 (token expired)
	To   struct {
		Code   uint32 `json:"code"`
		Reason string `json:"reason"`
	} `json:"to"`
}

// ConnectCodeToDisconnect is client.connect_code_to_unidirectional_disconnect.
type ConnectCodeToDisconnect struct {
	Enabled bool `json:"enabled"` // apply Transforms
	// Transforms is not a flag; in env it is JSON, e.g.
	// UNISSE_CLIENT_CONNECT_CODE_TO_UNIDIRECTIONAL_DISCONNECT_TRANSFORMS='[{"code":109,"to":{"code":4109}}]'.
	Transforms []DisconnectTransform `json:"transforms"`
}

// PersonalChannel is client.subscribe_to_user_personal_channel.
type PersonalChannel struct {
	// Enabled subscribes every connection to "#<user>" (in PersonalChannelNamespace, if set).
	Enabled bool `json:"enabled"`
	// PersonalChannelNamespace must name a configured namespace when set.
	PersonalChannelNamespace string `json:"personal_channel_namespace"`
	// SingleConnection keeps one connection per user; needs presence in that namespace.
	SingleConnection bool `json:"single_connection"`
}

// Client holds per-connection behaviour.
type Client struct {
	Token Token `json:"token"`
	// Insecure: no token needed, every channel allowed, token expiry ignored.
	Insecure bool `json:"insecure"`
	// InsecureSkipTokenSignatureVerify skips the JWT signature check only.
	InsecureSkipTokenSignatureVerify bool `json:"insecure_skip_token_signature_verify"`
	// AllowAnonymousConnectWithoutToken accepts a connect without token as user "".
	AllowAnonymousConnectWithoutToken bool `json:"allow_anonymous_connect_without_token"`
	// DisallowAnonymousConnectionTokens rejects tokens with an empty sub (3507).
	DisallowAnonymousConnectionTokens bool `json:"disallow_anonymous_connection_tokens"`
	// AllowedOrigins are gobwas/glob patterns matched against the lower-cased Origin.
	// Env: space-separated (as Centrifugo); flag: comma-separated (CSV quoting for globs with ',').
	AllowedOrigins []string `json:"allowed_origins"`
	// PingInterval: default 25s; negative disables pings; 0 means the library default 25s.
	PingInterval time.Duration `json:"ping_interval"`
	// PongTimeout: default 8s; negative disables the check; 0 means the library default 10s.
	// Must be < PingInterval when both are enabled (unused by uni_sse clients).
	PongTimeout       time.Duration `json:"pong_timeout"`
	ExpiredCloseDelay time.Duration `json:"expired_close_delay"` // default 25s; grace after token expiry before 3005
	StaleCloseDelay   time.Duration `json:"stale_close_delay"`   // default 10s
	// PresenceUpdateInterval is how often a stream refreshes its entries in a
	// shared presence (Redis), which expire after the engine's presence_ttl
	// (60s by default) unless refreshed: keep it well below that. Default
	// 27s; a file's 0 means 25s (centrifuge's zero value); must be > 0.
	// Rounded up to the loops' 100 ms tick.
	PresenceUpdateInterval time.Duration `json:"presence_update_interval"`
	ChannelLimit           int           `json:"channel_limit"` // default 128; max server-side subs per connection (3505)
	// UserConnectionLimit, ConnectionLimit and ConnectionRateLimit: 0 means unlimited.
	UserConnectionLimit int `json:"user_connection_limit"`
	ConnectionLimit     int `json:"connection_limit"`      // connections on this node; over it a connect gets 503
	ConnectionRateLimit int `json:"connection_rate_limit"` // new connections per second on this node; over it 503
	// QueueMaxSize is the per-connection write queue in bytes; over it → 3008. Default 1048576; must be > 0.
	QueueMaxSize int `json:"queue_max_size"`
	// ConnectIncludeServerTime adds "time" (Unix ms) to the connect push.
	ConnectIncludeServerTime              bool                    `json:"connect_include_server_time"`
	HistoryMaxPublicationLimit            int                     `json:"history_max_publication_limit"`  // default 300
	RecoveryMaxPublicationLimit           int                     `json:"recovery_max_publication_limit"` // default 300
	SubscribeToUserPersonalChannel        PersonalChannel         `json:"subscribe_to_user_personal_channel"`
	ConnectCodeToUnidirectionalDisconnect ConnectCodeToDisconnect `json:"connect_code_to_unidirectional_disconnect"`
}

// ChannelOptions are the per-namespace options (also channel.without_namespace).
type ChannelOptions struct {
	// HistorySize and HistoryTTL enable history only together (both 0 or both > 0).
	// HistoryTTL has second precision.
	HistorySize int           `json:"history_size"` // publications kept per channel
	HistoryTTL  time.Duration `json:"history_ttl"`  // how long history is kept after the last publication
	// HistoryMetaTTL keeps stream offset/epoch; 0 means channel.history_meta_ttl.
	// Must be >= HistoryTTL; second precision.
	HistoryMetaTTL time.Duration `json:"history_meta_ttl"`
	// ForceRecovery recovers missed publications on resubscribe; needs history.
	ForceRecovery     bool   `json:"force_recovery"`
	ForceRecoveryMode string `json:"force_recovery_mode"` // "" or "stream" (default) or "cache"
	// AutoCacheRecover needs ForceRecovery and ForceRecoveryMode "cache".
	AutoCacheRecover bool `json:"auto_cache_recover"`
	// ForcePositioning exposes stream positions and checks for gaps; unisse requires history for it.
	ForcePositioning bool `json:"force_positioning"`
	Presence         bool `json:"presence"`   // keep presence (who is subscribed)
	JoinLeave        bool `json:"join_leave"` // announce join/leave events
	// ForcePushJoinLeave is needed for uni clients to receive join/leave.
	ForcePushJoinLeave bool `json:"force_push_join_leave"`
	// AllowSubscribeForClient lets authenticated clients subscribe via connect "subs".
	AllowSubscribeForClient bool `json:"allow_subscribe_for_client"`
	// AllowSubscribeForAnonymous lets anonymous clients subscribe via connect "subs".
	AllowSubscribeForAnonymous bool `json:"allow_subscribe_for_anonymous"`
	// AllowUserLimitedChannels allows "chan#user1,user2" channels for listed users.
	AllowUserLimitedChannels bool `json:"allow_user_limited_channels"`
	// ChannelRegex, when set, must match the channel name (after the namespace); Go regexp.
	ChannelRegex string `json:"channel_regex"`
	// PublicationDataFormat: "" (JSON), "json", "json_object" or "binary".
	PublicationDataFormat string `json:"publication_data_format"`
}

// Namespace is one entry of channel.namespaces. Name must match ^[-a-zA-Z0-9_.]{2,}$
// and be unique.
type Namespace struct {
	Name           string `json:"name"` // namespace name: channels "<name>:<channel>" use these options
	ChannelOptions `json:",squash"`
}

// Channel holds naming rules and namespaces.
type Channel struct {
	// WithoutNamespace applies to channels without a namespace prefix.
	WithoutNamespace ChannelOptions `json:"without_namespace"`
	// Namespaces is not a flag. In env it is a JSON array, or (as Centrifugo) a
	// space-separated list of names whose options then come from
	// UNISSE_CHANNEL_NAMESPACES_<NAME>_<OPTION> variables.
	Namespaces        []Namespace `json:"namespaces"`
	NamespaceBoundary string      `json:"namespace_boundary"` // default ":"
	PrivatePrefix     string      `json:"private_prefix"`     // default "$"
	UserBoundary      string      `json:"user_boundary"`      // default "#"
	MaxLength         int         `json:"max_length"`         // default 255
	// HistoryMetaTTL is the default ChannelOptions.HistoryMetaTTL: how long a
	// stream's offset and epoch outlive its last publication. Default 720h (Centrifugo's).
	// Added by the config package: a Centrifugo key the broker needs for recovery.
	HistoryMetaTTL time.Duration `json:"history_meta_ttl"`
}

// HTTPAPI is the server API.
type HTTPAPI struct {
	// Key is the API key; empty and not Insecure means every API call is 401.
	Key           string `json:"key"`
	HandlerPrefix string `json:"handler_prefix"` // default "/api"; must start with "/"
	// Insecure serves the API without a key.
	Insecure bool `json:"insecure"`
	// External also serves the API on the external port when InternalPort is set.
	External  bool   `json:"external"`
	ErrorMode string `json:"error_mode"` // "" or "transport"
}

// HTTPResponseTransform maps a connect error code to a plain HTTP response.
// Validate requires Code != 0 and To.StatusCode in 100..999.
type HTTPResponseTransform struct {
	Code uint32 `json:"code"`
	To   struct {
		StatusCode int    `json:"status_code"`
		Body       string `json:"body"`
	} `json:"to"`
}

// ConnectCodeToHTTPResponse is uni_sse.connect_code_to_http_response.
type ConnectCodeToHTTPResponse struct {
	Enabled bool `json:"enabled"` // answer refused connects with plain HTTP responses
	// Transforms is not a flag; in env it is a JSON array.
	Transforms []HTTPResponseTransform `json:"transforms"`
}

// UniSSE is the /connection/uni_sse endpoint.
type UniSSE struct {
	Enabled                   bool                      `json:"enabled"`               // default true in unisse (Centrifugo: false)
	HandlerPrefix             string                    `json:"handler_prefix"`        // default "/connection/uni_sse"; must start with "/"
	MaxRequestBodySize        int                       `json:"max_request_body_size"` // default 65536; must be > 0
	ConnectCodeToHTTPResponse ConnectCodeToHTTPResponse `json:"connect_code_to_http_response"`
}

// Health is the /health endpoint.
type Health struct {
	Enabled       bool   `json:"enabled"`        // default true in unisse (Centrifugo: false)
	HandlerPrefix string `json:"handler_prefix"` // default "/health"; must start with "/"
}

// Prometheus is the /metrics endpoint.
type Prometheus struct {
	Enabled       bool   `json:"enabled"`        // serve metrics
	HandlerPrefix string `json:"handler_prefix"` // default "/metrics"; must start with "/"
	// RecoveredPublicationsHistogram exposes centrifugo_client_recovered_publications,
	// the number of publications each successful recovery returned (off by default, as in Centrifugo).
	RecoveredPublicationsHistogram bool `json:"recovered_publications_histogram"`
}

// Node names this server in /api/info.
type Node struct {
	// Name; empty means "<hostname>_<port>" as Centrifugo (computed by the server, not here).
	Name string `json:"name"`
}

// Log configures logging.
type Log struct {
	// Level: none, trace, debug, info (default), warn, error, or fatal
	// (Centrifugo's set, any case; fatal logs errors only). Validate refuses
	// anything else: Centrifugo falls back to info for an unknown level,
	// which hides the mistake.
	Level string `json:"level"`
	// File, when set, receives the log instead of stdout.
	File string `json:"file"`
}

// UsageStats is accepted for compatibility; unisse sends no usage stats.
type UsageStats struct {
	Disabled bool `json:"disabled"` // accepted; nothing is sent either way
}

// Engine selects what serves publications, history and presence unless
// broker or presence_manager is enabled: "memory" (default, this node only)
// or "redis" (shared by every node on the same Redis and prefix, Centrifugo
// nodes included). Options.Backends resolves the three sections.
type Engine struct {
	Type  string      `json:"type"` // "memory" or "redis"
	Redis EngineRedis `json:"redis"`
}

// Shutdown is Centrifugo's graceful stop.
type Shutdown struct {
	// Timeout bounds graceful stop (Centrifugo: then the process exits
	// anyway). Default 30s, as Centrifugo. Must be > 0.
	Timeout time.Duration `json:"timeout"`
}

// ShutdownTimeout is the bound on graceful stop in effect: the older
// unisse.shutdown_timeout when set (> 0), so configs written for it keep
// their meaning, else Centrifugo's shutdown.timeout.
func (o *Options) ShutdownTimeout() time.Duration {
	if o.Own.ShutdownTimeout > 0 {
		return o.Own.ShutdownTimeout
	}
	return o.Shutdown.Timeout
}

// Own holds unisse-only settings (JSON key "unisse"; env UNISSE_UNISSE_*).
type Own struct {
	// EventLoops is the number of gnet event loops; 0 means GOMAXPROCS (the CPUs this process may use, a container's CPU limit included). Several nodes sharing one machine each want their share of its cores. Must be >= 0.
	EventLoops int `json:"event_loops"`
	// MaxRequestHeadSize caps request line + headers; larger → 431. Default 1 MiB + 4 KiB (Go's net/http). Must be > 0.
	MaxRequestHeadSize int `json:"max_request_head_size"`
	// APIMaxRequestBodySize caps server API bodies; larger → 413. Default 16 MiB. Must be > 0.
	APIMaxRequestBodySize int `json:"api_max_request_body_size"`
	// ReadTimeout bounds the time to receive a whole request (and idle keep-alive
	// time between API requests). Default 30s, as Centrifugo's HTTP server. Must be > 0.
	ReadTimeout time.Duration `json:"read_timeout"`
	// ShutdownTimeout, when > 0, overrides shutdown.timeout (it predates
	// unisse reading Centrifugo's key). Default 0: use shutdown.timeout.
	// Must be >= 0.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
	// ShutdownSpread is the window over which a graceful stop spreads the
	// streams' 3001 disconnects, so that clients do not all reconnect to
	// the next node at once. Default 5s; 0 disconnects everybody at once.
	// Bounded at run time to half the shutdown timeout (the other half is
	// for the final flush), and never slower than shutdownMinRate streams a
	// second (engine), so a small node stops quickly. Must be >= 0.
	ShutdownSpread time.Duration `json:"shutdown_spread"`
	// SSERetryMin and SSERetryMax, when SSERetryMax > 0, make every stream
	// start with an SSE "retry:" field: the EventSource reconnection delay,
	// drawn per connection uniformly in [min, max] (milliseconds), so that
	// browsers that lose a node together come back spread over max - min
	// instead of all after their fixed default (~3 s in Chromium). Default
	// off: the stream's bytes are Centrifugo's. Must be 0 <= min <= max <= 1h.
	SSERetryMin time.Duration `json:"sse_retry_min"`
	SSERetryMax time.Duration `json:"sse_retry_max"` // upper bound of the retry: delay; 0: no retry: field
	// SSEEventIDs gives each publication of a recoverable subscription an
	// SSE "id:" listing the connection's stream positions (and the connect
	// push the initial one), and makes a connect with Last-Event-ID (or the
	// lastEventId / last_event_id query parameter) recover from them: a
	// browser's EventSource then resumes by itself. Default off: the
	// stream's bytes are Centrifugo's.
	SSEEventIDs bool `json:"sse_event_ids"`
	// WriteStallTimeout is how long a subscriber's socket may take no bytes
	// at all before it is disconnected with 3008 (slow). Default 5s. Must be > 0.
	WriteStallTimeout time.Duration `json:"write_stall_timeout"`
	// LoopInboxMaxSize caps the bytes of publications waiting in one event
	// loop's inbox; past it the loop's subscribers of the channels whose
	// publications did not fit are disconnected with 3008. Default 64 MiB. Must be > 0.
	LoopInboxMaxSize int `json:"loop_inbox_max_size"`
	// PprofAddress, when set (e.g. "127.0.0.1:6060"), serves Go's
	// /debug/pprof/ there with net/http, apart from the event loops. For
	// profiling and memory accounting; keep it off public interfaces.
	PprofAddress string `json:"pprof_address"`
	// TCPKeepAliveIdle is how long an accepted connection may be silent before
	// the kernel starts keepalive probes; 0 turns keepalive off. Default 15s
	// (Go's net/http). Together with the interval and count it bounds how long
	// a vanished idle peer holds a slot. Must be >= 0.
	TCPKeepAliveIdle time.Duration `json:"tcp_keepalive_idle"`
	// TCPKeepAliveInterval is the time between keepalive probes. Default 15s. Must be > 0.
	TCPKeepAliveInterval time.Duration `json:"tcp_keepalive_interval"`
	// TCPKeepAliveCount is how many unanswered probes close the connection. Default 3. Must be > 0.
	TCPKeepAliveCount int `json:"tcp_keepalive_count"`
	// TCPUserTimeout (TCP_USER_TIMEOUT) closes a connection whose sent data
	// stays unacknowledged this long: a stream whose peer vanished is found
	// at its next ping instead of after the kernel's ~15 minutes of
	// retransmissions. 0 keeps the kernel default. Default 60s
	// (idle + interval × count). Must be >= 0.
	TCPUserTimeout time.Duration `json:"tcp_user_timeout"`
	// ReusePort sets SO_REUSEPORT on the listeners, so that several
	// processes can bind the same port and the kernel spreads new
	// connections among them. Default false: a busy port fails start.
	// Dangerous unless every process sharing the port serves the same
	// clients the same way: nodes that do not share a broker (engine.type
	// "redis") split the clients between them, and a publication reaches
	// only those of the node it was sent to. A stale process left running
	// keeps taking a share of the connections too.
	ReusePort bool `json:"reuse_port"`
	// LogFormat is the log's line format: "text" (default, slog's
	// key=value lines) or "json" (one JSON object per line, for log
	// collectors). Centrifugo picks by whether stdout is a terminal and has
	// no key for it.
	LogFormat string `json:"log_format"`
}
