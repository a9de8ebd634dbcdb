// Package probe reads what unisse-bench reports about processes: a server's
// CPU time and resident memory from /proc/<pid>/stat and /proc/<pid>/status,
// the kernel's TCP socket memory from /proc/net/sockstat, the tool's own
// CPU and memory (getrusage and /proc/self), and counters from a Prometheus
// text endpoint (unisse's /metrics). Functions are safe from any goroutine.
package probe
