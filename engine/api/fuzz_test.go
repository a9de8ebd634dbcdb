package api_test

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/protocol"
)

// FuzzServe feeds arbitrary bodies to every method of a handler over the fake
// executor. Invariants: no panic; a 400 text/plain reply is exactly
// "Bad Request\n"; every other reply is application/json holding valid JSON
// (legacy: newline-separated JSON values), with a status other than 200 only
// in transport error mode; and for single-command methods, the body is
// rejected with 400 exactly when encoding/json (Centrifugo's decoder) rejects
// it.
func FuzzServe(f *testing.F) {
	for m, body := range validBody {
		f.Add(uint8(m), []byte(body), false)
	}
	for _, s := range []struct {
		m    api.Method
		body string
	}{
		{api.MethodPublish, `{"channel":"hist:a","data":{"x":[1,2,{"y":null}]},"tags":{"a":"b"},"idempotency_key":"k"}`},
		{api.MethodPublish, `{"channel":"nope:x","data":1}`},
		{api.MethodPublish, `{"channel":"news","b64data":"aGVsbG8="}`},
		{api.MethodPublish, `{"channel":"news","data":{"a":1,}}`},
		{api.MethodPublish, `{"channel":"news","data":01}`},
		{api.MethodPublish, `{"channel":"news","data":1,}`},
		{api.MethodPublish, `{"channel":"news","data":null}`},
		{api.MethodPublish, "{\"channel\":\"\xff\xfe\",\"data\":\"\xc3\"}"},
		{api.MethodPublish, `{"channel":"news","data":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`},
		{api.MethodPublish, `{"channel":"news","data":1e999}`},
		{api.MethodPublish, `{"CHANNEL":"news","DATA":1}`},
		{api.MethodBroadcast, `{"channels":["a","","nope:x","hist:b"],"data":1}`},
		{api.MethodBroadcast, `{"channels":[],"data":1}`},
		{api.MethodSubscribe, `{"channel":"a","info":{"x":1},"override":{"presence":{"value":true}},"recover_since":{"offset":1,"epoch":"e"}}`},
		{api.MethodDisconnect, `{"user":"u","disconnect":{"code":4000,"reason":"<&>"}}`},
		{api.MethodHistory, `{"channel":"a","limit":-1,"since":{"offset":1,"epoch":"e"},"reverse":true}`},
		{api.MethodBatch, `{"commands":[{"publish":{"channel":"news","data":{"a":1}}},{"publish":{"channel":"nope:x","data":1}},{"foo":{}},{"broadcast":{"channels":["news"],"data":2}},{"presence_stats":{"channel":"jl:x"}},null]}`},
		{api.MethodBatch, `{"commands":[]}`},
		{api.MethodLegacy, "{\"method\":\"publish\",\"params\":{\"channel\":\"nope:x\",\"data\":1}}\n{\"id\":7,\"method\":\"broadcast\",\"params\":{\"channels\":[\"news\"],\"data\":1}}"},
		{api.MethodLegacy, `{"params":{"channel":"news","data":{"a":1}}}`},
		{api.MethodLegacy, `{"method":"foo","params":{}}`},
	} {
		f.Add(uint8(s.m), []byte(s.body), false)
		f.Add(uint8(s.m), []byte(s.body), true)
	}
	h, fe := newHandler(api.Config{})
	fe.presence = []api.ClientInfo{{User: "u", Client: "c", ConnInfo: []byte(`{"a":1}`)}}
	fe.channels = []chanCount{{"b", 1}, {"a", 2}}
	fe.history = api.HistoryResult{Publications: []protocol.Publication{{Data: []byte(`{"n":1}`), Offset: 1}}, Offset: 1, Epoch: "e"}
	fe.nodes = []api.NodeInfo{{UID: "u", Metrics: map[string]float64{"m": 1}}}
	f.Fuzz(func(t *testing.T, method uint8, body []byte, transport bool) {
		m := api.Method(method % uint8(api.MethodBatch+2))
		defer fe.reset()
		in := append([]byte(nil), body...)
		res := h.Serve(nil, m, body, transport)
		if !bytes.Equal(in, body) {
			t.Fatalf("Serve modified its input")
		}
		checkJSONReply(t, m, body, res)
		if m == api.MethodUnknown || m > api.MethodBatch {
			if res.Status != 400 || res.ContentType != textPlain {
				t.Fatalf("method %d: status %d, want 400", m, res.Status)
			}
			return
		}
		if m != api.MethodLegacy && m != api.MethodBatch {
			rejected := res.Status == 400 && res.ContentType == textPlain
			if std := stdDecodes(m, body); rejected == std {
				t.Fatalf("%s %q: encoding/json accepts=%v but reply is %d %q", m, short(string(body)), std, res.Status, short(string(res.Body)))
			}
		}
	})
}

// checkJSONReply checks the form of a reply (see FuzzServe).
func checkJSONReply(t *testing.T, m api.Method, body []byte, res api.Response) {
	t.Helper()
	switch res.ContentType {
	case textPlain:
		if res.Status != 400 || string(res.Body) != badRequestBody {
			t.Fatalf("%s %q: text reply %d %q", m, short(string(body)), res.Status, res.Body)
		}
		return
	case appJSON:
	default:
		t.Fatalf("%s %q: content type %q", m, body, res.ContentType)
	}
	switch res.Status {
	case 200:
	case 400, 404, 409, 416, 500:
		if m == api.MethodLegacy || m == api.MethodBatch {
			t.Fatalf("%s %q: status %d for a multi-command endpoint", m, body, res.Status)
		}
	default:
		t.Fatalf("%s %q: status %d", m, body, res.Status)
	}
	if m != api.MethodLegacy {
		if !stdjson.Valid(res.Body) {
			t.Fatalf("%s %q: invalid JSON reply %q", m, body, res.Body)
		}
		return
	}
	dec := stdjson.NewDecoder(bytes.NewReader(res.Body))
	n := 0
	for {
		var v stdjson.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("legacy %q: invalid reply %q: %v", body, res.Body, err)
		}
		n++
	}
	if n == 0 || n != bytes.Count(res.Body, []byte("\n"))+1 {
		t.Fatalf("legacy %q: %d values in reply %q", body, n, res.Body)
	}
}
