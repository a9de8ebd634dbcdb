package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of every wait in the harness.
const (
	// StartTimeout bounds a process's start until /health answers 200.
	StartTimeout = 20 * time.Second
	// StopTimeout bounds a graceful stop before the process is killed.
	StopTimeout = 15 * time.Second
)

// Process is one server process (unisse or Centrifugo) started from a
// binary with its own JSON config file.
type Process struct {
	Name string
	Bin  string
	// Config is what was written to the config file; Port its http_server.port.
	Config map[string]any
	Port   int
	dir    string
	log    string // path of its combined stdout and stderr
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

// Addr is the process's client (and API) address.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Log returns what the process printed so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// Exited reports whether the process has ended, and its Wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.exited:
		return true, p.err
	default:
		return false, nil
	}
}

// Launch writes cfg to a file in a fresh temp dir and starts bin -c file. It
// does not wait for the process to serve (see WaitHealthy); t's cleanup
// stops it.
func Launch(t testing.TB, name, bin string, cfg map[string]any) *Process {
	t.Helper()
	p, err := launch(t.TempDir(), name, bin, cfg)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { p.Stop(t) })
	return p
}

func launch(dir, name, bin string, cfg map[string]any) (*Process, error) {
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	p := &Process{Name: name, Bin: bin, Config: cfg, dir: dir, log: filepath.Join(dir, name+".log"), exited: make(chan struct{})}
	p.Port, _ = portOf(cfg)
	out, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "-c", path)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Its own process group, so that a stop reaches nothing else.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		_ = out.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = out.Close()
		close(p.exited)
	}()
	return p, nil
}

func portOf(cfg map[string]any) (int, bool) {
	hs, _ := cfg["http_server"].(map[string]any)
	switch v := hs["port"].(type) {
	case int:
		return v, true
	case float64:
		return int(v), true
	}
	return 0, false
}

// Start launches a process and waits until its /health answers 200.
func Start(t testing.TB, name, bin string, cfg map[string]any) *Process {
	t.Helper()
	p := Launch(t, name, bin, cfg)
	p.WaitHealthy(t, StartTimeout)
	return p
}

// WaitHealthy polls /health until it answers 200, failing t if the process
// exits first or the deadline passes.
func (p *Process) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if done, err := p.Exited(); done {
			t.Fatalf("%s exited before serving (%v); its output:\n%s", p.Name, err, p.Log())
		}
		if code, _ := p.Health(); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /health not 200 within %s; its output:\n%s", p.Name, timeout, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var quick = &http.Client{Timeout: 2 * time.Second}

// Health returns the status of GET /health (0 when it does not answer).
func (p *Process) Health() (int, error) {
	resp, err := quick.Get("http://" + p.Addr() + "/health")
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// WaitExit waits for the process to end by itself and returns its Wait
// error, failing t after timeout.
func (p *Process) WaitExit(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s still running after %s; its output:\n%s", p.Name, timeout, p.Log())
		return nil
	}
}

// Stop ends the process gracefully (SIGTERM), killing it after
// StopTimeout. Safe to call more than once.
func (p *Process) Stop(t testing.TB) {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(StopTimeout):
		t.Errorf("%s ignored SIGTERM for %s; killing it", p.Name, StopTimeout)
		p.Kill()
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}

func (p *Process) signal(s syscall.Signal) {
	if done, _ := p.Exited(); done {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, s)
}

// FreePort returns a loopback port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Redis is a redis-server process on a loopback port, without persistence.
type Redis struct {
	Port int
	bin  string
	dir  string
	mu   sync.Mutex
	proc *Process
}

// StartRedis starts redis-server (REDIS_SERVER or redis-server on PATH) on
// a free port and waits until it answers PING. Without a redis-server the
// test fails under CI (the multi-node tests must run there) and is skipped,
// loudly, elsewhere.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := os.Getenv("REDIS_SERVER")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("redis-server not found (CI): install it (apt-get install redis-server) or set REDIS_SERVER")
			}
			t.Skip("SKIPPED: redis-server not found: the multi-node tests did not run; install it (apt-get install redis-server) or set REDIS_SERVER")
		}
	}
	r := &Redis{Port: FreePort(t), bin: bin, dir: t.TempDir()}
	r.Restart(t)
	t.Cleanup(r.Kill)
	return r
}

// Addr is host:port; URL is the redis:// address for configs.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }
func (r *Redis) URL() string  { return "redis://" + r.Addr() }

// Kill ends redis-server with SIGKILL (no shutdown, no save) and waits.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		r.proc.Kill()
		r.proc = nil
	}
}

// Restart starts redis-server on the same port (after Kill, empty: no
// persistence) and waits until it answers PING.
func (r *Redis) Restart(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil {
		t.Fatal("redis-server is running; Kill it first")
	}
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no")
	p := &Process{Name: "redis", Bin: r.bin, Port: r.Port, dir: r.dir, log: filepath.Join(r.dir, "redis.log"), exited: make(chan struct{}), cmd: cmd}
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); _ = out.Close(); close(p.exited) }()
	r.proc = p
	deadline := time.Now().Add(StartTimeout)
	for !r.pingOK() {
		if done, err := p.Exited(); done {
			t.Fatalf("redis-server exited (%v):\n%s", err, p.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server not answering PING within %s:\n%s", StartTimeout, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Do sends one inline command and returns the first line of the reply.
func (r *Redis) Do(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
	return string(line), nil
}

func (r *Redis) pingOK() bool {
	s, err := r.Do("PING")
	return err == nil && s == "+PONG"
}

// TimeWaitOn reports whether /proc/net/tcp lists a TIME_WAIT socket whose
// local address is 127.0.0.1:port.
func TimeWaitOn(port int) (bool, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	local := fmt.Sprintf("0100007F:%04X", port) // little-endian 127.0.0.1, hex port
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && f[1] == local && f[3] == "06" { // 06: TCP_TIME_WAIT
			return true, nil
		}
	}
	return false, nil
}

// errNoBinary says a binary the tests need is missing.
var errNoBinary = errors.New("binary not found")

// BinaryFromEnv returns the path in env variable name, or fallback when it
// exists, else errNoBinary.
func BinaryFromEnv(name, fallback string) (string, error) {
	if p := os.Getenv(name); p != "" {
		return p, nil
	}
	if abs, err := filepath.Abs(fallback); err == nil {
		if _, err := os.Stat(abs); err == nil {
			return abs, nil
		}
	}
	return "", fmt.Errorf("%s (set %s or build %s): %w", fallback, name, fallback, errNoBinary)
}
