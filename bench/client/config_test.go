package client

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestServerOfSpreadsEveryChannel: over three servers and two channels
// (a common factor would defeat i mod servers), every channel has its
// share of every server, consecutive connections alternate, and each
// connection sends its server's request for its channel.
func TestServerOfSpreadsEveryChannel(t *testing.T) {
	c := Config{Channels: 2}
	for s := range 3 {
		c.Servers = append(c.Servers, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(9000+s)))
		for ch := range 2 {
			c.Requests = append(c.Requests, fmt.Appendf(nil, "s%d c%d", s, ch))
		}
	}
	count := map[[2]int]int{}
	for i := range 60 {
		s := c.ServerOf(i)
		count[[2]int{s, i % 2}]++
		if want := fmt.Sprintf("s%d c%d", s, i%2); string(c.Request(i)) != want {
			t.Fatalf("connection %d sends %q, want %q", i, c.Request(i), want)
		}
	}
	for s := range 3 {
		for ch := range 2 {
			if n := count[[2]int{s, ch}]; n != 10 {
				t.Errorf("server %d channel %d: %d connections, want 10", s, ch, n)
			}
		}
	}
	// One channel: plain round-robin.
	c = Config{Channels: 1, Servers: c.Servers}
	for i := range 6 {
		if c.ServerOf(i) != i%3 {
			t.Fatalf("connection %d on server %d", i, c.ServerOf(i))
		}
	}
}

func TestConfigNeedsARequestPerServerAndChannel(t *testing.T) {
	src := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	two := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")}
	base := Config{Sources: src, Channels: 1, GroupSize: 1, Publishers: 1, MaxInFlight: 1, ConnectTimeout: 1}
	ok := base
	ok.Servers, ok.Requests = two, [][]byte{[]byte("a"), []byte("b")}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{
		"no server":   base,
		"one request": {Servers: two, Requests: [][]byte{[]byte("a")}, Sources: src, Channels: 1, GroupSize: 1, Publishers: 1, MaxInFlight: 1, ConnectTimeout: 1},
		"ipv6 server": {Servers: []netip.AddrPort{netip.MustParseAddrPort("[::1]:1")}, Requests: [][]byte{[]byte("a")}, Sources: src, Channels: 1, GroupSize: 1, Publishers: 1, MaxInFlight: 1, ConnectTimeout: 1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
