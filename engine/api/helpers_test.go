package api_test

import (
	stdjson "encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/protocol"
)

// The key of the capture configs (shared/captures/config.json).
const apiKey = "conformance-api-key"

// fakeExec is an Executor that behaves like the capture server's namespaces:
// "nope:…" channels are unknown (102), "hist:…" channels keep a history stream
// (offsets 1, 2, … in epoch histEpoch), "fail…" channels fail with 100, others
// publish with an empty result. Every call is recorded. Safe for concurrent use.
type fakeExec struct {
	mu sync.Mutex

	histEpoch string
	offsets   map[string]uint64

	pubs         []api.Publication
	subscribes   []api.SubscribeRequest
	unsubscribes []api.UnsubscribeRequest
	disconnects  []api.DisconnectRequest
	refreshes    []api.RefreshRequest
	histories    []api.HistoryRequest
	calls        []string // method name and argument of every call, in order

	// err, when set, is what every method but Publish returns.
	err *protocol.Error

	presence []api.ClientInfo
	stats    api.PresenceStats
	history  api.HistoryResult
	channels []chanCount
	nodes    []api.NodeInfo
}

type chanCount struct {
	name string
	n    int
}

func newFakeExec() *fakeExec {
	return &fakeExec{histEpoch: "JvxpuhdH", offsets: make(map[string]uint64)}
}

func (f *fakeExec) record(call string) {
	f.calls = append(f.calls, call)
}

func (f *fakeExec) Publish(p *api.Publication) (api.PublishResult, *protocol.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("publish " + p.Channel)
	cp := *p
	cp.Data = append([]byte(nil), p.Data...) // the handler may reuse its buffers
	f.pubs = append(f.pubs, cp)
	switch {
	case strings.HasPrefix(p.Channel, "nope:"):
		return api.PublishResult{}, protocol.ErrorUnknownChannel
	case strings.HasPrefix(p.Channel, "fail"):
		return api.PublishResult{}, protocol.ErrorInternal
	case strings.HasPrefix(p.Channel, "hist:"):
		f.offsets[p.Channel]++
		return api.PublishResult{Offset: f.offsets[p.Channel], Epoch: f.histEpoch}, nil
	}
	return api.PublishResult{}, nil
}

func (f *fakeExec) Subscribe(r *api.SubscribeRequest) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("subscribe " + r.Channel)
	f.subscribes = append(f.subscribes, *r)
	return f.err
}

func (f *fakeExec) Unsubscribe(r *api.UnsubscribeRequest) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("unsubscribe " + r.Channel)
	f.unsubscribes = append(f.unsubscribes, *r)
	return f.err
}

func (f *fakeExec) Disconnect(r *api.DisconnectRequest) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("disconnect " + r.User)
	f.disconnects = append(f.disconnects, *r)
	return f.err
}

func (f *fakeExec) Refresh(r *api.RefreshRequest) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("refresh " + r.User)
	f.refreshes = append(f.refreshes, *r)
	return f.err
}

func (f *fakeExec) Presence(channel string) ([]api.ClientInfo, *protocol.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("presence " + channel)
	if f.err != nil {
		return nil, f.err
	}
	return f.presence, nil
}

func (f *fakeExec) PresenceStats(channel string) (api.PresenceStats, *protocol.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("presence_stats " + channel)
	if f.err != nil {
		return api.PresenceStats{}, f.err
	}
	return f.stats, nil
}

func (f *fakeExec) History(r *api.HistoryRequest) (api.HistoryResult, *protocol.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("history " + r.Channel)
	f.histories = append(f.histories, *r)
	if f.err != nil {
		return api.HistoryResult{}, f.err
	}
	return f.history, nil
}

func (f *fakeExec) HistoryRemove(channel string) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("history_remove " + channel)
	return f.err
}

func (f *fakeExec) Channels(pattern string, fn func(channel string, numClients int)) *protocol.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("channels " + pattern)
	if f.err != nil {
		return f.err
	}
	for _, ch := range f.channels {
		fn(ch.name, ch.n)
	}
	return nil
}

func (f *fakeExec) Info() ([]api.NodeInfo, *protocol.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("info")
	if f.err != nil {
		return nil, f.err
	}
	return f.nodes, nil
}

// reset forgets what was recorded (the fuzzer reuses one fake).
func (f *fakeExec) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubs, f.subscribes, f.unsubscribes, f.disconnects, f.refreshes, f.histories, f.calls = nil, nil, nil, nil, nil, nil, nil
	clear(f.offsets)
}

func (f *fakeExec) numCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// newHandler returns a handler with the capture config's key over a fresh fake.
func newHandler(cfg api.Config) (*api.Handler, *fakeExec) {
	f := newFakeExec()
	if cfg.Key == "" && !cfg.Insecure {
		cfg.Key = apiKey
	}
	return api.NewHandler(f, cfg), f
}

// The replies every Centrifugo endpoint shares (captures 30, 31, 32).
const (
	textPlain       = "text/plain; charset=utf-8"
	appJSON         = "application/json"
	badRequestBody  = "Bad Request\n"
	emptyResult     = `{"result":{}}`
	errBadRequest   = `{"error":{"code":107,"message":"bad request"}}`
	errUnknownChan  = `{"error":{"code":102,"message":"unknown channel"}}`
	errNotFound     = `{"error":{"code":104,"message":"not found"}}`
	errNotAvailable = `{"error":{"code":108,"message":"not available"}}`
)

// serve runs one request and returns the reply.
func serve(h *api.Handler, m api.Method, body string) api.Response {
	return h.Serve(nil, m, []byte(body), false)
}

// wantReply checks status, content type and exact body.
func wantReply(t *testing.T, what string, got api.Response, status int, contentType, body string) {
	t.Helper()
	if got.Status != status || got.ContentType != contentType || string(got.Body) != body {
		t.Errorf("%s:\n got %d %q %q\nwant %d %q %q", short(what), got.Status, got.ContentType, short(string(got.Body)), status, contentType, short(body))
	}
}

func wantBadRequest(t *testing.T, what string, got api.Response) {
	t.Helper()
	wantReply(t, what, got, 400, textPlain, badRequestBody)
}

func wantOK(t *testing.T, what string, got api.Response, body string) {
	t.Helper()
	wantReply(t, what, got, 200, appJSON, body)
}

// stdDecodes reports whether encoding/json, which Centrifugo decodes API
// bodies with, accepts body for method m (Centrifugo answers 400 otherwise).
// The request types mirror Centrifugo's field names and types.
func stdDecodes(m api.Method, body []byte) bool {
	var v any
	switch m {
	case api.MethodPublish:
		v = new(api.PublishRequest)
	case api.MethodBroadcast:
		v = new(api.BroadcastRequest)
	case api.MethodSubscribe:
		v = new(api.SubscribeRequest)
	case api.MethodUnsubscribe:
		v = new(api.UnsubscribeRequest)
	case api.MethodDisconnect:
		v = new(api.DisconnectRequest)
	case api.MethodRefresh:
		v = new(api.RefreshRequest)
	case api.MethodPresence, api.MethodPresenceStats, api.MethodHistoryRemove:
		v = new(api.ChannelRequest)
	case api.MethodHistory:
		v = new(api.HistoryRequest)
	case api.MethodChannels:
		v = new(api.ChannelsRequest)
	case api.MethodInfo:
		v = new(api.InfoRequest)
	case api.MethodRPC:
		v = new(api.RPCRequest)
	default:
		panic("no oracle for " + m.String())
	}
	return stdjson.Unmarshal(body, v) == nil
}

// short truncates s for messages.
func short(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}
