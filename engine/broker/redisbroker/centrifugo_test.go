//go:build interop

// Interoperation with a real Centrifugo v6.9.1 on one Redis. Not in the
// default suite (it needs the Centrifugo binary):
//
//	GOBIN=/tmp/cf go install github.com/centrifugal/centrifugo/v6@v6.9.1
//	CENTRIFUGO_BIN=/tmp/cf/centrifugo go test -tags interop -run Centrifugo -v ./engine/broker/redisbroker/
package redisbroker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/enginetest/centrifugotest"
)

// startCentrifugo runs a Centrifugo node on the Redis at redisAddr, with
// history and presence on channels without a namespace.
func startCentrifugo(t *testing.T, redisAddr string) *centrifugotest.Node {
	return centrifugotest.Start(t, map[string]any{
		"engine": map[string]any{"type": "redis", "redis": map[string]any{"address": []string{"redis://" + redisAddr}}},
		"channel": map[string]any{"without_namespace": map[string]any{
			"history_size": 10, "history_ttl": "300s", "presence": true,
		}},
	})
}

func TestCentrifugoInterop(t *testing.T) {
	srv := redistest.Start(t)
	cf := startCentrifugo(t, srv.Addr())
	u, ru := node(t, "unisse-node", Options{}, srv)
	subscribe(t, u, "interop")
	subscribe(t, u, "interop_bin")

	// Centrifugo publishes (data and b64data); the unisse node receives the
	// same bytes at Centrifugo's position.
	res := cf.API(t, "publish", map[string]any{"channel": "interop", "data": map[string]any{"x": 1}})
	epoch, _ := res["epoch"].(string)
	if epoch == "" || res["offset"] != float64(1) {
		t.Fatalf("centrifugo publish result %v", res)
	}
	// (Binary data on its own channel: Centrifugo's JSON history API cannot
	// render it.)
	cf.API(t, "publish", map[string]any{"channel": "interop_bin", "b64data": "/wA="})
	cf.API(t, "publish", map[string]any{"channel": "interop", "data": "second"})
	eventually(t, "centrifugo publications at unisse", func() bool {
		return len(ru.received("interop")) == 2 && len(ru.received("interop_bin")) == 1
	})
	g := ru.received("interop")
	if g[0].data != `{"x":1}` || g[0].offset != 1 || g[0].epoch != epoch || g[0].notJSON {
		t.Fatalf("data publication: %+v (epoch %s)", g[0], epoch)
	}
	if g[1].data != `"second"` || g[1].offset != 2 {
		t.Fatalf("second publication: %+v", g[1])
	}
	if b := ru.received("interop_bin")[0]; b.data != "\xff\x00" || !b.notJSON || b.offset != 1 {
		t.Fatalf("b64data publication: %+v", b)
	}

	// unisse publishes into the same stream; Centrifugo's history has it.
	opts := broker.PublishOptions{HistorySize: 10, HistoryTTL: 300 * time.Second}
	sp := mustPublish(t, u, "interop", `{"from":"unisse"}`, opts)
	if sp.Offset != 3 || sp.Epoch != epoch {
		t.Fatalf("unisse publish position %+v, want 3/%s", sp, epoch)
	}
	hist := cf.API(t, "history", map[string]any{"channel": "interop", "limit": -1})
	pubs, _ := hist["publications"].([]any)
	if len(pubs) != 3 || hist["epoch"] != epoch || hist["offset"] != float64(3) {
		t.Fatalf("centrifugo history %v", hist)
	}
	last := pubs[2].(map[string]any)
	if d, _ := json.Marshal(last["data"]); string(d) != `{"from":"unisse"}` || last["offset"] != float64(3) {
		t.Fatalf("centrifugo sees unisse's publication as %v", last)
	}
	// And unisse's history reads Centrifugo's entries.
	h, err := history(t, u, "interop", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 0, Epoch: epoch}})
	if err != nil || len(h.Publications) != 3 || string(h.Publications[0].Data) != `{"x":1}` {
		t.Fatalf("unisse history %+v %v", h, err)
	}

	// Presence written by unisse, read by Centrifugo.
	info := &broker.ClientInfo{ClientID: "c-unisse", UserID: "u1", ConnInfo: []byte(`{"name":"n"}`)}
	if err := wait1(t, func(done func(error)) { u.AddPresence(ctx5(t), "interop", "c-unisse", info, done) }); err != nil {
		t.Fatal(err)
	}
	pr := cf.API(t, "presence", map[string]any{"channel": "interop"})
	clients, _ := pr["presence"].(map[string]any)
	cu, _ := clients["c-unisse"].(map[string]any)
	if cu == nil || cu["user"] != "u1" || cu["client"] != "c-unisse" {
		t.Fatalf("centrifugo presence %v", pr)
	}
	if ci, _ := json.Marshal(cu["conn_info"]); string(ci) != `{"name":"n"}` {
		t.Fatalf("conn_info %s", ci)
	}
	st := cf.API(t, "presence_stats", map[string]any{"channel": "interop"})
	if st["num_clients"] != float64(1) || st["num_users"] != float64(1) {
		t.Fatalf("centrifugo presence stats %v", st)
	}

	// A Centrifugo client (unidirectional HTTP stream, server-side
	// subscription to "live") receives what unisse publishes through Redis
	// PUB/SUB, with and without history, and a join pushed by unisse does
	// not disturb its node.
	stream := cf.Stream(t, "live")
	if err := wait1(t, func(done func(error)) {
		u.PublishJoin(ctx5(t), "live", &broker.ClientInfo{ClientID: "c-unisse", UserID: "u1"}, done)
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, u, "live", `{"n":1}`, broker.PublishOptions{})
	mustPublish(t, u, "live", `{"n":2}`, opts)
	for _, want := range []string{`"data":{"n":1}`, `"data":{"n":2},"offset":1`} {
		line := stream.Next(t, `"pub"`)
		t.Logf("centrifugo client: %s", line)
		if !strings.Contains(line, want) || !strings.Contains(line, `"channel":"live"`) {
			t.Fatalf("centrifugo client got %s, want %s", line, want)
		}
	}

	// Centrifugo's nodes announce themselves on the control channel: the
	// unisse node receives those (opaque) commands.
	eventually(t, "centrifugo control message", func() bool { return len(ru.controls()) > 0 })
}
