//go:build stallbench

package bench

// The mass-close scenario of issue 7, against a real server process:
//
//	make build && go test -tags stallbench -run TestMassClose -v -timeout 5m ./bench/
//
// MASSCLOSE_CONNS sets how many connections close at once (default 18000:
// with the 1,000 measured ones and the server's own descriptors that fits the
// usual 20,000-descriptor limit of this process and of the server);
// MASSCLOSE_PROFILE, a file name, takes a 3 s CPU profile of the server from
// the moment they close.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/enginetest"
)

const (
	massHealthy = 1000
	massRate    = 20 // publications per second to the measured subscribers
)

// TestMassClose: 1,000 subscribers of channel "bench" get massRate
// publications a second, each carrying its send time; MASSCLOSE_CONNS other
// streaming connections (subscribed to a quiet channel of their own, from
// source addresses 127.0.0.2–5) are then closed at once by this process. It
// reports the publish-to-receive latency (kernel receive time) of the measured subscribers for
// publications sent in the 3 s before the close, in the 3 s from the close,
// and after, and how long the server took to see every close.
func TestMassClose(t *testing.T) {
	mass := 18000
	if v, err := strconv.Atoi(os.Getenv("MASSCLOSE_CONNS")); err == nil {
		mass = v
	}
	addr := "127.0.0.1:" + strconv.Itoa(enginetest.FreePort(t))
	pprofAddr := "127.0.0.1:" + strconv.Itoa(enginetest.FreePort(t))
	_, base := startServer(t, addr, func(cfg map[string]any) {
		cfg["unisse"] = map[string]any{"pprof_address": pprofAddr}
	})
	u, _ := url.Parse(base + "/connection/uni_sse")
	req, err := connectRequest(u, "bench-secret", "bench", time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	quietReq, err := connectRequest(u, "bench-secret", "quiet", time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Window boundaries (unix ns of the send time): 0 before closeAt, 1 in
	// [closeAt, closeAt+3s), 2 after.
	var closeAt atomic.Int64
	closeAt.Store(1 << 62)
	type sample struct {
		window int
		lat    time.Duration
	}
	samples := make([][]sample, massHealthy)
	var wg sync.WaitGroup
	healthy := make([]net.Conn, massHealthy)
	for i := range massHealthy {
		c := stallDial(t, addr, req, 0)
		healthy[i] = c
		tr, err := newTSReader(c)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReaderSize(tr, 64<<10)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				j := bytes.Index(line, []byte(`"t":`))
				if j < 0 || !bytes.HasPrefix(line, []byte("data: ")) {
					continue
				}
				rest := line[j+4:]
				k := bytes.IndexAny(rest, ",}")
				sent, err := strconv.ParseInt(string(rest[:k]), 10, 64)
				if err != nil {
					continue
				}
				lat := time.Duration(tr.ts - sent)
				w := 0
				if at := closeAt.Load(); sent >= at+int64(3*time.Second) {
					w = 2
				} else if sent >= at {
					w = 1
				}
				samples[i] = append(samples[i], sample{w, lat})
			}
		}()
	}

	var calls [3][]time.Duration // publish call latency by window, for the publisher only
	stop := make(chan struct{})
	var pubDone sync.WaitGroup
	pubDone.Add(1)
	go func() {
		defer pubDone.Done()
		tick := time.NewTicker(time.Second / massRate)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			sent := time.Now()
			if !publishTo(t, base, fmt.Sprintf(`{"channel":"bench","data":{"t":%d,"pad":"%s"}}`, sent.UnixNano(), strings.Repeat("x", 64))) {
				return
			}
			w := 0
			if at := closeAt.Load(); sent.UnixNano() >= at+int64(3*time.Second) {
				w = 2
			} else if sent.UnixNano() >= at {
				w = 1
			}
			calls[w] = append(calls[w], time.Since(sent))
		}
	}()

	// The connections that will close: opened 64 at a time, each streaming
	// (connect push read) before the next phase.
	start := time.Now()
	conns := make([]net.Conn, mass)
	var next atomic.Int64
	var openWG sync.WaitGroup
	for range 64 {
		openWG.Add(1)
		go func() {
			defer openWG.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= mass {
					return
				}
				d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%4))}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				_, _ = c.Write(quietReq)
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 4096)
				got := 0
				for !bytes.Contains(buf[:got], []byte(`{"connect":`)) && got < len(buf) {
					n, err := c.Read(buf[got:])
					got += n
					if err != nil {
						t.Errorf("conn %d: %v", i, err)
						return
					}
				}
				conns[i] = c
			}
		}()
	}
	openWG.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d streaming connections opened in %v", mass, time.Since(start).Round(time.Millisecond))
	time.Sleep(4 * time.Second) // the baseline window

	var prof sync.WaitGroup
	if path := os.Getenv("MASSCLOSE_PROFILE"); path != "" {
		prof.Add(1)
		go func() {
			defer prof.Done()
			resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/profile?seconds=3")
			if err != nil {
				t.Errorf("profile: %v", err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			_ = os.WriteFile(path, b, 0o644)
		}()
		time.Sleep(50 * time.Millisecond)
	}
	closeAt.Store(time.Now().UnixNano())
	closing := time.Now()
	for _, c := range conns {
		c.Close()
	}
	closed := time.Since(closing)
	if !enginetest.Poll(30*time.Second, func() bool {
		return stallMetric(t, base, "centrifugo_node_num_clients") == massHealthy
	}) {
		t.Errorf("the server still counts %d connections", stallMetric(t, base, "centrifugo_node_num_clients"))
	}
	seen := time.Since(closing)
	time.Sleep(4 * time.Second)
	close(stop)
	pubDone.Wait()
	prof.Wait()
	time.Sleep(500 * time.Millisecond)
	if n := stallMetric(t, base, "centrifugo_node_num_clients"); n != massHealthy {
		t.Errorf("%d connections at the end, want the %d measured ones", n, massHealthy)
	}
	for _, c := range healthy {
		c.Close()
	}
	wg.Wait()
	t.Logf("closed %d connections in %v (this process); the server counted them all gone after %v", mass, closed.Round(time.Millisecond), seen.Round(time.Millisecond))

	var win [3][]time.Duration
	for _, ss := range samples {
		for _, s := range ss {
			win[s.window] = append(win[s.window], s.lat)
		}
	}
	for w, name := range []string{"before the close", "3 s from the close", "after"} {
		l := win[w]
		if len(l) == 0 {
			t.Errorf("no samples %s", name)
			continue
		}
		slices.Sort(l)
		q := func(p float64) time.Duration {
			return l[min(len(l)-1, int(p*float64(len(l))))].Round(10 * time.Microsecond)
		}
		t.Logf("latency %-20s p50 %v  p99 %v  p99.9 %v  max %v  (n=%d)", name, q(0.5), q(0.99), q(0.999), l[len(l)-1].Round(10*time.Microsecond), len(l))
		c := calls[w]
		slices.Sort(c)
		if len(c) > 0 {
			t.Logf("  publish call           p50 %v  p99 %v  max %v  (n=%d)", c[len(c)/2].Round(10*time.Microsecond), c[min(len(c)-1, len(c)*99/100)].Round(10*time.Microsecond), c[len(c)-1].Round(10*time.Microsecond), len(c))
		}
	}
}

// tsReader reads a connection with recvmsg(2) and keeps the kernel's receive
// time of the last data read (SO_TIMESTAMPNS), so that the latency is
// publish to arrival in the subscriber's socket: this process's own
// scheduling (it is closing thousands of sockets meanwhile) is not charged
// to the server.
type tsReader struct {
	rc  syscall.RawConn
	oob []byte
	ts  int64
}

func newTSReader(c net.Conn) (*tsReader, error) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return nil, err
	}
	return &tsReader{rc: rc, oob: make([]byte, 128)}, serr
}

func (r *tsReader) Read(p []byte) (int, error) {
	var n, oobn int
	var err error
	if rerr := r.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, err = unix.Recvmsg(int(fd), p, r.oob, 0)
		return err != unix.EAGAIN
	}); rerr != nil {
		return 0, rerr
	}
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	r.ts = time.Now().UnixNano()
	msgs, _ := unix.ParseSocketControlMessage(r.oob[:oobn])
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
			r.ts = (*unix.Timespec)(unsafe.Pointer(&m.Data[0])).Nano()
		}
	}
	return n, nil
}
