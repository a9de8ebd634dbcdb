package api_test

import (
	stdjson "encoding/json"
	"testing"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/protocol"
)

// nopExec publishes nowhere, so the benchmarks measure the handler alone.
type nopExec struct {
	*fakeExec
	res api.PublishResult
}

func (e *nopExec) Publish(*api.Publication) (api.PublishResult, *protocol.Error) { return e.res, nil }

// A typical server-side publish: a small JSON object and a tag.
const benchPublishBody = `{"channel":"chat:room-1234","data":{"user":"alice","text":"hello, world","ts":1795640898},"tags":{"kind":"msg"}}`

// BenchmarkServePublish is the cost of /api/publish in the handler: decode,
// validate, call the executor, encode the reply into a reused buffer (as the
// engine's loops do).
func BenchmarkServePublish(b *testing.B) {
	cases := []struct {
		name string
		body string
		res  api.PublishResult
	}{
		{"NoHistory", benchPublishBody, api.PublishResult{}},
		{"History", benchPublishBody, api.PublishResult{Offset: 123456, Epoch: "JvxpuhdH"}},
		{"B64Data", `{"channel":"chat:room-1234","b64data":"eyJ1c2VyIjoiYWxpY2UiLCJ0ZXh0IjoiaGVsbG8sIHdvcmxkIn0="}`, api.PublishResult{}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := api.NewHandler(&nopExec{fakeExec: newFakeExec(), res: tc.res}, api.Config{Key: apiKey})
			body := []byte(tc.body)
			var dst []byte
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				res := h.Serve(dst[:0], api.MethodPublish, body, false)
				if res.Status != 200 {
					b.Fatalf("status %d: %s", res.Status, res.Body)
				}
				dst = res.Body[:0]
			}
		})
	}
	// Baseline: what Centrifugo's handler does with the same body (encoding/json
	// in and out).
	b.Run("Baseline_StdJSON", func(b *testing.B) {
		body := []byte(benchPublishBody)
		type publishResult struct {
			Offset uint64 `json:"offset,omitempty"`
			Epoch  string `json:"epoch,omitempty"`
		}
		type reply struct {
			Result *publishResult `json:"result"`
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var req api.PublishRequest
			if err := stdjson.Unmarshal(body, &req); err != nil {
				b.Fatal(err)
			}
			out, err := stdjson.Marshal(reply{Result: &publishResult{}})
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkServeBroadcast: one body fanned out to ten channels.
func BenchmarkServeBroadcast(b *testing.B) {
	h := api.NewHandler(&nopExec{fakeExec: newFakeExec()}, api.Config{Key: apiKey})
	body := []byte(`{"channels":["c0","c1","c2","c3","c4","c5","c6","c7","c8","c9"],"data":{"text":"hello"}}`)
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		res := h.Serve(dst[:0], api.MethodBroadcast, body, false)
		if res.Status != 200 {
			b.Fatalf("status %d", res.Status)
		}
		dst = res.Body[:0]
	}
}
