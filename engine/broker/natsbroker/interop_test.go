//go:build interop

// Interoperation with a real Centrifugo v6.9.1 (broker.type "nats") on one
// embedded NATS server. Not in the default suite (it needs the Centrifugo
// binary); `make interop` runs it:
//
//	CENTRIFUGO_BIN=/path/to/centrifugo go test -tags interop -run Interop -v ./engine/broker/natsbroker/
package natsbroker

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

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
)

type centrifugo struct{ url string }

func startCentrifugo(t *testing.T, natsURL string) *centrifugo {
	t.Helper()
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN not set")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg := map[string]any{
		"http_server":     map[string]any{"address": "127.0.0.1", "port": port},
		"http_api":        map[string]any{"key": "apikey"},
		"broker":          map[string]any{"enabled": true, "type": "nats", "nats": map[string]any{"url": natsURL}},
		"client":          map[string]any{"token": map[string]any{"hmac_secret_key": "secret"}},
		"health":          map[string]any{"enabled": true},
		"uni_http_stream": map[string]any{"enabled": true},
		"log":             map[string]any{"level": "error"},
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
	c := &centrifugo{url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	eventually(t, "centrifugo /health", func() bool {
		resp, err := http.Get(c.url + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

func (c *centrifugo) api(t *testing.T, method string, req any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(req)
	r, _ := http.NewRequest("POST", c.url+"/api/"+method, bytes.NewReader(body))
	r.Header.Set("X-API-Key", "apikey")
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

// uniStream connects a Centrifugo client over uni_http_stream with a token
// subscribing it to channel; lines carries what it receives.
func (c *centrifugo) uniStream(t *testing.T, channel string) chan string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-cf", "channels": []string{channel}}).SignedString([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"token": tok})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", c.url+"/connection/uni_http_stream", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("uni_http_stream: %s", resp.Status)
	}
	lines := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	nextLine(t, lines, `"connect"`)
	return lines
}

func nextLine(t *testing.T, lines chan string, substr string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended waiting for %s", substr)
			}
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line with %s in 10s", substr)
		}
	}
}

func TestCentrifugoInterop(t *testing.T) {
	srv := natstest.Start(t)
	cf := startCentrifugo(t, srv.URL())
	u, ru := node(t, srv, "unisse-node")
	subscribe(t, u, "interop")

	// Centrifugo publishes (data and b64data); the unisse node receives the
	// same bytes, with the publisher's tags.
	cf.api(t, "publish", map[string]any{"channel": "interop", "data": map[string]any{"x": 1}, "tags": map[string]string{"k": "v"}})
	cf.api(t, "publish", map[string]any{"channel": "interop", "b64data": "/wA="})
	eventually(t, "centrifugo publications at unisse", func() bool { return len(ru.received("interop")) == 2 })
	ru.mu.Lock()
	p0, p1 := ru.pubs["interop"][0], ru.pubs["interop"][1]
	ru.mu.Unlock()
	if string(p0.Data) != `{"x":1}` || p0.NotJSON || p0.Tags["k"] != "v" || p0.Offset != 0 {
		t.Fatalf("data publication: %+v", p0)
	}
	if string(p1.Data) != "\xff\x00" || !p1.NotJSON {
		t.Fatalf("b64data publication: %+v", p1)
	}

	// A Centrifugo client (server-side subscription to "live") receives
	// what unisse publishes, with its tags and publisher info.
	lines := cf.uniStream(t, "live")
	// Centrifugo's SUB reaches NATS before its connect reply.
	err := call(t, func(done func(error)) {
		u.Publish(context.Background(), "live", &broker.Publication{
			Data: []byte(`{"n":1}`), Tags: map[string]string{"t": "1"},
			Info: []byte(`{"user":"u1","client":"c1"}`),
		}, broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { done(err) })
	})
	if err != nil {
		t.Fatal(err)
	}
	line := nextLine(t, lines, `"pub"`)
	t.Logf("centrifugo client: %s", line)
	for _, want := range []string{`"channel":"live"`, `"data":{"n":1}`, `"tags":{"t":"1"}`, `"user":"u1"`, `"client":"c1"`} {
		if !strings.Contains(line, want) {
			t.Fatalf("centrifugo client got %s, want %s in it", line, want)
		}
	}

	// An API disconnect on Centrifugo goes out on <prefix>.control: the
	// unisse node receives the (opaque) command.
	cf.api(t, "disconnect", map[string]any{"user": "nobody"})
	eventually(t, "centrifugo control message", func() bool { _, c := ru.snapshot(); return len(c) > 0 })
}
