package engine_test

// Input a client sends faster or larger than it should: requests pipelined
// without reading the answers, huge bodies before authorization, a huge body
// that is authorized, and a large reply to a client that reads slowly before
// the server closes. Memory is measured as the peak of the test process'
// HeapInuse (the server runs in it; gnet's buffers are Go heap) while the
// attack runs, over a baseline taken after a GC. These tests are not
// parallel, so no other test's server allocates meanwhile.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/enginetest"
)

// heapPeak samples HeapInuse until stop is called and returns the peak
// growth over the baseline at start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	peak := base
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - base
	}
}

// cpuTime is the process' user+system CPU time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// floodWithoutReading writes n copies of req on one connection, never reading
// the answers, until done or the server closes it.
func floodWithoutReading(t *testing.T, addr, req string, n int) {
	t.Helper()
	c := rbDial(t, addr)
	batch := []byte(strings.Repeat(req, 1000))
	c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < n; i += 1000 {
		if _, err := c.Write(batch); err != nil {
			return // closed by the server: the point
		}
	}
}

// TestInputPipelinedFloodBounded: a client pipelining requests without
// reading costs at most a few unsent responses and one head's worth of input;
// a client that pipelines and reads gets every response, in order.
func TestInputPipelinedFloodBounded(t *testing.T) {
	engine.ExcuseLongSteps(t, "a read full of pipelined requests is served in one step")
	srv := rbStart(t, nil)
	for _, tc := range []struct {
		path string
		n    int
	}{{"/health", 600_000}, {"/nope", 600_000}, {"/metrics", 20_000}} {
		stop := heapPeak()
		floodWithoutReading(t, srv.Addr, "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n", tc.n)
		// /metrics is answered off the loop, one after the other: a server
		// that kept serving would still be growing after the writes. Not a
		// wait for a condition but the window measured.
		time.Sleep(time.Second)
		grew := stop()
		t.Logf("%d × %s without reading: heap grew %.1f MiB", tc.n, tc.path, float64(grew)/(1<<20))
		// Before the pause, 600k /health replies grew the process by 108 MB.
		if grew > 24<<20 {
			t.Errorf("%s flood: heap grew %d MiB, want under 24", tc.path, grew>>20)
		}
	}

	// A client that reads while it pipelines is paused and resumed, never
	// closed, and gets every answer in order.
	c := rbDial(t, srv.Addr)
	const n = 20_000
	go func() {
		var b strings.Builder
		for i := range n {
			if i%2 == 0 {
				b.WriteString("GET /health HTTP/1.1\r\nHost: a\r\n\r\n")
			} else {
				b.WriteString("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n")
			}
		}
		c.SetWriteDeadline(time.Now().Add(rbTimeout))
		io.WriteString(c, b.String())
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for i := range n {
		res, err := enginetest.ReadResponse(r)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if want := []int{200, 404}[i%2]; res.Status != want {
			t.Fatalf("response %d: status %d, want %d", i, res.Status, want)
		}
	}
}

// TestInputBodyBeforeAuth: a 16 MiB body to the API without a key, or to a
// path nothing serves, is answered (401, 404) from the head and never read.
func TestInputBodyBeforeAuth(t *testing.T) {
	engine.ExcuseLongSteps(t, "a 16 MiB body is handled in one step")
	srv := rbStart(t, nil)
	body := []byte(strings.Repeat("x", 16<<20)) // one copy, shared by the clients
	for _, tc := range []struct {
		path   string
		status int
	}{{srv.Opts.HTTPAPI.HandlerPrefix + "/publish", 401}, {"/nope", 404}} {
		stop := heapPeak()
		var wg sync.WaitGroup
		for range 10 {
			c := rbDial(t, srv.Addr)
			wg.Add(2)
			go func() {
				defer wg.Done()
				c.SetWriteDeadline(time.Now().Add(rbTimeout))
				fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", tc.path, len(body))
				c.Write(body) // cut short by the server's close
			}()
			go func() {
				defer wg.Done()
				c.SetReadDeadline(time.Now().Add(rbTimeout))
				res, err := enginetest.ReadResponse(bufio.NewReader(c))
				if err != nil {
					t.Errorf("%s: %v", tc.path, err)
					return
				}
				if res.Status != tc.status {
					t.Errorf("%s: status %d, want %d", tc.path, res.Status, tc.status)
				}
				if v, _ := res.Header("Connection"); v != "close" {
					t.Errorf("%s: Connection %q, want close (the body is never read)", tc.path, v)
				}
			}()
		}
		wg.Wait()
		grew := stop()
		t.Logf("10 × 16 MiB to %s: heap grew %.1f MiB", tc.path, float64(grew)/(1<<20))
		// Before, the bodies were buffered: +517 MB (API), +131 MB (404).
		if grew > 24<<20 {
			t.Errorf("%s: heap grew %d MiB, want under 24", tc.path, grew>>20)
		}
	}
	if got := srv.Call(t, "info", `{}`); !strings.Contains(got, `"result"`) {
		t.Fatalf("server unwell after the flood: %s", got)
	}
}

// TestInputLargeBodyLinear: an authorized 16 MiB body is read in time linear
// in its size. Copying everything buffered on every read, as before, cost
// 3.5 s of CPU for this body. The body is not JSON, so that decoding (which
// the race detector slows down) stops at its first byte and the CPU time is
// the reading.
func TestInputLargeBodyLinear(t *testing.T) {
	srv := rbStart(t, nil)
	req := srv.APIRequest("publish", strings.Repeat("y", 16<<20))
	c := rbDial(t, srv.Addr)
	before := cpuTime(t)
	go func() {
		c.SetWriteDeadline(time.Now().Add(rbTimeout))
		// Small writes: many reads on the server's side.
		for s := req; len(s) > 0; {
			n := min(len(s), 16<<10)
			if _, err := io.WriteString(c, s[:n]); err != nil {
				return
			}
			s = s[n:]
		}
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := enginetest.ReadResponse(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	cpu := cpuTime(t) - before
	t.Logf("16 MiB body: status %d, %s CPU (test process, client included)", res.Status, cpu)
	if res.Status != 400 {
		t.Fatalf("got %d %q", res.Status, res.Body)
	}
	if cpu > time.Second {
		t.Fatalf("a 16 MiB body cost %s of CPU", cpu)
	}
}

// TestInputCloseDeliversWhole: a multi-megabyte API reply with
// Connection: close to a client with a small receive buffer arrives whole
// before the close (Close right after Write used to drop what gnet had not
// written yet).
func TestInputCloseDeliversWhole(t *testing.T) {
	engine.ExcuseLongSteps(t, "a connect listing 200000 channels is decoded in one step")
	srv := rbStart(t, nil)
	var chans strings.Builder
	const n = 200_000
	for i := range n {
		if i > 0 {
			chans.WriteByte(',')
		}
		chans.WriteString(`"nope:` + strconv.Itoa(i) + `"`)
	}
	req := srv.APIRequest("broadcast", `{"channels":[`+chans.String()+`],"data":{}}`)
	req = strings.Replace(req, "Host: 127.0.0.1\r\n", "Host: 127.0.0.1\r\nConnection: close\r\n", 1)
	d := net.Dialer{Timeout: rbTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.SetWriteDeadline(time.Now().Add(rbTimeout))
		io.WriteString(c, req)
	}()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReaderSize(c, 4096)
	_, status, err := enginetest.ReadHead(r)
	if err != nil || status != 200 {
		t.Fatalf("head: status %d, %v", status, err)
	}
	got, err := io.ReadAll(r) // to EOF: the close
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	want := strings.Repeat(`{"error":{"code":102,"message":"unknown channel"}},`, n)
	want = `{"result":{"responses":[` + want[:len(want)-1] + `]}}`
	if len(got) != len(want) || string(got) != want {
		t.Fatalf("got %d body bytes, want %d", len(got), len(want))
	}
}
