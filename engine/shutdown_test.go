package engine_test

// Restart and reconnect storms: a graceful stop spreads its 3001 disconnects
// over unisse.shutdown_spread, and with unisse.sse_retry_* every stream tells
// its EventSource a reconnection delay of its own.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

const shutdownPush = `{"disconnect":{"code":3001,"reason":"shutdown"}}`

// TestShutdownSpreadsDisconnects stops a server with 200 streams and a 3 s
// spread window (the pace floor lowered so that 200 streams use all of it):
// every stream gets the 3001 push and the end of its body; at most a quarter
// of them get it in the first tenth of the window (spreading ends about a
// tenth of them by then) and the last one no sooner than half the window
// after Stop began — bounds that the spreading guarantees whatever the
// machine's load, since load only delays disconnects. A connect during the
// stop is refused with 3001, and Stop returns without reaching its deadline.
func TestShutdownSpreadsDisconnects(t *testing.T) {
	t.Parallel()
	const n, window = 200, 3 * time.Second
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.ShutdownSpread = window
	opts.Own.EventLoops = 2
	srv := enginetest.Start(t, opts, engine.WithShutdownMinRate(1))
	token := rbToken(t, "spread", "spread")
	streams := srv.ConnectMany(t, n, 8, func(int) any { return map[string]any{"token": token} })
	enginetest.Eventually(t, rbTimeout, "200 clients", func() bool { return srv.NumClients() == n })

	arrived := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var first sync.Once
	firstArrived := make(chan struct{})
	start := time.Now()
	for i, st := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev, err := st.EventSkipPings(2 * window)
			arrived[i] = time.Since(start)
			first.Do(func() { close(firstArrived) })
			if err != nil || ev != shutdownPush {
				errs[i] = fmt.Errorf("want the shutdown push, got %q %v", ev, err)
				return
			}
			if ev, err := st.Event(rbTimeout); err != io.EOF {
				errs[i] = fmt.Errorf("after the shutdown push: %q %v, want the end of the body", ev, err)
			}
		}()
	}
	// A connection accepted before the stop that asks for a stream during it.
	pre, err := net.DialTimeout("tcp", srv.Addr, rbTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer pre.Close()
	preR := bufio.NewReader(pre)
	// A keep-alive /health round trip proves the server accepted it.
	if _, err := io.WriteString(pre, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := enginetest.ReadResponse(preR); err != nil || resp.Status != 200 {
		t.Fatalf("/health before the stop: %v %v", resp, err)
	}
	stopped := make(chan error, 1)
	var stopTook time.Duration
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := srv.Stop(ctx)
		stopTook = time.Since(start)
		stopped <- err
	}()

	// While the spread runs, the listener is closed: a new client is refused
	// at once (a load balancer sends it elsewhere), and one already accepted
	// that asks for a stream is turned away with 3001.
	<-firstArrived
	if c, err := net.DialTimeout("tcp", srv.Addr, rbTimeout); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted during the stop")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial during the stop: %v, want connection refused", err)
	}
	if _, err := io.WriteString(pre, srv.StreamRequest(map[string]any{"token": token})); err != nil {
		t.Fatal(err)
	}
	late := &enginetest.Stream{Conn: pre, R: preR}
	if err := late.Open(); err != nil {
		t.Fatalf("connect during the stop: %v", err)
	}
	if ev, err := late.Event(rbTimeout); err != nil || ev != shutdownPush {
		t.Errorf("connect during the stop: %q %v, want the shutdown push", ev, err)
	}
	if ev, err := late.Event(rbTimeout); err != io.EOF {
		t.Errorf("connect during the stop, after the push: %q %v, want the end of the body", ev, err)
	}

	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v (after %v)", err, stopTook)
	}
	slices.Sort(arrived)
	early := 0
	for _, d := range arrived {
		if d < window/10 {
			early++
		}
	}
	t.Logf("%d streams: first push after %v, median %v, last %v; %d in the first tenth; Stop took %v",
		n, arrived[0], arrived[n/2], arrived[n-1], early, stopTook)
	if early > n/4 {
		t.Errorf("%d of %d disconnects in the first %v of a %v window: not spread", early, n, window/10, window)
	}
	if last := arrived[n-1]; last < window/2 {
		t.Errorf("last disconnect after %v, before half the %v window: not spread", last, window)
	}
}

// TestShutdownSpreadBoundedByTimeout: a spread window longer than the stop's
// deadline allows is cut to half of it, so every stream still gets its 3001
// and Stop returns without the deadline passing.
func TestShutdownSpreadBoundedByTimeout(t *testing.T) {
	t.Parallel()
	const n = 20
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.ShutdownSpread = time.Hour
	srv := enginetest.Start(t, opts, engine.WithShutdownMinRate(1))
	token := rbToken(t, "bounded", "bounded")
	streams := srv.ConnectMany(t, n, 4, func(int) any { return map[string]any{"token": token} })

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop with a 1 h spread and a 4 s deadline: %v", err)
	}
	for i, st := range streams {
		if ev, err := st.EventSkipPings(rbTimeout); err != nil || ev != shutdownPush {
			t.Fatalf("stream %d: %q %v, want the shutdown push", i, ev, err)
		}
		if ev, err := st.Event(rbTimeout); err != io.EOF {
			t.Fatalf("stream %d after the push: %q %v, want the end of the body", i, ev, err)
		}
	}
}

// retryStream opens a stream with raw reads, over HTTP/1.1 (chunked) or
// HTTP/1.0, and returns what precedes the connect push and the push itself.
func retryStream(t *testing.T, srv *enginetest.Server, token string, http10 bool) (before, push string) {
	t.Helper()
	req := srv.StreamRequest(map[string]any{"token": token})
	if http10 {
		req = strings.Replace(req, "HTTP/1.1", "HTTP/1.0", 1)
	}
	st := enginetest.Dial(t, srv.Addr, req)
	head := st.ReadHead(t)
	if !strings.HasPrefix(head, "HTTP/1.") || !strings.Contains(head, " 200 OK\r\n") {
		t.Fatalf("head %q", head)
	}
	if http10 {
		// No chunks: the body is the events themselves.
		st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
		var b strings.Builder
		for !strings.Contains(b.String(), "data: ") {
			line, err := st.R.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (got %q)", err, b.String())
			}
			b.WriteString(line)
		}
		body, ok := strings.CutPrefix(b.String(), "\r\n") // the primer, unchunked
		if !ok {
			t.Fatalf("HTTP/1.0 body %q does not start with the primer", b.String())
		}
		if end, err := st.R.ReadString('\n'); err != nil || end != "\n" {
			t.Fatalf("after the connect push: %q %v, want the empty line ending it", end, err)
		}
		i := strings.Index(body, "data: ")
		return body[:i], body[i:] + "\n"
	}
	if p, ok := st.ReadChunk(t, rbTimeout); p != "\r\n" || !ok {
		t.Fatalf("first chunk %q, want the primer", p)
	}
	for {
		p, ok := st.ReadChunk(t, rbTimeout)
		if !ok {
			t.Fatalf("stream ended before the connect push (got %q)", before)
		}
		if strings.HasPrefix(p, "data: ") {
			return before, p
		}
		before += p
	}
}

// TestSSERetryJitter: with unisse.sse_retry_min/max each stream starts with
// an event-less "retry: N" block, N in the range and different across
// connections; the connect push follows unchanged. Over HTTP/1.0 too.
func TestSSERetryJitter(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.SSERetryMin, opts.Own.SSERetryMax = 2*time.Second, 12*time.Second
	srv := enginetest.Start(t, opts)
	token := rbToken(t, "retry", "retry")
	const n = 20
	seen := map[int]bool{}
	for i := range n {
		before, push := retryStream(t, srv, token, i%4 == 3)
		ms, ok := strings.CutPrefix(before, "retry: ")
		ms, ok2 := strings.CutSuffix(ms, "\n\n")
		v, err := strconv.Atoi(ms)
		if !ok || !ok2 || err != nil {
			t.Fatalf("stream %d: before the connect push %q, want one \"retry: <ms>\\n\\n\" block", i, before)
		}
		if v < 2000 || v > 12000 {
			t.Errorf("stream %d: retry %d ms outside [2000, 12000]", i, v)
		}
		if !strings.HasPrefix(push, `data: {"connect":{"client":"`) || !strings.HasSuffix(push, "}}\n\n") {
			t.Errorf("stream %d: connect push %q", i, push)
		}
		seen[v] = true
	}
	// 20 draws from 10001 values: fewer than 10 distinct is (much) less
	// likely than one in 10^30.
	if len(seen) < n/2 {
		t.Errorf("%d distinct retry values in %d streams: %v; want them jittered", len(seen), n, seen)
	}
}

// TestSSERetryOffByDefault: without the keys nothing precedes the connect
// push (the conformance tests check the whole stream byte for byte).
func TestSSERetryOffByDefault(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	if opts.Own.SSERetryMax != 0 || config.Default().Own.SSERetryMax != 0 {
		t.Fatal("sse_retry_max is on by default")
	}
	srv := enginetest.Start(t, opts)
	token := rbToken(t, "noretry", "noretry")
	for _, http10 := range []bool{false, true} {
		if before, push := retryStream(t, srv, token, http10); before != "" || !strings.HasPrefix(push, `data: {"connect":`) {
			t.Errorf("HTTP/1.0 %v: %q before the connect push %.40q", http10, before, push)
		}
	}
}
