package config

import (
	"errors"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// failedKeys returns the keys of all *FieldError values in err (joined or not).
func failedKeys(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []string
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *FieldError", e)
		}
		if !strings.Contains(e.Error(), fe.Key) {
			t.Errorf("error %q does not name its key %q", e, fe.Key)
		}
		out = append(out, fe.Key)
	}
	return out
}

func withHistory(c *ChannelOptions) {
	c.HistorySize = 10
	c.HistoryTTL = 300 * time.Second
}

func oneNamespace(o *Options, ns Namespace) {
	o.Channel.Namespaces = []Namespace{ns}
}

func TestValidate(t *testing.T) {
	const ns0 = "channel.namespaces[0]."
	cases := []struct {
		name string
		set  func(o *Options)
		want []string // failing keys; nil means valid
	}{
		// http_server.port
		{"port 0", func(o *Options) { o.HTTPServer.Port = 0 }, []string{"http_server.port"}},
		{"port 65536", func(o *Options) { o.HTTPServer.Port = 65536 }, []string{"http_server.port"}},
		{"port 65535", func(o *Options) { o.HTTPServer.Port = 65535 }, nil},

		// http_server.internal_port
		{"internal port not a number", func(o *Options) { o.HTTPServer.InternalPort = "api" }, []string{"http_server.internal_port"}},
		{"internal port 0", func(o *Options) { o.HTTPServer.InternalPort = "0" }, []string{"http_server.internal_port"}},
		{"internal port 70000", func(o *Options) { o.HTTPServer.InternalPort = "70000" }, []string{"http_server.internal_port"}},
		// Equal to port: one listener serves everything, as in Centrifugo.
		{"internal port equals port", func(o *Options) { o.HTTPServer.InternalPort = "8000" }, nil},
		{"internal port equals port, same explicit address", func(o *Options) {
			o.HTTPServer.Address, o.HTTPServer.InternalAddress, o.HTTPServer.InternalPort = "10.0.0.1", "10.0.0.1", "8000"
		}, nil},
		{"internal port equals port, other address", func(o *Options) {
			o.HTTPServer.InternalAddress, o.HTTPServer.InternalPort = "127.0.0.1", "8000"
		}, nil},
		{"internal port differs", func(o *Options) { o.HTTPServer.InternalPort = "8001" }, nil},

		// client.pong_timeout < client.ping_interval
		{"pong equals ping", func(o *Options) { o.Client.PingInterval, o.Client.PongTimeout = 8*time.Second, 8*time.Second }, []string{"client.pong_timeout"}},
		{"pong above ping", func(o *Options) { o.Client.PingInterval, o.Client.PongTimeout = 4*time.Second, 5*time.Second }, []string{"client.pong_timeout"}},
		{"pong 0 means 10s, above ping", func(o *Options) { o.Client.PingInterval, o.Client.PongTimeout = 5*time.Second, 0 }, []string{"client.pong_timeout"}},
		{"ping as bare JSON number (ns)", func(o *Options) { o.Client.PingInterval = 25 }, []string{"client.pong_timeout"}},
		{"pong below ping", func(o *Options) { o.Client.PingInterval, o.Client.PongTimeout = 4*time.Second, 2*time.Second }, nil},
		{"pings disabled", func(o *Options) { o.Client.PingInterval = -1 }, nil},
		{"pong check disabled", func(o *Options) { o.Client.PingInterval, o.Client.PongTimeout = time.Second, -1 }, nil},
		{"ping 0 means 25s", func(o *Options) { o.Client.PingInterval = 0 }, nil},

		// token regexes and claim
		{"audience_regex", func(o *Options) { o.Client.Token.AudienceRegex = "(" }, []string{"client.token.audience_regex"}},
		{"audience_regex ok", func(o *Options) { o.Client.Token.AudienceRegex = "^cf-.*$" }, nil},
		{"issuer_regex", func(o *Options) { o.Client.Token.IssuerRegex = "[a-" }, []string{"client.token.issuer_regex"}},
		{"issuer_regex ok", func(o *Options) { o.Client.Token.IssuerRegex = "^https://issuer/$" }, nil},
		{"user_id_claim", func(o *Options) { o.Client.Token.UserIDClaim = "user.id" }, []string{"client.token.user_id_claim"}},
		{"user_id_claim ok", func(o *Options) { o.Client.Token.UserIDClaim = "user_id" }, nil},

		// client.presence_update_interval
		{"presence_update_interval 0", func(o *Options) { o.Client.PresenceUpdateInterval = 0 }, []string{"client.presence_update_interval"}},
		{"presence_update_interval -1s", func(o *Options) { o.Client.PresenceUpdateInterval = -time.Second }, []string{"client.presence_update_interval"}},
		{"presence_update_interval 1ms", func(o *Options) { o.Client.PresenceUpdateInterval = time.Millisecond }, nil},
		// client.queue_max_size
		{"queue_max_size 0", func(o *Options) { o.Client.QueueMaxSize = 0 }, []string{"client.queue_max_size"}},
		{"queue_max_size -1", func(o *Options) { o.Client.QueueMaxSize = -1 }, []string{"client.queue_max_size"}},
		{"queue_max_size 1", func(o *Options) { o.Client.QueueMaxSize = 1 }, nil},

		// client.connect_code_to_unidirectional_disconnect.transforms
		{"disconnect transform", func(o *Options) {
			var ok, bad DisconnectTransform
			ok.Code, ok.To.Code = 109, 4109
			bad.To.Reason = "héllo"
			o.Client.ConnectCodeToUnidirectionalDisconnect.Transforms = []DisconnectTransform{ok, bad}
		}, []string{
			"client.connect_code_to_unidirectional_disconnect.transforms[1].code",
			"client.connect_code_to_unidirectional_disconnect.transforms[1].to.code",
			"client.connect_code_to_unidirectional_disconnect.transforms[1].to.reason",
		}},
		{"disconnect transform ok", func(o *Options) {
			var ok DisconnectTransform
			ok.Code, ok.To.Code, ok.To.Reason = 109, 4109, "token expired"
			o.Client.ConnectCodeToUnidirectionalDisconnect.Transforms = []DisconnectTransform{ok}
		}, nil},

		// client.subscribe_to_user_personal_channel
		{"personal namespace missing", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, PersonalChannelNamespace: "users"}
		}, []string{"client.subscribe_to_user_personal_channel.personal_channel_namespace"}},
		{"personal namespace exists", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, PersonalChannelNamespace: "users"}
			oneNamespace(o, Namespace{Name: "users"})
		}, nil},
		{"single connection without namespace presence", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, PersonalChannelNamespace: "users", SingleConnection: true}
			oneNamespace(o, Namespace{Name: "users"})
		}, []string{"client.subscribe_to_user_personal_channel.single_connection"}},
		{"single connection with namespace presence", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, PersonalChannelNamespace: "users", SingleConnection: true}
			oneNamespace(o, Namespace{Name: "users", ChannelOptions: ChannelOptions{Presence: true}})
		}, nil},
		{"single connection without top-level presence", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, SingleConnection: true}
		}, []string{"client.subscribe_to_user_personal_channel.single_connection"}},
		{"single connection with top-level presence", func(o *Options) {
			o.Client.SubscribeToUserPersonalChannel = PersonalChannel{Enabled: true, SingleConnection: true}
			o.Channel.WithoutNamespace.Presence = true
		}, nil},

		// namespace names
		{"namespace name empty", func(o *Options) { oneNamespace(o, Namespace{}) }, []string{ns0 + "name"}},
		{"namespace name too short", func(o *Options) { oneNamespace(o, Namespace{Name: "a"}) }, []string{ns0 + "name"}},
		{"namespace name with space", func(o *Options) { oneNamespace(o, Namespace{Name: "bad name"}) }, []string{ns0 + "name"}},
		{"namespace name with colon", func(o *Options) { oneNamespace(o, Namespace{Name: "a:b"}) }, []string{ns0 + "name"}},
		{"namespace name ok", func(o *Options) { oneNamespace(o, Namespace{Name: "ok_name-1.x"}) }, nil},
		{"namespace names duplicate", func(o *Options) {
			o.Channel.Namespaces = []Namespace{{Name: "chat"}, {Name: "news"}, {Name: "chat"}}
		}, []string{"channel.namespaces[2].name"}},
		{"namespace names unique", func(o *Options) {
			o.Channel.Namespaces = []Namespace{{Name: "chat"}, {Name: "news"}}
		}, nil},

		// history_size and history_ttl together
		{"history size without ttl", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistorySize: 10}})
		}, []string{ns0 + "history_ttl"}},
		{"history ttl without size", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistoryTTL: time.Minute}})
		}, []string{ns0 + "history_size"}},
		{"history both", func(o *Options) {
			ns := Namespace{Name: "hist"}
			withHistory(&ns.ChannelOptions)
			oneNamespace(o, ns)
		}, nil},
		{"history on without_namespace", func(o *Options) { o.Channel.WithoutNamespace.HistorySize = 5 }, []string{"channel.without_namespace.history_ttl"}},
		{"history size negative", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistorySize: -1, HistoryTTL: time.Minute}})
		}, []string{ns0 + "history_size"}},
		{"history ttl negative", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistorySize: 1, HistoryTTL: -time.Second}})
		}, []string{ns0 + "history_ttl"}},

		// second precision and meta TTL
		{"history ttl sub-second", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistorySize: 1, HistoryTTL: 1500 * time.Millisecond}})
		}, []string{ns0 + "history_ttl"}},
		{"history meta ttl sub-second", func(o *Options) {
			oneNamespace(o, Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistoryMetaTTL: 1500 * time.Millisecond}})
		}, []string{ns0 + "history_meta_ttl"}},
		{"global history meta ttl sub-second", func(o *Options) { o.Channel.HistoryMetaTTL = 1500 * time.Millisecond }, []string{"channel.history_meta_ttl"}},
		{"history ttl above namespace meta ttl", func(o *Options) {
			ns := Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistoryMetaTTL: time.Minute}}
			withHistory(&ns.ChannelOptions)
			oneNamespace(o, ns)
		}, []string{ns0 + "history_ttl"}},
		{"history ttl above global meta ttl", func(o *Options) {
			ns := Namespace{Name: "hist"}
			withHistory(&ns.ChannelOptions)
			oneNamespace(o, ns)
			o.Channel.HistoryMetaTTL = time.Minute
		}, []string{ns0 + "history_ttl"}},
		{"history ttl within namespace meta ttl", func(o *Options) {
			ns := Namespace{Name: "hist", ChannelOptions: ChannelOptions{HistoryMetaTTL: time.Hour}}
			withHistory(&ns.ChannelOptions)
			oneNamespace(o, ns)
			o.Channel.HistoryMetaTTL = time.Minute
		}, nil},

		// force_recovery / force_positioning need history
		{"force_recovery without history", func(o *Options) {
			oneNamespace(o, Namespace{Name: "rec", ChannelOptions: ChannelOptions{ForceRecovery: true}})
		}, []string{ns0 + "force_recovery"}},
		{"force_recovery with history", func(o *Options) {
			ns := Namespace{Name: "rec", ChannelOptions: ChannelOptions{ForceRecovery: true}}
			withHistory(&ns.ChannelOptions)
			oneNamespace(o, ns)
		}, nil},
		{"force_positioning without history", func(o *Options) { o.Channel.WithoutNamespace.ForcePositioning = true }, []string{"channel.without_namespace.force_positioning"}},
		{"force_positioning with history", func(o *Options) {
			o.Channel.WithoutNamespace.ForcePositioning = true
			withHistory(&o.Channel.WithoutNamespace)
		}, nil},

		// force_recovery_mode, auto_cache_recover, publication_data_format, channel_regex
		{"force_recovery_mode unknown", func(o *Options) { o.Channel.WithoutNamespace.ForceRecoveryMode = "memory" }, []string{"channel.without_namespace.force_recovery_mode"}},
		{"force_recovery_mode cache", func(o *Options) { o.Channel.WithoutNamespace.ForceRecoveryMode = "cache" }, nil},
		{"auto_cache_recover without recovery", func(o *Options) { o.Channel.WithoutNamespace.AutoCacheRecover = true }, []string{"channel.without_namespace.auto_cache_recover"}},
		{"auto_cache_recover in stream mode", func(o *Options) {
			c := &o.Channel.WithoutNamespace
			withHistory(c)
			c.AutoCacheRecover, c.ForceRecovery, c.ForceRecoveryMode = true, true, "stream"
		}, []string{"channel.without_namespace.auto_cache_recover"}},
		{"auto_cache_recover in cache mode", func(o *Options) {
			c := &o.Channel.WithoutNamespace
			withHistory(c)
			c.AutoCacheRecover, c.ForceRecovery, c.ForceRecoveryMode = true, true, "cache"
		}, nil},
		{"publication_data_format unknown", func(o *Options) {
			oneNamespace(o, Namespace{Name: "fmt", ChannelOptions: ChannelOptions{PublicationDataFormat: "xml"}})
		}, []string{ns0 + "publication_data_format"}},
		{"publication_data_format json_object", func(o *Options) {
			oneNamespace(o, Namespace{Name: "fmt", ChannelOptions: ChannelOptions{PublicationDataFormat: "json_object"}})
		}, nil},
		{"channel_regex", func(o *Options) {
			oneNamespace(o, Namespace{Name: "re", ChannelOptions: ChannelOptions{ChannelRegex: "[a-"}})
		}, []string{ns0 + "channel_regex"}},
		{"channel_regex on without_namespace", func(o *Options) { o.Channel.WithoutNamespace.ChannelRegex = "(" }, []string{"channel.without_namespace.channel_regex"}},
		{"channel_regex ok", func(o *Options) {
			oneNamespace(o, Namespace{Name: "re", ChannelOptions: ChannelOptions{ChannelRegex: "^[a-z]+$"}})
		}, nil},

		// http_api
		{"error_mode unknown", func(o *Options) { o.HTTPAPI.ErrorMode = "http" }, []string{"http_api.error_mode"}},
		{"error_mode transport", func(o *Options) { o.HTTPAPI.ErrorMode = "transport" }, nil},
		{"api handler_prefix without slash", func(o *Options) { o.HTTPAPI.HandlerPrefix = "api" }, []string{"http_api.handler_prefix"}},
		{"api handler_prefix ok", func(o *Options) { o.HTTPAPI.HandlerPrefix = "/myapi" }, nil},

		// uni_sse, health, prometheus
		{"uni_sse max_request_body_size 0", func(o *Options) { o.UniSSE.MaxRequestBodySize = 0 }, []string{"uni_sse.max_request_body_size"}},
		{"uni_sse max_request_body_size 1", func(o *Options) { o.UniSSE.MaxRequestBodySize = 1 }, nil},
		{"uni_sse handler_prefix empty", func(o *Options) { o.UniSSE.HandlerPrefix = "" }, []string{"uni_sse.handler_prefix"}},
		{"uni_sse handler_prefix empty but disabled", func(o *Options) { o.UniSSE.HandlerPrefix, o.UniSSE.Enabled = "", false }, nil},
		{"health handler_prefix", func(o *Options) { o.Health.HandlerPrefix = "health" }, []string{"health.handler_prefix"}},
		{"prometheus handler_prefix", func(o *Options) { o.Prometheus.Enabled, o.Prometheus.HandlerPrefix = true, "metrics" }, []string{"prometheus.handler_prefix"}},
		{"prometheus handler_prefix disabled", func(o *Options) { o.Prometheus.HandlerPrefix = "metrics" }, nil},
		{"http response transforms", func(o *Options) {
			var a, b, c HTTPResponseTransform
			a.Code, a.To.StatusCode = 3500, 401
			b.To.StatusCode = 400
			c.Code, c.To.StatusCode = 3501, 1000
			o.UniSSE.ConnectCodeToHTTPResponse.Transforms = []HTTPResponseTransform{a, b, c}
		}, []string{
			"uni_sse.connect_code_to_http_response.transforms[1].code",
			"uni_sse.connect_code_to_http_response.transforms[2].to.status_code",
		}},
		{"http response transform without status", func(o *Options) {
			var a HTTPResponseTransform
			a.Code = 3500
			o.UniSSE.ConnectCodeToHTTPResponse.Transforms = []HTTPResponseTransform{a}
		}, []string{"uni_sse.connect_code_to_http_response.transforms[0].to.status_code"}},
		{"http response transforms ok", func(o *Options) {
			var a HTTPResponseTransform
			a.Code, a.To.StatusCode, a.To.Body = 3501, 400, "bad connect request"
			o.UniSSE.ConnectCodeToHTTPResponse.Transforms = []HTTPResponseTransform{a}
		}, nil},

		// engine.type
		{"engine redis", func(o *Options) { o.Engine.Type = "redis" }, nil},
		{"engine unknown", func(o *Options) { o.Engine.Type = "nats" }, []string{"engine.type"}},
		{"engine empty", func(o *Options) { o.Engine.Type = "" }, []string{"engine.type"}},
		{"engine memory", func(o *Options) { o.Engine.Type = "memory" }, nil},

		// unisse.*
		{"event_loops negative", func(o *Options) { o.Own.EventLoops = -1 }, []string{"unisse.event_loops"}},
		{"event_loops 4", func(o *Options) { o.Own.EventLoops = 4 }, nil},
		{"max_request_head_size 0", func(o *Options) { o.Own.MaxRequestHeadSize = 0 }, []string{"unisse.max_request_head_size"}},
		{"api_max_request_body_size 0", func(o *Options) { o.Own.APIMaxRequestBodySize = 0 }, []string{"unisse.api_max_request_body_size"}},
		{"read_timeout 0", func(o *Options) { o.Own.ReadTimeout = 0 }, []string{"unisse.read_timeout"}},
		{"unisse.shutdown_timeout negative", func(o *Options) { o.Own.ShutdownTimeout = -1 }, []string{"unisse.shutdown_timeout"}},
		{"shutdown.timeout 0", func(o *Options) { o.Shutdown.Timeout = 0 }, []string{"shutdown.timeout"}},
		{"shutdown_spread negative", func(o *Options) { o.Own.ShutdownSpread = -time.Second }, []string{"unisse.shutdown_spread"}},
		{"shutdown_spread 0", func(o *Options) { o.Own.ShutdownSpread = 0 }, nil},
		{"sse_retry on", func(o *Options) { o.Own.SSERetryMin, o.Own.SSERetryMax = time.Second, 10*time.Second }, nil},
		{"sse_retry min only is off", func(o *Options) { o.Own.SSERetryMin = time.Second }, nil},
		{"sse_retry min > max", func(o *Options) { o.Own.SSERetryMin, o.Own.SSERetryMax = 2*time.Second, time.Second }, []string{"unisse.sse_retry_min"}},
		{"sse_retry max too big", func(o *Options) { o.Own.SSERetryMax = 2 * time.Hour }, []string{"unisse.sse_retry_max"}},
		{"sse_retry negative", func(o *Options) { o.Own.SSERetryMin = -1 }, []string{"unisse.sse_retry_min"}},
		{"keepalive off", func(o *Options) { o.Own.TCPKeepAliveIdle = 0 }, nil},
		{"keepalive idle negative", func(o *Options) { o.Own.TCPKeepAliveIdle = -time.Second }, []string{"unisse.tcp_keepalive_idle"}},
		{"keepalive interval 0", func(o *Options) { o.Own.TCPKeepAliveInterval = 0 }, []string{"unisse.tcp_keepalive_interval"}},
		{"keepalive count 0", func(o *Options) { o.Own.TCPKeepAliveCount = 0 }, []string{"unisse.tcp_keepalive_count"}},
		{"user timeout off", func(o *Options) { o.Own.TCPUserTimeout = 0 }, nil},
		{"user timeout negative", func(o *Options) { o.Own.TCPUserTimeout = -time.Second }, []string{"unisse.tcp_user_timeout"}},
		{"user timeout over int32 ms", func(o *Options) { o.Own.TCPUserTimeout = 25 * 24 * time.Hour }, []string{"unisse.tcp_user_timeout"}},
		{"unisse sizes small but positive", func(o *Options) {
			o.Own.MaxRequestHeadSize, o.Own.APIMaxRequestBodySize = 1, 1
			o.Own.ReadTimeout, o.Own.ShutdownTimeout = time.Millisecond, time.Millisecond
		}, nil},

		// Several problems are all reported.
		{"several", func(o *Options) { o.HTTPServer.Port, o.Engine.Type = -1, "postgres" }, []string{"http_server.port", "engine.type"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Default()
			c.set(&o)
			got := failedKeys(t, o.Validate())
			if !slices.Equal(got, c.want) {
				t.Errorf("Validate() failed keys = %q, want %q (err: %v)", got, c.want, o.Validate())
			}
		})
	}
}

func TestValidateWrapsCauses(t *testing.T) {
	o := Default()
	o.Client.Token.AudienceRegex = "("
	var se *syntax.Error
	if err := o.Validate(); !errors.As(err, &se) {
		t.Errorf("audience_regex error %v does not wrap *syntax.Error", err)
	}
	o = Default()
	o.HTTPServer.InternalPort = "api"
	if err := o.Validate(); !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("internal_port error %v does not wrap strconv.ErrSyntax", err)
	}
	o = Default()
	o.Engine.Type = "nats"
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), `unknown engine "nats"`) {
		t.Errorf("engine nats error %v does not name the engine", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "engine.type" || !strings.HasPrefix(err.Error(), "config: engine.type: ") {
		t.Errorf("error %v: want a *FieldError for engine.type", err)
	}
}
