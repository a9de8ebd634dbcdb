//go:build interop

package cluster

import "testing"

// TestCentrifugoNodesShareRedis proves the harness against the reference:
// two Centrifugo v6.9.1 nodes on one Redis deliver through each other,
// share history and recovery, count each other's presence and disconnect
// each other's users.
func TestCentrifugoNodesShareRedis(t *testing.T) {
	redis := StartRedis(t)
	runScenarios(t, startNodes(t, redis, kindCentrifugo, kindCentrifugo))
}

// TestUnisseWithCentrifugo: unisse and Centrifugo nodes on one Redis are
// one cluster: every scenario passes whichever node publishes, stores,
// counts or disconnects (each list of nodes puts each kind first and last).
func TestUnisseWithCentrifugo(t *testing.T) {
	for _, kinds := range [][]string{
		{kindUnisse, kindCentrifugo},
		{kindCentrifugo, kindUnisse},
	} {
		t.Run(kinds[0]+"-"+kinds[1], func(t *testing.T) {
			redis := StartRedis(t)
			runScenarios(t, startNodes(t, redis, kinds...))
		})
	}
}
