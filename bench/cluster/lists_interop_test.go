//go:build interop

package cluster

import (
	"strings"
	"testing"
)

// useLists sets engine.redis.history_use_lists on a node's config.
func useLists(cfg map[string]any) {
	cfg["engine"].(map[string]any)["redis"].(map[string]any)["history_use_lists"] = true
}

// TestUnisseWithCentrifugoLists: with history_use_lists on every node,
// unisse and Centrifugo v6.9.1 share history in Redis LISTs. History written
// through either kind of node is read through both with the same offsets and
// epoch, a subscriber on the other kind recovers from a position, and
// fan-out is unchanged; the history is in the LIST keys, not in streams.
func TestUnisseWithCentrifugoLists(t *testing.T) {
	for _, kinds := range [][]string{
		{kindUnisse, kindCentrifugo},
		{kindCentrifugo, kindUnisse},
	} {
		t.Run(kinds[0]+"-"+kinds[1], func(t *testing.T) {
			redis := StartRedis(t)
			nodes := startNodesWith(t, redis, useLists, kinds...)
			t.Run("FanOut", func(t *testing.T) { checkFanOut(t, nodes) })
			t.Run("History", func(t *testing.T) { checkHistory(t, nodes) })
			for key, want := range map[string]string{
				"centrifugo.list.hist:h":        "+list",
				"centrifugo.list.meta.hist:h":   "+hash",
				"centrifugo.stream.hist:h":      "+none",
				"centrifugo.stream.meta.hist:h": "+none",
			} {
				if got, err := redis.Do("TYPE " + key); err != nil || !strings.EqualFold(got, want) {
					t.Errorf("TYPE %s = %q (%v), want %s", key, got, err, want)
				}
			}
		})
	}
}
