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
// Everything is bounded: the browser lives at most until the test's deadline
// (or two minutes without one), one Eval at most EvalTimeout, one WaitFor its
// own timeout. Only tests import this package; it needs no display.
package browser
