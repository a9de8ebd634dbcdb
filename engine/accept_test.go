package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/enginetest"
)

// fdChildEnv makes the test binary run TestAcceptSurvivesDescriptorExhaustion's
// server half: a low RLIMIT_NOFILE must not limit the parent test process.
const fdChildEnv = "UNISSE_TEST_FD_EXHAUSTION_CHILD"

// TestAcceptSurvivesDescriptorExhaustion runs a server in a child process
// whose descriptor limit leaves room for about 16 connections, opens 80 idle
// ones, then closes them: the server keeps serving (before the fix gnet's loop
// ended on EMFILE and the port refused connections for good), sheds what it
// could not accept, and logs the failures at most once a second.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		runDescriptorLimitedServer(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptSurvivesDescriptorExhaustion$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var mu sync.Mutex
	var lines []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close() // the child stops its server and exits
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		mu.Lock()
		t.Logf("child output (shown with -v or on failure):\n%s", strings.Join(lines, "\n"))
		mu.Unlock()
	})
	find := func(substr string) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range lines {
			if strings.Contains(l, substr) {
				n++
			}
		}
		return n, n > 0
	}
	addrLine := func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if a, ok := strings.CutPrefix(l, "ADDR="); ok {
				return a
			}
		}
		return ""
	}
	enginetest.Eventually(t, 30*time.Second, "the child server's address", func() bool { return addrLine() != "" })
	srv := &enginetest.Server{Opts: enginetest.LoadCaptureConfig(t, "config.json"), Addr: addrLine()}
	srv.InternalAddr = srv.Addr

	// More idle connections than the limit allows. Connects succeed whether
	// or not the server accepts: the kernel completes them in the backlog.
	start := time.Now()
	conns := make([]net.Conn, 0, 80)
	for range 80 {
		c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	const failed = "accept failed"
	enginetest.Eventually(t, 15*time.Second, "the server to report accept failures", func() bool { _, ok := find(failed); return ok })
	for _, c := range conns {
		c.Close()
	}

	// Serving again: /health and a stream.
	expectServing := func() {
		t.Helper()
		enginetest.Eventually(t, 15*time.Second, "/health to answer 200", func() bool {
			status, _ := getOnce(srv.Addr, "/health")
			return status == 200
		})
		token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u1", "channels": []string{"news"}})
		st, err := srv.ConnectE(map[string]string{"token": token})
		if err != nil {
			t.Fatalf("uni_sse connect after the descriptors came back: %v", err)
		}
		defer st.Conn.Close()
		if ev, err := st.Event(enginetest.IOTimeout); err != nil || !strings.Contains(ev, `"connect"`) {
			t.Fatalf("first event = %q, %v; want the connect push", ev, err)
		}
	}
	expectServing()

	// Every descriptor taken (the child fills the table): accept itself
	// fails, and the reserve descriptor lets the server answer 503 instead
	// of leaving clients in the backlog.
	command := func(cmd, reply string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
		enginetest.Eventually(t, 10*time.Second, "the child to answer "+reply, func() bool { _, ok := find(reply); return ok })
	}
	command("fill", "FILLED")
	for i := range 3 {
		if status, _ := getOnce(srv.Addr, "/health"); status != 503 {
			t.Errorf("request %d with no descriptor left: status %d, want 503", i, status)
		}
	}
	command("release", "RELEASED")
	expectServing()

	// Both kinds of refusal are counted.
	_, metrics := getOnce(srv.Addr, "/metrics")
	if v := metricValue(metrics, "unisse_tcp_connections_shed_total"); v < 4 {
		t.Errorf("unisse_tcp_connections_shed_total = %v, want >= 4", v)
	}
	if v := metricValue(metrics, "unisse_tcp_accept_errors_total"); v < 4 {
		t.Errorf("unisse_tcp_accept_errors_total = %v, want >= 4", v)
	}
	// At most one line a second (plus the first), however many failures.
	n, _ := find(failed)
	if limit := 1 + int(time.Since(start)/time.Second); n > limit {
		t.Errorf("%d accept failure lines in %s; want at most %d", n, time.Since(start).Round(time.Millisecond), limit)
	}
}

// runDescriptorLimitedServer is the child of TestAcceptSurvivesDescriptorExhaustion.
func runDescriptorLimitedServer(t *testing.T) {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.EventLoops = 2
	srv := enginetest.Start(t, opts, engine.WithLogger(slog.New(slog.NewTextHandler(os.Stdout, nil))))
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR=%s\n", srv.Addr)
	// Commands from the parent, one a line, until it closes stdin.
	var filler []int
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "fill":
			// Take every free descriptor, and keep taking those the server
			// frees as it finishes closing the parent's connections, until
			// none has come free for a while.
			quiet := time.Now()
			for time.Since(quiet) < 300*time.Millisecond {
				for {
					fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
					if err != nil {
						break
					}
					filler = append(filler, fd)
					quiet = time.Now()
				}
				time.Sleep(5 * time.Millisecond)
			}
			fmt.Printf("FILLED %d\n", len(filler))
		case "release":
			for _, fd := range filler {
				syscall.Close(fd)
			}
			filler = nil
			fmt.Println("RELEASED")
		}
	}
	select {
	case err := <-srv.Done():
		t.Errorf("engine stopped by itself: %v", err)
	default:
	}
}

// getOnce sends one GET and returns the status and body (0 on any failure).
func getOnce(addr, path string) (int, string) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, enginetest.GetRequest(path)); err != nil {
		return 0, ""
	}
	r, err := enginetest.ReadResponse(bufio.NewReader(c))
	if err != nil {
		return 0, ""
	}
	return r.Status, r.Body
}

// metricValue is the value of a Prometheus text line for name, or -1.
func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestBusyPortFailsStart: a second server on a port in use fails Start
// instead of sharing the port's connections with the first (SO_REUSEPORT).
func TestBusyPortFailsStart(t *testing.T) {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	first := enginetest.Start(t, opts)
	opts.HTTPServer.Address = "127.0.0.1"
	opts.HTTPServer.Port = first.Opts.HTTPServer.Port
	second, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = second.Stop(ctx)
		t.Fatal("second server started on a busy port")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start error = %v; want address already in use", err)
	}
	// The first server still has the port to itself.
	if status, _ := getOnce(first.Addr, "/health"); status != 200 {
		t.Errorf("first server /health = %d after the failed start", status)
	}
}

// TestBusyInternalPortFailsStart: the same for the internal port, and the
// external port bound before it is released (a retry can bind it).
func TestBusyInternalPortFailsStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.HTTPServer.Address = "127.0.0.1"
	opts.HTTPServer.Port = enginetest.FreePort(t)
	opts.HTTPServer.InternalPort = strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	srv, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err == nil {
		t.Fatal("started with a busy internal port")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.HTTPServer.Port)))
	if err != nil {
		t.Fatalf("external port still held after the failed start: %v", err)
	}
	ln.Close()
}
