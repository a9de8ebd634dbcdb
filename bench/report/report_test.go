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
	for name, svg := range Charts(sample()) {
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
