package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	engineconfig "github.com/unisse/unisse/engine/config"
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
	c.URL = "http://127.0.0.1:" + strconv.Itoa(enginetest.FreePort(t)) + "/connection/uni_sse"
	c.Conns, c.ConnectTimeout, c.Duration = 5, time.Second, 100*time.Millisecond
	rep, err := Run(context.Background(), c)
	if err == nil || rep == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v", err)
	}
	if rep.Conns.ConnectErrors != 5 {
		t.Fatalf("connect errors %d", rep.Conns.ConnectErrors)
	}
}

// benchServer starts an in-process unisse with bench/config.json, as the
// comparison scripts run it (its hist namespace included).
func benchServer(t *testing.T) (*enginetest.Server, Config) {
	t.Helper()
	opts, _, err := engineconfig.Load([]string{"-c", "config.json"}, nil)
	if err != nil {
		t.Fatalf("bench/config.json: %v", err)
	}
	s := enginetest.Start(t, opts)
	c := config(s, Recovery)
	c.Secret, c.APIKey = opts.Client.Token.HMACSecretKey, opts.HTTPAPI.Key
	return s, c
}

// checkRecovery asserts that every recovering connection got its connect
// push with exactly the history, and that the live side lost nothing.
func checkRecovery(t *testing.T, rep *Report, c Config) {
	t.Helper()
	rr := rep.Recovery
	if rr == nil {
		t.Fatal("no recovery report")
	}
	n := uint64(c.RecoverConns)
	if rr.Attempts != n || rr.Connected != n || rr.Recovered != n || rr.Failed != 0 || len(rr.Errors) != 0 {
		t.Fatalf("recovery: %d attempts, %d connected, %d recovered, %d failed, errors %v", rr.Attempts, rr.Connected, rr.Recovered, rr.Failed, rr.Errors)
	}
	if rr.Channel != "hist:"+c.Channel || rr.Epoch == "" || rr.History != c.History {
		t.Fatalf("history %s epoch %q from %d", rr.Channel, rr.Epoch, rr.From)
	}
	// Every push held History publications of at least the payload size.
	if rr.PushBytes < n*uint64(c.History*c.Size) || rr.BytesRead < rr.PushBytes {
		t.Fatalf("%d bytes of connect pushes, %d read", rr.PushBytes, rr.BytesRead)
	}
	if rr.Latency.Count != n || rr.Duration <= 0 || rr.Rate <= 0 {
		t.Fatalf("storm: %v, %.0f/s, latency %+v", rr.Duration, rr.Rate, rr.Latency)
	}
	// The live side: every publication to every subscriber, once, in
	// order, and each window measured.
	d := rep.Delivery
	if d == nil || rep.Publish == nil || rep.Publish.Calls == 0 || rep.Publish.Refused+rep.Publish.Uncertain != 0 {
		t.Fatalf("publish: %+v", rep.Publish)
	}
	want := uint64(c.Conns) * rep.Publish.Calls
	if !d.Drained || d.Delivered != want || d.Expected != want || d.Lost != 0 || d.Dups != 0 || d.Reorders != 0 || d.Stale != 0 {
		t.Fatalf("live delivery %+v, want %d delivered and nothing lost", d, want)
	}
	var inWindows uint64
	for name, w := range map[string]*LiveWindow{"baseline": &rr.Baseline, "storm": &rr.Storm, "after": &rr.After} {
		// Each publication sent in the window reached every subscriber.
		if w.Published == 0 || w.Latency.Count != w.Published*uint64(c.Conns) || w.CallLatency.Count != w.Published || w.Length <= 0 {
			t.Fatalf("%s window: %v, %d published, latency %+v", name, w.Length, w.Published, w.Latency)
		}
		inWindows += w.Latency.Count
	}
	// The rest went out during the warm-up and the history publishing.
	if inWindows > want || rr.Storm.Start <= rr.Baseline.Start || rr.After.Start <= rr.Storm.Start {
		t.Fatalf("%d of %d deliveries in the windows; windows at %v, %v, %v", inWindows, want, rr.Baseline.Start, rr.Storm.Start, rr.After.Start)
	}
	if s := rr.Server; s == nil || s.CPU <= 0 || s.CPUPerConnect <= 0 {
		t.Fatalf("server during the storm: %+v", s)
	}
}

func recoveryConfig(c Config) Config {
	c.Conns, c.RecoverConns, c.History, c.Size = 50, 200, 20, 64
	c.Rate, c.Baseline, c.After = 100, 300*time.Millisecond, 300*time.Millisecond
	return c
}

func TestRecovery(t *testing.T) {
	_, c := benchServer(t)
	c = recoveryConfig(c)
	rep := run(t, c)
	checkRecovery(t, rep, c)
	if rep.Workers != 0 || rep.Recovery.From != 0 {
		t.Fatalf("workers %d, recovered from %d", rep.Workers, rep.Recovery.From)
	}
	// Again on the same channel: the history is recovered from where the
	// first run left it.
	rep = run(t, c)
	checkRecovery(t, rep, c)
	if rep.Recovery.From != uint64(c.History) {
		t.Fatalf("second run recovered from %d, want %d", rep.Recovery.From, c.History)
	}
}

// TestRecoveryWorkers holds both the live and the recovering connections
// in worker processes.
func TestRecoveryWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	_, c := benchServer(t)
	c = recoveryConfig(c)
	c.Conns, c.RecoverConns, c.Workers = 20, 60, 2
	c.WorkerCommand = []string{os.Args[0]}
	rep := run(t, c)
	checkRecovery(t, rep, c)
	if rep.Workers != 2 || rep.Self.Processes != 5 {
		t.Fatalf("workers %d, processes %d", rep.Workers, rep.Self.Processes)
	}
}

// TestRecoveryShortHistory: the captures' config keeps 10 publications in
// hist:, so recovering 20 fails for every connection, and the report says so.
func TestRecoveryShortHistory(t *testing.T) {
	c := recoveryConfig(config(server(t), Recovery))
	c.Conns, c.RecoverConns = 5, 30
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	rr := rep.Recovery
	if rr.Connected != 30 || rr.Recovered != 0 || rr.Failed != 30 || rr.Errors["recovery: not recovered"] != 30 {
		t.Fatalf("connected %d, recovered %d, failed %d, errors %v", rr.Connected, rr.Recovered, rr.Failed, rr.Errors)
	}
}

// TestRecoveryWithoutHistory: a server without the hist namespace is an
// error that says so.
func TestRecoveryWithoutHistory(t *testing.T) {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Channel.Namespaces = nil
	c := recoveryConfig(config(enginetest.Start(t, opts), Recovery))
	c.Conns = 5
	_, err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("err %v", err)
	}
}

// TestBroadcastTwoNodes: two independent servers (memory brokers, no shared
// Redis) given as one --url list, publishing through the first only. The
// connections are spread over both, so exactly the half on the second
// misses everything; the report has each node and their sum.
func TestBroadcastTwoNodes(t *testing.T) {
	a, b := server(t), server(t)
	c := config(a, Broadcast)
	c.URL += ",http://" + b.Addr + "/connection/uni_sse"
	c.Conns, c.Rate, c.MaxCalls, c.Drain = 200, 0, 40, 300*time.Millisecond
	// Both servers are this process: the mechanics, not the figures.
	c.ServerPIDs, c.RedisPID = []int{os.Getpid(), os.Getpid()}, os.Getpid()
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	d := rep.Delivery
	if rep.Conns.Connected != 200 || d.Delivered != 100*40 || d.ConnsWithLoss != 100 || d.Lost != 100*40 || d.Drained {
		t.Fatalf("connected %d; delivery %+v: want the 100 connections on the second node to miss all 40", rep.Conns.Connected, d)
	}
	s := rep.Server
	if s == nil || len(s.PIDs) != 2 || len(rep.Nodes) != 2 || rep.Redis == nil {
		t.Fatalf("server %+v, %d nodes, redis %+v", s, len(rep.Nodes), rep.Redis)
	}
	if sum := rep.Nodes[0].PublishCPU + rep.Nodes[1].PublishCPU; s.PublishCPU != sum || s.CPUPerMessage <= 0 {
		t.Fatalf("server CPU %v, nodes' sum %v, per message %v", s.PublishCPU, sum, s.CPUPerMessage)
	}
	if s.Connected.RSS != rep.Nodes[0].Connected.RSS+rep.Nodes[1].Connected.RSS || rep.Redis.CPUPerMessage <= 0 {
		t.Fatalf("sum RSS %d of nodes %d+%d; redis %+v", s.Connected.RSS, rep.Nodes[0].Connected.RSS, rep.Nodes[1].Connected.RSS, rep.Redis)
	}
	if last := rep.Timeline[len(rep.Timeline)-1]; len(last.NodeCPU) != 2 {
		t.Fatalf("timeline sample %+v", last)
	}
}
