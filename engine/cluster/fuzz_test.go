package cluster_test

import (
	"reflect"
	"testing"

	"github.com/unisse/unisse/engine/cluster"
)

// FuzzDecode feeds Decode arbitrary bytes: it must not panic, and what it
// accepts must survive an encode/decode round trip unchanged (our encoder
// writes everything our decoder read). The channels payload decoders get
// the same bytes.
func FuzzDecode(f *testing.F) {
	for _, c := range goldenCommands {
		f.Add(cluster.Encode(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = cluster.DecodeChannelsRequest(data)
		_, _ = cluster.DecodeChannelsResult(data)
		c, err := cluster.Decode(data)
		if err != nil {
			return
		}
		again, err := cluster.Decode(cluster.Encode(c))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(again), normalize(c)) {
			t.Fatalf("round trip changed\n%#v\nto\n%#v", c, again)
		}
	})
}

// normalize folds what proto3 cannot tell apart after a round trip: NaN
// metrics (NaN != NaN for DeepEqual) and a nil filter child (written as an
// empty one).
func normalize(c *cluster.Command) *cluster.Command {
	if c.Node != nil && c.Node.Metrics != nil {
		for k, v := range c.Node.Metrics.Items {
			if v != v {
				c.Node.Metrics.Items[k] = 0
			}
		}
		if v := c.Node.Metrics.Interval; v != v {
			c.Node.Metrics.Interval = 0
		}
	}
	return c
}
