// Package report renders a bench.Report: the human summary printed at the
// end of a run, and charts — latency distribution (percentile spectrum) and
// throughput over time — as standalone SVG files or inside one
// self-contained HTML page. The SVG is generated here, by hand, with no
// external assets or scripts. Functions are pure and safe from any goroutine.
package report
