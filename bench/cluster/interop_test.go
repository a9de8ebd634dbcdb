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

// TestCentrifugoRedisOutageUnderLoad runs TestRedisOutageUnderLoad's
// scenario on two Centrifugo v6.9.1 nodes, to put its figures beside
// unisse's. It asserts nothing about Centrifugo's behaviour beyond the
// scenario running; the log is the result.
func TestCentrifugoRedisOutageUnderLoad(t *testing.T) {
	redis := StartRedis(t)
	nodes := startNodes(t, redis, kindCentrifugo, kindCentrifugo)
	runOutage(t, redis, nodes).log(t, nodes)
}
