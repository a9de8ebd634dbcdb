// Package cli is unisse-bench's command line: flags into a bench.Config, the
// run, and its outputs (progress on stderr, the summary, --json, --report,
// --svg) and the exit status (1 when bench.Report.Failures finds a reason,
// printed as FAIL: lines). cmd/unisse-bench only calls Main. Also starts worker processes'
// side (bench.WorkerFlag).
package cli
