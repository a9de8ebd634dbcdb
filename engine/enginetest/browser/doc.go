// Package browser runs a headless Chromium for end-to-end tests of pages that
// talk to unisse (EventSource on /connection/uni_sse, CORS, reconnects), so
// that what a real browser does is tested, not what a Go client imitates.
//
// It owns: finding the browser binary (Find), one browser process per test
// (Start: --headless=new, --no-sandbox, a private profile, killed when the
// test ends), tabs (Browser.Open: navigate and wait for the load event), and
// the few actions such tests need on a tab: evaluate JavaScript (Eval, Page.Run),
// wait for a JavaScript condition with a deadline (Page.WaitFor, polled from
// Go so that a timeout reports the last value seen), and screenshots
// (Page.Screenshot). The page's console messages and uncaught exceptions are
// collected and logged when the test fails, with a screenshot of each open
// tab, so that a red CI run shows what the page showed.
//
// The binary is the first of $CHROMIUM, chromium, chromium-browser,
// google-chrome, google-chrome-stable found on PATH. Without one a test is
// skipped with a message saying how to install it, except when the CI
// environment variable is set: then it fails, so that CI cannot pass without
// running the browser tests (the convention of redistest).
//
// Screenshots go to $BROWSER_SCREENSHOT_DIR when set (kept after the test),
// else to the test's t.TempDir() (removed when it ends); the path is logged.
//
// A test reads like this (examples/browser/e2e_test.go is a full one):
//
//	b := browser.Start(t) // first, so that a missing browser skips early
//	p := b.Open(pageURL)  // waits for the load event
//	p.WaitFor("the connect push", `unisseDemo.counts.connect === 1`, 15*time.Second)
//	id := browser.Eval[string](p, `unisseDemo.entries[0].data.client`)
//	p.Screenshot("connected")
//
// Conditions and Eval results travel as JSON: return numbers, strings,
// booleans, arrays and plain objects, not DOM nodes. Pages served by
// httptest on 127.0.0.1 are secure contexts and another origin than an
// engine on another port, so an engine under test must list the page's
// origin in client.allowed_origins for EventSource to accept its stream.
//
// Everything is bounded: the browser lives at most until the test's deadline
// (or two minutes without one), one Eval at most EvalTimeout, one WaitFor its
// own timeout. Only tests import this package; it needs no display.
package browser
