package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics are the Prometheus samples of one scrape: series (name with its
// labels, as written) → value.
type Metrics map[string]float64

// Unisse's counters of queued events and write(2) calls: their ratio is how
// many events share a write.
const (
	EventsMetric = "unisse_transport_events_total"
	WritesMetric = "unisse_transport_writes_total"
)

// Scrape GETs a Prometheus text endpoint.
func Scrape(ctx context.Context, url string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("probe: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("probe: scrape %s: status %d", url, resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads Prometheus text format, skipping comments and lines it
// cannot read.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// name{labels} value [timestamp]; labels may hold spaces.
		end := bytes.LastIndexByte(line, '}')
		if end < 0 {
			end = bytes.IndexByte(line, ' ')
		} else {
			end++
		}
		if end <= 0 || end >= len(line) {
			continue
		}
		f := strings.Fields(string(line[end:]))
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		m[string(line[:end])] = v
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("probe: read metrics: %w", err)
	}
	return m, nil
}

// EventsPerWrite is Δevents/Δwrites between two scrapes of unisse's
// /metrics; ok is false when the server does not expose them or wrote
// nothing.
func EventsPerWrite(before, after Metrics) (ratio float64, events, writes float64, ok bool) {
	e0, ok1 := before[EventsMetric]
	e1, ok2 := after[EventsMetric]
	w0, ok3 := before[WritesMetric]
	w1, ok4 := after[WritesMetric]
	if !ok1 || !ok2 || !ok3 || !ok4 || w1 <= w0 {
		return 0, 0, 0, false
	}
	return (e1 - e0) / (w1 - w0), e1 - e0, w1 - w0, true
}
