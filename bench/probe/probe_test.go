package probe

import (
	"os"
	"strings"
	"testing"
)

func TestReadProcSelf(t *testing.T) {
	p, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.RSS == 0 || p.Threads == 0 || p.FDs <= 0 {
		t.Fatalf("%+v", p)
	}
	s, err := ReadSelf()
	if err != nil || s.RSS == 0 || s.MaxRSS == 0 {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestParseSockstat(t *testing.T) {
	s, err := parseSockstat([]byte("sockets: used 120\nTCP: inuse 7 orphan 0 tw 2 alloc 9 mem 3\nUDP: inuse 1 mem 0\n"))
	if err != nil || s.InUse != 7 || s.MemBytes != 3*uint64(os.Getpagesize()) {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestParseMetricsAndRatio(t *testing.T) {
	before, err := ParseMetrics(strings.NewReader("# HELP x\nunisse_transport_events_total 100\nunisse_transport_writes_total 50\n" +
		`centrifugo_client_num_server_disconnects{code="3008"} 2` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := ParseMetrics(strings.NewReader("unisse_transport_events_total 1100\nunisse_transport_writes_total 300\n"))
	if before[`centrifugo_client_num_server_disconnects{code="3008"}`] != 2 {
		t.Fatalf("labelled series: %v", before)
	}
	r, e, w, ok := EventsPerWrite(before, after)
	if !ok || r != 4 || e != 1000 || w != 250 {
		t.Fatalf("ratio %v %v %v %v", r, e, w, ok)
	}
	if _, _, _, ok := EventsPerWrite(Metrics{}, after); ok {
		t.Fatal("ratio without the metrics")
	}
}
