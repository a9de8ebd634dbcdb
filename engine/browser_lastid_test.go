package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/unisse/unisse/engine/enginetest"
)

// A self-contained headless Chromium for this test (the shared helper,
// engine/enginetest/browser, replaces it once merged): the browser is found
// on PATH (or $CHROMIUM); without one the test is skipped loudly, or failed
// when $CI is set.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv("CHROMIUM")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if bin != "" {
			break
		}
		bin, _ = exec.LookPath(name)
	}
	if bin == "" {
		msg := "no Chromium on PATH (apt-get install chromium, or set CHROMIUM)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.Flag("headless", "new"), chromedp.NoSandbox, chromedp.DisableGPU)
	base, cancelBase := context.WithTimeout(context.Background(), 90*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc(); cancelBase() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx
}

// evalWait evaluates the JavaScript expression cond in the page until it is
// true, for at most timeout.
func evalWait(t *testing.T, ctx context.Context, timeout time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(window.state)`))
			t.Fatalf("timed out after %v waiting for %s; page state: %s", timeout, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

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
	ctx := startChromium(t)
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
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	evalWait(t, ctx, 10*time.Second, "the connect push", `state.connects === 1`)
	api := srv.DialAPI(t)
	n := 0
	for ; n < 12; n++ {
		publishN(t, api, chans[n%3], n)
	}
	evalWait(t, ctx, 10*time.Second, "12 live publications", `state.pubs.length === 12`)

	api.Call(t, "disconnect", `{"user":"b","disconnect":{"code":3000,"reason":"test reconnect"}}`)
	evalWait(t, ctx, 10*time.Second, "the disconnect push", `state.disconnects === 1`)
	start := time.Now()
	for ; n < 42; n++ {
		publishN(t, api, chans[n%3], n)
	}
	published := time.Since(start)

	evalWait(t, ctx, 20*time.Second, "the browser's reconnect and recovery", `state.connects === 2 && state.pubs.length >= 42`)
	type pageState struct {
		Recovered int      `json:"recovered"`
		Pubs      []string `json:"pubs"`
		IDs       []string `json:"ids"`
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](`({recovered: state.recovered, pubs: state.pubs, ids: state.ids})`))
	if err != nil {
		t.Fatal(err)
	}
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
