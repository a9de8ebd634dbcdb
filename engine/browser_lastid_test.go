package engine_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
	"github.com/unisse/unisse/engine/enginetest/browser"
)

// lastIDPage is a page with a plain EventSource and no reconnect code of
// its own: it only records what it receives (publications from the connect
// push's recovery and live, per channel, and every event's lastEventId).
const lastIDPage = `<!doctype html><html><body><script>
window.state = {connects: 0, disconnects: 0, recovered: 0, pubs: [], ids: []};
const es = new EventSource(%q);
es.onmessage = (e) => {
  const m = JSON.parse(e.data);
  state.ids.push(e.lastEventId);
  if (m.connect) {
    state.connects++;
    for (const [ch, s] of Object.entries(m.connect.subs || {})) {
      if (s.recovered) state.recovered += (s.publications || []).length;
      for (const p of s.publications || []) state.pubs.push(ch + ":" + p.data.n);
    }
  } else if (m.pub) {
    state.pubs.push(m.channel + ":" + m.pub.data.n);
  } else if (m.disconnect) {
    state.disconnects++;
  }
};
</script></body></html>`

// TestBrowserEventSourceResumesByItself: a page with a plain
// new EventSource(url) reads publications on three recoverable channels;
// the server ends its stream (/api/disconnect with a reconnect code) and 30
// publications are made while it is away; the browser reconnects by itself
// to the same URL, sending the last id it saw as Last-Event-ID, and the page
// ends up with every publication exactly once — the 30 recovered in the
// connect push.
func TestBrowserEventSourceResumesByItself(t *testing.T) {
	b := browser.Start(t) // first, so that a missing browser skips early
	chans := []string{"hist:a", "hist:b", "hist:c"}
	page := httptest.NewServer(nil) // its URL is the page's origin
	defer page.Close()
	opts := lastIDOptions(t, true)
	opts.Client.AllowedOrigins = []string{page.URL}
	// The browser reconnects 200 ms after the stream ends (retry:); the
	// gate below holds that reconnect until the 30 publications are made,
	// however long they take, so that they can only arrive by recovery.
	opts.Own.SSERetryMin, opts.Own.SSERetryMax = 200*time.Millisecond, 200*time.Millisecond
	srv := enginetest.Start(t, opts)
	gate := startGate(t, srv.Addr)
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "b", "channels": chans})
	url := strings.Replace(srv.ConnectURL(map[string]any{"token": token}), srv.Addr, gate.addr, 1)
	page.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, lastIDPage, url)
	})
	p := b.Open(page.URL)
	p.WaitFor("the connect push", `state.connects === 1`, 10*time.Second)
	api := srv.DialAPI(t)
	n := 0
	for ; n < 12; n++ {
		publishN(t, api, chans[n%3], n)
	}
	p.WaitFor("12 live publications", `state.pubs.length === 12`, 10*time.Second)

	gate.hold()
	api.Call(t, "disconnect", `{"user":"b","disconnect":{"code":3000,"reason":"test reconnect"}}`)
	p.WaitFor("the disconnect push", `state.disconnects === 1`, 10*time.Second)
	for ; n < 42; n++ {
		publishN(t, api, chans[n%3], n)
	}
	gate.release()

	p.WaitFor("the browser's reconnect and recovery", `state.connects === 2 && state.pubs.length >= 42`, 20*time.Second)
	type pageState struct {
		Recovered int      `json:"recovered"`
		Pubs      []string `json:"pubs"`
		IDs       []string `json:"ids"`
	}
	got := browser.Eval[pageState](p, `({recovered: state.recovered, pubs: state.pubs, ids: state.ids})`)
	if got.Recovered != 30 {
		t.Fatalf("recovered %d publications in the reconnect's connect push, want the 30 made while away (was Last-Event-ID sent?)", got.Recovered)
	}
	seen := map[string]int{}
	last := map[string]int{"hist:a": -1, "hist:b": -1, "hist:c": -1}
	for _, p := range got.Pubs {
		seen[p]++
		var ch string
		var k int
		if _, err := fmt.Sscanf(p[:len("hist:a")], "%s", &ch); err != nil {
			t.Fatal(err)
		}
		fmt.Sscanf(p[len("hist:a")+1:], "%d", &k)
		if k <= last[ch] {
			t.Fatalf("%s: publication %d after %d: out of order or twice (all: %v)", ch, k, last[ch], got.Pubs)
		}
		last[ch] = k
	}
	for i := range 42 {
		if key := fmt.Sprintf("%s:%d", chans[i%3], i); seen[key] != 1 {
			t.Fatalf("publication %s seen %d times (all: %v)", key, seen[key], got.Pubs)
		}
	}
	if len(got.Pubs) != 42 {
		t.Fatalf("page has %d publications, want 42: %v", len(got.Pubs), got.Pubs)
	}
	// Every event's lastEventId is a token (the connect pushes' included).
	for i, id := range got.IDs {
		if len(id) < 3 || id[:3] != "u1." {
			t.Fatalf("event %d has lastEventId %q", i, id)
		}
	}
}

// gate is a TCP proxy in front of the server that can hold new connections:
// accepted while held, they are connected to the server only on release.
type gate struct {
	addr string
	mu   sync.Mutex
	open chan struct{} // closed while connections pass
}

func startGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{addr: ln.Addr().String(), open: make(chan struct{})}
	close(g.open)
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		g.release()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, nil)
			g.mu.Lock()
			open := g.open
			g.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				<-open
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				conns.Store(s, nil)
				defer s.Close()
				go func() { _, _ = io.Copy(s, c); s.Close() }()
				_, _ = io.Copy(c, s)
			}()
		}
	}()
	return g
}

// hold makes connections accepted from now on wait for release.
func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// release lets held connections through, and new ones from now on.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}
