// Package cluster is a harness for multi-process tests: unisse and
// Centrifugo v6.9.1 nodes as real processes, each with its own JSON config
// file (Centrifugo keys) and port, a real redis-server they share, uni_sse
// subscribers that record every publication per channel with its offset
// (and join/leave pushes in order with them), and a client for the server
// HTTP API. Every set of nodes runs the same scenarios (runScenarios):
// fan-out, history and recovery, presence, disconnect, and join/leave (a
// watcher on each node sees exactly one join and leave of every node's
// client).
//
// Everything waits by polling with a deadline (StartTimeout, StopTimeout,
// or the caller's), and every process is stopped by the test's cleanup:
// SIGTERM to its own process group, SIGKILL after StopTimeout.
// Redis.Kill is a kill -9; Redis.Restart starts it again, empty, on the
// same port.
//
// The tests come in three sets:
//
//   - untagged (part of go test ./...): one or two unisse processes, no
//     Redis: a busy port makes the second process exit with an error,
//     unisse.reuse_port lets two share it, and a restart binds at once
//     while the old connections sit in TIME_WAIT;
//   - build tag cluster (make cluster): three unisse nodes on one Redis,
//     and the Redis outage under load (runOutage) on two;
//   - build tag interop (make interop): Centrifugo nodes on one Redis,
//     unisse and Centrifugo nodes together, and the outage under load on
//     two Centrifugo nodes, for its figures beside unisse's.
//
// The unisse binary is $UNISSE_BIN (the Makefile targets pass bin/unisse
// after make build); without it the tests build cmd/unisse into a temp dir
// once, so that they never run a stale binary. Centrifugo is
// $CENTRIFUGO_BIN or ../../bin/centrifugo (make interop installs it);
// redis-server is $REDIS_SERVER or found on PATH, else those tests skip.
package cluster
