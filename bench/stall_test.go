//go:build stallbench

package bench

// The stalled-reader scenario of issue 7, against a real server process (so
// that its RSS is the server's alone):
//
//	make build && go test -tags stallbench -run TestStalledReaders -v -timeout 5m ./bench/
//
// UNISSE_BIN overrides the server binary (default ../bin/unisse). The
// server runs with bench/config.json on a free loopback port and its
// defaults otherwise (write_stall_timeout 5s, queue_max_size 1 MiB).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

const (
	stallHealthy = 1000
	stallReaders = 20
	stallRate    = 50 // publications per second
	stallSize    = 1024
)

// TestStalledReaders: 1,000 healthy subscribers get 50 publications of 1 KB
// a second; 20 more subscribers (receive buffer 4 KB, MSS 1460) never read.
// It reports the time from their connect (the start of their backlog) to
// each 3008, what a stalled client reads once it reads again (it must end
// with the 3008 push and the terminating chunk), and the server's VmRSS
// before the stalled readers, at its peak while they were connected, and
// 10 s after they are gone (within 10 MB of before). Every healthy
// subscriber must stay connected.
func TestStalledReaders(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(enginetest.FreePort(t))
	srv, base := startServer(t, addr, nil)
	u, _ := url.Parse(base + "/connection/uni_sse")
	req, err := connectRequest(u, "bench-secret", "bench", time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Healthy subscribers read everything.
	var healthyBytes atomic.Int64
	var healthyEnded atomic.Int32
	for range stallHealthy {
		c := stallDial(t, addr, req, 0)
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				healthyBytes.Add(int64(n))
				if err != nil {
					healthyEnded.Add(1)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var pubDone sync.WaitGroup
	pubDone.Add(1)
	go func() { defer pubDone.Done(); stallPublish(t, base, stop) }()
	t.Cleanup(func() { close(stop); pubDone.Wait() })

	time.Sleep(3 * time.Second)
	before := vmRSS(t, srv.Process.Pid)

	// The stalled readers: connect, then never read.
	start := time.Now()
	stalled := make([]net.Conn, stallReaders)
	for i := range stalled {
		stalled[i] = stallDial(t, addr, req, 4096)
	}
	var at []time.Duration
	peak := before
	for len(at) < stallReaders && time.Since(start) < 60*time.Second {
		time.Sleep(50 * time.Millisecond)
		peak = max(peak, vmRSS(t, srv.Process.Pid))
		for n := stallMetric(t, base, `centrifugo_client_num_server_disconnects{code="3008"}`); len(at) < n; {
			at = append(at, time.Since(start))
		}
	}
	if len(at) < stallReaders {
		t.Fatalf("%d of %d stalled readers disconnected with 3008 after 60s", len(at), stallReaders)
	}
	t.Logf("3008 after (from their connect): first %v, last %v", at[0].Round(time.Millisecond), at[len(at)-1].Round(time.Millisecond))

	push := []byte("data: {\"disconnect\":{\"code\":3008,\"reason\":\"slow\"}}\n\n\r\n0\r\n\r\n")
	var minRead, maxRead int
	for i, c := range stalled {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || !bytes.HasSuffix(b, push) {
			t.Errorf("stalled reader %d: read %d bytes ending %q, %v; want the 3008 push and the terminator, then EOF", i, len(b), b[max(0, len(b)-80):], err)
		}
		if i == 0 || len(b) < minRead {
			minRead = len(b)
		}
		maxRead = max(maxRead, len(b))
		c.Close()
	}
	t.Logf("a stalled reader read %d–%d bytes (%d–%d publications) before the end of its stream", minRead, maxRead, minRead/(stallSize+100), maxRead/(stallSize+100))

	time.Sleep(10 * time.Second)
	after := vmRSS(t, srv.Process.Pid)
	t.Logf("server VmRSS: %d KiB before the stalled readers, %d KiB at most while they were connected, %d KiB 10 s after they were gone", before>>10, peak>>10, after>>10)
	if after > before+10<<20 {
		t.Errorf("RSS 10 s after: %d KiB, more than 10 MB over %d KiB before", after>>10, before>>10)
	}
	if n := healthyEnded.Load(); n != 0 {
		t.Errorf("%d healthy subscribers were disconnected", n)
	}
	t.Logf("healthy subscribers read %d MB in all", healthyBytes.Load()>>20)
}

// startServer runs the server binary (UNISSE_BIN, default ../bin/unisse) on
// addr with bench/config.json, edited by edit, and waits until it is healthy.
func startServer(t *testing.T, addr string, edit func(map[string]any)) (*exec.Cmd, string) {
	t.Helper()
	bin := os.Getenv("UNISSE_BIN")
	if bin == "" {
		bin = "../bin/unisse"
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	srv := exec.Command(bin, "-c", stallConfig(t, host, p, edit))
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatalf("start %s: %v (make build first)", bin, err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _, _ = srv.Process.Wait() })
	base := "http://" + addr
	if !enginetest.Poll(10*time.Second, func() bool {
		r, err := http.Get(base + "/health")
		if err == nil {
			r.Body.Close()
		}
		return err == nil && r.StatusCode == 200
	}) {
		t.Fatal("server not healthy")
	}
	return srv, base
}

func stallConfig(t *testing.T, host string, port int, edit func(map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile("config.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["http_server"] = map[string]any{"address": host, "port": port}
	if edit != nil {
		edit(cfg)
	}
	out, _ := json.Marshal(cfg)
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// stallDial connects (with a receive buffer of rcvbuf bytes and MSS 1460
// when rcvbuf > 0, set before connecting so the window is small from the
// start) and sends the connect request.
func stallDial(t *testing.T, addr string, req []byte, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf == 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			if serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 1460)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	return c
}

// stallPublish publishes stallSize-byte publications to channel bench at
// stallRate a second until stop.
func stallPublish(t *testing.T, base string, stop chan struct{}) {
	pad := strings.Repeat("x", stallSize-40)
	tick := time.NewTicker(time.Second / stallRate)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if !publishTo(t, base, fmt.Sprintf(`{"channel":"bench","data":{"n":%d,"pad":%q}}`, n, pad)) {
			return
		}
	}
}

// publishTo posts one /api/publish body to the harness server and reports
// whether it went through (failing the test otherwise).
func publishTo(t *testing.T, base, body string) bool {
	r, _ := http.NewRequest("POST", base+"/api/publish", strings.NewReader(body))
	r.Header.Set("X-API-Key", "bench-api-key")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Errorf("publish: %v", err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

func vmRSS(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func stallMetric(t *testing.T, base, name string) int {
	r, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(rest, 64)
			return int(f)
		}
	}
	return 0
}
