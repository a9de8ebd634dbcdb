package engine_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// connectOrRefusal sends one uni_sse connect on a fresh connection and returns
// the response head and status, and the open connection, positioned after
// the head (the caller closes it).
func connectOrRefusal(addr, request string) (enginetest.Response, net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, enginetest.IOTimeout)
	if err != nil {
		return enginetest.Response{}, nil, err
	}
	c.SetDeadline(time.Now().Add(enginetest.IOTimeout))
	if _, err := io.WriteString(c, request); err != nil {
		c.Close()
		return enginetest.Response{}, nil, err
	}
	r := bufio.NewReader(c)
	head, status, err := enginetest.ReadHead(r)
	if err != nil {
		c.Close()
		return enginetest.Response{}, nil, err
	}
	return enginetest.Response{Status: status, Head: head}, c, nil
}

// expectRefused503 asserts Centrifugo's ConnLimit answer: 503 with an empty
// body and no CORS headers (its middleware runs before CORS), even for an
// allowed Origin.
func expectRefused503(t *testing.T, resp enginetest.Response) {
	t.Helper()
	if resp.Status != 503 {
		t.Fatalf("status %d, want 503: %q", resp.Status, resp.Head)
	}
	if cl, _ := resp.Header("Content-Length"); cl != "0" {
		t.Fatalf("503 with Content-Length %q, want an empty body: %q", cl, resp.Head)
	}
	if _, ok := resp.Header("Access-Control-Allow-Origin"); ok {
		t.Fatalf("503 carries CORS headers: %q", resp.Head)
	}
}

// withOrigin adds an allowed Origin to a raw request, so that a CORS header
// in the refusal would show.
func withOrigin(req string) string {
	return strings.Replace(req, "\r\n\r\n", "\r\nOrigin: http://allowed.example\r\n\r\n", 1)
}

// TestConnectionLimit: with client.connection_limit 3, the 4th to 6th
// uni_sse connects get Centrifugo's 503 (empty body, no CORS), the refused
// connection stays usable for another request, and once a stream ends a new
// connect gets through.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.ConnectionLimit = 3
	srv := enginetest.Start(t, opts)
	req := withOrigin(srv.StreamRequest(tokenFor(t, map[string]any{"sub": "u"})))

	var open []*enginetest.Stream
	for range 3 {
		st := enginetest.Dial(t, srv.Addr, req)
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		st.ExpectPrefix(t, `{"connect":`)
		open = append(open, st)
	}
	var refused []net.Conn
	for i := 3; i < 6; i++ {
		resp, c, err := connectOrRefusal(srv.Addr, req)
		if err != nil {
			t.Fatalf("connect %d: %v", i+1, err)
		}
		t.Cleanup(func() { c.Close() })
		expectRefused503(t, resp)
		refused = append(refused, c)
	}
	if n := srv.NumClients(); n != 3 {
		t.Fatalf("NumClients %d after refusals, want 3", n)
	}

	// The refusal keeps the connection alive, as net/http does: the API
	// endpoint answers on it (it is not limited).
	c := refused[0]
	if _, err := io.WriteString(c, srv.APIRequest("info", "{}")); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if resp, err := enginetest.ReadResponse(r); err != nil || resp.Status != 200 {
		t.Fatalf("API call on a refused connection: %d %v", resp.Status, err)
	}

	_ = open[0].Conn.Close()
	enginetest.Eventually(t, 5*time.Second, "server sees the close", func() bool { return srv.NumClients() == 2 })
	st := enginetest.Dial(t, srv.Addr, req)
	if err := st.Open(); err != nil {
		t.Fatalf("connect after a stream ended: %v", err)
	}
	st.ExpectPrefix(t, `{"connect":`)
	resp, c2, err := connectOrRefusal(srv.Addr, req)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	expectRefused503(t, resp)
}

// TestConnectionLimitFailedConnectsFreeSlots: connects that are refused
// after admission (bad token, bad request, wrong method) give their slot
// back, so they never eat into the limit.
func TestConnectionLimitFailedConnectsFreeSlots(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.ConnectionLimit = 1
	srv := enginetest.Start(t, opts)

	bad := []string{
		srv.StreamRequest(map[string]string{"token": "not-a-jwt"}),                     // 200 + disconnect 3500
		enginetest.GetRequest(opts.UniSSE.HandlerPrefix + "?cf_connect=%7Bnot-json"),   // 400
		"DELETE " + opts.UniSSE.HandlerPrefix + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", // 405
	}
	for range 3 {
		for _, req := range bad {
			resp, c, err := connectOrRefusal(srv.Addr, req)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if resp.Status == 503 {
				t.Fatalf("a failed connect kept its slot: %q for %q", resp.Head, req)
			}
		}
	}
	st := srv.Connect(t, tokenFor(t, map[string]any{"sub": "u"}))
	st.ExpectPrefix(t, `{"connect":`)

	// A refusal mapped to a plain HTTP response keeps the connection open:
	// the slot is given back all the same.
	opts.UniSSE.ConnectCodeToHTTPResponse.Enabled = true
	mapped := enginetest.Start(t, opts)
	for range 3 {
		resp, c, err := connectOrRefusal(mapped.Addr, mapped.StreamRequest(map[string]string{"token": "not-a-jwt"}))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if resp.Status == 503 || resp.Status == 200 {
			t.Fatalf("mapped refusal: %q", resp.Head)
		}
	}
	mapped.Connect(t, tokenFor(t, map[string]any{"sub": "u"})).ExpectPrefix(t, `{"connect":`)
}

// TestConnectionLimitExactAcrossLoops: connects racing on several event
// loops never together pass client.connection_limit: of 40 concurrent
// connects with limit 10, exactly 10 stream and 30 get 503.
func TestConnectionLimitExactAcrossLoops(t *testing.T) {
	t.Parallel()
	const limit, attempts = 10, 40
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.ConnectionLimit = limit
	opts.Own.EventLoops = 4
	srv := enginetest.Start(t, opts)
	req := srv.StreamRequest(tokenFor(t, map[string]any{"sub": "u"}))

	conns := make([]net.Conn, attempts)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	var ok, refused atomic.Int32
	enginetest.ForEach(t, attempts, 8, func(i int) error {
		resp, c, err := connectOrRefusal(srv.Addr, req)
		if err != nil {
			return err
		}
		conns[i] = c
		switch resp.Status {
		case 200:
			ok.Add(1)
		case 503:
			refused.Add(1)
		default:
			return fmt.Errorf("status %d", resp.Status)
		}
		return nil
	})
	if ok.Load() != limit || refused.Load() != attempts-limit {
		t.Fatalf("%d streams and %d refusals, want %d and %d", ok.Load(), refused.Load(), limit, attempts-limit)
	}
	if n := srv.NumClients(); n != limit {
		t.Fatalf("NumClients %d, want %d", n, limit)
	}
}

// TestConnectionRateLimit: client.connection_rate_limit N is Centrifugo's
// token bucket (burst N, one more connect per second): a burst over N gets
// 503, and connects are allowed again once time passes.
func TestConnectionRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 3
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.ConnectionRateLimit = burst
	srv := enginetest.Start(t, opts)
	req := withOrigin(srv.StreamRequest(tokenFor(t, map[string]any{"sub": "u"})))

	attempt := func() int {
		t.Helper()
		resp, c, err := connectOrRefusal(srv.Addr, req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if resp.Status == 503 {
			expectRefused503(t, resp)
		} else if resp.Status != 200 {
			t.Fatalf("status %d: %q", resp.Status, resp.Head)
		}
		return resp.Status
	}
	start := time.Now()
	ok, refused := 0, 0
	for range 2 * burst {
		if attempt() == 200 {
			ok++
		} else {
			refused++
		}
	}
	// The bucket starts full and gains one connect per second: a slow
	// machine may see a few more succeed, never fewer.
	elapsed := time.Since(start)
	if ok < burst || ok > burst+int(elapsed/time.Second)+1 || refused == 0 {
		t.Fatalf("burst of %d in %v: %d streams, %d refused; want %d streams (one more per second elapsed) and the rest refused",
			2*burst, elapsed, ok, refused, burst)
	}
	// A second later the bucket has a token again.
	if !enginetest.Poll(5*time.Second, func() bool {
		time.Sleep(50 * time.Millisecond) // pace the polling: each try is a real connect
		return attempt() == 200
	}) {
		t.Fatal("no connect allowed within 5s after the burst")
	}
}
