// Package cli is unisse-bench's command line: flags into a bench.Config, the
// run, and its outputs (progress on stderr, the summary, --json, --report,
// --svg). cmd/unisse-bench only calls Main. Also starts worker processes'
// side (bench.WorkerFlag).
package cli
