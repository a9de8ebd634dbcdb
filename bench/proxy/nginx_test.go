//go:build proxy

package proxy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// pingInterval is short so that the test sees several pings; the order of
// events, not their timing, is what the test asserts.
const pingInterval = 1500 * time.Millisecond

// startNginx runs nginx in the foreground on a free loopback port with
// docs/nginx.conf (unisse's address and the listen line replaced), every
// file it writes in a temporary directory. It returns nginx's address.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin := os.Getenv("NGINX")
	if bin == "" {
		bin = "nginx"
	}
	bin, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nginx not found (CI installs nginx-light): %v", err)
		}
		t.Skipf("nginx not found, skipping (apt-get install nginx-light, or set NGINX): %v", err)
	}
	_, self, _, _ := runtime.Caller(0)
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "docs", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(enginetest.FreePort(t)))
	site := string(doc)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8000;", "server " + upstream + ";"},
		{"listen 80;", "listen " + addr + ";"},
	} {
		if n := strings.Count(site, r[0]); n != 1 {
			t.Fatalf("docs/nginx.conf has %q %d times, want once (the test edits it)", r[0], n)
		}
		site = strings.Replace(site, r[0], r[1], 1)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "unisse.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	// One process (master_process off): as root, nginx's workers would
	// otherwise switch to an unprivileged user that cannot write here.
	// gzip for event streams at the http level, as a site-wide setting
	// might have it: compression holds events back until a block fills, so
	// the location's "gzip off" must win.
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    gzip on;
    gzip_min_length 0;
    gzip_types text/event-stream application/json;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/unisse.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	// -e: the error log before the config is read (else the compiled-in
	// /var/log/nginx/error.log).
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"))
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful: closes the streams
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			for _, name := range []string{"stderr", "error.log", "access.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				t.Logf("nginx %s:\n%s", name, b)
			}
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	up := enginetest.Poll(15*time.Second, func() bool {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Fatalf("nginx exited: %v\n%s", err, b)
		default:
		}
		resp, err := client.Get("http://" + addr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !up {
		t.Fatal("nginx did not answer /health through to unisse within 15 s")
	}
	return addr
}

// TestNginx connects through nginx with cf_connect, publishes through
// nginx's /api right after each ping, and expects that publication to be the
// stream's next event: a proxy that buffered the stream would hold it (and
// the pings) until its buffer filled, which a handful of small events never
// does. The request asks for gzip, as browsers do, and nginx is set to
// compress event streams elsewhere in its config (startNginx): without the
// location's "gzip off" the events would be held in the compressor.
// (nginx 1.22 forwards events promptly even with proxy_buffering on, its
// pipe's buffers being flushed as they fill; "proxy_buffering off" in
// docs/nginx.conf is for other versions and for proxies in front of nginx.)
func TestNginx(t *testing.T) {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.PingInterval = pingInterval
	opts.Client.PongTimeout = pingInterval / 2
	s := enginetest.Start(t, opts)
	proxy := startNginx(t, s.Addr)

	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u1", "channels": []string{"news"}})
	connect, _ := json.Marshal(map[string]any{"token": token})
	// As a browser's EventSource asks.
	st := enginetest.Dial(t, proxy, "GET "+opts.UniSSE.HandlerPrefix+"?cf_connect="+url.QueryEscape(string(connect))+" HTTP/1.1\r\n"+
		"Host: 127.0.0.1\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n")
	if err := st.Open(); err != nil {
		t.Fatalf("uni_sse through nginx: %v", err)
	}
	push, err := st.Event(5 * time.Second)
	if err != nil || !strings.Contains(push, `"connect"`) || !strings.Contains(push, `"news"`) {
		t.Fatalf("connect push %q, %v", push, err)
	}

	api := &http.Client{Timeout: 5 * time.Second}
	for i := range 3 {
		// Wait for a ping: the next one is then pingInterval away.
		ev, err := st.Event(3 * pingInterval)
		if err != nil || ev != enginetest.Ping {
			t.Fatalf("round %d: want a ping through nginx, got %q, %v", i, ev, err)
		}
		body := fmt.Sprintf(`{"channel":"news","data":{"n":%d}}`, i)
		req, _ := http.NewRequest(http.MethodPost, "http://"+proxy+"/api/publish", strings.NewReader(body))
		req.Header.Set("X-API-Key", enginetest.APIKey)
		resp, err := api.Do(req)
		if err != nil {
			t.Fatalf("round %d: publish through nginx: %v", i, err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(reply), `"error"`) {
			t.Fatalf("round %d: publish through nginx: %d %s", i, resp.StatusCode, reply)
		}
		ev, err = st.Event(3 * pingInterval)
		if err != nil {
			t.Fatalf("round %d: no event after the publish: %v", i, err)
		}
		if ev == enginetest.Ping {
			t.Fatalf("round %d: a ping arrived before the publication: nginx held the stream back", i)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); !strings.Contains(ev, `"pub"`) || !strings.Contains(ev, want) {
			t.Fatalf("round %d: event %q, want the publication of %s", i, ev, want)
		}
	}
}
