package config

import "time"

// Options is the whole server configuration. Field names follow Centrifugo v6's
// JSON keys (the json tags), so a Centrifugo config file loads unchanged. Defaults
// live in Default(); file, environment and flags all fill this one struct.
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
	// Unisse holds settings Centrifugo does not have (limits of our own HTTP
	// parser, event loop count). They live under their own key so a Centrifugo
	// config never collides with them.
	Unisse Unisse `json:"unisse"`
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
	// A string, as in Centrifugo.
	InternalPort string `json:"internal_port"`
}

// Token configures connection JWT verification.
type Token struct {
	HMACSecretKey                   string `json:"hmac_secret_key"`
	HMACPreviousSecretKey           string `json:"hmac_previous_secret_key"`
	HMACPreviousSecretKeyValidUntil int64  `json:"hmac_previous_secret_key_valid_until"` // Unix seconds
	RSAPublicKey                    string `json:"rsa_public_key"`                       // PEM
	ECDSAPublicKey                  string `json:"ecdsa_public_key"`                     // PEM
	JWKSPublicEndpoint              string `json:"jwks_public_endpoint"`
	Audience                        string `json:"audience"`
	AudienceRegex                   string `json:"audience_regex"`
	Issuer                          string `json:"issuer"`
	IssuerRegex                     string `json:"issuer_regex"`
	UserIDClaim                     string `json:"user_id_claim"`
}

// DisconnectTransform maps a connect error code to a disconnect push.
type DisconnectTransform struct {
	Code uint32 `json:"code"`
	To   struct {
		Code   uint32 `json:"code"`
		Reason string `json:"reason"`
	} `json:"to"`
}

// ConnectCodeToDisconnect is client.connect_code_to_unidirectional_disconnect.
type ConnectCodeToDisconnect struct {
	Enabled    bool                  `json:"enabled"`
	Transforms []DisconnectTransform `json:"transforms"`
}

// PersonalChannel is client.subscribe_to_user_personal_channel.
type PersonalChannel struct {
	Enabled                  bool   `json:"enabled"`
	PersonalChannelNamespace string `json:"personal_channel_namespace"`
	SingleConnection         bool   `json:"single_connection"`
}

// Client holds per-connection behaviour.
type Client struct {
	Token                                 Token                   `json:"token"`
	Insecure                              bool                    `json:"insecure"`
	InsecureSkipTokenSignatureVerify      bool                    `json:"insecure_skip_token_signature_verify"`
	AllowAnonymousConnectWithoutToken     bool                    `json:"allow_anonymous_connect_without_token"`
	DisallowAnonymousConnectionTokens     bool                    `json:"disallow_anonymous_connection_tokens"`
	AllowedOrigins                        []string                `json:"allowed_origins"`
	PingInterval                          time.Duration           `json:"ping_interval"`       // default 25s
	PongTimeout                           time.Duration           `json:"pong_timeout"`        // default 8s; must be < PingInterval
	ExpiredCloseDelay                     time.Duration           `json:"expired_close_delay"` // default 25s
	StaleCloseDelay                       time.Duration           `json:"stale_close_delay"`   // default 10s
	ChannelLimit                          int                     `json:"channel_limit"`       // default 128
	UserConnectionLimit                   int                     `json:"user_connection_limit"`
	ConnectionLimit                       int                     `json:"connection_limit"`
	ConnectionRateLimit                   int                     `json:"connection_rate_limit"`
	QueueMaxSize                          int                     `json:"queue_max_size"` // default 1048576
	ConnectIncludeServerTime              bool                    `json:"connect_include_server_time"`
	HistoryMaxPublicationLimit            int                     `json:"history_max_publication_limit"`  // default 300
	RecoveryMaxPublicationLimit           int                     `json:"recovery_max_publication_limit"` // default 300
	SubscribeToUserPersonalChannel        PersonalChannel         `json:"subscribe_to_user_personal_channel"`
	ConnectCodeToUnidirectionalDisconnect ConnectCodeToDisconnect `json:"connect_code_to_unidirectional_disconnect"`
}

// ChannelOptions are the per-namespace options.
type ChannelOptions struct {
	HistorySize                int           `json:"history_size"`
	HistoryTTL                 time.Duration `json:"history_ttl"`
	HistoryMetaTTL             time.Duration `json:"history_meta_ttl"`
	ForceRecovery              bool          `json:"force_recovery"`
	ForceRecoveryMode          string        `json:"force_recovery_mode"` // "stream" (default) or "cache"
	AutoCacheRecover           bool          `json:"auto_cache_recover"`
	ForcePositioning           bool          `json:"force_positioning"`
	Presence                   bool          `json:"presence"`
	JoinLeave                  bool          `json:"join_leave"`
	ForcePushJoinLeave         bool          `json:"force_push_join_leave"`
	AllowSubscribeForClient    bool          `json:"allow_subscribe_for_client"`
	AllowSubscribeForAnonymous bool          `json:"allow_subscribe_for_anonymous"`
	AllowUserLimitedChannels   bool          `json:"allow_user_limited_channels"`
	ChannelRegex               string        `json:"channel_regex"`
	PublicationDataFormat      string        `json:"publication_data_format"`
}

// Namespace is one entry of channel.namespaces.
type Namespace struct {
	Name           string `json:"name"`
	ChannelOptions `json:",squash"`
}

// Channel holds naming rules and namespaces.
type Channel struct {
	WithoutNamespace  ChannelOptions `json:"without_namespace"`
	Namespaces        []Namespace    `json:"namespaces"`
	NamespaceBoundary string         `json:"namespace_boundary"` // default ":"
	PrivatePrefix     string         `json:"private_prefix"`     // default "$"
	UserBoundary      string         `json:"user_boundary"`      // default "#"
	MaxLength         int            `json:"max_length"`         // default 255
}

// HTTPAPI is the server API.
type HTTPAPI struct {
	Key           string `json:"key"`
	HandlerPrefix string `json:"handler_prefix"` // default "/api"
	Insecure      bool   `json:"insecure"`
	External      bool   `json:"external"`
	ErrorMode     string `json:"error_mode"` // "" or "transport"
}

// HTTPResponseTransform maps a connect error code to a plain HTTP response.
type HTTPResponseTransform struct {
	Code uint32 `json:"code"`
	To   struct {
		StatusCode int    `json:"status_code"`
		Body       string `json:"body"`
	} `json:"to"`
}

// ConnectCodeToHTTPResponse is uni_sse.connect_code_to_http_response.
type ConnectCodeToHTTPResponse struct {
	Enabled    bool                    `json:"enabled"`
	Transforms []HTTPResponseTransform `json:"transforms"`
}

// UniSSE is the /connection/uni_sse endpoint.
type UniSSE struct {
	Enabled                   bool                      `json:"enabled"`               // default true in unisse (Centrifugo: false)
	HandlerPrefix             string                    `json:"handler_prefix"`        // default "/connection/uni_sse"
	MaxRequestBodySize        int                       `json:"max_request_body_size"` // default 65536
	ConnectCodeToHTTPResponse ConnectCodeToHTTPResponse `json:"connect_code_to_http_response"`
}

// Health is the /health endpoint.
type Health struct {
	Enabled       bool   `json:"enabled"`        // default true in unisse (Centrifugo: false)
	HandlerPrefix string `json:"handler_prefix"` // default "/health"
}

// Prometheus is the /metrics endpoint.
type Prometheus struct {
	Enabled       bool   `json:"enabled"`
	HandlerPrefix string `json:"handler_prefix"` // default "/metrics"
}

// Node names this server in /api/info.
type Node struct {
	Name string `json:"name"`
}

// Log sets the log level: none, trace, debug, info (default), warn, error.
type Log struct {
	Level string `json:"level"`
	File  string `json:"file"`
}

// UsageStats is accepted for compatibility; unisse sends no usage stats.
type UsageStats struct {
	Disabled bool `json:"disabled"`
}

// Engine selects the broker: "memory" (default) or "redis".
type Engine struct {
	Type string `json:"type"`
}

// Unisse holds unisse-only settings.
type Unisse struct {
	// EventLoops is the number of gnet event loops; 0 means one per CPU.
	EventLoops int `json:"event_loops"`
	// MaxRequestHeadSize caps request line + headers; larger → 431. Default 1 MiB + 4 KiB (Go's net/http).
	MaxRequestHeadSize int `json:"max_request_head_size"`
	// APIMaxRequestBodySize caps server API bodies; larger → 413. Default 16 MiB.
	APIMaxRequestBodySize int `json:"api_max_request_body_size"`
	// ReadTimeout bounds the time to receive a whole request (and idle keep-alive
	// time between API requests). Default 30s, as Centrifugo's HTTP server.
	ReadTimeout time.Duration `json:"read_timeout"`
	// ShutdownTimeout bounds graceful stop. Default 10s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`
}
