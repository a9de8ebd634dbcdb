package report

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/bench"
)

func sample() *bench.Report {
	rep := &bench.Report{Mode: bench.Broadcast, Config: bench.Default(bench.Broadcast)}
	for i := range 1000 {
		rep.LatencyHist.Record(int64(100_000 + i*1000))
		rep.CallHist.Record(int64(50_000 + i*10))
	}
	rep.ConnectHist.Record(300_000)
	for i := range 5 {
		rep.Timeline = append(rep.Timeline, bench.Sample{T: float64(i), Open: 1000, Delivered: uint64(i * 10000), Published: uint64(i * 10)})
	}
	rep.Delivery = &bench.DeliveryReport{Delivered: 40000, Expected: 40000, Drained: true, Window: 4 * time.Second}
	rep.Publish = &bench.PublishReport{Calls: 40}
	rep.Server = &bench.ServerReport{PID: 1}
	return rep
}

// TestChartsAreWellFormedSVG parses every chart as XML.
func TestChartsAreWellFormedSVG(t *testing.T) {
	all := Charts(sample())
	for name, svg := range Charts(recoverySample()) {
		all["recovery "+name] = svg
	}
	for name, svg := range all {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !strings.Contains(svg, "<path") {
			t.Fatalf("%s: no data drawn", name)
		}
	}
	// An empty report still renders.
	for name, svg := range Charts(&bench.Report{}) {
		if !strings.HasPrefix(svg, "<svg") {
			t.Fatalf("%s: %q", name, svg)
		}
	}
}

func TestSummaryAndHTML(t *testing.T) {
	var sum, page strings.Builder
	if err := Summary(&sum, sample()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"delivery     40000 of 40000 expected", "latency", "server pid 1"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if err := HTML(&page, sample()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page.String(), "<svg"); n != 3 || strings.Contains(page.String(), "<script") {
		t.Fatalf("HTML has %d charts", n)
	}
}

func recoverySample() *bench.Report {
	rep := sample()
	rep.Mode, rep.Config = bench.Recovery, bench.Default(bench.Recovery)
	rr := &bench.RecoveryReport{Channel: "hist:bench", Epoch: "abcd", History: 300, Target: 10000, Attempts: 10000,
		Connected: 10000, Recovered: 9999, Failed: 1, Errors: map[string]uint64{"recovery: not recovered": 1},
		Duration: 4 * time.Second, Rate: 2500, PushBytes: 10000 * 37000, BytesRead: 10000 * 37500,
		Server: &bench.StormServer{Wall: 4 * time.Second, CPU: 3 * time.Second, Utilization: 0.75, BaselineUtilization: 0.5,
			CPUPerConnect: 300, NetCPUPerConnect: 100, RSSBefore: 16 << 20, RSSAfter: 24 << 20, RSSGrowth: 8 << 20, RSSPerConn: 838},
		ToolCPU: 2 * time.Second, ToolUtilization: 0.5}
	for i := range 1000 {
		rr.Baseline.Hist.Record(int64(1_000_000 + i*1000))
		rr.Storm.Hist.Record(int64(5_000_000 + i*10_000))
		rr.After.Hist.Record(int64(1_000_000 + i*900))
		rr.ConnectHist.Record(int64(100_000_000 + i*100_000))
	}
	for _, w := range []*bench.LiveWindow{&rr.Baseline, &rr.Storm, &rr.After} {
		w.Length = 3 * time.Second
		w.Latency = bench.Percentiles{Count: w.Hist.Count(), P50: float64(w.Hist.Quantile(0.5)) / 1e3, Max: float64(w.Hist.Max()) / 1e3}
	}
	rep.Recovery = rr
	for i := range rep.Timeline {
		rep.Timeline[i].RecoverOpen = uint64(i * 2500)
	}
	return rep
}

func TestRecoverySummaryAndCharts(t *testing.T) {
	rep := recoverySample()
	var sum strings.Builder
	if err := Summary(&sum, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"storm of 10000 connections recovering 300 publications",
		"10000 of 10000 recovering connections got their connect push: 9999 recovered as expected, 1 not",
		"1 × recovery: not recovered", "2500 recovering connects/s", "\n  baseline ", "\n  storm ", "\n  after ",
		"300.0 µs per recovering connect; 100.0 µs once", "+8.0 MiB", "(0.50 cores)"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	charts := Charts(rep)
	for name, want := range map[string][]string{
		"latency":     {"live, baseline", "live, storm", "live, after", "recovering connect"},
		"connections": {"live connections", "recovering connections"},
	} {
		for _, w := range want {
			if !strings.Contains(charts[name], w) {
				t.Errorf("%s chart lacks %q", name, w)
			}
		}
	}
	if strings.Count(charts["latency"], "<path") != 4 {
		t.Errorf("latency chart: %d series", strings.Count(charts["latency"], "<path"))
	}
}

// TestSummaryNodesAndRedis: a cluster's report names each node and Redis
// with their CPU over the delivery window; the HTML page carries it.
func TestSummaryNodesAndRedis(t *testing.T) {
	rep := sample()
	rep.Server = &bench.ServerReport{PID: 11, PIDs: []int{11, 12}, PublishCPU: 3 * time.Second, CPUPerMessage: 75}
	rep.Nodes = []bench.ServerReport{{PID: 11, PublishCPU: time.Second, CPUUtilization: 0.25}, {PID: 12, PublishCPU: 2 * time.Second, CPUUtilization: 0.5}}
	rep.Redis = &bench.ServerReport{PID: 20, PublishCPU: 400 * time.Millisecond, CPUUtilization: 0.1, CPUPerMessage: 10}
	var sum, page strings.Builder
	if err := Summary(&sum, rep); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"servers: 2 nodes summed (pids 11,12)", "75.00 µs per delivered message",
		"node 1 pid 11", "(0.25 cores)", "node 2 pid 12", "(0.50 cores)", "redis pid 20", "(0.10 cores): 10.000 µs per delivered message"} {
		if !strings.Contains(sum.String(), want) || !strings.Contains(page.String(), want) {
			t.Errorf("summary or page lacks %q:\n%s", want, sum.String())
		}
	}
}
