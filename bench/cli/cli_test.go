package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/bench"
	"github.com/unisse/unisse/bench/report"
)

func TestParse(t *testing.T) {
	o, err := Parse(strings.Fields("channels --url http://localhost:9000/connection/uni_sse --channels 50 "+
		"--api-method broadcast --group-size 5 --rate max --duration 3s --connect-rate 500 --json --svg out"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.Mode != bench.Channels || c.NumChannels != 50 || !c.UseBcastAPI || c.GroupSize != 5 || c.Rate != 0 ||
		c.Duration != 3*time.Second || c.ConnectRate != 500 || !o.JSON || o.SVGDir != "out" {
		t.Fatalf("%+v", o)
	}
	if c.API != "http://localhost:9000/api" {
		t.Fatalf("api %q not derived from the url", c.API)
	}
	o, err = Parse([]string{"broadcast", "--channels", "50", "--group-size", "5"}, io.Discard)
	if err != nil || o.Config.NumChannels != 1 || o.Config.GroupSize != 1 || o.Config.Rate != 10 {
		t.Fatalf("broadcast keeps one channel: %+v %v", o.Config, err)
	}
}

func TestParseRecovery(t *testing.T) {
	o, err := Parse([]string{"recovery"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.Mode != bench.Recovery || c.Conns != 1000 || c.RecoverConns != 10000 || c.History != 300 || c.Rate != 50 ||
		c.ConnectRate != 0 || c.Baseline != 3*time.Second || c.After != 3*time.Second {
		t.Fatalf("recovery defaults: %+v", c)
	}
	o, err = Parse(strings.Fields("recovery --conns 20 --recover-conns 500 --history 50 --baseline 1s --after 2s --connect-rate 800 --channel live"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c = o.Config
	if c.Conns != 20 || c.RecoverConns != 500 || c.History != 50 || c.Baseline != time.Second || c.After != 2*time.Second ||
		c.ConnectRate != 800 || c.Channel != "live" {
		t.Fatalf("%+v", c)
	}
	// Other modes carry none of it.
	o, err = Parse([]string{"broadcast", "--recover-conns", "5"}, io.Discard)
	if err != nil || o.Config.RecoverConns != 0 || o.Config.History != 0 {
		t.Fatalf("broadcast: %+v %v", o.Config, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range []string{"", "--conns 5", "flood", "idle --rate fast", "idle --conns 0",
		"channels --api-method rpc", "idle extra", "churn --churn-rate 0",
		"recovery --history 0", "recovery --recover-conns 0", "recovery --baseline 0s", "recovery --max-calls 10"} {
		if _, err := Parse(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	var usage strings.Builder
	if _, err := Parse([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	for _, want := range []string{"idle", "churn", "recovery", "-conns", "-recover-conns", "-history", "-secret", "-svg"} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// TestRender renders a JSON report into the same page the run would have
// written with --report.
func TestRender(t *testing.T) {
	rep := &bench.Report{Mode: bench.Broadcast, Config: bench.Default(bench.Broadcast)}
	for i := range 100 {
		rep.LatencyHist.Record(int64(100_000 + i*1000))
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "r.json")
	if err := os.WriteFile(in, js, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := Main([]string{"render", in}, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "r.html"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := report.HTML(&want, rep); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("rendered page differs from report.HTML of the same report (%d vs %d bytes)", len(got), want.Len())
	}
	if code := Main([]string{"render", filepath.Join(dir, "missing.json")}, io.Discard, io.Discard); code == 0 {
		t.Fatal("a missing report rendered")
	}
}

// TestParseCluster: --url and --api take comma lists, --server-pid a list
// of the nodes' pids, --redis-pid Redis's; without --api the publishes go
// through the first node.
func TestParseCluster(t *testing.T) {
	urls := "http://127.0.0.1:8101/connection/uni_sse,http://127.0.0.1:8102/connection/uni_sse,http://127.0.0.1:8103/connection/uni_sse"
	o, err := Parse([]string{"broadcast", "--url", urls, "--server-pid", "11,12, 13", "--redis-pid", "20"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.Config
	if c.URL != urls || len(c.URLs()) != 3 || c.API != "http://127.0.0.1:8101/api" {
		t.Fatalf("url %q, api %q", c.URL, c.API)
	}
	if c.ServerPID != 11 || len(c.ServerPIDs) != 3 || c.ServerPIDs[2] != 13 || c.RedisPID != 20 {
		t.Fatalf("pids %d %v, redis %d", c.ServerPID, c.ServerPIDs, c.RedisPID)
	}
	o, err = Parse([]string{"broadcast", "--api", "http://127.0.0.1:8101/api,http://127.0.0.1:8102/api", "--server-pid", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.Config; len(c.APIs()) != 2 || c.ServerPID != 7 || c.ServerPIDs != nil {
		t.Fatalf("apis %v, pid %d, pids %v", c.APIs(), c.ServerPID, c.ServerPIDs)
	}
	for _, args := range []string{"idle --server-pid 1,x", "idle --server-pid 3,3", "idle --server-pid 0", "idle --server-pid ,",
		"idle --redis-pid -1", "broadcast --url ,"} {
		if _, err := Parse(strings.Fields(args), io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
