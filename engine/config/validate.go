package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FieldError is one invalid value. Validate returns one or more of them joined
// with errors.Join; errors.As(err, &fe) finds the first.
type FieldError struct {
	Key string // dotted key at fault, e.g. "channel.namespaces[1].name"
	Err error  // what is wrong; wraps the cause where there is one
}

func (e *FieldError) Error() string { return "config: " + e.Key + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Centrifugo's patterns.
const namespaceNamePattern = `^[-a-zA-Z0-9_.]{2,}$`

var (
	namespaceNameRe = regexp.MustCompile(namespaceNamePattern)
	userIDClaimRe   = regexp.MustCompile(`^[a-zA-Z_]+$`)
)

// Validate reports every value Centrifugo v6 refuses to start with, plus unisse's
// own sanity checks, as *FieldError values joined with errors.Join (nil when valid).
// Safe from any goroutine.
func (o Options) Validate() error {
	var v validator
	v.httpServer(o.HTTPServer)
	v.client(o)
	v.channel(o.Channel)
	v.endpoints(o)
	v.backends(&o)
	if o.Shutdown.Timeout <= 0 {
		v.failf("shutdown.timeout", "must be > 0, got %s", o.Shutdown.Timeout)
	}
	v.unisse(o.Own)
	v.log(o.Log, o.Own.LogFormat)
	return errors.Join(v.errs...)
}

// LogLevels are the values log.level accepts: Centrifugo's, matched
// case-insensitively as Centrifugo does ("" means info).
var LogLevels = []string{"none", "trace", "debug", "info", "warn", "error", "fatal"}

// log checks log.level and unisse.log_format. An unknown level is refused,
// not read as info: "verbose" or "warning" would otherwise hide the debug
// or warning lines the operator asked for without a word.
func (v *validator) log(l Log, format string) {
	if l.Level != "" && !slices.Contains(LogLevels, strings.ToLower(l.Level)) { // "": unset, info
		v.failf("log.level", "must be one of %s, got %q", strings.Join(LogLevels, ", "), l.Level)
	}
	switch format {
	case "", "text", "json":
	default:
		v.failf("unisse.log_format", `must be "text" or "json", got %q`, format)
	}
}

type validator struct{ errs []error }

// failf records an error for key; use %w in format to wrap a cause.
func (v *validator) failf(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Err: fmt.Errorf(format, args...)})
}

func (v *validator) httpServer(h HTTPServer) {
	if h.Port < 1 || h.Port > 65535 {
		v.failf("http_server.port", "must be in 1..65535, got %d", h.Port)
	}
	if h.InternalPort == "" {
		return
	}
	const key = "http_server.internal_port"
	n, err := strconv.Atoi(h.InternalPort)
	switch {
	case err != nil:
		v.failf(key, "must be a port number: %w", err)
	case n < 1 || n > 65535:
		v.failf(key, "must be in 1..65535, got %d", n)
	}
	// internal_port equal to port is accepted, as Centrifugo does: everything
	// is then served on that one port.
}

// pingPong returns the intervals centrifuge uses: negative disables (0), zero
// means the library default (25s ping, 10s pong).
func pingPong(ping, pong time.Duration) (time.Duration, time.Duration) {
	switch {
	case ping < 0:
		ping = 0
	case ping == 0:
		ping = 25 * time.Second
	}
	switch {
	case pong < 0:
		pong = 0
	case pong == 0:
		pong = 10 * time.Second
	}
	return ping, pong
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func (v *validator) client(o Options) {
	c := o.Client
	if ping, pong := pingPong(c.PingInterval, c.PongTimeout); ping > 0 && pong > 0 && pong >= ping {
		v.failf("client.pong_timeout", "must be less than client.ping_interval (%s), got %s", ping, pong)
	}
	for _, r := range []struct{ key, expr string }{
		{"client.token.audience_regex", c.Token.AudienceRegex},
		{"client.token.issuer_regex", c.Token.IssuerRegex},
	} {
		if r.expr == "" {
			continue
		}
		if _, err := regexp.Compile(r.expr); err != nil {
			v.failf(r.key, "invalid regular expression: %w", err)
		}
	}
	if claim := c.Token.UserIDClaim; claim != "" && !userIDClaimRe.MatchString(claim) {
		v.failf("client.token.user_id_claim", "must match %s, got %q", userIDClaimRe, claim)
	}
	if c.PresenceUpdateInterval <= 0 {
		v.failf("client.presence_update_interval", "must be > 0, got %s", c.PresenceUpdateInterval)
	}
	if c.QueueMaxSize <= 0 {
		v.failf("client.queue_max_size", "must be > 0, got %d", c.QueueMaxSize)
	}
	for i, t := range c.ConnectCodeToUnidirectionalDisconnect.Transforms {
		key := fmt.Sprintf("client.connect_code_to_unidirectional_disconnect.transforms[%d]", i)
		if t.Code == 0 {
			v.failf(key+".code", "must be set")
		}
		if t.To.Code == 0 {
			v.failf(key+".to.code", "must be set")
		}
		if !isASCII(t.To.Reason) {
			v.failf(key+".to.reason", "must be ASCII, got %q", t.To.Reason)
		}
	}

	pc := c.SubscribeToUserPersonalChannel
	const pcKey = "client.subscribe_to_user_personal_channel"
	if pc.Enabled && pc.PersonalChannelNamespace != "" {
		ns, ok := findNamespace(o.Channel.Namespaces, pc.PersonalChannelNamespace)
		switch {
		case !ok:
			v.failf(pcKey+".personal_channel_namespace", "namespace %q not found in channel.namespaces", pc.PersonalChannelNamespace)
		case pc.SingleConnection && !ns.Presence:
			v.failf(pcKey+".single_connection", "needs presence enabled in namespace %q", ns.Name)
		}
	} else if pc.SingleConnection && !o.Channel.WithoutNamespace.Presence {
		v.failf(pcKey+".single_connection", "needs channel.without_namespace.presence")
	}
}

func findNamespace(nss []Namespace, name string) (Namespace, bool) {
	for _, ns := range nss {
		if ns.Name == name {
			return ns, true
		}
	}
	return Namespace{}, false
}

func (v *validator) channel(c Channel) {
	v.secondPrecision("channel.history_meta_ttl", c.HistoryMetaTTL)
	v.channelOptions("channel.without_namespace.", c.WithoutNamespace, c.HistoryMetaTTL)
	seen := map[string]int{}
	for i, ns := range c.Namespaces {
		key := fmt.Sprintf("channel.namespaces[%d]", i)
		switch {
		case ns.Name == "":
			v.failf(key+".name", "must be set")
		case !namespaceNameRe.MatchString(ns.Name):
			v.failf(key+".name", "must match %s, got %q", namespaceNamePattern, ns.Name)
		}
		if j, dup := seen[ns.Name]; dup && ns.Name != "" {
			v.failf(key+".name", "duplicate namespace name %q (also channel.namespaces[%d])", ns.Name, j)
		} else {
			seen[ns.Name] = i
		}
		v.channelOptions(key+".", ns.ChannelOptions, c.HistoryMetaTTL)
	}
}

// secondPrecision: Centrifugo refuses sub-second history TTLs.
func (v *validator) secondPrecision(key string, d time.Duration) {
	if d > 0 && d%time.Second != 0 {
		v.failf(key, "must be a whole number of seconds, got %s", d)
	}
}

func (v *validator) channelOptions(prefix string, c ChannelOptions, globalMetaTTL time.Duration) {
	if c.HistorySize < 0 {
		v.failf(prefix+"history_size", "must be >= 0, got %d", c.HistorySize)
	}
	if c.HistoryTTL < 0 {
		v.failf(prefix+"history_ttl", "must be >= 0, got %s", c.HistoryTTL)
	}
	v.secondPrecision(prefix+"history_ttl", c.HistoryTTL)
	v.secondPrecision(prefix+"history_meta_ttl", c.HistoryMetaTTL)
	switch {
	case c.HistorySize != 0 && c.HistoryTTL == 0:
		v.failf(prefix+"history_ttl", "must be set when history_size is (%d): history needs both", c.HistorySize)
	case c.HistorySize == 0 && c.HistoryTTL != 0:
		v.failf(prefix+"history_size", "must be set when history_ttl is (%s): history needs both", c.HistoryTTL)
	}
	metaTTL, metaKey := globalMetaTTL, "channel.history_meta_ttl"
	if c.HistoryMetaTTL != 0 {
		metaTTL, metaKey = c.HistoryMetaTTL, prefix+"history_meta_ttl"
	}
	if metaTTL < c.HistoryTTL {
		v.failf(prefix+"history_ttl", "must not exceed %s (%s), got %s", metaKey, metaTTL, c.HistoryTTL)
	}
	history := c.HistorySize > 0 && c.HistoryTTL > 0
	if c.ForceRecovery && !history {
		v.failf(prefix+"force_recovery", "needs history_size and history_ttl")
	}
	if c.ForcePositioning && !history {
		v.failf(prefix+"force_positioning", "needs history_size and history_ttl")
	}
	switch c.ForceRecoveryMode {
	case "", "stream", "cache":
	default:
		v.failf(prefix+"force_recovery_mode", `must be "stream" or "cache", got %q`, c.ForceRecoveryMode)
	}
	if c.AutoCacheRecover && (!c.ForceRecovery || c.ForceRecoveryMode != "cache") {
		v.failf(prefix+"auto_cache_recover", `needs force_recovery and force_recovery_mode "cache"`)
	}
	switch c.PublicationDataFormat {
	case "", "json", "json_object", "binary":
	default:
		v.failf(prefix+"publication_data_format", `must be "json", "json_object" or "binary", got %q`, c.PublicationDataFormat)
	}
	if c.ChannelRegex != "" {
		if _, err := regexp.Compile(c.ChannelRegex); err != nil {
			v.failf(prefix+"channel_regex", "invalid regular expression: %w", err)
		}
	}
}

func (v *validator) handlerPrefix(key, prefix string) {
	if !strings.HasPrefix(prefix, "/") {
		v.failf(key, `must start with "/", got %q`, prefix)
	}
}

func (v *validator) endpoints(o Options) {
	switch o.HTTPAPI.ErrorMode {
	case "", "transport":
	default:
		v.failf("http_api.error_mode", `must be "" or "transport", got %q`, o.HTTPAPI.ErrorMode)
	}
	v.handlerPrefix("http_api.handler_prefix", o.HTTPAPI.HandlerPrefix)

	if o.UniSSE.Enabled {
		v.handlerPrefix("uni_sse.handler_prefix", o.UniSSE.HandlerPrefix)
	}
	if o.UniSSE.MaxRequestBodySize <= 0 {
		v.failf("uni_sse.max_request_body_size", "must be > 0, got %d", o.UniSSE.MaxRequestBodySize)
	}
	for i, t := range o.UniSSE.ConnectCodeToHTTPResponse.Transforms {
		key := fmt.Sprintf("uni_sse.connect_code_to_http_response.transforms[%d]", i)
		if t.Code == 0 {
			v.failf(key+".code", "must be set")
		}
		if t.To.StatusCode < 100 || t.To.StatusCode > 999 {
			v.failf(key+".to.status_code", "must be an HTTP status code (100..999), got %d", t.To.StatusCode)
		}
	}
	if o.Health.Enabled {
		v.handlerPrefix("health.handler_prefix", o.Health.HandlerPrefix)
	}
	if o.Prometheus.Enabled {
		v.handlerPrefix("prometheus.handler_prefix", o.Prometheus.HandlerPrefix)
	}
}

// maxSSERetry bounds unisse.sse_retry_max: a client told to wait longer
// than this is as good as lost.
const maxSSERetry = time.Hour

func (v *validator) unisse(u Own) {
	if u.EventLoops < 0 {
		v.failf("unisse.event_loops", "must be >= 0, got %d", u.EventLoops)
	}
	if u.MaxRequestHeadSize <= 0 {
		v.failf("unisse.max_request_head_size", "must be > 0, got %d", u.MaxRequestHeadSize)
	}
	if u.APIMaxRequestBodySize <= 0 {
		v.failf("unisse.api_max_request_body_size", "must be > 0, got %d", u.APIMaxRequestBodySize)
	}
	if u.ReadTimeout <= 0 {
		v.failf("unisse.read_timeout", "must be > 0, got %s", u.ReadTimeout)
	}
	if u.ShutdownTimeout < 0 {
		v.failf("unisse.shutdown_timeout", "must be >= 0 (0: use shutdown.timeout), got %s", u.ShutdownTimeout)
	}
	if u.ShutdownSpread < 0 {
		v.failf("unisse.shutdown_spread", "must be >= 0, got %s", u.ShutdownSpread)
	}
	if u.SSERetryMin < 0 {
		v.failf("unisse.sse_retry_min", "must be >= 0, got %s", u.SSERetryMin)
	}
	if u.SSERetryMax < 0 || u.SSERetryMax > maxSSERetry {
		v.failf("unisse.sse_retry_max", "must be in [0, %s] (0: off), got %s", maxSSERetry, u.SSERetryMax)
	} else if u.SSERetryMax > 0 && u.SSERetryMin > u.SSERetryMax {
		v.failf("unisse.sse_retry_min", "must be <= unisse.sse_retry_max (%s), got %s", u.SSERetryMax, u.SSERetryMin)
	}
	if u.WriteStallTimeout <= 0 {
		v.failf("unisse.write_stall_timeout", "must be > 0, got %s", u.WriteStallTimeout)
	}
	if u.LoopInboxMaxSize <= 0 {
		v.failf("unisse.loop_inbox_max_size", "must be > 0, got %d", u.LoopInboxMaxSize)
	}
	if u.TCPKeepAliveIdle < 0 {
		v.failf("unisse.tcp_keepalive_idle", "must be >= 0, got %s", u.TCPKeepAliveIdle)
	}
	if u.TCPKeepAliveInterval <= 0 {
		v.failf("unisse.tcp_keepalive_interval", "must be > 0, got %s", u.TCPKeepAliveInterval)
	}
	if u.TCPKeepAliveCount <= 0 {
		v.failf("unisse.tcp_keepalive_count", "must be > 0, got %d", u.TCPKeepAliveCount)
	}
	// TCP_USER_TIMEOUT is an int of milliseconds.
	if u.TCPUserTimeout < 0 || u.TCPUserTimeout.Milliseconds() > math.MaxInt32 {
		v.failf("unisse.tcp_user_timeout", "must be between 0 and %s, got %s", time.Duration(math.MaxInt32)*time.Millisecond, u.TCPUserTimeout)
	}
}
