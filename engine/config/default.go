package config

import "time"

// Default returns the embedded defaults: Centrifugo v6's defaults, except that
// uni_sse.enabled and health.enabled are true (unisse serves them out of the box),
// plus unisse's own limits. This is the only place defaults are written down;
// Load starts from it and the flag help shows it.
//
// Safe from any goroutine; every call returns a fresh value.
func Default() Options {
	return Options{
		HTTPServer: HTTPServer{
			Port: 8000,
		},
		Client: Client{
			PingInterval:                25 * time.Second,
			PongTimeout:                 8 * time.Second,
			ExpiredCloseDelay:           25 * time.Second,
			StaleCloseDelay:             10 * time.Second,
			PresenceUpdateInterval:      27 * time.Second,
			ChannelLimit:                128,
			QueueMaxSize:                1048576,
			HistoryMaxPublicationLimit:  300,
			RecoveryMaxPublicationLimit: 300,
		},
		Channel: Channel{
			NamespaceBoundary: ":",
			PrivatePrefix:     "$",
			UserBoundary:      "#",
			MaxLength:         255,
			HistoryMetaTTL:    720 * time.Hour,
		},
		HTTPAPI: HTTPAPI{
			HandlerPrefix: "/api",
		},
		UniSSE: UniSSE{
			Enabled:            true,
			HandlerPrefix:      "/connection/uni_sse",
			MaxRequestBodySize: 65536,
		},
		Health: Health{
			Enabled:       true,
			HandlerPrefix: "/health",
		},
		Prometheus: Prometheus{
			HandlerPrefix: "/metrics",
		},
		Log: Log{
			Level: "info",
		},
		Engine: Engine{
			Type:  BackendMemory,
			Redis: EngineRedis{Prefix: redisDefaultPrefix, RedisConnection: redisDefaultConnection(), RedisPresence: redisDefaultPresence},
		},
		Broker: Broker{
			Type:  BackendMemory,
			Redis: BrokerRedis{Prefix: redisDefaultPrefix, RedisConnection: redisDefaultConnection()},
			Nats: BrokerNats{
				Prefix: "centrifugo", URL: "nats://localhost:4222",
				DialTimeout: time.Second, WriteTimeout: time.Second,
			},
		},
		PresenceManager: PresenceManager{
			Type:  BackendMemory,
			Redis: PresenceRedis{Prefix: redisDefaultPrefix, RedisConnection: redisDefaultConnection(), RedisPresence: redisDefaultPresence},
		},
		Shutdown: Shutdown{
			Timeout: 30 * time.Second,
		},
		Own: Own{
			MaxRequestHeadSize:    1<<20 + 4096,
			APIMaxRequestBodySize: 16 << 20,
			ReadTimeout:           30 * time.Second,
			ShutdownSpread:        5 * time.Second,
			WriteStallTimeout:     5 * time.Second,
			LoopInboxMaxSize:      64 << 20,
			TCPKeepAliveIdle:      15 * time.Second,
			TCPKeepAliveInterval:  15 * time.Second,
			TCPKeepAliveCount:     3,
			TCPUserTimeout:        60 * time.Second,
			LogFormat:             "text",
		},
	}
}

// Centrifugo v6.9.1's Redis defaults (configtypes.Redis, RedisPrefixed,
// RedisPresenceManagerCommon).
const redisDefaultPrefix = "centrifugo"

var redisDefaultPresence = RedisPresence{PresenceTTL: 60 * time.Second}

// redisDefaultConnection is a function so that every Options gets its own
// Address slice.
func redisDefaultConnection() RedisConnection {
	return RedisConnection{
		Address:        []string{"redis://127.0.0.1:6379"},
		ConnectTimeout: time.Second,
		IOTimeout:      4 * time.Second,
	}
}
