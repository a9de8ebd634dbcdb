package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
// open closes it first (3001 then the end of the stream), so the server's
// side of that connection sits in TIME_WAIT; a new process on the same port
// starts at once.
func TestRestartBindsDuringTimeWait(t *testing.T) {
	port := FreePort(t)
	first := Start(t, "first", unisseBin, NodeConfig("first", port, "", ""))
	sub := Subscribe(t, "first", first.Addr(), map[string]any{"token": Token(t, "u1", "news")})
	first.Stop(t)
	if !sub.WaitFor(10*time.Second, func() bool { return sub.ended != nil }) {
		t.Fatal("stream not ended by the stop")
	}
	if d := sub.Disconnected(); d == nil || d.Code != 3001 {
		t.Fatalf("disconnect push = %+v, want 3001", d)
	}
	sub.Close()
	if tw, err := TimeWaitOn(port); err != nil || !tw {
		t.Fatalf("no TIME_WAIT socket on port %d (%v): the test proves nothing", port, err)
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
