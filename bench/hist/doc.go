// Package hist is a small log-linear (HDR-style) histogram of int64 values,
// used by unisse-bench for publish→receive and call latencies in nanoseconds.
//
// Values below 2^SubBits are counted exactly; above, each power of two is cut
// into 2^SubBits equal buckets, so a reported percentile is within 1/2^SubBits
// (0.8 %) of the true value. Min, max, count and sum are exact.
//
// A Hist is not safe for concurrent use: each event loop or publisher owns
// one, and they are merged (Merge) when a run ends. Record never allocates.
package hist
