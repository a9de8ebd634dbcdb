package api

import (
	"crypto/subtle"
	"encoding/base64"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/unisse/unisse/engine/protocol"
)

// Handler serves API requests against an Executor.
type Handler struct {
	exec           Executor
	key            []byte // http_api.key; empty means no key is accepted
	insecure       bool
	transportError bool     // http_api.error_mode = "transport"
	obs            Observer // nil: nothing is measured
}

// Config is what the handler needs from the server configuration.
type Config struct {
	Key       string // http_api.key; empty and not Insecure means every call is 401
	Insecure  bool   // http_api.insecure: no key check
	ErrorMode string // http_api.error_mode: "" or "transport"
	// Observer, when set, is told of every command run and every error,
	// as Centrifugo counts them for its API metrics.
	Observer Observer
}

// Observer measures the API for /metrics, with Centrifugo's method labels.
// Its calls are made on the goroutine (or event loop) serving the request:
// they must not block or allocate in steady state.
type Observer interface {
	// Command: a command of method m ran for d (failed ones included; a
	// batch's commands each, not the batch itself).
	Command(m Method, d time.Duration)
	// Error: a command failed with an error object of code. method is the
	// command's name, "broadcast_publish" for one channel of a broadcast
	// and "unknown" for a batch command that names no method.
	Error(method string, code uint32)
	// Undecodable: the body of a request for method did not decode (HTTP
	// 400); Centrifugo counts it with error="unmarshal".
	Undecodable(method string)
}

// NewHandler returns a handler executing commands on exec.
func NewHandler(exec Executor, cfg Config) *Handler {
	return &Handler{exec: exec, key: []byte(cfg.Key), insecure: cfg.Insecure, transportError: cfg.ErrorMode == "transport", obs: cfg.Observer}
}

// Authorized checks the API key the way Centrifugo does: the X-API-Key header;
// else "Authorization: apikey <key>" (scheme case-insensitive); else the
// api_key query parameter, which is also consulted when X-API-Key is present but
// wrong. apiKeyQuery is the decoded api_key parameter (nil when absent).
// Safe from any goroutine; allocation-free.
func (h *Handler) Authorized(xAPIKey, authorization, apiKeyQuery []byte) bool {
	if h.insecure {
		return true
	}
	if len(h.key) == 0 {
		return false
	}
	if len(xAPIKey) > 0 && h.keyIs(xAPIKey) {
		return true
	}
	if len(xAPIKey) == 0 && len(authorization) > 0 {
		// strings.Fields semantics, as Centrifugo: "apikey <key>" with any
		// whitespace between and around.
		if scheme, key, ok := twoFields(authorization); ok && asciiEqualFold(scheme, "apikey") && h.keyIs(key) {
			return true
		}
	}
	return apiKeyQuery != nil && h.keyIs(apiKeyQuery)
}

// twoFields splits b into exactly two whitespace-separated fields, like
// strings.Fields returning two, without allocating.
func twoFields(b []byte) (first, second []byte, ok bool) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	trim := func(b []byte) []byte {
		for len(b) > 0 && isSpace(b[0]) {
			b = b[1:]
		}
		for len(b) > 0 && isSpace(b[len(b)-1]) {
			b = b[:len(b)-1]
		}
		return b
	}
	b = trim(b)
	i := 0
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	first, second = b[:i], trim(b[i:])
	for _, c := range second {
		if isSpace(c) {
			return nil, nil, false
		}
	}
	return first, second, len(first) > 0 && len(second) > 0
}

// keyIs compares a presented key with the configured one in constant time.
func (h *Handler) keyIs(k []byte) bool {
	return subtle.ConstantTimeCompare(k, h.key) == 1
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// Response is what the engine writes back.
type Response struct {
	Status      int
	ContentType string // "" for empty bodies
	Body        []byte
}

// errDecode marks a body that does not decode: HTTP 400, never an error object.
var errDecode = errors.New("api: cannot decode request body")

// badRequest is Go's http.Error(w, "Bad Request", 400), which Centrifugo
// answers undecodable bodies with. The body is appended to dst like every
// other reply, so callers may reuse the returned buffer.
func badRequest(dst []byte) Response {
	return Response{Status: 400, ContentType: "text/plain; charset=utf-8", Body: append(dst, "Bad Request\n"...)}
}

// Serve runs method m with body and returns the reply; its Body is appended to
// dst. transportHeader is true when the request carried
// "X-Centrifugo-Error-Mode: transport". It may block as long as the Executor.
func (h *Handler) Serve(dst []byte, m Method, body []byte, transportHeader bool) Response {
	switch m { // the envelopes, whose bodies carry commands of their own
	case MethodLegacy:
		return h.serveLegacy(dst, body)
	case MethodBatch:
		return h.serveBatch(dst, body)
	}
	start := len(dst)
	out, perr, err := h.run(append(dst, `{"result":`...), m, body)
	if err != nil {
		return h.undecodable(dst, m.String())
	}
	if perr != nil {
		if h.transportError || transportHeader {
			return Response{Status: protocol.TransportStatus(perr), ContentType: "application/json", Body: appendError(dst[:start], perr)}
		}
		out = append(dst[:start], `{"error":`...)
		out = appendError(out, perr)
		return Response{Status: 200, ContentType: "application/json", Body: append(out, '}')}
	}
	return Response{Status: 200, ContentType: "application/json", Body: append(out, '}')}
}

// undecodable answers a request whose body did not decode (400) and counts it.
func (h *Handler) undecodable(dst []byte, method string) Response {
	if h.obs != nil {
		h.obs.Undecodable(method)
	}
	return badRequest(dst)
}

func appendError(dst []byte, e *protocol.Error) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendUint(dst, uint64(e.Code), 10)
	dst = append(dst, `,"message":`...)
	dst = protocol.AppendString(dst, e.Message)
	return append(dst, '}')
}

// run decodes params for m, executes it and appends its result object to dst.
// err is set only when params do not decode (→ HTTP 400).
func (h *Handler) run(dst []byte, m Method, params []byte) (out []byte, perr *protocol.Error, err error) {
	req, err := decodeCommand(m, params)
	if err != nil {
		return dst, nil, err
	}
	out, perr = h.execute(dst, m, req)
	return out, perr, nil
}

// decodeCommand decodes the params of one command into its request type.
func decodeCommand(m Method, params []byte) (any, error) {
	s := m.spec()
	if s == nil || s.decode == nil {
		return nil, errDecode
	}
	return s.decode(params)
}

// execute runs one command decoded by decodeCommand and appends its result
// object to dst.
func (h *Handler) execute(dst []byte, m Method, req any) ([]byte, *protocol.Error) {
	s := m.spec()
	if s == nil || s.run == nil {
		if h.obs != nil {
			h.obs.Error("unknown", protocol.ErrorNotFound.Code)
		}
		return dst, protocol.ErrorNotFound
	}
	if h.obs == nil {
		return s.run(h, dst, req)
	}
	start := time.Now()
	out, perr := s.run(h, dst, req)
	h.obs.Command(m, time.Since(start))
	if perr != nil {
		h.obs.Error(s.name, perr.Code)
	}
	return out, perr
}

// The methods' run functions (see methods): each validates its request,
// executes it and appends its result object to dst.

func (h *Handler) publish(dst []byte, r *PublishRequest) ([]byte, *protocol.Error) {
	pub, perr := publication(r.Channel, r.Data, r.B64Data, r.Tags, r.IdempotencyKey, r.SkipHistory)
	if perr != nil {
		return dst, perr
	}
	res, perr := h.exec.Publish(&pub)
	if perr != nil {
		return dst, perr
	}
	return appendPublishResult(dst, res), nil
}

func (h *Handler) broadcast(dst []byte, r *BroadcastRequest) ([]byte, *protocol.Error) {
	if len(r.Channels) == 0 {
		return dst, protocol.ErrorBadRequest
	}
	// As Centrifugo: b64data is decoded once, up front (bad base64 fails
	// the whole broadcast); missing data is found per channel.
	data := []byte(r.Data)
	notJSON := false
	if r.B64Data != "" {
		raw, err := base64.StdEncoding.DecodeString(r.B64Data)
		if err != nil {
			return dst, protocol.ErrorBadRequest
		}
		data, notJSON = raw, !stdjson.Valid(raw)
	}
	dst = append(dst, `{"responses":[`...)
	for i, ch := range r.Channels {
		if i > 0 {
			dst = append(dst, ',')
		}
		var res PublishResult
		var perr *protocol.Error
		if ch == "" || len(data) == 0 {
			perr = protocol.ErrorBadRequest
		} else {
			pub := Publication{Channel: ch, Data: data, NotJSON: notJSON, Tags: r.Tags, IdempotencyKey: r.IdempotencyKey, SkipHistory: r.SkipHistory}
			res, perr = h.exec.Publish(&pub)
		}
		if perr != nil {
			if h.obs != nil {
				h.obs.Error("broadcast_publish", perr.Code)
			}
			dst = append(dst, `{"error":`...)
			dst = appendError(dst, perr)
			dst = append(dst, '}')
			continue
		}
		dst = append(dst, `{"result":`...)
		dst = appendPublishResult(dst, res)
		dst = append(dst, '}')
	}
	return append(dst, ']', '}'), nil
}

func (h *Handler) subscribe(dst []byte, r *SubscribeRequest) ([]byte, *protocol.Error) {
	if r.Channel == "" {
		return dst, protocol.ErrorBadRequest
	}
	return emptyResult(dst, h.exec.Subscribe(r))
}

func (h *Handler) unsubscribe(dst []byte, r *UnsubscribeRequest) ([]byte, *protocol.Error) {
	return emptyResult(dst, h.exec.Unsubscribe(r))
}

func (h *Handler) disconnect(dst []byte, r *DisconnectRequest) ([]byte, *protocol.Error) {
	return emptyResult(dst, h.exec.Disconnect(r))
}

func (h *Handler) refresh(dst []byte, r *RefreshRequest) ([]byte, *protocol.Error) {
	return emptyResult(dst, h.exec.Refresh(r))
}

// emptyResult is the {} result of a method that returns nothing, or perr.
func emptyResult(dst []byte, perr *protocol.Error) ([]byte, *protocol.Error) {
	if perr != nil {
		return dst, perr
	}
	return append(dst, '{', '}'), nil
}

func (h *Handler) presence(dst []byte, r *ChannelRequest) ([]byte, *protocol.Error) {
	if r.Channel == "" {
		return dst, protocol.ErrorBadRequest
	}
	infos, perr := h.exec.Presence(r.Channel)
	if perr != nil {
		return dst, perr
	}
	// Centrifugo encodes a Go map, whose keys encoding/json sorts.
	slices.SortFunc(infos, func(a, b ClientInfo) int { return strings.Compare(a.Client, b.Client) })
	dst = append(dst, `{"presence":{`...)
	for i := range infos {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, infos[i].Client)
		dst = append(dst, ':')
		dst = protocol.AppendClientInfo(dst, &infos[i])
	}
	return append(dst, '}', '}'), nil
}

func (h *Handler) presenceStats(dst []byte, r *ChannelRequest) ([]byte, *protocol.Error) {
	if r.Channel == "" {
		return dst, protocol.ErrorBadRequest
	}
	st, perr := h.exec.PresenceStats(r.Channel)
	if perr != nil {
		return dst, perr
	}
	dst = append(dst, `{"num_clients":`...)
	dst = strconv.AppendInt(dst, int64(st.NumClients), 10)
	dst = append(dst, `,"num_users":`...)
	dst = strconv.AppendInt(dst, int64(st.NumUsers), 10)
	return append(dst, '}'), nil
}

func (h *Handler) history(dst []byte, r *HistoryRequest) ([]byte, *protocol.Error) {
	if r.Channel == "" {
		return dst, protocol.ErrorBadRequest
	}
	res, perr := h.exec.History(r)
	if perr != nil {
		return dst, perr
	}
	dst = append(dst, `{"publications":[`...)
	for i := range res.Publications {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendPublication(dst, &res.Publications[i])
	}
	dst = append(dst, `],"epoch":`...)
	dst = protocol.AppendString(dst, res.Epoch)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendUint(dst, res.Offset, 10)
	return append(dst, '}'), nil
}

func (h *Handler) historyRemove(dst []byte, r *ChannelRequest) ([]byte, *protocol.Error) {
	if r.Channel == "" {
		return dst, protocol.ErrorBadRequest
	}
	return emptyResult(dst, h.exec.HistoryRemove(r.Channel))
}

func (h *Handler) channels(dst []byte, r *ChannelsRequest) ([]byte, *protocol.Error) {
	type entry struct {
		name string
		n    int
	}
	var list []entry
	perr := h.exec.Channels(r.Pattern, func(ch string, n int) { list = append(list, entry{ch, n}) })
	if perr != nil {
		return dst, perr
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	dst = append(dst, `{"channels":{`...)
	for i, e := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = protocol.AppendString(dst, e.name)
		dst = append(dst, `:{"num_clients":`...)
		dst = strconv.AppendInt(dst, int64(e.n), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}', '}'), nil
}

func (h *Handler) info(dst []byte, _ *InfoRequest) ([]byte, *protocol.Error) {
	nodes, perr := h.exec.Info()
	if perr != nil {
		return dst, perr
	}
	return appendInfo(dst, nodes), nil
}

func (h *Handler) rpc(dst []byte, r *RPCRequest) ([]byte, *protocol.Error) {
	if r.Method == "" {
		return dst, protocol.ErrorBadRequest
	}
	// No RPC proxy in unisse: every method is unknown, as in a Centrifugo
	// without rpc proxies configured.
	return dst, protocol.ErrorNotFound
}

// decode unmarshals an API body as strictly as Centrifugo's encoding/json:
// the body must be exactly one valid JSON value. goccy/go-json decodes faster
// but skips malformed bytes inside fields it does not know and accepts some
// invalid escapes, so the standard library's validator runs first.
func decode(b []byte, v any) error {
	if !stdjson.Valid(b) { // also false for an empty or all-whitespace body
		return errDecode
	}
	unmarshal := json.Unmarshal
	if hasLongNumber(b) {
		// goccy wraps 64-bit integers that overflow instead of failing;
		// numbers that long are rare, so let encoding/json judge them.
		unmarshal = stdjson.Unmarshal
	}
	if err := unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", errDecode, err)
	}
	return nil
}

// hasLongNumber reports whether valid JSON b holds a number with 19 or more
// digits outside strings (the shortest that can overflow a 64-bit integer).
func hasLongNumber(b []byte) bool {
	inString, escaped, digits := false, false, 0
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString, digits = true, 0
		case c >= '0' && c <= '9':
			if digits++; digits >= 19 {
				return true
			}
		default:
			digits = 0
		}
	}
	return false
}

// publication validates one publish target and payload.
func publication(ch string, data json.RawMessage, b64 string, tags map[string]string, key string, skipHistory bool) (Publication, *protocol.Error) {
	if ch == "" {
		return Publication{}, protocol.ErrorBadRequest
	}
	p := Publication{Channel: ch, Tags: tags, IdempotencyKey: key, SkipHistory: skipHistory}
	switch {
	case b64 != "":
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Publication{}, protocol.ErrorBadRequest
		}
		p.Data = raw
		p.NotJSON = !stdjson.Valid(raw) // also for no bytes at all
	case len(data) > 0:
		p.Data = data
	default:
		return Publication{}, protocol.ErrorBadRequest
	}
	return p, nil
}

func appendPublishResult(dst []byte, r PublishResult) []byte {
	if r.Offset == 0 && r.Epoch == "" {
		return append(dst, '{', '}')
	}
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendUint(dst, r.Offset, 10)
	dst = append(dst, `,"epoch":`...)
	dst = protocol.AppendString(dst, r.Epoch)
	return append(dst, '}')
}

func appendInfo(dst []byte, nodes []NodeInfo) []byte {
	dst = append(dst, `{"nodes":[`...)
	for i := range nodes {
		n := &nodes[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"uid":`...)
		dst = protocol.AppendString(dst, n.UID)
		dst = append(dst, `,"name":`...)
		dst = protocol.AppendString(dst, n.Name)
		dst = append(dst, `,"version":`...)
		dst = protocol.AppendString(dst, n.Version)
		dst = append(dst, `,"num_clients":`...)
		dst = strconv.AppendInt(dst, int64(n.NumClients), 10)
		dst = append(dst, `,"num_users":`...)
		dst = strconv.AppendInt(dst, int64(n.NumUsers), 10)
		dst = append(dst, `,"num_channels":`...)
		dst = strconv.AppendInt(dst, int64(n.NumChannels), 10)
		dst = append(dst, `,"uptime":`...)
		dst = strconv.AppendInt(dst, n.Uptime, 10)
		if n.Metrics != nil {
			interval := n.MetricsInterval
			if interval <= 0 || math.IsInf(interval, 0) || math.IsNaN(interval) {
				interval = 60
			}
			dst = append(dst, `,"metrics":{"interval":`...)
			dst = strconv.AppendFloat(dst, interval, 'f', -1, 64)
			dst = append(dst, `,"items":`...)
			items, err := json.Marshal(n.Metrics) // sorted keys; /api/info is rare
			if err != nil {
				// A NaN or ±Inf value, which JSON cannot hold, would leave
				// the reply without a value here.
				items = []byte("{}")
			}
			dst = append(dst, items...)
			dst = append(dst, '}')
		}
		dst = append(dst, `,"num_subs":`...)
		dst = strconv.AppendInt(dst, int64(n.NumSubs), 10)
		dst = append(dst, '}')
	}
	return append(dst, ']', '}')
}
