package bench

import (
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/unisse/unisse/bench/recovery"
)

// connectParams decodes the cf_connect parameter of a subscriber's request.
func connectParams(t *testing.T, req []byte) map[string]json.RawMessage {
	t.Helper()
	line, _, _ := strings.Cut(string(req), "\r\n")
	target := strings.TrimSuffix(strings.TrimPrefix(line, "GET "), " HTTP/1.1")
	u, err := url.Parse(target)
	if err != nil || u.Path != "/connection/uni_sse" {
		t.Fatalf("request line %q: %v", line, err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(u.Query().Get("cf_connect")), &m); err != nil {
		t.Fatalf("cf_connect in %q: %v", line, err)
	}
	return m
}

// checkSplit asserts that parts hold connections first…first+count−1, each
// once, in order.
func checkSplit(t *testing.T, parts []workerStart, first, count int) {
	t.Helper()
	next := first
	for _, part := range parts {
		if part.Client.First != next || part.Client.Count < 0 {
			t.Fatalf("part at %d of %d, want at %d", part.Client.First, part.Client.Count, next)
		}
		next += part.Client.Count
	}
	if next != first+count {
		t.Fatalf("parts end at %d, want %d", next, first+count)
	}
}

func TestPlanSplitsOverWorkers(t *testing.T) {
	c := Default(Recovery)
	c.URL = "http://localhost:9000/connection/uni_sse"
	c.Conns, c.RecoverConns, c.ConnsPerWorker = 100, 70, 30
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(&c)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.servers) != 1 || p.servers[0] != netip.MustParseAddrPort("127.0.0.1:9000") || len(p.sources) != 1 {
		t.Fatalf("servers %v, sources %v", p.servers, p.sources)
	}
	// 30 per process: 4 processes for the live connections, 3 for the storm.
	if p.procs != 4 || p.stormProcs != 3 || len(p.parts) != 4 {
		t.Fatalf("procs %d, storm procs %d, parts %d", p.procs, p.stormProcs, len(p.parts))
	}
	checkSplit(t, p.parts, 0, 100)
	// Without a secret the channel is asked for in subs.
	if subs := connectParams(t, p.parts[0].Client.Requests[0])["subs"]; string(subs) != `{"bench":{}}` {
		t.Fatalf("subs %s", subs)
	}
	storm, err := p.stormParts(&recovery.Expect{Channel: "hist:bench", Epoch: "ep", From: 3, Count: 300})
	if err != nil {
		t.Fatal(err)
	}
	if len(storm) != 3 || storm[0].Client.Recover == nil {
		t.Fatalf("%d storm parts", len(storm))
	}
	checkSplit(t, storm, 100, 70) // after the live ones
	var sub map[string]map[string]any
	if err := json.Unmarshal(connectParams(t, storm[0].Client.Requests[0])["subs"], &sub); err != nil {
		t.Fatal(err)
	}
	if s := sub["hist:bench"]; s["recover"] != true || s["offset"] != 3.0 || s["epoch"] != "ep" {
		t.Fatalf("storm subs %v", sub)
	}
}

func TestPlanOneProcessAndSources(t *testing.T) {
	c := Default(Channels)
	c.URL = "http://127.0.0.1:9000/connection/uni_sse"
	c.Conns, c.NumChannels, c.ConnsPerWorker, c.Secret = 50_000, 3, 100_000, "s"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(&c)
	if err != nil {
		t.Fatal(err)
	}
	// Everything fits in this process; one source address per 20000.
	if p.procs != 0 || len(p.parts) != 1 || len(p.sources) != 3 || p.sources[2] != netip.MustParseAddr("127.0.0.3") {
		t.Fatalf("procs %d, parts %d, sources %v", p.procs, len(p.parts), p.sources)
	}
	checkSplit(t, p.parts, 0, 50_000)
	if len(p.channels) != 3 || p.channels[2] != "bench-2" || len(p.requests) != 3 {
		t.Fatalf("channels %v", p.channels)
	}
	// With a secret the channel is in the token, not in subs.
	if m := connectParams(t, p.requests[1]); m["token"] == nil || m["subs"] != nil {
		t.Fatalf("cf_connect %v", m)
	}
}

// TestPlanSeveralServers: --url's comma list becomes one server per node,
// each connection request naming its node, and every worker part holds
// connections to all of them.
func TestPlanSeveralServers(t *testing.T) {
	c := Default(Channels)
	c.URL = "http://127.0.0.1:9000/connection/uni_sse, http://localhost:9001/connection/uni_sse,http://127.0.0.2:9002/connection/uni_sse,"
	c.Conns, c.NumChannels, c.ConnsPerWorker, c.Secret = 60, 4, 20, "s"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(&c)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9000"), netip.MustParseAddrPort("127.0.0.1:9001"), netip.MustParseAddrPort("127.0.0.2:9002")}
	if len(p.servers) != 3 || p.servers[0] != want[0] || p.servers[1] != want[1] || p.servers[2] != want[2] {
		t.Fatalf("servers %v", p.servers)
	}
	if len(p.requests) != 3*4 || len(p.parts) != 3 {
		t.Fatalf("%d requests, %d parts", len(p.requests), len(p.parts))
	}
	checkSplit(t, p.parts, 0, 60)
	hosts := []string{"127.0.0.1:9000", "localhost:9001", "127.0.0.2:9002"}
	for _, part := range p.parts {
		cc := part.Client
		if cc.Channels != 4 || len(cc.Servers) != 3 || cc.Validate() != nil {
			t.Fatalf("part %+v", cc)
		}
		servers := map[int]bool{}
		for i := cc.First; i < cc.First+cc.Count; i++ {
			s := cc.ServerOf(i)
			servers[s] = true
			req := string(cc.Request(i))
			if !strings.Contains(req, "\r\nHost: "+hosts[s]+"\r\n") {
				t.Fatalf("connection %d to server %d sends %q", i, s, req)
			}
		}
		if len(servers) != 3 {
			t.Fatalf("part at %d reaches servers %v", cc.First, servers)
		}
	}
}

func TestPlanURLErrors(t *testing.T) {
	for _, url := range []string{
		"http://127.0.0.1:9000/connection/uni_sse,https://127.0.0.1:9001/x",
		"http://127.0.0.1:9000/x,http://[::1]:9001/x",
		"http://127.0.0.1:9000/x,http://127.0.0.1:port/x",
	} {
		c := Default(Broadcast)
		c.URL = url
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := makePlan(&c); err == nil {
			t.Errorf("%q accepted", url)
		}
	}
	// Several source addresses need every node on loopback.
	c := Default(Broadcast)
	c.URL, c.Addrs = "http://127.0.0.1:9000/x,http://10.0.0.1:9000/x", 2
	if _, err := makePlan(&c); err == nil {
		t.Error("a non-loopback node with 2 source addresses accepted")
	}
	c = Default(Broadcast)
	c.URL = " , "
	if err := c.Validate(); err == nil {
		t.Error("an empty url list accepted")
	}
}
