package report

import (
	"fmt"
	"math"

	"github.com/unisse/unisse/bench"
	"github.com/unisse/unisse/bench/hist"
)

// Charts returns rep's charts as SVG documents by name: "latency" (the
// percentile spectrum of publish→receive, API call and connect latencies),
// "throughput" (delivered and published per second over time) and
// "connections" (open connections and server RSS over time).
func Charts(rep *bench.Report) map[string]string {
	return map[string]string{
		"latency":     latencyChart(rep),
		"throughput":  throughputChart(rep),
		"connections": connectionsChart(rep),
	}
}

// spectrumX maps a quantile to the percentile spectrum's x: log10 of
// 1/(1−q), so that 90, 99, 99.9 % are evenly spaced.
func spectrumX(q float64) float64 { return math.Log10(1 / (1 - q)) }

// spectrum returns (x, latency µs) points: one per bucket, at its upper
// cumulative fraction, drawn as steps.
func spectrum(h *hist.Hist, maxX float64) [][2]float64 {
	n := h.Count()
	if n == 0 {
		return nil
	}
	var pts [][2]float64
	var seen uint64
	for _, b := range h.Buckets(nil) {
		v := float64(b.Low+(b.Width-1)/2) / 1e3
		v = math.Max(math.Min(v, float64(h.Max())/1e3), float64(h.Min())/1e3)
		if len(pts) == 0 {
			pts = append(pts, [2]float64{0, v})
		}
		seen += b.Count
		q := float64(seen) / float64(n)
		x := maxX
		if q < 1 {
			x = math.Min(spectrumX(q), maxX)
		}
		pts = append(pts, [2]float64{x, v})
	}
	return pts
}

type namedHist struct {
	name string
	h    *hist.Hist
}

func latencyChart(rep *bench.Report) string {
	hs := []namedHist{
		{"publish→receive", &rep.LatencyHist},
		{"API call", &rep.CallHist},
		{"connect", &rep.ConnectHist},
	}
	if rr := rep.Recovery; rr != nil {
		// Live delivery before, during and after the storm, and the
		// recovering connects.
		hs = []namedHist{
			{"live, baseline", &rr.Baseline.Hist},
			{"live, storm", &rr.Storm.Hist},
			{"live, after", &rr.After.Hist},
			{"recovering connect", &rr.ConnectHist},
		}
	}
	maxN := uint64(1)
	lo, hi := math.Inf(1), 0.0
	for _, x := range hs {
		if x.h.Count() > 0 {
			maxN = max(maxN, x.h.Count())
			lo = math.Min(lo, math.Max(float64(x.h.Min())/1e3, 1))
			hi = math.Max(hi, float64(x.h.Max())/1e3)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	// Show the spectrum up to the resolution the sample size allows.
	maxX := math.Max(1, math.Ceil(math.Log10(float64(maxN))))
	x := axis{label: "percentile", min: 0, max: maxX}
	for i := 0.0; i <= maxX; i++ {
		label := "0%"
		if i > 0 {
			label = fmt.Sprintf("%s%%", trimZeros(100*(1-math.Pow(10, -i))))
		}
		x.ticks = append(x.ticks, tick{i, label})
	}
	y := logAxis("latency", lo, hi, func(v float64) string { return us(v) })
	var ss []series
	for _, s := range hs {
		if pts := spectrum(s.h, maxX); pts != nil {
			ss = append(ss, series{name: s.name, pts: pts, step: true})
		}
	}
	return lineChart(fmt.Sprintf("Latency by percentile — %s, %d conns", rep.Mode, rep.Config.Conns), x, y, nil, ss)
}

func trimZeros(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// rates turns the cumulative timeline into per-second rates.
func rates(tl []bench.Sample, get func(*bench.Sample) uint64) [][2]float64 {
	var pts [][2]float64
	for i := 1; i < len(tl); i++ {
		dt := tl[i].T - tl[i-1].T
		if dt <= 0 || get(&tl[i]) < get(&tl[i-1]) {
			continue
		}
		pts = append(pts, [2]float64{tl[i].T, float64(get(&tl[i])-get(&tl[i-1])) / dt})
	}
	return pts
}

func maxY(pts [][2]float64) float64 {
	m := 0.0
	for _, p := range pts {
		m = math.Max(m, p[1])
	}
	return m
}

func timeAxis(tl []bench.Sample) axis {
	end := 1.0
	if len(tl) > 0 {
		end = tl[len(tl)-1].T
	}
	return linearAxis("seconds since start", end, func(v float64) string { return trimZeros(v) })
}

func throughputChart(rep *bench.Report) string {
	tl := rep.Timeline
	del := rates(tl, func(s *bench.Sample) uint64 { return s.Delivered })
	pub := rates(tl, func(s *bench.Sample) uint64 { return s.Published })
	yl := linearAxis("delivered messages/s", maxY(del), si)
	yr := linearAxis("publish calls/s", maxY(pub), si)
	return lineChart(fmt.Sprintf("Throughput — %s, %d conns", rep.Mode, rep.Config.Conns), timeAxis(tl), yl, &yr,
		[]series{{name: "delivered/s", pts: del}, {name: "published/s", pts: pub, right: true}})
}

func connectionsChart(rep *bench.Report) string {
	tl := rep.Timeline
	var open, recovering, rss [][2]float64
	for _, s := range tl {
		open = append(open, [2]float64{s.T, float64(s.Open)})
		if rep.Recovery != nil {
			recovering = append(recovering, [2]float64{s.T, float64(s.RecoverOpen)})
		}
		if s.ServerRSS > 0 {
			rss = append(rss, [2]float64{s.T, float64(s.ServerRSS) / (1 << 20)})
		}
	}
	yl := linearAxis("open connections", max(maxY(open), maxY(recovering)), si)
	ss := []series{{name: "open connections", pts: open}}
	if recovering != nil {
		ss[0].name = "live connections"
		ss = append(ss, series{name: "recovering connections", pts: recovering})
	}
	var yr *axis
	if len(rss) > 0 {
		a := linearAxis("server RSS (MiB)", maxY(rss), func(v float64) string { return trimZeros(v) })
		yr = &a
		ss = append(ss, series{name: "server RSS MiB", pts: rss, right: true})
	}
	return lineChart(fmt.Sprintf("Connections — %s", rep.Mode), timeAxis(tl), yl, yr, ss)
}

// si formats a count with k/M suffixes.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return trimZeros(v/1e6) + "M"
	case v >= 1e3:
		return trimZeros(v/1e3) + "k"
	default:
		return trimZeros(v)
	}
}
