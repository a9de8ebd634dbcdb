package engine_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
	// The browser waits 2 s before it reconnects: the 30 publications below
	// are made well within that gap.
	opts.Own.SSERetryMin, opts.Own.SSERetryMax = 2*time.Second, 2*time.Second
	srv := enginetest.Start(t, opts)
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "b", "channels": chans})
	page.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, lastIDPage, srv.ConnectURL(map[string]any{"token": token}))
	})
	p := b.Open(page.URL)
	p.WaitFor("the connect push", `state.connects === 1`, 10*time.Second)
	api := srv.DialAPI(t)
	n := 0
	for ; n < 12; n++ {
		publishN(t, api, chans[n%3], n)
	}
	p.WaitFor("12 live publications", `state.pubs.length === 12`, 10*time.Second)

	api.Call(t, "disconnect", `{"user":"b","disconnect":{"code":3000,"reason":"test reconnect"}}`)
	p.WaitFor("the disconnect push", `state.disconnects === 1`, 10*time.Second)
	start := time.Now()
	for ; n < 42; n++ {
		publishN(t, api, chans[n%3], n)
	}
	published := time.Since(start)

	p.WaitFor("the browser's reconnect and recovery", `state.connects === 2 && state.pubs.length >= 42`, 20*time.Second)
	type pageState struct {
		Recovered int      `json:"recovered"`
		Pubs      []string `json:"pubs"`
		IDs       []string `json:"ids"`
	}
	got := browser.Eval[pageState](p, `({recovered: state.recovered, pubs: state.pubs, ids: state.ids})`)
	if published > 1500*time.Millisecond && got.Recovered != 30 {
		t.Skipf("publishing took %v, too close to the browser's 2 s reconnect to tell recovery from live delivery", published)
	}
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
