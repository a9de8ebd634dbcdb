package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// TestMain lets this test binary serve as a worker process: Run re-executes
// it with WorkerEnv set (see TestBroadcastWorkers).
func TestMain(m *testing.M) {
	if os.Getenv(WorkerEnv) == "1" {
		if err := RunWorker(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString("worker: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server starts an in-process unisse with the captures' main config
// (HS256 secret, API key, no history).
func server(t *testing.T) *enginetest.Server {
	t.Helper()
	return enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"))
}

func config(s *enginetest.Server, mode Mode) Config {
	c := Default(mode)
	c.URL = "http://" + s.Addr + "/connection/uni_sse"
	c.API = "http://" + s.InternalAddr + "/api"
	c.APIKey = enginetest.APIKey
	c.Secret = enginetest.Secret
	c.Channel = "e2e"
	c.ServerPID = os.Getpid() // the server runs in this process
	c.Timeout = 25 * time.Second
	c.Drain = 10 * time.Second
	return c
}

func run(t *testing.T, c Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Conns.Connected != uint64(c.Conns) || len(rep.Conns.Errors) != 0 {
		t.Fatalf("connected %d of %d, errors %v", rep.Conns.Connected, c.Conns, rep.Conns.Errors)
	}
	return rep
}

// checkDelivery asserts that every subscriber got every publication once,
// in order.
func checkDelivery(t *testing.T, rep *Report, want uint64) {
	t.Helper()
	d := rep.Delivery
	if d == nil || rep.Publish == nil {
		t.Fatal("no delivery or publish report")
	}
	if rep.Publish.Refused+rep.Publish.Uncertain != 0 || len(rep.Publish.Errors) > 0 {
		t.Fatalf("publish errors: %+v", rep.Publish)
	}
	if !d.Drained || d.Delivered != want || d.Expected != want || d.Lost != 0 || d.Dups != 0 || d.Reorders != 0 || d.Stale != 0 {
		t.Fatalf("delivery %+v, want %d delivered and nothing lost", d, want)
	}
	if d.Latency.Count != want || d.Latency.Max <= 0 {
		t.Fatalf("latency %+v", d.Latency)
	}
}

func TestBroadcast(t *testing.T) {
	s := server(t)
	c := config(s, Broadcast)
	c.Conns, c.Rate, c.MaxCalls, c.Publishers = 200, 0, 20, 2
	rep := run(t, c)
	if rep.Publish.Calls != 20 {
		t.Fatalf("%d calls, want 20", rep.Publish.Calls)
	}
	checkDelivery(t, rep, 200*20)
	if rep.Delivery.ReadLag.Count == 0 {
		t.Fatal("no kernel receive timestamps")
	}
	if rep.Server == nil || rep.Server.CPUPerMessage <= 0 || len(rep.Timeline) == 0 {
		t.Fatalf("server figures or timeline missing: %+v", rep.Server)
	}
}

func TestIdle(t *testing.T) {
	s := server(t)
	c := config(s, Idle)
	c.Conns, c.Duration = 100, 300*time.Millisecond
	rep := run(t, c)
	if rep.Delivery != nil || rep.Conns.Latency.Count != 100 || rep.Conns.OpenAfterConnect != 100 {
		t.Fatalf("idle report: %+v", rep.Conns)
	}
	if rep.Server.Connected.RSS == 0 {
		t.Fatal("server memory not sampled")
	}
}

// TestChannelsBroadcastAPI spreads subscribers over channels published in
// groups through /api/broadcast, from two source addresses.
func TestChannelsBroadcastAPI(t *testing.T) {
	s := server(t)
	c := config(s, Channels)
	c.Conns, c.NumChannels, c.UseBcastAPI, c.GroupSize = 120, 12, true, 4
	c.Rate, c.MaxCalls, c.Publishers, c.Addrs = 0, 30, 3, 2
	rep := run(t, c)
	// 30 calls over 3 groups of 4 channels: each channel gets 10; each of
	// the 120 connections is on one channel.
	checkDelivery(t, rep, 120*10)
}

func TestChurn(t *testing.T) {
	s := server(t)
	c := config(s, Churn)
	c.Conns, c.Rate, c.Duration, c.ChurnRate = 100, 50, 1500*time.Millisecond, 40
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Delivery
	if rep.Conns.Churned == 0 || rep.Conns.Connected <= 100 || d.Lost != 0 || d.Dups != 0 || !d.Drained {
		t.Fatalf("churn: conns %+v delivery %+v", rep.Conns, d)
	}
}

// TestBroadcastWorkers holds the connections in two worker processes (this
// test binary re-executed, see TestMain) and merges their results.
func TestBroadcastWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s := server(t)
	c := config(s, Broadcast)
	c.Conns, c.Rate, c.MaxCalls, c.Workers = 100, 0, 10, 2
	c.WorkerCommand = []string{os.Args[0]}
	rep := run(t, c)
	if rep.Workers != 2 || rep.Self.Processes != 3 {
		t.Fatalf("workers %d, processes %d", rep.Workers, rep.Self.Processes)
	}
	checkDelivery(t, rep, 100*10)
}

func TestNoServer(t *testing.T) {
	c := Default(Idle)
	c.URL = "http://127.0.0.1:" + itoa(enginetest.FreePort(t)) + "/connection/uni_sse"
	c.Conns, c.ConnectTimeout, c.Duration = 5, time.Second, 100*time.Millisecond
	rep, err := Run(context.Background(), c)
	if err == nil || rep == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v", err)
	}
	if rep.Conns.ConnectErrors != 5 {
		t.Fatalf("connect errors %d", rep.Conns.ConnectErrors)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
