//go:build !race

package redisbroker

import (
	"testing"

	"github.com/unisse/unisse/engine/broker"
)

// A PUB/SUB delivery decodes into reused buffers: no allocation per message
// in steady state (publisher info aside).
func TestDeliverAllocs(t *testing.T) {
	var w worker
	h := &countingHandler{}
	pub := &broker.Publication{Data: []byte(`{"a":1}`), Tags: map[string]string{"k": "v"}}
	payload, err := encodePublication(pub)
	if err != nil {
		t.Fatal(err)
	}
	m := pubsubMsg{channel: "ch", payload: "__p1:12345:ABCDEFGH__" + string(payload)}
	w.deliver(h, m)
	allocs := testing.AllocsPerRun(1000, func() { w.deliver(h, m) })
	if allocs != 0 {
		t.Fatalf("%.1f allocations per delivery", allocs)
	}
	if h.n.Load() != 1002 { // AllocsPerRun runs once more to warm up
		t.Fatalf("delivered %d", h.n.Load())
	}
}
