//go:build interop

// Interoperation with a real Centrifugo v6.9.1 (broker.type "nats") on one
// embedded NATS server. Not in the default suite (it needs the Centrifugo
// binary); `make interop` runs it:
//
//	CENTRIFUGO_BIN=/path/to/centrifugo go test -tags interop -run Interop -v ./engine/broker/natsbroker/
package natsbroker

import (
	"context"
	"strings"
	"testing"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
	"github.com/unisse/unisse/engine/enginetest/centrifugotest"
)

// startCentrifugo runs a Centrifugo node with the NATS broker at natsURL.
func startCentrifugo(t *testing.T, natsURL string) *centrifugotest.Node {
	return centrifugotest.Start(t, map[string]any{
		"broker": map[string]any{"enabled": true, "type": "nats", "nats": map[string]any{"url": natsURL}},
	})
}

func TestCentrifugoInterop(t *testing.T) {
	srv := natstest.Start(t)
	cf := startCentrifugo(t, srv.URL())
	u, ru := node(t, srv, "unisse-node")
	subscribe(t, u, "interop")

	// Centrifugo publishes (data and b64data); the unisse node receives the
	// same bytes, with the publisher's tags.
	cf.API(t, "publish", map[string]any{"channel": "interop", "data": map[string]any{"x": 1}, "tags": map[string]string{"k": "v"}})
	cf.API(t, "publish", map[string]any{"channel": "interop", "b64data": "/wA="})
	eventually(t, "centrifugo publications at unisse", func() bool { return len(ru.received("interop")) == 2 })
	ru.mu.Lock()
	p0, p1 := ru.pubs["interop"][0], ru.pubs["interop"][1]
	ru.mu.Unlock()
	if string(p0.Data) != `{"x":1}` || p0.NotJSON || p0.Tags["k"] != "v" || p0.Offset != 0 {
		t.Fatalf("data publication: %+v", p0)
	}
	if string(p1.Data) != "\xff\x00" || !p1.NotJSON {
		t.Fatalf("b64data publication: %+v", p1)
	}

	// A Centrifugo client (server-side subscription to "live") receives
	// what unisse publishes, with its tags and publisher info.
	stream := cf.Stream(t, "live")
	// Centrifugo's SUB reaches NATS before its connect reply.
	err := call(t, func(done func(error)) {
		u.Publish(context.Background(), "live", &broker.Publication{
			Data: []byte(`{"n":1}`), Tags: map[string]string{"t": "1"},
			Info: []byte(`{"user":"u1","client":"c1"}`),
		}, broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { done(err) })
	})
	if err != nil {
		t.Fatal(err)
	}
	line := stream.Next(t, `"pub"`)
	t.Logf("centrifugo client: %s", line)
	for _, want := range []string{`"channel":"live"`, `"data":{"n":1}`, `"tags":{"t":"1"}`, `"user":"u1"`, `"client":"c1"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("centrifugo client got %s, want %s in it", line, want)
		}
	}

	// An API disconnect on Centrifugo goes out on <prefix>.control: the
	// unisse node receives the (opaque) command.
	cf.API(t, "disconnect", map[string]any{"user": "nobody"})
	eventually(t, "centrifugo control message", func() bool { _, c := ru.snapshot(); return len(c) > 0 })
}
