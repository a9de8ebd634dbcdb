package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// load is Load with t.Fatal on error.
func load(t *testing.T, args, environ []string) (Options, Report) {
	t.Helper()
	o, rep, err := Load(args, environ)
	if err != nil {
		t.Fatalf("Load(%q, %q): %v", args, environ, err)
	}
	return o, rep
}

// writeConfig writes a config file into a fresh temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErrContains(t *testing.T, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestDefault(t *testing.T) {
	d := Default()
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"uni_sse.enabled", d.UniSSE.Enabled, true},
		{"health.enabled", d.Health.Enabled, true},
		{"prometheus.enabled", d.Prometheus.Enabled, false},
		{"client.ping_interval", d.Client.PingInterval, 25 * time.Second},
		{"client.pong_timeout", d.Client.PongTimeout, 8 * time.Second},
		{"client.expired_close_delay", d.Client.ExpiredCloseDelay, 25 * time.Second},
		{"client.stale_close_delay", d.Client.StaleCloseDelay, 10 * time.Second},
		{"client.presence_update_interval", d.Client.PresenceUpdateInterval, 27 * time.Second},
		{"client.channel_limit", d.Client.ChannelLimit, 128},
		{"client.queue_max_size", d.Client.QueueMaxSize, 1048576},
		{"client.history_max_publication_limit", d.Client.HistoryMaxPublicationLimit, 300},
		{"client.recovery_max_publication_limit", d.Client.RecoveryMaxPublicationLimit, 300},
		{"channel.namespace_boundary", d.Channel.NamespaceBoundary, ":"},
		{"channel.private_prefix", d.Channel.PrivatePrefix, "$"},
		{"channel.user_boundary", d.Channel.UserBoundary, "#"},
		{"channel.max_length", d.Channel.MaxLength, 255},
		{"channel.history_meta_ttl", d.Channel.HistoryMetaTTL, 720 * time.Hour},
		{"http_api.handler_prefix", d.HTTPAPI.HandlerPrefix, "/api"},
		{"uni_sse.handler_prefix", d.UniSSE.HandlerPrefix, "/connection/uni_sse"},
		{"uni_sse.max_request_body_size", d.UniSSE.MaxRequestBodySize, 65536},
		{"health.handler_prefix", d.Health.HandlerPrefix, "/health"},
		{"prometheus.handler_prefix", d.Prometheus.HandlerPrefix, "/metrics"},
		{"http_server.port", d.HTTPServer.Port, 8000},
		{"engine.type", d.Engine.Type, "memory"},
		{"log.level", d.Log.Level, "info"},
		{"unisse.max_request_head_size", d.Own.MaxRequestHeadSize, 1<<20 + 4096},
		{"unisse.api_max_request_body_size", d.Own.APIMaxRequestBodySize, 16 << 20},
		{"unisse.read_timeout", d.Own.ReadTimeout, 30 * time.Second},
		{"unisse.shutdown_timeout", d.Own.ShutdownTimeout, time.Duration(0)},
		{"unisse.shutdown_spread", d.Own.ShutdownSpread, 5 * time.Second},
		{"unisse.sse_retry_max", d.Own.SSERetryMax, time.Duration(0)},
		{"shutdown.timeout", d.Shutdown.Timeout, 30 * time.Second},
		{"unisse.tcp_keepalive_idle", d.Own.TCPKeepAliveIdle, 15 * time.Second},
		{"unisse.tcp_keepalive_interval", d.Own.TCPKeepAliveInterval, 15 * time.Second},
		{"unisse.tcp_keepalive_count", d.Own.TCPKeepAliveCount, 3},
		{"unisse.tcp_user_timeout", d.Own.TCPUserTimeout, 60 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("Default() %s = %v, want %v", c.key, c.got, c.want)
		}
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	// Load with nothing at all is Default().
	t.Chdir(t.TempDir()) // no ./config.json
	o, rep := load(t, nil, nil)
	if !reflect.DeepEqual(o, d) || rep.File != "" || len(rep.Ignored) != 0 {
		t.Errorf("Load(nil, nil) = %+v, %+v; want Default() and an empty report", o, rep)
	}
}

// captureNamespaces are the four namespaces all three capture configs share.
func captureNamespaces() []Namespace {
	return []Namespace{
		{Name: "hist", ChannelOptions: ChannelOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, ForceRecovery: true}},
		{Name: "pos", ChannelOptions: ChannelOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, ForcePositioning: true}},
		{Name: "jl", ChannelOptions: ChannelOptions{Presence: true, JoinLeave: true, ForcePushJoinLeave: true}},
		{Name: "open", ChannelOptions: ChannelOptions{AllowSubscribeForClient: true}},
	}
}

// captureCommon is what all three capture configs set besides port and node name.
func captureCommon(port int, node string) Options {
	o := Default()
	o.HTTPServer.Port = port
	o.Log.Level = "info"
	o.UsageStats.Disabled = true
	o.Node.Name = node
	o.Client.Token.HMACSecretKey = "conformance-secret"
	o.Client.AllowedOrigins = []string{"http://allowed.example"}
	o.Client.PingInterval = 4 * time.Second
	o.Client.PongTimeout = 2 * time.Second
	o.Client.ExpiredCloseDelay = 2 * time.Second
	o.Client.StaleCloseDelay = 10 * time.Second
	o.HTTPAPI.Key = "conformance-api-key"
	o.UniSSE.Enabled = true
	o.UniSSE.MaxRequestBodySize = 1024
	o.Health.Enabled = true
	o.Prometheus.Enabled = true
	o.Channel.Namespaces = captureNamespaces()
	return o
}

// TestLoadCaptures loads the three real Centrifugo configs unchanged and compares
// the whole Options value, so every key present in them is checked and nothing
// else moved from its default.
func TestLoadCaptures(t *testing.T) {
	main := captureCommon(18100, "cf-ref")

	alt := captureCommon(18102, "cf-alt")
	alt.HTTPServer.InternalPort = "18103"
	alt.Client.Token.Audience = "cf-aud"
	alt.Client.Token.Issuer = "cf-iss"
	alt.HTTPAPI.HandlerPrefix = "/myapi"
	alt.UniSSE.HandlerPrefix = "/custom/sse"
	alt.UniSSE.ConnectCodeToHTTPResponse.Enabled = true
	var t1, t2 HTTPResponseTransform
	t1.Code, t1.To.StatusCode = 3500, 401
	t2.Code, t2.To.StatusCode, t2.To.Body = 3501, 400, "bad connect request"
	alt.UniSSE.ConnectCodeToHTTPResponse.Transforms = []HTTPResponseTransform{t1, t2}

	insecure := captureCommon(18101, "cf-insecure")
	insecure.Client.Insecure = true
	insecure.Client.ConnectCodeToUnidirectionalDisconnect.Enabled = true
	var d DisconnectTransform
	d.Code, d.To.Code, d.To.Reason = 109, 4109, "token expired (custom)"
	insecure.Client.ConnectCodeToUnidirectionalDisconnect.Transforms = []DisconnectTransform{d}

	for _, c := range []struct {
		file string
		want Options
	}{
		{"config.json", main},
		{"config-alt.json", alt},
		{"config-insecure.json", insecure},
	} {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "captures", c.file) // engine/testdata/captures
			got, rep := load(t, []string{"-c", path}, nil)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Load(%s):\n got %+v\nwant %+v", c.file, got, c.want)
			}
			if rep.File != path {
				t.Errorf("Report.File = %q, want %q", rep.File, path)
			}
			// Every key in the captures is one unisse knows (log.level, usage_stats.disabled,
			// node.name included), so nothing is ignored.
			if len(rep.Ignored)+len(rep.Unsupported)+len(rep.Unknown) != 0 {
				t.Errorf("Report = %+v, want nothing ignored", rep)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate() = %v", err)
			}
		})
	}
}

// TestPrecedence checks default < file < env < flag for a scalar, a duration, a
// bool and a string list.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, `{
		"http_server": {"port": 1001},
		"client": {"ping_interval": "5s", "allowed_origins": ["http://file"]},
		"uni_sse": {"enabled": false}
	}`)
	env := []string{
		"UNISSE_HTTP_SERVER_PORT=1002",
		"UNISSE_CLIENT_PING_INTERVAL=6s",
		"UNISSE_CLIENT_ALLOWED_ORIGINS=http://env1 http://env2",
		"UNISSE_UNI_SSE_ENABLED=true",
	}
	flags := []string{
		"--http_server.port", "1003",
		"--client.ping_interval=7s",
		"--client.allowed_origins", "http://flag1,http://flag2",
		"--uni_sse.enabled=false",
	}
	type view struct {
		port    int
		ping    time.Duration
		origins []string
		uniSSE  bool
	}
	get := func(o Options) view {
		return view{o.HTTPServer.Port, o.Client.PingInterval, o.Client.AllowedOrigins, o.UniSSE.Enabled}
	}
	t.Chdir(t.TempDir())
	for _, c := range []struct {
		name  string
		args  []string
		env   []string
		want  view
		wantF string
	}{
		{"default", nil, nil, view{8000, 25 * time.Second, nil, true}, ""},
		{"file", []string{"-c", file}, nil, view{1001, 5 * time.Second, []string{"http://file"}, false}, file},
		{"env", []string{"-c", file}, env, view{1002, 6 * time.Second, []string{"http://env1", "http://env2"}, true}, file},
		{"flag", append([]string{"--config=" + file}, flags...), env, view{1003, 7 * time.Second, []string{"http://flag1", "http://flag2"}, false}, file},
		{"flag without file", flags, nil, view{1003, 7 * time.Second, []string{"http://flag1", "http://flag2"}, false}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, rep := load(t, c.args, c.env)
			if got := get(o); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			if rep.File != c.wantF {
				t.Errorf("Report.File = %q, want %q", rep.File, c.wantF)
			}
		})
	}
}

func TestCentrifugoEnvPrefix(t *testing.T) {
	file := writeConfig(t, `{"http_server": {"port": 1001}, "node": {"name": "file"}}`)
	for _, c := range []struct {
		name     string
		env      []string
		args     []string
		wantPort int
		wantNode string
	}{
		{"centrifugo only", []string{"CENTRIFUGO_HTTP_SERVER_PORT=2001", "CENTRIFUGO_NODE_NAME=cf"}, nil, 2001, "cf"},
		{"unisse wins", []string{"UNISSE_HTTP_SERVER_PORT=3001", "CENTRIFUGO_HTTP_SERVER_PORT=2001", "CENTRIFUGO_NODE_NAME=cf"}, nil, 3001, "cf"},
		{"unisse wins in either order", []string{"CENTRIFUGO_HTTP_SERVER_PORT=2001", "UNISSE_HTTP_SERVER_PORT=3001"}, nil, 3001, "file"},
		{"flag beats both", []string{"UNISSE_HTTP_SERVER_PORT=3001", "CENTRIFUGO_HTTP_SERVER_PORT=2001"}, []string{"-p", "4001"}, 4001, "file"},
		{"empty value is unset", []string{"UNISSE_HTTP_SERVER_PORT=", "UNISSE_NODE_NAME="}, nil, 1001, "file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, rep := load(t, append([]string{"-c", file}, c.args...), c.env)
			if o.HTTPServer.Port != c.wantPort || o.Node.Name != c.wantNode {
				t.Errorf("port, node = %d, %q; want %d, %q", o.HTTPServer.Port, o.Node.Name, c.wantPort, c.wantNode)
			}
			if len(rep.Ignored) != 0 {
				t.Errorf("Ignored = %q, want none", rep.Ignored)
			}
		})
	}
}

func TestEnvJSONLists(t *testing.T) {
	file := writeConfig(t, `{"channel": {"namespaces": [{"name": "hist", "history_size": 10, "history_ttl": "300s"}]}}`)

	t.Run("namespaces JSON replaces the file's", func(t *testing.T) {
		o, _ := load(t, []string{"-c", file}, []string{
			`UNISSE_CHANNEL_NAMESPACES=[{"name":"chat","history_size":5,"history_ttl":"60s","force_recovery":true},{"name":"jl","presence":true,"history_meta_ttl":3600}]`,
		})
		want := []Namespace{
			{Name: "chat", ChannelOptions: ChannelOptions{HistorySize: 5, HistoryTTL: time.Minute, ForceRecovery: true}},
			{Name: "jl", ChannelOptions: ChannelOptions{Presence: true, HistoryMetaTTL: 3600}}, // bare number: ns
		}
		if !reflect.DeepEqual(o.Channel.Namespaces, want) {
			t.Errorf("namespaces = %+v, want %+v", o.Channel.Namespaces, want)
		}
	})

	t.Run("UNISSE beats CENTRIFUGO for the JSON list", func(t *testing.T) {
		o, _ := load(t, nil, []string{
			`UNISSE_CHANNEL_NAMESPACES=[{"name":"u1"}]`,
			`CENTRIFUGO_CHANNEL_NAMESPACES=[{"name":"c1"},{"name":"c2"}]`,
		})
		if len(o.Channel.Namespaces) != 1 || o.Channel.Namespaces[0].Name != "u1" {
			t.Errorf("namespaces = %+v, want just u1", o.Channel.Namespaces)
		}
	})

	t.Run("names and per-namespace variables", func(t *testing.T) {
		o, rep := load(t, nil, []string{
			"CENTRIFUGO_CHANNEL_NAMESPACES=a.b c-d",
			"CENTRIFUGO_CHANNEL_NAMESPACES_A_B_PRESENCE=true",
			"CENTRIFUGO_CHANNEL_NAMESPACES_A_B_HISTORY_SIZE=3",
			"UNISSE_CHANNEL_NAMESPACES_A_B_HISTORY_SIZE=4",
			"UNISSE_CHANNEL_NAMESPACES_A_B_HISTORY_TTL=30s",
			"UNISSE_CHANNEL_NAMESPACES_C_D_CHANNEL_REGEX=^x$",
		})
		want := []Namespace{
			{Name: "a.b", ChannelOptions: ChannelOptions{Presence: true, HistorySize: 4, HistoryTTL: 30 * time.Second}},
			{Name: "c-d", ChannelOptions: ChannelOptions{ChannelRegex: "^x$"}},
		}
		if !reflect.DeepEqual(o.Channel.Namespaces, want) {
			t.Errorf("namespaces = %+v, want %+v", o.Channel.Namespaces, want)
		}
		if len(rep.Ignored) != 0 {
			t.Errorf("Ignored = %q, want none", rep.Ignored)
		}
	})

	t.Run("per-namespace variable over a file namespace", func(t *testing.T) {
		o, _ := load(t, []string{"-c", file}, []string{"UNISSE_CHANNEL_NAMESPACES_HIST_HISTORY_SIZE=20"})
		if got := o.Channel.Namespaces[0]; got.HistorySize != 20 || got.HistoryTTL != 300*time.Second {
			t.Errorf("hist = %+v, want history_size 20, history_ttl 300s", got)
		}
	})

	t.Run("transforms", func(t *testing.T) {
		o, _ := load(t, nil, []string{
			`UNISSE_UNI_SSE_CONNECT_CODE_TO_HTTP_RESPONSE_TRANSFORMS=[{"code":3500,"to":{"status_code":401,"body":"no"}}]`,
			`CENTRIFUGO_CLIENT_CONNECT_CODE_TO_UNIDIRECTIONAL_DISCONNECT_TRANSFORMS=[{"code":109,"to":{"code":4109,"reason":"r"}}]`,
		})
		ht := o.UniSSE.ConnectCodeToHTTPResponse.Transforms
		if len(ht) != 1 || ht[0].Code != 3500 || ht[0].To.StatusCode != 401 || ht[0].To.Body != "no" {
			t.Errorf("http transforms = %+v", ht)
		}
		dt := o.Client.ConnectCodeToUnidirectionalDisconnect.Transforms
		if len(dt) != 1 || dt[0].Code != 109 || dt[0].To.Code != 4109 || dt[0].To.Reason != "r" {
			t.Errorf("disconnect transforms = %+v", dt)
		}
	})

	t.Run("bad JSON names the variable", func(t *testing.T) {
		_, _, err := Load(nil, []string{`UNISSE_CHANNEL_NAMESPACES=[{"name":`})
		wantErrContains(t, err, "UNISSE_CHANNEL_NAMESPACES", "channel.namespaces")
		_, _, err = Load(nil, []string{`UNISSE_CHANNEL_NAMESPACES=[{"name":"x","history_size":"many"}]`})
		wantErrContains(t, err, "UNISSE_CHANNEL_NAMESPACES", "history_size")
		_, _, err = Load(nil, []string{`UNISSE_UNI_SSE_CONNECT_CODE_TO_HTTP_RESPONSE_TRANSFORMS=3500`})
		wantErrContains(t, err, "UNISSE_UNI_SSE_CONNECT_CODE_TO_HTTP_RESPONSE_TRANSFORMS", "JSON array")
		_, _, err = Load(nil, []string{"UNISSE_CHANNEL_NAMESPACES=ns", "UNISSE_CHANNEL_NAMESPACES_NS_HISTORY_SIZE=x"})
		wantErrContains(t, err, "UNISSE_CHANNEL_NAMESPACES_NS_HISTORY_SIZE", "channel.namespaces[0].history_size")
	})
}

func TestDurations(t *testing.T) {
	file := writeConfig(t, `{"client": {"ping_interval": "300ms", "pong_timeout": "1h", "expired_close_delay": 25, "stale_close_delay": "1h30m"}}`)
	o, _ := load(t, []string{"-c", file}, nil)
	if c := o.Client; c.PingInterval != 300*time.Millisecond || c.PongTimeout != time.Hour ||
		c.ExpiredCloseDelay != 25*time.Nanosecond || c.StaleCloseDelay != 90*time.Minute {
		t.Errorf("durations from file = %v %v %v %v", c.PingInterval, c.PongTimeout, c.ExpiredCloseDelay, c.StaleCloseDelay)
	}

	o, _ = load(t, []string{"--client.pong_timeout", "0"}, []string{"UNISSE_CLIENT_PING_INTERVAL=1h30m"})
	if o.Client.PingInterval != 90*time.Minute || o.Client.PongTimeout != 0 {
		t.Errorf("env/flag durations = %v %v", o.Client.PingInterval, o.Client.PongTimeout)
	}

	// Like Centrifugo's env, env and flags need a unit; the file's string form too.
	_, _, err := Load(nil, []string{"UNISSE_CLIENT_PING_INTERVAL=25"})
	wantErrContains(t, err, "UNISSE_CLIENT_PING_INTERVAL", "client.ping_interval", "missing unit")
	_, _, err = Load([]string{"--client.ping_interval=25"}, nil)
	wantErrContains(t, err, "client.ping_interval", "missing unit")
	_, _, err = Load([]string{"-c", writeConfig(t, `{"client": {"ping_interval": "25"}}`)}, nil)
	wantErrContains(t, err, "client.ping_interval", "missing unit")
}

func TestUnknownKeys(t *testing.T) {
	file := writeConfig(t, `{
		"websocket": {"compression": true},
		"foo": 1,
		"client": {"bogus": 1, "proxy": {"connect": {"enabled": true}}, "token": {"hmac_secret_key": "k", "kid": "x"}},
		"channel": {
			"without_namespace": {"delta_publish": true},
			"namespaces": [
				{"name": "a", "allow_publish_for_client": true, "typo_x": 1},
				{"name": "b", "presence": true},
				{"name": "c", "allow_publish_for_client": true}
			]
		},
		"uni_sse": {"connect_code_to_http_response": {"transforms": [{"code": 3500, "to": {"status_code": 400, "extra": 1}}]}}
	}`)
	env := []string{
		// The same unknown key in an env JSON value is reported once.
		`UNISSE_CHANNEL_NAMESPACES=[{"name":"a","allow_publish_for_client":true,"typo_x":2}]`,
		"UNISSE_NOPE=1",
		"CENTRIFUGO_WEBSOCKET_DISABLED=true",
		"CENTRIFUGO_CHANNEL_NAMESPACES_A_ALLOW_PUBLISH_FOR_CLIENT=true",
		"CENTRIFUGO_CHANNEL_NAMESPACES_ZZZ_PRESENCE=true",
		// Not reported: injected by Kubernetes, Centrifugo's custom vars, other prefixes.
		"UNISSE_PORT=tcp://10.0.0.1:8000",
		"UNISSE_SERVICE_HOST=10.0.0.1",
		"CENTRIFUGO_VAR_SECRET=x",
		"HOME=/root",
	}
	o, rep := load(t, []string{"-c", file}, env)

	wantUnsupported := []string{
		"CENTRIFUGO_CHANNEL_NAMESPACES_A_ALLOW_PUBLISH_FOR_CLIENT",
		"CENTRIFUGO_WEBSOCKET_DISABLED",
		"channel.namespaces[0].allow_publish_for_client",
		"channel.namespaces[2].allow_publish_for_client",
		"channel.without_namespace.delta_publish",
		"client.proxy",
		"websocket",
	}
	wantUnknown := []string{
		"CENTRIFUGO_CHANNEL_NAMESPACES_ZZZ_PRESENCE",
		"UNISSE_NOPE",
		"channel.namespaces[0].typo_x",
		"client.bogus",
		"client.token.kid",
		"foo",
		"uni_sse.connect_code_to_http_response.transforms[0].to.extra",
	}
	wantAll := slices.Sorted(slices.Values(append(slices.Clone(wantUnsupported), wantUnknown...)))
	if !slices.Equal(rep.Ignored, wantAll) {
		t.Errorf("Ignored =\n %q\nwant\n %q", rep.Ignored, wantAll)
	}
	if !slices.Equal(rep.Unsupported, wantUnsupported) {
		t.Errorf("Unsupported = %q, want %q", rep.Unsupported, wantUnsupported)
	}
	if !slices.Equal(rep.Unknown, wantUnknown) {
		t.Errorf("Unknown = %q, want %q", rep.Unknown, wantUnknown)
	}
	// Known keys next to unknown ones still load.
	if o.Client.Token.HMACSecretKey != "k" || o.UniSSE.ConnectCodeToHTTPResponse.Transforms[0].To.StatusCode != 400 {
		t.Errorf("known keys not loaded: %+v", o)
	}
}

func TestKeysAreCaseInsensitive(t *testing.T) {
	file := writeConfig(t, `{"HTTP_SERVER": {"Port": 9000}, "Channel": {"Namespaces": [{"NAME": "x", "Presence": true}]}}`)
	o, rep := load(t, []string{"-c", file}, []string{"UNISSE_NODE_NAME=n"})
	if o.HTTPServer.Port != 9000 || len(o.Channel.Namespaces) != 1 || o.Channel.Namespaces[0].Name != "x" || !o.Channel.Namespaces[0].Presence {
		t.Errorf("got port %d, namespaces %+v", o.HTTPServer.Port, o.Channel.Namespaces)
	}
	if len(rep.Ignored) != 0 {
		t.Errorf("Ignored = %q, want none", rep.Ignored)
	}
	// An env value for one key must not hide the file's other keys of that object
	// because the file spelled the object's name in another case.
	file = writeConfig(t, `{"HTTP_SERVER": {"PORT": 9000, "Address": "127.0.0.2"}}`)
	o, _ = load(t, []string{"-c", file}, []string{"UNISSE_HTTP_SERVER_PORT=9001"})
	if o.HTTPServer.Port != 9001 || o.HTTPServer.Address != "127.0.0.2" {
		t.Errorf("port, address = %d, %q; want 9001, 127.0.0.2", o.HTTPServer.Port, o.HTTPServer.Address)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-c", "missing.json", "--help"}} {
		if _, _, err := Load(args, nil); !errors.Is(err, ErrHelp) {
			t.Errorf("Load(%q) error = %v, want ErrHelp", args, err)
		}
	}
	if _, _, err := Load([]string{"--version"}, nil); !errors.Is(err, ErrVersion) {
		t.Errorf("Load(--version) error = %v, want ErrVersion", err)
	}
	u := Usage()
	for _, s := range []string{"--config", "--http_server.port", "UNISSE_HTTP_SERVER_PORT", "(default 25s)", "--client.allowed_origins", "--unisse.read_timeout"} {
		if !strings.Contains(u, s) {
			t.Errorf("Usage() lacks %q", s)
		}
	}
	for _, l := range keys.leaves {
		if l.kind == kindJSON && strings.Contains(u, "--"+l.key) {
			t.Errorf("Usage() lists the list-of-objects key %s as a flag", l.key)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	_, _, err := Load([]string{"--http_server.port=abc"}, nil)
	wantErrContains(t, err, "http_server.port", "abc")
	_, _, err = Load([]string{"--client.ping_interval", "soon"}, nil)
	wantErrContains(t, err, "client.ping_interval", "soon")
	_, _, err = Load([]string{"--no.such.flag=1"}, nil)
	wantErrContains(t, err, "no.such.flag")
	_, _, err = Load([]string{"--channel.namespaces=[]"}, nil)
	wantErrContains(t, err, "channel.namespaces")
	// pflag booleans take no separate value: "false" would be a stray argument.
	_, _, err = Load([]string{"--uni_sse.enabled", "false"}, nil)
	wantErrContains(t, err, `unexpected argument "false"`)
}

func TestFileErrors(t *testing.T) {
	_, _, err := Load([]string{"-c", filepath.Join(t.TempDir(), "nope.json")}, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("explicit missing file: error = %v, want fs.ErrNotExist", err)
	}
	_, _, err = Load([]string{"-c", "config.yaml"}, nil)
	wantErrContains(t, err, "config.yaml", "only JSON")
	bad := writeConfig(t, `{"http_server": {`)
	_, _, err = Load([]string{"-c", bad}, nil)
	wantErrContains(t, err, bad)
	typed := writeConfig(t, `{"http_server": {"port": "eighty"}}`)
	_, _, err = Load([]string{"-c", typed}, nil)
	wantErrContains(t, err, typed, "http_server.port")
	_, _, err = Load(nil, []string{"UNISSE_HTTP_SERVER_PORT=eighty"})
	wantErrContains(t, err, "UNISSE_HTTP_SERVER_PORT", "http_server.port")
	_, _, err = Load(nil, []string{"CENTRIFUGO_UNI_SSE_ENABLED=yes please"})
	wantErrContains(t, err, "CENTRIFUGO_UNI_SSE_ENABLED", "uni_sse.enabled")
}

func TestImplicitConfigJSON(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	o, rep := load(t, nil, nil)
	if rep.File != "" || o.HTTPServer.Port != 8000 {
		t.Errorf("without ./config.json: File %q, port %d", rep.File, o.HTTPServer.Port)
	}
	if err := os.WriteFile(filepath.Join(dir, DefaultConfigFile), []byte(`{"http_server": {"port": 9100}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o, rep = load(t, nil, nil)
	if rep.File != DefaultConfigFile || o.HTTPServer.Port != 9100 {
		t.Errorf("with ./config.json: File %q, port %d", rep.File, o.HTTPServer.Port)
	}
	o, rep = load(t, []string{"-c", ""}, nil)
	if rep.File != "" || o.HTTPServer.Port != 8000 {
		t.Errorf(`with -c "": File %q, port %d`, rep.File, o.HTTPServer.Port)
	}
}

// sample returns a non-default text value for a leaf and the value it must decode to.
func sample(t *testing.T, l leaf) (string, any) {
	switch l.kind {
	case kindString:
		return "s-" + l.env, "s-" + l.env
	case kindBool:
		def := reflect.ValueOf(Default()).FieldByIndex(l.index).Bool()
		return map[bool]string{true: "false", false: "true"}[def], !def
	case kindInt:
		return "4242", 4242
	case kindInt64:
		return "4243", int64(4243)
	case kindUint32:
		return "4244", uint32(4244)
	case kindDuration:
		return "42s", 42 * time.Second
	case kindStrings:
		return "", nil // covered by TestPrecedence (separators differ between env and flags)
	}
	t.Fatalf("no sample for %s", l.key)
	return "", nil
}

// TestEveryLeafLoads sets every scalar key through env and through its flag and
// checks it lands in the right field: the reflection-built tables are complete.
func TestEveryLeafLoads(t *testing.T) {
	fset := newFlagSet()
	n := 0
	for _, l := range keys.leaves {
		if l.kind == kindJSON {
			if fset.Lookup(l.key) != nil {
				t.Errorf("%s is a list of objects but has a flag", l.key)
			}
			continue
		}
		if fset.Lookup(l.key) == nil {
			t.Errorf("no flag for %s", l.key)
		}
		text, want := sample(t, l)
		if want == nil {
			continue
		}
		n++
		for _, src := range []struct {
			args, env []string
		}{
			{env: []string{EnvPrefix + l.env + "=" + text}},
			{env: []string{CentrifugoEnvPrefix + l.env + "=" + text}},
			{args: []string{"--" + l.key + "=" + text}},
		} {
			o, _ := load(t, append([]string{"-c", ""}, src.args...), src.env)
			if got := reflect.ValueOf(o).FieldByIndex(l.index).Interface(); got != want {
				t.Errorf("%s via %q%q = %v, want %v", l.key, src.args, src.env, got, want)
			}
		}
	}
	if n < 60 {
		t.Errorf("only %d scalar keys found; the key table looks incomplete", n)
	}
	// Slices of structs are exactly the three documented lists.
	var lists []string
	for _, l := range keys.leaves {
		if l.kind == kindJSON {
			lists = append(lists, l.key)
		}
	}
	want := []string{
		"client.connect_code_to_unidirectional_disconnect.transforms",
		"channel.namespaces",
		"uni_sse.connect_code_to_http_response.transforms",
	}
	if !slices.Equal(lists, want) {
		t.Errorf("list keys = %q, want %q", lists, want)
	}
}

func TestCentrifugoKeyClassification(t *testing.T) {
	for key, want := range map[string]bool{
		"websocket":                    true,
		"websocket.compression":        true,
		"engine.redis.address":         false, // loaded now: not ignored at all
		"broker.nats.url":              false, // loaded
		"broker.nats.raw_mode.enabled": true,
		"map_broker.type":              true,
		"channel.namespaces[12].allow_history_for_client": true,
		"channel.without_namespace.subscription_type":     true,
		"channel.namespaces[0].map.mode":                  true,
		"client.subscription_token.enabled":               true,
		"client.bogus":                                    false,
		"websockets":                                      false,
		"channel.namespaces[0].typo":                      false,
	} {
		if got := isCentrifugoKey(key); got != want {
			t.Errorf("isCentrifugoKey(%q) = %v, want %v", key, got, want)
		}
	}
	for name, want := range map[string]bool{
		"WEBSOCKET_DISABLED":                   true,
		"ENGINE_REDIS_ADDRESS":                 false, // a key: never ignored
		"BROKER_NATS_URL":                      false,
		"BROKER_NATS_RAW_MODE_ENABLED":         true,
		"CHANNEL_NAMESPACES_X_Y_DELTA_PUBLISH": true,
		"CLIENT_CONCURRENCY":                   true,
		"CLIENT_PRESENCE_UPDATE_INTERVAL":      false, // loaded
		"NOPE":                                 false,
		"UNI_SSE_NOPE":                         false,
		"CHANNEL_NAMESPACES_ZZZ_PRESENCE":      false,
	} {
		if got := isCentrifugoEnv(name); got != want {
			t.Errorf("isCentrifugoEnv(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestZeroLimitsMeanDefault: centrifuge reads a 0 queue_max_size or
// max_request_body_size as its default, so a Centrifugo config with explicit
// zeros loads with the defaults.
func TestZeroLimitsMeanDefault(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zero.json")
	if err := os.WriteFile(path, []byte(`{"client":{"queue_max_size":0,"presence_update_interval":0},"uni_sse":{"max_request_body_size":0}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o, _, err := Load([]string{"-c", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Client.QueueMaxSize != 1048576 || o.UniSSE.MaxRequestBodySize != 65536 {
		t.Fatalf("queue_max_size %d, max_request_body_size %d; want the defaults", o.Client.QueueMaxSize, o.UniSSE.MaxRequestBodySize)
	}
	if o.Client.PresenceUpdateInterval != 25*time.Second {
		t.Fatalf("presence_update_interval 0 loads as %v, want centrifuge's 25s", o.Client.PresenceUpdateInterval)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestLoadShutdownTimeout: Centrifugo's shutdown.timeout is read (file, env)
// and is the bound in effect, unless the older unisse.shutdown_timeout is set.
func TestLoadShutdownTimeout(t *testing.T) {
	file := writeConfig(t, `{"shutdown": {"timeout": "12s"}}`)
	o, rep := load(t, []string{"-c", file}, nil)
	if len(rep.Ignored) != 0 || o.Shutdown.Timeout != 12*time.Second || o.ShutdownTimeout() != 12*time.Second {
		t.Errorf("shutdown.timeout 12s: got %s (in effect %s), ignored %q", o.Shutdown.Timeout, o.ShutdownTimeout(), rep.Ignored)
	}
	o, _ = load(t, []string{"-c", file}, []string{"CENTRIFUGO_SHUTDOWN_TIMEOUT=7s"})
	if o.ShutdownTimeout() != 7*time.Second {
		t.Errorf("CENTRIFUGO_SHUTDOWN_TIMEOUT=7s: in effect %s", o.ShutdownTimeout())
	}
	o, _ = load(t, []string{"-c", file, "--unisse.shutdown_timeout", "3s"}, nil)
	if o.ShutdownTimeout() != 3*time.Second {
		t.Errorf("unisse.shutdown_timeout 3s over shutdown.timeout 12s: in effect %s, want 3s", o.ShutdownTimeout())
	}
}
