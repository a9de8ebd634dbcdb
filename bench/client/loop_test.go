package client

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeServer accepts connections, answers each request with the head of a
// chunked uni_sse response and a connect push, then holds the stream open
// (sending nothing more) until the client closes it.
func fakeServer(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Read(make([]byte, 4096)); err != nil { // the request
					return
				}
				push := "data: {\"connect\":{\"client\":\"x\"}}\n\n"
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(push), push)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestLossesAndDrainClosedOnStop: streams that got their connect push before
// MarkStart and then nothing are owed, and have lost, everything up to the
// finals; the drain channel, never satisfied, closes when the pool stops.
func TestLossesAndDrainClosedOnStop(t *testing.T) {
	cfg := Config{
		Servers:          []netip.AddrPort{fakeServer(t)},
		Sources:          []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		Count:            4,
		Channels:         2,
		GroupSize:        1,
		Requests:         [][]byte{[]byte("GET /a HTTP/1.1\r\n\r\n"), []byte("GET /b HTTP/1.1\r\n\r\n")},
		Publishers:       2,
		MaxInFlight:      4,
		ConnectTimeout:   5 * time.Second,
		KernelTimestamps: true,
	}
	p, err := Start(cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c := p.Counters(); c.Connected < 4; c = p.Counters() {
		if time.Now().After(deadline) {
			p.Stop()
			t.Fatalf("counters %+v", c)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.MarkStart()
	// finals[publisher][group]: channel 0 is owed 3+1, channel 1 2+5.
	drained := p.Drain([][]uint32{{3, 2}, {1, 5}})
	r := p.Stop()
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("drain channel still open after Stop")
	}
	c := r.Counters
	if c.Attempts != 4 || c.Connected != 4 || c.Open != 0 || c.InFlight != 0 || c.Errors() != 0 || r.Drained {
		t.Fatalf("counters %+v, errors %v, drained %v", c, r.Errors, r.Drained)
	}
	// Two connections per channel: 2·(3+1) + 2·(2+5) owed, all lost.
	if d := r.Delivery; d != (Delivery{Expected: 22, Lost: 22, ConnsWithLoss: 4, MaxLostPerConn: 7, Final: true}) {
		t.Fatalf("delivery %+v", d)
	}
	if r.Connect.Count() != 4 || r.FirstAttempt == 0 || r.LastConnect < r.FirstAttempt {
		t.Fatalf("connect latencies %d, first %d, last %d", r.Connect.Count(), r.FirstAttempt, r.LastConnect)
	}
}
