package redisbroker

import (
	"testing"

	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// Through Redis Sentinel: the nodes find the master by name and work as on
// a plain Redis.
func TestSentinel(t *testing.T) {
	master := redistest.Start(t)
	sen := redistest.StartSentinel(t, master)
	opts := Options{SentinelAddresses: []string{sen.Addr}, SentinelMasterName: "mymaster"}
	a, _ := node(t, "a", opts)
	b, rb := node(t, "b", opts)
	subscribe(t, b, "s")
	sp := mustPublish(t, a, "s", `"v"`, withHistory)
	eventually(t, "delivery", func() bool { return len(rb.received("s")) == 1 })
	if out, _ := master.Do("HGET", "centrifugo.stream.meta.s", "e"); out != sp.Epoch {
		t.Fatalf("meta on the master: %q, want %q", out, sp.Epoch)
	}
}
