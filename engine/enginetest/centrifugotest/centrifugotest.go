// Package centrifugotest runs a real Centrifugo v6 binary next to a test, for
// the brokers' interoperation tests: unisse and Centrifugo nodes on one Redis
// or one NATS server. It owns starting the process ($CENTRIFUGO_BIN; the test
// is skipped without it), calling its server API, and a Centrifugo client
// over uni_http_stream. `make interop` installs the binary and runs them.
package centrifugotest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APIKey is the node's http_api.key; Secret its client.token.hmac_secret_key.
const (
	APIKey = "apikey"
	Secret = "secret"
)

// waitFor bounds every wait for the node: its start and a stream's lines.
const waitFor = 10 * time.Second

// Node is a running Centrifugo; URL is its base, http://127.0.0.1:<port>.
type Node struct {
	URL string
}

// Start runs Centrifugo on a free loopback port with the given config
// sections (engine, broker, channel, …) over a base with the API key, the
// HMAC secret, /health and uni_http_stream, and waits for /health. The
// process is killed at the test's end; its output is logged if the test
// failed.
func Start(t testing.TB, sections map[string]any) *Node {
	t.Helper()
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN not set (make interop installs Centrifugo v6.9.1 and sets it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := map[string]any{
		"http_server":     map[string]any{"address": "127.0.0.1", "port": port},
		"http_api":        map[string]any{"key": APIKey},
		"client":          map[string]any{"token": map[string]any{"hmac_secret_key": Secret}},
		"health":          map[string]any{"enabled": true},
		"uni_http_stream": map[string]any{"enabled": true},
		"log":             map[string]any{"level": "error"},
	}
	for k, v := range sections {
		cfg[k] = v
	}
	path := filepath.Join(t.TempDir(), "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("centrifugo output:\n%s", logs.String())
		}
	})
	n := &Node{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for deadline := time.Now().Add(waitFor); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(n.URL + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("centrifugo /health not 200 within %v", waitFor)
		}
	}
}

// API calls method of the server API with req and returns its result; an
// error in the reply fails the test.
func (n *Node) API(t testing.TB, method string, req any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", n.URL+"/api/"+method, bytes.NewReader(body))
	r.Header.Set("X-API-Key", APIKey)
	r.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if out["error"] != nil {
		t.Fatalf("%s: %v", method, out["error"])
	}
	res, _ := out["result"].(map[string]any)
	return res
}

// Stream is a Centrifugo client's uni_http_stream, a JSON message a line.
type Stream struct {
	lines chan string
}

// Stream connects a client (user u-cf) over uni_http_stream with a token
// subscribing it to channel, and waits for its connect reply: by then the
// node has subscribed the channel in its broker.
func (n *Node) Stream(t testing.TB, channel string) *Stream {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-cf", "channels": []string{channel}}).SignedString([]byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"token": tok})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", n.URL+"/connection/uni_http_stream", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("uni_http_stream: %s", resp.Status)
	}
	s := &Stream{lines: make(chan string, 64)}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	s.Next(t, `"connect"`)
	return s
}

// Next returns the stream's next line containing substr, skipping others.
func (s *Stream) Next(t testing.TB, substr string) string {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("stream ended waiting for %s", substr)
			}
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %s in %v", substr, waitFor)
		}
	}
}
