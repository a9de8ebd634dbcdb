package cluster

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestBusyPortProcessExits: a second unisse process on a port the first
// holds exits non-zero saying the address is in use, and the first keeps
// serving.
func TestBusyPortProcessExits(t *testing.T) {
	port := FreePort(t)
	first := Start(t, "first", unisseBin, NodeConfig("first", port, "", ""))
	second := Launch(t, "second", unisseBin, NodeConfig("second", port, "", ""))
	err := second.WaitExit(t, StartTimeout)
	if err == nil {
		t.Fatalf("second process exited 0 on a busy port; its output:\n%s", second.Log())
	}
	if out := second.Log(); !strings.Contains(out, "address already in use") {
		t.Errorf("second process output does not say the address is in use:\n%s", out)
	}
	if code, err := first.Health(); code != http.StatusOK {
		t.Errorf("first process /health = %d, %v after the second failed", code, err)
	}
}

// TestReusePortTwoProcesses: with unisse.reuse_port on both, two processes
// bind the same port and both serve it (each answers /health; the kernel
// spreads connections, so requests from fresh connections reach both, which
// their node names in /api/info show).
func TestReusePortTwoProcesses(t *testing.T) {
	port := FreePort(t)
	cfg := func(name string) map[string]any {
		c := NodeConfig(name, port, "", "")
		c["unisse"].(map[string]any)["reuse_port"] = true
		return c
	}
	a := Start(t, "a", unisseBin, cfg("a"))
	b := Start(t, "b", unisseBin, cfg("b"))
	seen := map[string]bool{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		name, err := nodeName(a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		seen[name] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("nodes answering on the shared port: %v; want a and b", seen)
	}
	if done, err := b.Exited(); done {
		t.Errorf("b exited: %v\n%s", err, b.Log())
	}
}

// TestRestartBindsDuringTimeWait: a unisse process stopped while a stream is
// open closes it first (3001, the end of the stream, FIN), so the server's
// side of that connection sits in TIME_WAIT; a new process on the same port
// starts at once. The stream is read on a raw socket to its EOF before the
// client closes, so that the server's FIN is the first.
func TestRestartBindsDuringTimeWait(t *testing.T) {
	port := FreePort(t)
	first := Start(t, "first", unisseBin, NodeConfig("first", port, "", ""))
	c, err := net.Dial("tcp", first.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect := url.QueryEscape(`{"token":"` + Token(t, "u1", "news") + `"}`)
	if _, err := fmt.Fprintf(c, "GET /connection/uni_sse?cf_connect=%s HTTP/1.1\r\nHost: x\r\n\r\n", connect); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := r.ReadString('\n'); err != nil || !strings.Contains(line, " 200 ") {
		t.Fatalf("status line %q, %v", line, err)
	}
	if _, err := r.ReadString('{'); err != nil { // the connect push has begun
		t.Fatal(err)
	}
	first.Stop(t)
	rest, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		t.Fatalf("reading the stream to its end: %v", err)
	}
	if !strings.Contains(string(rest), `"code":3001`) {
		t.Fatalf("stream end %q has no 3001 disconnect", rest)
	}
	_ = c.Close()
	// The server's side enters TIME_WAIT when our FIN reaches it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		tw, err := TimeWaitOn(port)
		if err != nil {
			t.Skipf("cannot read TIME_WAIT sockets: %v", err)
		}
		if tw {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TIME_WAIT socket on port %d: the test proves nothing", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
	Start(t, "second", unisseBin, NodeConfig("second", port, "", ""))
}

// nodeName asks /api/info on a new connection which node answers.
func nodeName(addr string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/info", strings.NewReader("{}"))
	if err != nil {
		return "", err
	}
	req.Header.Set("X-API-Key", APIKey)
	req.Close = true // a new connection each time: the kernel picks the listener per connection
	resp, err := apiClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Result struct {
			Nodes []struct {
				Name string `json:"name"`
			} `json:"nodes"`
		} `json:"result"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(b, &r); err != nil || len(r.Result.Nodes) != 1 {
		return "", fmt.Errorf("info reply %q: %v", b, err)
	}
	return r.Result.Nodes[0].Name, nil
}
