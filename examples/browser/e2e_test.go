package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
	"github.com/unisse/unisse/engine/enginetest/browser"
)

// Waits in a real browser: generous, since two cores shared with the rest of
// the suite can stall Chromium for seconds; the awaited things take
// milliseconds, except EventSource's reconnect (3 s in Chromium).
const (
	waitShort     = 15 * time.Second
	waitReconnect = 30 * time.Second
)

// TestBrowserExample drives the example page in headless Chromium against an
// in-process engine, the page served cross-origin by the example's own
// handler: the connect push is shown; 50 publications arrive in order and
// byte-exact (unicode, JSON escapes, a 60 KB payload); a ping is shown; a
// disconnect with a reconnect code is shown and EventSource reconnects (a
// second connect push, from a new client id) and a publication after it
// arrives; a disconnect with a terminal code closes the EventSource.
func TestBrowserExample(t *testing.T) {
	b := browser.Start(t) // first: skips without Chromium before anything runs

	// The page's server listens first: its origin goes into the engine's
	// client.allowed_origins (EventSource refuses a response without CORS
	// headers for it).
	page := httptest.NewUnstartedServer(nil)
	origin := "http://" + page.Listener.Addr().String()

	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.AllowedOrigins = []string{origin}
	opts.Client.PingInterval = time.Second // first ping within 0.5–1 s
	opts.Client.PongTimeout = 500 * time.Millisecond
	srv := enginetest.Start(t, opts)

	const user, channel = "browser-user", "news"
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": user, "channels": []string{channel}})
	h, err := newHandler(pageConfig{URL: "http://" + srv.Addr + opts.UniSSE.HandlerPrefix, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	page.Config.Handler = h
	page.Start()
	defer page.Close()

	p := b.Open(page.URL + "/")
	p.WaitFor("the connect push", `unisseDemo.counts.connect === 1`, waitShort)
	type connectEntry struct {
		Client string `json:"client"`
		Ping   int    `json:"ping"`
	}
	first := browser.Eval[connectEntry](p, `unisseDemo.entries.find(e => e.type === 'connect').data`)
	if first.Client == "" || first.Ping != 1 {
		t.Fatalf("connect push data %+v: want a client id and ping 1", first)
	}

	// 50 publications, each data a different shape of text: every one must
	// reach the page's EventSource byte for byte (the engine forwards data
	// as given, and EventSource decodes UTF-8).
	api := srv.DialAPI(t)
	const n = 50
	const hugeAt = 30
	unicode := `żółć 🚀 日本 <>&"\ tab	end`
	var hb strings.Builder // 60 KB, numbered so that a lost or moved piece shows
	for hb.Len() < 60<<10 {
		fmt.Fprintf(&hb, "%d:%s", hb.Len(), `żółć 🚀 日本 "q" \b <t> & `)
	}
	huge := hb.String()
	wantData := make([]string, n)
	for i := range n {
		d := map[string]any{"seq": i, "text": unicode}
		if i == hugeAt {
			d["blob"] = huge
		}
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		wantData[i] = string(raw)
		api.Call(t, "publish", `{"channel":"`+channel+`","data":`+string(raw)+`}`)
	}
	p.WaitFor("50 publications", `unisseDemo.counts.publication === 50`, waitShort)
	type pubEntry struct {
		Channel string `json:"channel"`
		Raw     string `json:"raw"`
		Seq     int    `json:"seq"`
		Text    string `json:"text"`
		Blob    string `json:"blob"`
	}
	pubs := browser.Eval[[]pubEntry](p, `unisseDemo.entries.filter(e => e.type === 'publication').map(e =>
		({channel: e.channel, raw: e.raw, seq: e.data.seq, text: e.data.text, blob: e.data.blob || ''}))`)
	if len(pubs) != n {
		t.Fatalf("%d publications in the page, want %d", len(pubs), n)
	}
	for i, e := range pubs {
		want := `{"channel":"` + channel + `","pub":{"data":` + wantData[i] + `}}`
		if e.Raw != want {
			t.Fatalf("publication %d: the page's event data (%d bytes) differs from what was published (%d bytes):\n got %.200q\nwant %.200q",
				i, len(e.Raw), len(want), e.Raw, want)
		}
		if e.Channel != channel || e.Seq != i || e.Text != unicode {
			t.Fatalf("publication %d as the page parsed it: channel %q seq %d text %q", i, e.Channel, e.Seq, e.Text)
		}
		if i == hugeAt && e.Blob != huge {
			t.Fatalf("the %d-byte payload came out as %d bytes", len(huge), len(e.Blob))
		}
	}
	t.Logf("50 publications in order, byte-exact, the largest %d bytes of data", len(wantData[hugeAt]))
	// What the user sees: a row per publication, the unicode as sent.
	if rows := browser.Eval[int](p, `document.querySelectorAll('#log tr.publication').length`); rows != n {
		t.Fatalf("%d publication rows shown, want %d", rows, n)
	}
	if !browser.Eval[bool](p, `[...document.querySelectorAll('#log tr.publication td.data')].some(td => td.textContent.includes('żółć 🚀 日本'))`) {
		t.Fatal("no publication row shows the unicode text")
	}

	p.WaitFor("a ping shown", `unisseDemo.counts.ping >= 1 && document.querySelector('#log tr.ping') !== null`, waitShort)

	// A reconnect code: the page shows the disconnect and EventSource
	// reconnects by itself.
	api.Call(t, "disconnect", `{"user":"`+user+`","disconnect":{"code":3011,"reason":"force reconnect"}}`)
	p.WaitFor("the disconnect push", `unisseDemo.counts.disconnect === 1`, waitShort)
	type disconnectEntry struct {
		Code      int    `json:"code"`
		Reason    string `json:"reason"`
		Reconnect bool   `json:"reconnect"`
	}
	d := browser.Eval[disconnectEntry](p, `unisseDemo.entries.findLast(e => e.type === 'disconnect')`)
	if d.Code != 3011 || d.Reason != "force reconnect" || !d.Reconnect {
		t.Fatalf("disconnect entry %+v: want 3011 force reconnect, reconnecting", d)
	}
	p.WaitFor("the connect push after the reconnect", `unisseDemo.counts.connect === 2 && unisseDemo.state === 'open'`, waitReconnect)
	second := browser.Eval[connectEntry](p, `unisseDemo.entries.findLast(e => e.type === 'connect').data`)
	if second.Client == "" || second.Client == first.Client {
		t.Fatalf("second connect's client id %q, first %q: want a new connection", second.Client, first.Client)
	}
	api.Call(t, "publish", `{"channel":"`+channel+`","data":{"seq":50,"after":"reconnect"}}`)
	p.WaitFor("the publication after the reconnect",
		`unisseDemo.counts.publication === 51 && unisseDemo.entries.findLast(e => e.type === 'publication').data.after === 'reconnect'`, waitShort)

	// A terminal code: shown, and the page does not let EventSource retry.
	api.Call(t, "disconnect", `{"user":"`+user+`"}`) // 3503 force disconnect
	p.WaitFor("the page closed after 3503", `unisseDemo.counts.disconnect === 2 && unisseDemo.state === 'closed' && unisseDemo.source === null`, waitShort)
	if d := browser.Eval[disconnectEntry](p, `unisseDemo.entries.findLast(e => e.type === 'disconnect')`); d.Code != 3503 || d.Reconnect {
		t.Fatalf("disconnect entry %+v: want 3503, not reconnecting", d)
	}
	p.Screenshot("final")
}
