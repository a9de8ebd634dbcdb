package api_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"sync"
	"testing"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/protocol"
)

// singleMethods are the methods served at /api/<method> with one command.
var singleMethods = []api.Method{
	api.MethodPublish, api.MethodBroadcast, api.MethodSubscribe, api.MethodUnsubscribe,
	api.MethodDisconnect, api.MethodRefresh, api.MethodPresence, api.MethodPresenceStats,
	api.MethodHistory, api.MethodHistoryRemove, api.MethodChannels, api.MethodInfo, api.MethodRPC,
}

// validBody is a body each method accepts and runs against the fake.
var validBody = map[api.Method]string{
	api.MethodPublish:       `{"channel":"news","data":1}`,
	api.MethodBroadcast:     `{"channels":["news"],"data":1}`,
	api.MethodSubscribe:     `{"channel":"news","user":"u1"}`,
	api.MethodUnsubscribe:   `{"channel":"news","user":"u1"}`,
	api.MethodDisconnect:    `{"user":"u1"}`,
	api.MethodRefresh:       `{"user":"u1"}`,
	api.MethodPresence:      `{"channel":"news"}`,
	api.MethodPresenceStats: `{"channel":"news"}`,
	api.MethodHistory:       `{"channel":"news"}`,
	api.MethodHistoryRemove: `{"channel":"news"}`,
	api.MethodChannels:      `{}`,
	api.MethodInfo:          `{}`,
	api.MethodRPC:           `{"method":"x"}`,
}

// Capture 30: publish without subscribers; history channels return their
// position, and the stream continues.
func TestPublishCapture30(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "publish", serve(h, api.MethodPublish, `{"channel":"lonely1795640898","data":{"x":1}}`), `{"result":{}}`)
	wantOK(t, "publish hist 1", serve(h, api.MethodPublish, `{"channel":"hist:lonely1795640898","data":{"x":1}}`),
		`{"result":{"offset":1,"epoch":"JvxpuhdH"}}`)
	wantOK(t, "publish hist 2", serve(h, api.MethodPublish, `{"channel":"hist:lonely1795640898","data":{"x":2}}`),
		`{"result":{"offset":2,"epoch":"JvxpuhdH"}}`)
	want := []api.Publication{
		{Channel: "lonely1795640898", Data: []byte(`{"x":1}`)},
		{Channel: "hist:lonely1795640898", Data: []byte(`{"x":1}`)},
		{Channel: "hist:lonely1795640898", Data: []byte(`{"x":2}`)},
	}
	if !reflect.DeepEqual(f.pubs, want) {
		t.Errorf("executor got %+v\nwant %+v", f.pubs, want)
	}
}

// The publish result is {} only when there is no position; offset and epoch
// are both written otherwise.
func TestPublishResultShape(t *testing.T) {
	cases := []struct {
		res  api.PublishResult
		want string
	}{
		{api.PublishResult{}, `{"result":{}}`},
		{api.PublishResult{Offset: 18446744073709551615, Epoch: "e"}, `{"result":{"offset":18446744073709551615,"epoch":"e"}}`},
		{api.PublishResult{Offset: 7, Epoch: `a"<b`}, `{"result":{"offset":7,"epoch":"a\"\u003cb"}}`},
	}
	for _, tc := range cases {
		h := api.NewHandler(&fixedPublish{res: tc.res}, api.Config{Key: apiKey})
		wantOK(t, fmt.Sprintf("%+v", tc.res), serve(h, api.MethodPublish, `{"channel":"x","data":1}`), tc.want)
	}
}

// fixedPublish answers every publish with res.
type fixedPublish struct {
	*fakeExec
	res api.PublishResult
}

func (f *fixedPublish) Publish(*api.Publication) (api.PublishResult, *protocol.Error) {
	return f.res, nil
}

func TestPublishFields(t *testing.T) {
	h, f := newHandler(api.Config{})
	body := `{"channel":"news","data":{"a":[1,2,{"b":null}]},"skip_history":true,"tags":{"k":"v","x":"<y>"},` +
		`"idempotency_key":"key-1","delta":true,"version":3,"version_epoch":"ve","unknown":{"ignored":[1]}}`
	wantOK(t, "publish", serve(h, api.MethodPublish, body), emptyResult)
	want := api.Publication{
		Channel:        "news",
		Data:           []byte(`{"a":[1,2,{"b":null}]}`),
		Tags:           map[string]string{"k": "v", "x": "<y>"},
		IdempotencyKey: "key-1",
		SkipHistory:    true,
	}
	if len(f.pubs) != 1 || !reflect.DeepEqual(f.pubs[0], want) {
		t.Fatalf("executor got %+v, want %+v", f.pubs, want)
	}
	// Data is forwarded byte for byte, whitespace and escapes included
	// (capture 37: raw JSON goes to clients untouched).
	raw := `{ "u" : "\u00e9\n" ,"n":1.50e+3 }`
	wantOK(t, "publish raw", serve(h, api.MethodPublish, `{"channel":"news","data":`+raw+`}`), emptyResult)
	if got := string(f.pubs[1].Data); got != raw {
		t.Errorf("data = %q, want %q", got, raw)
	}
}

// Centrifugo decodes with encoding/json, which matches field names case-insensitively
// and keeps the last of duplicate keys.
func TestPublishStdJSONFieldMatching(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "publish", serve(h, api.MethodPublish, `{"CHANNEL":"news","Data":7,"Skip_History":true}`), emptyResult)
	wantOK(t, "publish dup", serve(h, api.MethodPublish, `{"channel":"a","channel":"b","data":1,"data":2}`), emptyResult)
	want := []api.Publication{
		{Channel: "news", Data: []byte("7"), SkipHistory: true},
		{Channel: "b", Data: []byte("2")},
	}
	if !reflect.DeepEqual(f.pubs, want) {
		t.Errorf("executor got %+v, want %+v", f.pubs, want)
	}
}

// Capture 32 and §5: empty channel, missing data and bad base64 are 107 in a
// 200 reply, and the executor never sees the command.
func TestPublishValidation(t *testing.T) {
	for _, body := range []string{
		`{"channel":"","data":1}`,           // [32]
		`{"channel":"news"}`,                // [32]
		`{"channel":"news","b64data":"!!"}`, // [32]
		`{"data":1}`,                        // no channel
		`{}`,
		`null`,                                // encoding/json decodes null into an empty request
		`{"channel":"news","b64data":"e30"}`,  // unpadded: StdEncoding rejects it
		`{"channel":"news","b64data":"e3-="}`, // URL alphabet
		`{"channel":"","b64data":"e30="}`,
	} {
		h, f := newHandler(api.Config{})
		wantOK(t, body, serve(h, api.MethodPublish, body), errBadRequest)
		if n := f.numCalls(); n != 0 {
			t.Errorf("%s: executor called %d times", body, n)
		}
	}
}

// §5 and §7.8: "data":null is accepted and forwarded as the JSON null.
func TestPublishDataNull(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "data null", serve(h, api.MethodPublish, `{"channel":"news","data":null}`), emptyResult)
	if len(f.pubs) != 1 || string(f.pubs[0].Data) != "null" || f.pubs[0].NotJSON {
		t.Fatalf("executor got %+v, want data null", f.pubs)
	}
	wantOK(t, "broadcast data null", serve(h, api.MethodBroadcast, `{"channels":["a"],"data":null}`),
		`{"result":{"responses":[{"result":{}}]}}`)
	if len(f.pubs) != 2 || string(f.pubs[1].Data) != "null" {
		t.Fatalf("executor got %+v, want data null", f.pubs)
	}
}

// b64data is decoded with the standard alphabet; bytes that are not a JSON
// document are marked NotJSON (capture 38: such data cannot reach a JSON
// client). b64data wins over data.
func TestPublishB64Data(t *testing.T) {
	cases := []struct {
		b64     string
		data    string
		notJSON bool
	}{
		{"eyJhIjoxfQ==", `{"a":1}`, false},
		{"MTIz", "123", false},
		{"bnVsbA==", "null", false},
		{"IHRydWUg", " true ", false},
		{"aGVsbG8=", "hello", true},
		{"AAEC/w==", "\x00\x01\x02\xff", true},
		{"eyJhIjoxLH0=", `{"a":1,}`, true}, // invalid JSON by encoding/json's rules
		{"MDE=", "01", true},
		{"e30geA==", "{} x", true},
	}
	for _, tc := range cases {
		h, f := newHandler(api.Config{})
		body := `{"channel":"news","data":{"ignored":true},"b64data":"` + tc.b64 + `"}`
		wantOK(t, tc.b64, serve(h, api.MethodPublish, body), emptyResult)
		if len(f.pubs) != 1 {
			t.Fatalf("%s: %d publications", tc.b64, len(f.pubs))
		}
		if p := f.pubs[0]; string(p.Data) != tc.data || p.NotJSON != tc.notJSON {
			t.Errorf("b64data %s: got data %q NotJSON %v, want %q %v", tc.b64, p.Data, p.NotJSON, tc.data, tc.notJSON)
		}
	}
}

// Bodies encoding/json rejects are 400 "Bad Request\n" text/plain for every
// method (captures 32, 33), before any execution.
func TestDecodeErrors(t *testing.T) {
	common := []string{
		``, ` `, "\n", `{bad`, `{`, `}`, `[]`, `"x"`, `1`, `true`, // [32]: malformed and empty
		`{"channel":"news","data":1} x`, // trailing garbage
		`{"channel":"news","data":1}}`,
		`{"channel":"news","data":1,}`, // trailing comma
		`{"channel":"news",,"data":1}`,
		`{'channel':'news'}`,
		`{"channel":"news" "data":1}`,
		`{"channel":"news\x"}`, // bad escape
		`{"channel":"news\u12"}`,
		"{\"channel\":\"a\x01b\"}", // control character in a string
		`{"channel":"news"} {}`,    // two values
	}
	typed := map[api.Method][]string{
		api.MethodPublish: {`{"channel":1}`, `{"channel":"n","data":1,"tags":{"a":1}}`, `{"channel":"n","data":1,"skip_history":"yes"}`,
			`{"channel":"n","data":1,"version":-1}`, `{"channel":"n","b64data":1}`, `{"channel":["n"],"data":1}`},
		api.MethodBroadcast:     {`{"channels":"news","data":1}`, `{"channels":[1],"data":1}`, `{"channels":["a"],"data":1,"tags":[]}`},
		api.MethodSubscribe:     {`{"channel":1}`, `{"channel":"a","expire_at":"soon"}`, `{"channel":"a","override":{"presence":true}}`, `{"channel":"a","recover_since":1}`},
		api.MethodUnsubscribe:   {`{"channel":1}`, `{"user":2}`},
		api.MethodDisconnect:    {`{"user":1}`, `{"user":"u","disconnect":{"code":"x"}}`, `{"user":"u","disconnect":{"code":-1}}`, `{"whitelist":"a"}`},
		api.MethodRefresh:       {`{"user":1}`, `{"user":"u","expired":"yes"}`, `{"user":"u","expire_at":1.5}`},
		api.MethodPresence:      {`{"channel":1}`},
		api.MethodPresenceStats: {`{"channel":1}`},
		api.MethodHistory:       {`{"channel":1}`, `{"channel":"a","limit":"2"}`, `{"channel":"a","limit":2147483648}`, `{"channel":"a","since":{"offset":-1}}`},
		api.MethodHistoryRemove: {`{"channel":1}`},
		api.MethodChannels:      {`{"pattern":1}`},
		api.MethodRPC:           {`{"method":1}`, `{"method":"x","params":}`},
	}
	for _, m := range singleMethods {
		for _, body := range append(append([]string(nil), common...), typed[m]...) {
			for _, transport := range []bool{false, true} {
				h, f := newHandler(api.Config{})
				what := fmt.Sprintf("%s %q transport=%v", m, body, transport)
				wantBadRequest(t, what, h.Serve(nil, m, []byte(body), transport))
				if n := f.numCalls(); n != 0 {
					t.Errorf("%s: executor called %d times", what, n)
				}
			}
		}
	}
}

// Raw JSON fields are forwarded verbatim to browsers, so they must be strictly
// valid (encoding/json's rules); anything else is a 400.
func TestInvalidRawJSONRejected(t *testing.T) {
	bad := []string{`{"a":1,}`, `01`, `[1,]`, `tru`, `1.`, `-`, `{"a" 1}`, `"\x"`, `.5`, `+1`, `0x10`, `NaN`, `[1 2]`, `{"a":1}}`}
	for _, raw := range bad {
		bodies := map[api.Method]string{
			api.MethodPublish:   `{"channel":"news","data":` + raw + `}`,
			api.MethodBroadcast: `{"channels":["news"],"data":` + raw + `}`,
			api.MethodRefresh:   `{"user":"u","info":` + raw + `}`,
			api.MethodRPC:       `{"method":"x","params":` + raw + `}`,
		}
		bodies[api.MethodSubscribe] = `{"channel":"news","data":` + raw + `}`
		for m, body := range bodies {
			h, f := newHandler(api.Config{})
			wantBadRequest(t, fmt.Sprintf("%s %s", m, body), serve(h, m, body))
			if n := f.numCalls(); n != 0 {
				t.Errorf("%s %s: executor called %d times", m, body, n)
			}
		}
		h, f := newHandler(api.Config{})
		body := `{"channel":"news","info":` + raw + `}`
		wantBadRequest(t, "subscribe info "+raw, serve(h, api.MethodSubscribe, body))
		wantBadRequest(t, "batch "+raw, serve(h, api.MethodBatch, `{"commands":[{"publish":{"channel":"n","data":`+raw+`}}]}`))
		wantBadRequest(t, "legacy "+raw, serve(h, api.MethodLegacy, `{"method":"publish","params":{"channel":"n","data":`+raw+`}}`))
		if n := f.numCalls(); n != 0 {
			t.Errorf("%s: executor called %d times", raw, n)
		}
	}
	// The same values as JSON strings are fine.
	h, f := newHandler(api.Config{})
	wantOK(t, "string data", serve(h, api.MethodPublish, `{"channel":"news","data":"{\"a\":1,}"}`), emptyResult)
	if len(f.pubs) != 1 || string(f.pubs[0].Data) != `"{\"a\":1,}"` {
		t.Errorf("executor got %+v", f.pubs)
	}
}

// Executor errors are 200 {"error":{…}} by default; in transport error mode
// (config or header) the status comes from the code and the body is the bare
// error object (capture 32, §5).
func TestExecutorErrors(t *testing.T) {
	statuses := []struct {
		err    *protocol.Error
		status int
	}{
		{protocol.ErrorInternal, 500},
		{protocol.ErrorUnauthorized, 500},
		{protocol.ErrorUnknownChannel, 404}, // [32]
		{protocol.ErrorPermissionDenied, 500},
		{protocol.ErrorNotFound, 404},
		{protocol.ErrorAlreadySubscribed, 500},
		{protocol.ErrorLimitExceeded, 500},
		{protocol.ErrorBadRequest, 400}, // [32]
		{protocol.ErrorNotAvailable, 400},
		{protocol.ErrorTooManyRequests, 500},
		{protocol.ErrorUnrecoverablePosition, 416}, // [32]
		{protocol.ErrorConflict, 409},
		{&protocol.Error{Code: 4999, Message: `custom "<&>"`}, 500},
	}
	methods := []api.Method{
		api.MethodSubscribe, api.MethodUnsubscribe, api.MethodDisconnect, api.MethodRefresh, api.MethodPresence,
		api.MethodPresenceStats, api.MethodHistory, api.MethodHistoryRemove, api.MethodChannels, api.MethodInfo,
	}
	for _, s := range statuses {
		obj := fmt.Sprintf(`{"code":%d,"message":%s}`, s.err.Code, jsonString(s.err.Message))
		for _, m := range methods {
			for _, mode := range []struct {
				cfg       string
				header    bool
				transport bool
			}{{"", false, false}, {"", true, true}, {"transport", false, true}, {"transport", true, true}, {"other", false, false}} {
				h, f := newHandler(api.Config{ErrorMode: mode.cfg})
				f.err = s.err
				what := fmt.Sprintf("%s code %d mode %q header %v", m, s.err.Code, mode.cfg, mode.header)
				got := h.Serve(nil, m, []byte(validBody[m]), mode.header)
				if mode.transport {
					wantReply(t, what, got, s.status, appJSON, obj)
				} else {
					wantOK(t, what, got, `{"error":`+obj+`}`)
				}
			}
		}
	}
}

// Publish errors from the executor: capture 32 (unknown namespace), default
// and transport mode.
func TestPublishExecutorErrors(t *testing.T) {
	h, _ := newHandler(api.Config{})
	wantOK(t, "unknown namespace", serve(h, api.MethodPublish, `{"channel":"nope:x","data":1}`), errUnknownChan)
	wantReply(t, "unknown namespace, transport header", h.Serve(nil, api.MethodPublish, []byte(`{"channel":"nope:x","data":1}`), true),
		404, appJSON, `{"code":102,"message":"unknown channel"}`)
	wantReply(t, "internal, transport header", h.Serve(nil, api.MethodPublish, []byte(`{"channel":"fail","data":1}`), true),
		500, appJSON, `{"code":100,"message":"internal server error"}`)
	// [32]: validation errors follow the same rules.
	wantReply(t, "empty channel, transport header", h.Serve(nil, api.MethodPublish, []byte(`{"channel":"","data":1}`), true),
		400, appJSON, `{"code":107,"message":"bad request"}`)
	ht, _ := newHandler(api.Config{ErrorMode: "transport"})
	wantReply(t, "unknown namespace, transport config", serve(ht, api.MethodPublish, `{"channel":"nope:x","data":1}`),
		404, appJSON, `{"code":102,"message":"unknown channel"}`)
	// Successes are unchanged by the mode.
	wantOK(t, "success, transport config", serve(ht, api.MethodPublish, `{"channel":"news","data":1}`), emptyResult)
	wantOK(t, "success, transport header", h.Serve(nil, api.MethodPublish, []byte(`{"channel":"hist:a","data":1}`), true),
		`{"result":{"offset":1,"epoch":"JvxpuhdH"}}`)
}

// Capture 05 (and the empty list of capture 32).
func TestBroadcastCapture05(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.histEpoch = "hwvNgvKx"
	wantOK(t, "broadcast", serve(h, api.MethodBroadcast, `{"channels":["b11795640816","hist:b21795640816"],"data":{"msg":"to all"}}`),
		`{"result":{"responses":[{"result":{}},{"result":{"offset":1,"epoch":"hwvNgvKx"}}]}}`)
	wantOK(t, "broadcast with errors", serve(h, api.MethodBroadcast, `{"channels":["b11795640816","","nope:x"],"data":1}`),
		`{"result":{"responses":[{"result":{}},{"error":{"code":107,"message":"bad request"}},{"error":{"code":102,"message":"unknown channel"}}]}}`)
	var chans []string
	for _, p := range f.pubs {
		chans = append(chans, p.Channel+"="+string(p.Data))
	}
	want := []string{`b11795640816={"msg":"to all"}`, `hist:b21795640816={"msg":"to all"}`, `b11795640816=1`, `nope:x=1`}
	if !reflect.DeepEqual(chans, want) {
		t.Errorf("executor got %q, want %q", chans, want)
	}
	// Per-channel errors do not make the broadcast itself an error, in
	// transport mode either.
	wantOK(t, "broadcast with errors, transport", h.Serve(nil, api.MethodBroadcast, []byte(`{"channels":["nope:x"],"data":1}`), true),
		`{"result":{"responses":[{"error":{"code":102,"message":"unknown channel"}}]}}`)
}

func TestBroadcastEmptyList(t *testing.T) {
	for _, body := range []string{`{"channels":[],"data":1}`, `{"data":1}`, `{"channels":null,"data":1}`} {
		h, f := newHandler(api.Config{})
		wantOK(t, body, serve(h, api.MethodBroadcast, body), errBadRequest) // [32]
		wantReply(t, body+" transport", h.Serve(nil, api.MethodBroadcast, []byte(body), true), 400, appJSON, `{"code":107,"message":"bad request"}`)
		if n := f.numCalls(); n != 0 {
			t.Errorf("%s: executor called %d times", body, n)
		}
	}
}

func TestBroadcastFields(t *testing.T) {
	h, f := newHandler(api.Config{})
	body := `{"channels":["a","hist:b"],"b64data":"aGk=","tags":{"t":"1"},"idempotency_key":"k","skip_history":true}`
	wantOK(t, "broadcast", serve(h, api.MethodBroadcast, body),
		`{"result":{"responses":[{"result":{}},{"result":{"offset":1,"epoch":"JvxpuhdH"}}]}}`)
	for i, ch := range []string{"a", "hist:b"} {
		want := api.Publication{Channel: ch, Data: []byte("hi"), NotJSON: true, Tags: map[string]string{"t": "1"}, IdempotencyKey: "k", SkipHistory: true}
		if i >= len(f.pubs) || !reflect.DeepEqual(f.pubs[i], want) {
			t.Errorf("publication %d: got %+v, want %+v", i, f.pubs, want)
		}
	}
}

// Centrifugo's Executor.Broadcast (internal/api/api.go) decodes b64data once,
// before looking at channels: bad base64 fails the whole broadcast with 107.
// Missing data, on the other hand, is found per channel by
// ValidatePublicationData, so each channel's response carries its own 107.
func TestBroadcastValidationMatchesCentrifugo(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "bad b64data", serve(h, api.MethodBroadcast, `{"channels":["a","b"],"b64data":"!!"}`), errBadRequest)
	if n := f.numCalls(); n != 0 {
		t.Errorf("bad b64data: executor called %d times", n)
	}
	h, _ = newHandler(api.Config{})
	wantOK(t, "missing data", serve(h, api.MethodBroadcast, `{"channels":["a","b"]}`),
		`{"result":{"responses":[{"error":{"code":107,"message":"bad request"}},{"error":{"code":107,"message":"bad request"}}]}}`)
}

func TestSubscribe(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "empty channel", serve(h, api.MethodSubscribe, `{"channel":""}`), errBadRequest) // [32]
	wantOK(t, "no channel", serve(h, api.MethodSubscribe, `{"user":"u"}`), errBadRequest)
	if n := f.numCalls(); n != 0 {
		t.Fatalf("executor called %d times for invalid subscribes", n)
	}
	wantOK(t, "anonymous", serve(h, api.MethodSubscribe, `{"channel":"anon1795641486"}`), emptyResult) // [46]
	body := `{"channel":"c","user":"u","client":"cl","session":"s","info":{"i":1},"b64info":"aQ==","data":[1],"b64data":"ZA==",` +
		`"expire_at":1795641000,"recover_since":{"offset":5,"epoch":"ep"},"override":{"presence":{"value":true},"force_recovery":{"value":false}}}`
	wantOK(t, "full", serve(h, api.MethodSubscribe, body), emptyResult)
	if len(f.subscribes) != 2 {
		t.Fatalf("executor got %d subscribes", len(f.subscribes))
	}
	if r := f.subscribes[0]; r.Channel != "anon1795641486" || r.User != "" {
		t.Errorf("anonymous subscribe: %+v", r)
	}
	r := f.subscribes[1]
	if r.Channel != "c" || r.User != "u" || r.Client != "cl" || r.Session != "s" || string(r.Info) != `{"i":1}` ||
		r.B64Info != "aQ==" || string(r.Data) != "[1]" || r.B64Data != "ZA==" || r.ExpireAt != 1795641000 ||
		r.RecoverSince == nil || *r.RecoverSince != (api.StreamPosition{Offset: 5, Epoch: "ep"}) || r.Override == nil ||
		r.Override.Presence == nil || !r.Override.Presence.Value || r.Override.ForceRecovery == nil || r.Override.ForceRecovery.Value ||
		r.Override.JoinLeave != nil {
		t.Errorf("subscribe decoded as %+v", r)
	}
}

// Capture 46: unsubscribe without a channel is passed on (the engine sends a
// channel-less unsubscribe), with {} as the result.
func TestUnsubscribe(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "no channel", serve(h, api.MethodUnsubscribe, `{"user":"edge1795641486"}`), emptyResult)
	wantOK(t, "channel", serve(h, api.MethodUnsubscribe, `{"channel":"news1795640852","user":"us1795640852","client":"c","session":"s"}`), emptyResult) // [12]
	want := []api.UnsubscribeRequest{{User: "edge1795641486"}, {Channel: "news1795640852", User: "us1795640852", Client: "c", Session: "s"}}
	if !reflect.DeepEqual(f.unsubscribes, want) {
		t.Errorf("executor got %+v, want %+v", f.unsubscribes, want)
	}
}

// Captures 10, 11, 46: disconnect always answers {} (also for unknown users).
func TestDisconnect(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "default", serve(h, api.MethodDisconnect, `{"user":"dis1795640849"}`), emptyResult)
	wantOK(t, "code only", serve(h, api.MethodDisconnect, `{"user":"edge1795641486","disconnect":{"code":4000}}`), emptyResult)
	wantOK(t, "custom", serve(h, api.MethodDisconnect,
		`{"user":"dc1795640850","client":"cd260e48","session":"s","whitelist":["w1"],"disconnect":{"code":4001,"reason":"custom <reason> & more"}}`), emptyResult)
	if len(f.disconnects) != 3 {
		t.Fatalf("executor got %d disconnects", len(f.disconnects))
	}
	if d := f.disconnects[0]; d.User != "dis1795640849" || d.Disconnect != nil {
		t.Errorf("default disconnect decoded as %+v", d)
	}
	if d := f.disconnects[1]; d.Disconnect == nil || *d.Disconnect != (api.Disconnect{Code: 4000}) {
		t.Errorf("code-only disconnect decoded as %+v", d)
	}
	d := f.disconnects[2]
	if d.Client != "cd260e48" || d.Session != "s" || !reflect.DeepEqual(d.Whitelist, []string{"w1"}) || d.Disconnect == nil ||
		*d.Disconnect != (api.Disconnect{Code: 4001, Reason: "custom <reason> & more"}) {
		t.Errorf("custom disconnect decoded as %+v", d)
	}
}

func TestRefresh(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "refresh", serve(h, api.MethodRefresh, `{"user":"ch1795640899","expire_at":1795641000}`), emptyResult) // [35]
	wantOK(t, "expired", serve(h, api.MethodRefresh, `{"user":"u","client":"c","session":"s","expired":true,"info":{"x":1}}`), emptyResult)
	want := []api.RefreshRequest{
		{User: "ch1795640899", ExpireAt: 1795641000},
		{User: "u", Client: "c", Session: "s", Expired: true, Info: []byte(`{"x":1}`)},
	}
	if !reflect.DeepEqual(f.refreshes, want) {
		t.Errorf("executor got %+v, want %+v", f.refreshes, want)
	}
}

// Capture 14. Centrifugo encodes the presence map with encoding/json, so the
// clients come out sorted by client ID whatever order the engine finds them in.
func TestPresenceCapture14(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.presence = []api.ClientInfo{ // join order: uA first
		{User: "uA", Client: "8babd10b-e35a-4ef6-94f7-ef726f936568", ConnInfo: []byte(`{"name":"A"}`)},
		{User: "uB", Client: "7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"},
	}
	wantOK(t, "presence", serve(h, api.MethodPresence, `{"channel":"jl:room1795640859"}`),
		`{"result":{"presence":{"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"},`+
			`"8babd10b-e35a-4ef6-94f7-ef726f936568":{"user":"uA","client":"8babd10b-e35a-4ef6-94f7-ef726f936568","conn_info":{"name":"A"}}}}}`)
}

func TestPresenceSingleAndEmpty(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "empty", serve(h, api.MethodPresence, `{"channel":"jl:x"}`), `{"result":{"presence":{}}}`)
	f.presence = []api.ClientInfo{{User: `u"<`, Client: "c1", ConnInfo: []byte(`{"a":1}`), ChanInfo: []byte(`[2]`)}}
	wantOK(t, "one", serve(h, api.MethodPresence, `{"channel":"jl:x"}`),
		`{"result":{"presence":{"c1":{"user":"u\"\u003c","client":"c1","conn_info":{"a":1},"chan_info":[2]}}}}`)
	f.stats = api.PresenceStats{NumClients: 2, NumUsers: 2}
	wantOK(t, "stats", serve(h, api.MethodPresenceStats, `{"channel":"jl:room1795640859"}`), `{"result":{"num_clients":2,"num_users":2}}`) // [14]
	f.err = protocol.ErrorNotAvailable
	wantOK(t, "presence off", serve(h, api.MethodPresence, `{"channel":"news"}`), errNotAvailable)            // [32]
	wantOK(t, "presence_stats off", serve(h, api.MethodPresenceStats, `{"channel":"news"}`), errNotAvailable) // [32]
}

// Methods that need a channel answer 107 without one.
func TestChannelRequired(t *testing.T) {
	for _, m := range []api.Method{api.MethodPresence, api.MethodPresenceStats, api.MethodHistory, api.MethodHistoryRemove, api.MethodSubscribe} {
		for _, body := range []string{`{}`, `{"channel":""}`} {
			h, f := newHandler(api.Config{})
			wantOK(t, m.String()+" "+body, serve(h, m, body), errBadRequest)
			if n := f.numCalls(); n != 0 {
				t.Errorf("%s %s: executor called %d times", m, body, n)
			}
		}
	}
}

// Capture 35.
func TestHistoryCapture35(t *testing.T) {
	h, f := newHandler(api.Config{})
	pubs := []protocol.Publication{
		{Data: []byte(`{"n":1}`), Offset: 1, Tags: map[string]string{"i": "1"}},
		{Data: []byte(`{"n":2}`), Offset: 2, Tags: map[string]string{"i": "2"}},
		{Data: []byte(`{"n":3}`), Offset: 3, Tags: map[string]string{"i": "3"}},
	}
	f.history = api.HistoryResult{Offset: 3, Epoch: "NzWaDpUT"}
	wantOK(t, "position only", serve(h, api.MethodHistory, `{"channel":"hist:q1795640899"}`),
		`{"result":{"publications":[],"epoch":"NzWaDpUT","offset":3}}`)
	f.history.Publications = pubs
	wantOK(t, "all", serve(h, api.MethodHistory, `{"channel":"hist:q1795640899","limit":-1}`),
		`{"result":{"publications":[{"data":{"n":1},"offset":1,"tags":{"i":"1"}},{"data":{"n":2},"offset":2,"tags":{"i":"2"}},{"data":{"n":3},"offset":3,"tags":{"i":"3"}}],"epoch":"NzWaDpUT","offset":3}}`)
	f.history.Publications = []protocol.Publication{pubs[2], pubs[1]}
	wantOK(t, "reverse", serve(h, api.MethodHistory, `{"channel":"hist:q1795640899","limit":2,"reverse":true}`),
		`{"result":{"publications":[{"data":{"n":3},"offset":3,"tags":{"i":"3"}},{"data":{"n":2},"offset":2,"tags":{"i":"2"}}],"epoch":"NzWaDpUT","offset":3}}`)
	f.history.Publications = pubs[1:]
	wantOK(t, "since", serve(h, api.MethodHistory, `{"channel":"hist:q1795640899","limit":-1,"since":{"offset":1,"epoch":"NzWaDpUT"}}`),
		`{"result":{"publications":[{"data":{"n":2},"offset":2,"tags":{"i":"2"}},{"data":{"n":3},"offset":3,"tags":{"i":"3"}}],"epoch":"NzWaDpUT","offset":3}}`)
	// A never-used channel: new epoch, offset 0 (§5).
	f.history = api.HistoryResult{Epoch: "fresh"}
	wantOK(t, "new stream", serve(h, api.MethodHistory, `{"channel":"hist:new"}`), `{"result":{"publications":[],"epoch":"fresh","offset":0}}`)

	if len(f.histories) != 5 {
		t.Fatalf("executor got %d history calls", len(f.histories))
	}
	if r := f.histories[0]; r.Limit != nil || r.Since != nil || r.Reverse {
		t.Errorf("no limit decoded as %+v", r)
	}
	if r := f.histories[1]; r.Limit == nil || *r.Limit != -1 {
		t.Errorf("limit -1 decoded as %+v", r)
	}
	if r := f.histories[2]; r.Limit == nil || *r.Limit != 2 || !r.Reverse {
		t.Errorf("limit 2 reverse decoded as %+v", r)
	}
	if r := f.histories[3]; r.Since == nil || *r.Since != (api.StreamPosition{Offset: 1, Epoch: "NzWaDpUT"}) {
		t.Errorf("since decoded as %+v", r)
	}
	// [32]: errors.
	f.err = protocol.ErrorUnrecoverablePosition
	wantOK(t, "bad since", serve(h, api.MethodHistory, `{"channel":"hist:h1795640898","since":{"offset":1,"epoch":"bad"}}`),
		`{"error":{"code":112,"message":"unrecoverable position"}}`)
	wantReply(t, "bad since, transport", h.Serve(nil, api.MethodHistory, []byte(`{"channel":"hist:h1795640898","since":{"offset":1,"epoch":"bad"}}`), true),
		416, appJSON, `{"code":112,"message":"unrecoverable position"}`)
}

func TestHistoryRemove(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "remove", serve(h, api.MethodHistoryRemove, `{"channel":"hist:q1795640899"}`), emptyResult) // [35]
	f.err = protocol.ErrorNotAvailable
	wantOK(t, "no history", serve(h, api.MethodHistoryRemove, `{"channel":"news"}`), errNotAvailable) // [32]
	if want := []string{"history_remove hist:q1795640899", "history_remove news"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

// Capture 35: channels with their client counts, as an object encoding/json
// writes with sorted keys.
func TestChannelsCapture35(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "none", serve(h, api.MethodChannels, `{}`), `{"result":{"channels":{}}}`)
	f.channels = []chanCount{{"chan21795640899", 1}, {"chan11795640899", 1}}
	wantOK(t, "pattern", serve(h, api.MethodChannels, `{"pattern":"chan*1795640899"}`),
		`{"result":{"channels":{"chan11795640899":{"num_clients":1},"chan21795640899":{"num_clients":1}}}}`)
	f.channels = []chanCount{{"b", 3}, {"a<", 20}, {"", 1}}
	wantOK(t, "escaping", serve(h, api.MethodChannels, `{}`),
		`{"result":{"channels":{"":{"num_clients":1},"a\u003c":{"num_clients":20},"b":{"num_clients":3}}}}`)
	if want := []string{"channels ", "channels chan*1795640899", "channels "}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

// Capture 35's /api/info, compacted (the capture pretty-printed it): field
// order uid, name, version, num_clients, num_users, num_channels, uptime,
// metrics{interval, items}, num_subs.
func TestInfoCapture35(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.nodes = []api.NodeInfo{{
		UID: "b496bb8b-42d7-471e-8c4d-56152cb7cf93", Name: "cf-ref", Version: "0.0.0 OSS",
		NumClients: 1, NumUsers: 1, NumChannels: 0, Uptime: 562,
		Metrics: map[string]float64{
			"centrifugo.api.command_duration_seconds.count.method.disconnect.protocol.http": 4,
			"centrifugo.api.command_duration_seconds.count.method.broadcast.protocol.http":  2,
			"centrifugo.api.command_duration_seconds.count.method.channels.protocol.http":   0,
		},
	}}
	wantOK(t, "info", serve(h, api.MethodInfo, `{}`),
		`{"result":{"nodes":[{"uid":"b496bb8b-42d7-471e-8c4d-56152cb7cf93","name":"cf-ref","version":"0.0.0 OSS","num_clients":1,"num_users":1,"num_channels":0,"uptime":562,`+
			`"metrics":{"interval":60,"items":{"centrifugo.api.command_duration_seconds.count.method.broadcast.protocol.http":2,`+
			`"centrifugo.api.command_duration_seconds.count.method.channels.protocol.http":0,`+
			`"centrifugo.api.command_duration_seconds.count.method.disconnect.protocol.http":4}},"num_subs":0}]}}`)
	// Several nodes, in order; metric values as encoding/json writes float64s.
	f.nodes = []api.NodeInfo{
		{UID: "u1", Name: "n1", Version: "v", NumClients: 2, NumUsers: 1, NumChannels: 3, NumSubs: 4, Uptime: 5, Metrics: map[string]float64{"a": 0.5}},
		{UID: "u2", Name: "n2", Version: "v", Metrics: map[string]float64{"b": 1e21, "a": -3}},
	}
	wantOK(t, "two nodes", serve(h, api.MethodInfo, `{"ignored":true}`),
		`{"result":{"nodes":[{"uid":"u1","name":"n1","version":"v","num_clients":2,"num_users":1,"num_channels":3,"uptime":5,"metrics":{"interval":60,"items":{"a":0.5}},"num_subs":4},`+
			`{"uid":"u2","name":"n2","version":"v","num_clients":0,"num_users":0,"num_channels":0,"uptime":0,"metrics":{"interval":60,"items":{"a":-3,"b":1e+21}},"num_subs":0}]}}`)
}

// A metric JSON cannot hold (NaN, ±Inf) must not break the reply: the items
// object is then empty, and the rest of the node is still reported.
func TestInfoNonFiniteMetric(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.nodes = []api.NodeInfo{{UID: "u", Name: "n", Version: "v", Metrics: map[string]float64{"ok": 1, "bad": math.NaN()}}}
	wantOK(t, "info", serve(h, api.MethodInfo, `{}`),
		`{"result":{"nodes":[{"uid":"u","name":"n","version":"v","num_clients":0,"num_users":0,"num_channels":0,"uptime":0,"metrics":{"interval":60,"items":{}},"num_subs":0}]}}`)
}

// Capture 32: rpc without a method is 107; unisse has no RPC proxies, so every
// method is 104.
func TestRPC(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "no method", serve(h, api.MethodRPC, `{}`), errBadRequest)
	wantOK(t, "unknown", serve(h, api.MethodRPC, `{"method":"x"}`), errNotFound)
	wantOK(t, "params", serve(h, api.MethodRPC, `{"method":"getUserStatus","params":{"users":["u"]}}`), errNotFound)
	wantReply(t, "unknown, transport", h.Serve(nil, api.MethodRPC, []byte(`{"method":"x"}`), true), 404, appJSON, `{"code":104,"message":"not found"}`)
	if n := f.numCalls(); n != 0 {
		t.Errorf("executor called %d times", n)
	}
}

// Methods Serve does not know are 400 (the engine routes unknown paths to 404
// before calling it).
func TestServeUnknownMethod(t *testing.T) {
	h, f := newHandler(api.Config{})
	for _, m := range []api.Method{api.MethodUnknown, api.Method(99)} {
		wantBadRequest(t, m.String(), serve(h, m, `{"channel":"news","data":1}`))
	}
	if n := f.numCalls(); n != 0 {
		t.Errorf("executor called %d times", n)
	}
}

// Capture 34.
func TestBatchCapture34(t *testing.T) {
	h, f := newHandler(api.Config{})
	body := `{"commands":[{"publish":{"channel":"news","data":{"a":1}}},{"publish":{"channel":"nope:x","data":1}},{"foo":{}},` +
		`{"broadcast":{"channels":["news"],"data":2}},{"presence_stats":{"channel":"jl:x1795640899"}},null]}`
	wantOK(t, "batch", serve(h, api.MethodBatch, body),
		`{"replies":[{"publish":{}},{"error":{"code":102,"message":"unknown channel"}},{"error":{"code":104,"message":"not found"}},`+
			`{"broadcast":{"responses":[{"result":{}}]}},{"presence_stats":{"num_clients":0,"num_users":0}},{"error":{"code":107,"message":"bad request"}}]}`)
	want := []string{"publish news", "publish nope:x", "publish news", "presence_stats jl:x1795640899"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}

	// "parallel": replies stay in command order; Centrifugo runs the commands
	// concurrently, so either assignment of offsets is valid.
	f.histEpoch = "mdNDBvWG"
	got := serve(h, api.MethodBatch, `{"commands":[{"publish":{"channel":"hist:batch1795640899","data":1}},{"publish":{"channel":"hist:batch1795640899","data":2}}],"parallel":true}`)
	a := `{"replies":[{"publish":{"offset":1,"epoch":"mdNDBvWG"}},{"publish":{"offset":2,"epoch":"mdNDBvWG"}}]}`
	b := `{"replies":[{"publish":{"offset":2,"epoch":"mdNDBvWG"}},{"publish":{"offset":1,"epoch":"mdNDBvWG"}}]}` // [34]
	if string(got.Body) != a && string(got.Body) != b {
		wantOK(t, "parallel", got, b)
	}
	for _, body := range []string{`{"commands":[]}`, `{}`, `{"commands":null}`, `{"parallel":true}`} {
		wantOK(t, body, serve(h, api.MethodBatch, body), `{}`) // [34]
	}
}

func TestBatchCommands(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.presence = []api.ClientInfo{{User: "u", Client: "c"}}
	f.history = api.HistoryResult{Offset: 2, Epoch: "e"}
	body := `{"commands":[` +
		`{"subscribe":{"channel":"a","user":"u"}},{"unsubscribe":{"user":"u"}},{"disconnect":{"user":"u"}},{"refresh":{"user":"u"}},` +
		`{"presence":{"channel":"a"}},{"history":{"channel":"a"}},{"history_remove":{"channel":"a"}},{"channels":{}},` +
		`{"info":{}},{"rpc":{"method":"m"}},{"rpc":{}},{"subscribe":{"channel":""}},` +
		`{"publish":null},{},{"batch":{"commands":[]}},{"publish":{"channel":"hist:z","data":1},"broadcast":{"channels":["y"],"data":1}}]}`
	wantOK(t, "batch", serve(h, api.MethodBatch, body), `{"replies":[`+
		`{"subscribe":{}},{"unsubscribe":{}},{"disconnect":{}},{"refresh":{}},`+
		`{"presence":{"presence":{"c":{"user":"u","client":"c"}}}},{"history":{"publications":[],"epoch":"e","offset":2}},{"history_remove":{}},{"channels":{"channels":{}}},`+
		`{"info":{"nodes":[]}},{"error":{"code":104,"message":"not found"}},{"error":{"code":107,"message":"bad request"}},{"error":{"code":107,"message":"bad request"}},`+
		`{"error":{"code":104,"message":"not found"}},{"error":{"code":104,"message":"not found"}},{"error":{"code":104,"message":"not found"}},{"publish":{"offset":1,"epoch":"JvxpuhdH"}}]}`)
	want := []string{"subscribe a", "unsubscribe ", "disconnect u", "refresh u", "presence a", "history a", "history_remove a", "channels ", "info", "publish hist:z"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	// Executor errors land in the command's reply; transport mode does not
	// apply to batch replies.
	f.err = protocol.ErrorNotAvailable
	wantOK(t, "errors", h.Serve(nil, api.MethodBatch, []byte(`{"commands":[{"presence":{"channel":"a"}},{"publish":{"channel":"a","data":1}}]}`), true),
		`{"replies":[{"error":{"code":108,"message":"not available"}},{"publish":{}}]}`)
	ht, _ := newHandler(api.Config{ErrorMode: "transport"})
	wantOK(t, "transport config", serve(ht, api.MethodBatch, `{"commands":[{"publish":{"channel":"nope:x","data":1}}]}`),
		`{"replies":[{"error":{"code":102,"message":"unknown channel"}}]}`)
}

// A batch that does not decode as a whole is 400 and runs nothing.
func TestBatchDecodeErrors(t *testing.T) {
	for _, body := range []string{
		``, `{bad`, `[]`, `{"commands":{}}`, `{"commands":[1]}`, `{"commands":["publish"]}`, `{"commands":[[]]}`,
		`{"commands":[{"publish":{"channel":"a","data":1}},{"publish":{"channel":2}}]}`,
		`{"commands":[{"publish":{"channel":"a","data":1}},{"publish":{"channel":"b","data":01}}]}`,
		`{"commands":[{"publish":{"channel":"a","data":1}},{"broadcast":{"channels":"b","data":1}}]}`,
		`{"commands":[{"publish":{"channel":"a","data":1}}],"parallel":"yes"}`,
		`{"commands":[{"publish":{"channel":"a","data":1}}]} x`,
		`{"commands":[{"publish":{"channel":"a","data":1}},]}`,
	} {
		h, f := newHandler(api.Config{})
		wantBadRequest(t, body, serve(h, api.MethodBatch, body))
		if n := f.numCalls(); n != 0 {
			t.Errorf("%s: executor called %d times", body, n)
		}
	}
}

// Capture 33: the legacy endpoint.
func TestLegacyCapture33(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "publish", serve(h, api.MethodLegacy, `{"method":"publish","params":{"channel":"news","data":{"a":1}}}`), emptyResult)
	wantBadRequest(t, "unknown method", serve(h, api.MethodLegacy, `{"method":"foo","params":{}}`))
	wantOK(t, "missing method", serve(h, api.MethodLegacy, `{"params":{"channel":"news","data":{"a":1}}}`), emptyResult)
	wantOK(t, "two commands", serve(h, api.MethodLegacy, "{\"method\":\"publish\",\"params\":{\"channel\":\"nope:x\",\"data\":1}}\n"+
		`{"id":7,"method":"broadcast","params":{"channels":["news"],"data":1}}`),
		"{\"error\":{\"code\":102,\"message\":\"unknown channel\"}}\n{\"id\":7,\"result\":{\"responses\":[{\"result\":{}}]}}")
	wantBadRequest(t, "empty body", serve(h, api.MethodLegacy, ``))
	want := []string{"publish news", "publish news", "publish nope:x", "publish news"}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
	for i, p := range f.pubs {
		if i != 2 && string(p.Data) != `{"a":1}` && string(p.Data) != "1" {
			t.Errorf("publication %d: data %q", i, p.Data)
		}
	}
}

func TestLegacyCommands(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.stats = api.PresenceStats{NumClients: 1, NumUsers: 1}
	body := `{"id":1,"method":"presence_stats","params":{"channel":"jl:a"}}` + "\n" +
		`{"id":4294967295,"method":"history_remove","params":{"channel":"x"}}` +
		`{"id":0,"method":"rpc","params":{"method":"m"}}` + " \r\n\t " +
		`{"method":"publish","params":{"channel":"hist:x","data":1}}` + "\n"
	wantOK(t, "commands", serve(h, api.MethodLegacy, body),
		`{"id":1,"result":{"num_clients":1,"num_users":1}}`+"\n"+
			`{"id":4294967295,"result":{}}`+"\n"+
			`{"error":{"code":104,"message":"not found"}}`+"\n"+
			`{"result":{"offset":1,"epoch":"JvxpuhdH"}}`)
	// Transport error mode does not apply to the legacy endpoint.
	wantOK(t, "transport", h.Serve(nil, api.MethodLegacy, []byte(`{"id":2,"method":"publish","params":{"channel":"nope:x","data":1}}`), true),
		`{"id":2,"error":{"code":102,"message":"unknown channel"}}`)
	ht, _ := newHandler(api.Config{ErrorMode: "transport"})
	wantOK(t, "transport config", serve(ht, api.MethodLegacy, `{"id":2,"method":"publish","params":{"channel":"nope:x","data":1}}`),
		`{"id":2,"error":{"code":102,"message":"unknown channel"}}`)
}

// A legacy body that does not decode is 400 as a whole and runs nothing, even
// when earlier commands were fine.
func TestLegacyDecodeErrors(t *testing.T) {
	for _, body := range []string{
		``, `{bad`, `[]`, `1`, `"publish"`,
		`{"method":"foo","params":{}}`, // [33]
		`{"method":"batch","params":{"commands":[]}}`,
		`{"method":"publish","params":{"channel":"a","data":1}}` + "\n" + `{bad`,
		`{"method":"publish","params":{"channel":"a","data":1}}` + "\n" + `{"method":"nope","params":{}}`,
		`{"method":"publish","params":{"channel":"a","data":01}}`,
		`{"id":-1,"method":"publish","params":{"channel":"a","data":1}}`,
		`{"id":"7","method":"publish","params":{"channel":"a","data":1}}`,
		`{"id":4294967296,"method":"publish","params":{"channel":"a","data":1}}`,
		`{"method":"publish","params":{"channel":"a","data":1}} x`,
	} {
		h, f := newHandler(api.Config{})
		wantBadRequest(t, body, serve(h, api.MethodLegacy, body))
		if n := f.numCalls(); n != 0 {
			t.Errorf("%q: executor called %d times", body, n)
		}
	}
}

// Centrifugo's legacy handler (internal/api/handler_legacy.go): the method is
// matched case-insensitively or given as its number, and params are decoded
// per command — a command whose params do not decode gets a 107 reply, not a
// 400 for the whole request; info takes no params at all.
func TestLegacyMatchesCentrifugoDecoder(t *testing.T) {
	h, f := newHandler(api.Config{})
	wantOK(t, "upper-case method", serve(h, api.MethodLegacy, `{"method":"PUBLISH","params":{"channel":"news","data":1}}`), emptyResult)
	wantOK(t, "numeric method", serve(h, api.MethodLegacy, `{"method":1,"params":{"channels":["news"],"data":1}}`),
		`{"result":{"responses":[{"result":{}}]}}`)
	wantOK(t, "params type mismatch", serve(h, api.MethodLegacy, `{"id":3,"method":"publish","params":{"channel":1}}`),
		`{"id":3,"error":{"code":107,"message":"bad request"}}`)
	wantOK(t, "publish without params", serve(h, api.MethodLegacy, `{"method":"publish"}`), errBadRequest)
	wantOK(t, "info without params", serve(h, api.MethodLegacy, `{"method":"info"}`), `{"result":{"nodes":[]}}`)
	if want := []string{"publish news", "publish news", "info"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("calls %q, want %q", f.calls, want)
	}
}

// Serve appends the reply to dst: a caller may hand back the previous reply's
// buffer (the engine's loops do, engine/session/apiserve.go), so no reply may alias
// memory shared with other replies.
func TestServeAppendsToDst(t *testing.T) {
	h, _ := newHandler(api.Config{})
	prefix := []byte("PREFIX")
	cases := []struct {
		m    api.Method
		body string
		want string
	}{
		{api.MethodPublish, `{"channel":"news","data":1}`, emptyResult},
		{api.MethodPublish, `{"channel":"","data":1}`, errBadRequest},
		{api.MethodBroadcast, `{"channels":["nope:x"],"data":1}`, `{"result":{"responses":[{"error":{"code":102,"message":"unknown channel"}}]}}`},
		{api.MethodBatch, `{"commands":[null]}`, `{"replies":[{"error":{"code":107,"message":"bad request"}}]}`},
		{api.MethodLegacy, `{"params":{"channel":"news","data":1}}`, emptyResult},
		{api.MethodPublish, `{bad`, badRequestBody},
		{api.MethodBatch, `{bad`, badRequestBody},
		{api.MethodLegacy, `{bad`, badRequestBody},
	}
	for _, tc := range cases {
		dst := append(make([]byte, 0, 256), prefix...)
		got := h.Serve(dst, tc.m, []byte(tc.body), false)
		if want := string(prefix) + tc.want; string(got.Body) != want {
			t.Errorf("%s %s: body %q, want %q", tc.m, tc.body, got.Body, want)
		}
	}
}

// The engine reuses each reply's buffer as the next dst (engine/session/apiserve.go
// keeps l.apiOut = res.Body[:0]). After a 400, the next request must not write
// into the memory of later 400 replies. The check runs in a child process:
// when it fails, the corruption is process-wide and would fail unrelated
// tests.
func TestServeBadRequestNotShared(t *testing.T) {
	if os.Getenv("UNISSE_API_CHILD") == "1" {
		badRequestReuse(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeBadRequestNotShared$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "UNISSE_API_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func badRequestReuse(t *testing.T) {
	h, _ := newHandler(api.Config{})
	for _, m := range []api.Method{api.MethodPublish, api.MethodBatch, api.MethodLegacy} {
		first := serve(h, m, `{bad`)
		wantBadRequest(t, m.String()+" first", first)
		// Reuse the reply's buffer, as engine/session/apiserve.go does with l.apiOut.
		next := h.Serve(first.Body[:0], api.MethodPublish, []byte(`{"channel":"hist:x","data":1}`), false)
		if next.Status != 200 {
			t.Fatalf("%s: reuse: status %d", m, next.Status)
		}
		wantBadRequest(t, m.String()+" after reuse", serve(h, m, `{bad`))
	}
}

func jsonString(s string) string {
	return string(protocol.AppendString(nil, s))
}

// Every reply body with a JSON content type is one JSON value; legacy bodies
// are newline-separated values.
func TestRepliesAreJSON(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.presence = []api.ClientInfo{{User: "u", Client: "c"}}
	f.channels = []chanCount{{"a", 1}}
	f.nodes = []api.NodeInfo{{UID: "x", Metrics: map[string]float64{"m": 1.5e300}}}
	for m, body := range validBody {
		checkJSONReply(t, m, []byte(body), h.Serve(nil, m, []byte(body), false))
	}
}

// The engine calls Serve from every event loop and from goroutines at once,
// each caller reusing its own reply buffer (run with -race).
func TestServeConcurrent(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.stats = api.PresenceStats{NumClients: 1, NumUsers: 1}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var dst []byte
			for i := range 300 {
				ch := fmt.Sprintf("hist:g%d", g)
				res := h.Serve(dst[:0], api.MethodPublish, []byte(`{"channel":"`+ch+`","data":1}`), false)
				want := fmt.Sprintf(`{"result":{"offset":%d,"epoch":"JvxpuhdH"}}`, i+1)
				if res.Status != 200 || string(res.Body) != want {
					t.Errorf("goroutine %d: %d %s, want %s", g, res.Status, res.Body, want)
					return
				}
				dst = res.Body[:0]
				res = h.Serve(dst[:0], api.MethodPresenceStats, []byte(`{"channel":"jl:x"}`), true)
				if string(res.Body) != `{"result":{"num_clients":1,"num_users":1}}` {
					t.Errorf("goroutine %d: %s", g, res.Body)
					return
				}
				dst = res.Body[:0]
			}
		})
	}
	wg.Wait()
}

// A node that sent no metrics (a unisse peer) has no "metrics" in its entry,
// as in Centrifugo's /api/info; a snapshot's own interval is reported.
func TestInfoNodeWithoutMetrics(t *testing.T) {
	h, f := newHandler(api.Config{})
	f.nodes = []api.NodeInfo{
		{UID: "u1", Name: "n1", Version: "v", Metrics: map[string]float64{"a": 1}, MetricsInterval: 30},
		{UID: "u2", Name: "n2", Version: "v", NumClients: 2},
	}
	wantOK(t, "info", serve(h, api.MethodInfo, `{}`),
		`{"result":{"nodes":[{"uid":"u1","name":"n1","version":"v","num_clients":0,"num_users":0,"num_channels":0,"uptime":0,"metrics":{"interval":30,"items":{"a":1}},"num_subs":0},`+
			`{"uid":"u2","name":"n2","version":"v","num_clients":2,"num_users":0,"num_channels":0,"uptime":0,"num_subs":0}]}}`)
}
