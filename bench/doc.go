// Package bench is unisse-bench's engine: a load generator for any
// Centrifugo-compatible uni_sse server (unisse, or Centrifugo v6 itself).
//
// Run executes one Config and returns a Report. Its phases: sample the
// server (with Config.ServerPID; with a cluster, each of Config.ServerPIDs
// and their sum, and the Redis they share with Config.RedisPID, see
// procs.go) and the kernel's socket memory; open the
// subscriber connections at the connect rate and wait for their connect
// pushes; then, by mode, hold them (idle), publish through the server API
// while counting deliveries (broadcast, channels), or publish while closing
// and reopening connections (churn); drain until every subscriber has every
// publication or the drain time is up; stop and merge everything.
// Report.Failures (verdict.go) then says whether the figures describe a
// healthy run (publishes accepted, subscribers connected, losses within a
// tolerance, recoveries complete); unisse-bench exits 1 when it does not.
//
// Recovery mode (storm.go) publishes to its live subscribers throughout;
// meanwhile it publishes Config.History publications to hist:<channel>,
// reads the stream's position, measures a baseline window, then opens
// Config.RecoverConns more connections (a second set of workers) asking to
// recover from that position, each connect push checked as it streams in
// (package recovery), and measures until After past the storm. The live
// latency is split into windows by the publications' send time, at
// boundaries handed to the subscriber loops ahead of time.
//
// The subscribers live in epoll loops (package client). A process holds at
// most its open-file limit of sockets, so past that Run starts worker
// processes: its own binary re-executed with WorkerFlag (or WorkerEnv set),
// each holding a slice of the connection indices. Coordinator and workers
// speak JSON lines over the worker's stdin and stdout (see worker.go):
// commands one way, counter ticks and the final client.Result the other; the
// coordinator merges the results (client.MergeAll). Publishers run in the
// coordinator only (package publish). Small runs stay in one process.
//
// Every phase is bounded in time, the whole run by Config.Timeout (derived
// from the other durations when zero), and a worker process stops by itself
// past that deadline or when its coordinator goes away. Run may be called
// from any goroutine; concurrent calls share nothing.
package bench
