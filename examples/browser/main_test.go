package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandlerServesPageAndConfig: the page, its script and a config.js whose
// values cannot end the script early, whatever they hold.
func TestHandlerServesPageAndConfig(t *testing.T) {
	cfg := pageConfig{URL: "http://127.0.0.1:8000/connection/uni_sse", Token: `a</script><script>alert(1)</script>&`}
	h, err := newHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		return string(b), resp.Header.Get("Content-Type")
	}
	if body, ct := get("/"); !strings.Contains(body, `<script src="app.js">`) || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /: %s, %.100q", ct, body)
	}
	if body, _ := get("/app.js"); !strings.Contains(body, "new EventSource(") {
		t.Fatalf("GET /app.js: %.100q", body)
	}
	body, ct := get("/config.js")
	if !strings.HasPrefix(ct, "text/javascript") || strings.Contains(body, "</script") || strings.Contains(body, "<") {
		t.Fatalf("config.js (%s) can end a script: %q", ct, body)
	}
	js, ok := strings.CutPrefix(strings.TrimSpace(body), "window.UNISSE_CONFIG = ")
	var got pageConfig
	if !ok || json.Unmarshal([]byte(strings.TrimSuffix(js, ";")), &got) != nil || got != cfg {
		t.Fatalf("config.js %q does not carry %+v", body, cfg)
	}
}

func TestRunNeedsAToken(t *testing.T) {
	err := run([]string{"-listen", "127.0.0.1:0"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "need -token") {
		t.Fatalf("run without a token: %v", err)
	}
}
