package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/unisse/unisse/bench"
	"github.com/unisse/unisse/engine/enginetest"
)

// mainAgainst runs the command line against an in-process unisse (the
// captures' config: HMAC secret and API key) and returns its exit code and
// what it printed.
func mainAgainst(t *testing.T, s *enginetest.Server, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"broadcast",
		"--url", "http://" + s.Addr + "/connection/uni_sse",
		"--api", "http://" + s.InternalAddr + "/api",
		"--secret", enginetest.Secret,
		"--conns", "20", "--publishers", "1", "--rate", "max", "--max-calls", "30",
		"--duration", "10s", "--drain", "5s", "--timeout", "25s", "--quiet"}, extra...)
	var out, errOut bytes.Buffer
	rc := Main(args, &out, &errOut)
	return rc, out.String() + errOut.String()
}

// TestExitRefusedPublishes: with a wrong API key every publish gets 401;
// nothing is expected, so nothing is "lost", and the summary alone used to
// read as a success with exit status 0.
func TestExitRefusedPublishes(t *testing.T) {
	s := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"))
	rc, out := mainAgainst(t, s, "--api-key", "wrong-"+enginetest.APIKey)
	if rc == 0 {
		t.Fatalf("exit 0 with every publish refused:\n%s", out)
	}
	for _, want := range []string{
		"FAIL: 30 of 30 publishes refused (status 401: Unauthorized, check --api-key)",
		"delivery     0 of 0 expected (nothing to deliver",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestExitHealthyRun(t *testing.T) {
	s := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"))
	rc, out := mainAgainst(t, s, "--api-key", enginetest.APIKey)
	if rc != 0 || strings.Contains(out, "FAIL") {
		t.Fatalf("exit %d on a healthy run:\n%s", rc, out)
	}
	if !strings.Contains(out, "delivery     600 of 600 expected") {
		t.Fatalf("every subscriber should have every publication:\n%s", out)
	}
}

// TestFailures covers the reasons Main cannot easily provoke against a
// healthy engine: losses against --max-loss, calls without an answer,
// connections that did not open, failed recoveries.
func TestFailures(t *testing.T) {
	healthy := func() *bench.Report {
		return &bench.Report{
			Conns:    bench.ConnReport{Target: 10, OpenAfterConnect: 10},
			Publish:  &bench.PublishReport{Calls: 100},
			Delivery: &bench.DeliveryReport{Expected: 1000, Delivered: 1000},
		}
	}
	cases := []struct {
		name    string
		change  func(*bench.Report)
		maxLoss float64
		want    string // "" for no failure
	}{
		{"healthy", func(*bench.Report) {}, 0, ""},
		{"one lost, no tolerance", func(r *bench.Report) { r.Delivery.Lost, r.Delivery.ConnsWithLoss = 1, 1 },
			0, "1 of 1000 deliveries lost (0.1%, over --max-loss 0%) on 1 connection(s)"},
		{"one lost within 0.1%", func(r *bench.Report) { r.Delivery.Lost = 1 }, 0.1, ""},
		{"two lost over 0.1%", func(r *bench.Report) { r.Delivery.Lost = 2 }, 0.1, "2 of 1000 deliveries lost (0.2%, over --max-loss 0.1%)"},
		{"timeouts", func(r *bench.Report) {
			r.Publish.Uncertain = 3
			r.Publish.Errors = map[string]uint64{"call: timeout": 3}
		}, 0, "3 of 103 publish calls got no clear answer (failed, timed out or an error in a broadcast reply) (call: timeout)"},
		{"subscribers refused", func(r *bench.Report) {
			r.Conns.OpenAfterConnect = 4
			r.Conns.Errors = map[string]uint64{"http 401": 5, "eof": 1}
		}, 0, "6 of 10 connections did not open (http 401: Unauthorized, check --secret; 1 other kind(s) of error)"},
		{"no calls", func(r *bench.Report) { r.Publish.Calls = 0; r.Delivery.Expected = 0 }, 0, "no publish call was made"},
		{"recovery", func(r *bench.Report) {
			r.Recovery = &bench.RecoveryReport{Target: 5, Connected: 5, Failed: 2, Errors: map[string]uint64{"recovery: gap": 2}}
		}, 0, "2 of 5 recovering connections did not recover what was published (recovery: gap)"},
	}
	for _, tc := range cases {
		r := healthy()
		tc.change(r)
		got := strings.Join(r.Failures(tc.maxLoss), "\n")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: failures %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseMaxLoss(t *testing.T) {
	for in, want := range map[string]float64{"0.5": 0.5, "0.5%": 0.5, "100%": 100} {
		o, err := Parse([]string{"broadcast", "--max-loss", in}, &bytes.Buffer{})
		if err != nil || o.MaxLossPct != want {
			t.Errorf("--max-loss %s: %v %v, want %v", in, o, err, want)
		}
	}
	for _, in := range []string{"-1", "101", "x"} {
		if _, err := Parse([]string{"broadcast", "--max-loss", in}, &bytes.Buffer{}); err == nil {
			t.Errorf("--max-loss %s accepted", in)
		}
	}
}
