// Package promcheck parses the Prometheus text exposition format (0.0.4)
// strictly, for tests: it rejects what Prometheus' own parser rejects and,
// beyond it, families without help text, samples before their family's
// # HELP and # TYPE, a family split in two, duplicate series and histograms
// whose buckets are not cumulative or lack +Inf. (github.com/prometheus/
// common's parser is not in the module graph; this keeps it that way.)
package promcheck
