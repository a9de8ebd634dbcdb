package browser_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest/browser"
)

func TestFindHonoursCHROMIUM(t *testing.T) {
	t.Setenv("CHROMIUM", filepath.Join(t.TempDir(), "no-such-browser"))
	if _, err := browser.Find(); err == nil || !strings.Contains(err.Error(), "CHROMIUM=") {
		t.Fatalf("Find with a missing $CHROMIUM: err %v, want one naming CHROMIUM", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHROMIUM", self)
	if got, err := browser.Find(); err != nil || got != self {
		t.Fatalf("Find with CHROMIUM=%s: %q, %v", self, got, err)
	}
}

// TestPage drives a page whose state changes after a timer: Eval sees the
// state, WaitFor waits for the change and reports a condition that never
// comes true, and Screenshot writes a PNG.
func TestPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>t</title><p id=p>before</p>
<script>window.n = 1; setTimeout(() => { document.getElementById('p').textContent = 'after żółć'; window.n = 2; }, 150);
console.log('hello from the page');</script>`))
	}))
	defer srv.Close()

	b := browser.Start(t)
	p := b.Open(srv.URL)
	if n := browser.Eval[int](p, `window.n`); n != 1 && n != 2 {
		t.Fatalf("window.n = %d", n)
	}
	p.WaitFor("the timer's change", `window.n === 2`, 5*time.Second)
	if got := browser.Eval[string](p, `document.getElementById('p').textContent`); got != "after żółć" {
		t.Fatalf("text %q", got)
	}
	if _, err := browser.TryEval[int](p, `no_such_name`); err == nil {
		t.Fatal("TryEval of an undefined name: no error")
	}
	err := p.TryWaitFor(`window.n > 5`, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "last value false") {
		t.Fatalf("TryWaitFor of a false condition: %v", err)
	}
	path := p.Screenshot("page")
	png, err := os.ReadFile(path)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: %d bytes, %v", path, len(png), err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(p.Console(), "\n"), "hello from the page") {
		if time.Now().After(deadline) {
			t.Fatalf("console message not collected: %q", p.Console())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
