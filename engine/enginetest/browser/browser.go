package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Timeouts of the single steps. A test's own waits are WaitFor's argument.
const (
	// StartTimeout bounds starting the browser and opening its first tab.
	StartTimeout = 30 * time.Second
	// LoadTimeout bounds one navigation (until the load event).
	LoadTimeout = 15 * time.Second
	// EvalTimeout bounds one Eval (one DevTools round trip).
	EvalTimeout = 10 * time.Second
	// Lifetime bounds the browser process when the test has no deadline.
	Lifetime = 2 * time.Minute
	// pollEvery is WaitFor's period: short against a page's event handling,
	// long against one DevTools round trip (well under a millisecond).
	pollEvery = 20 * time.Millisecond
	// maxConsole caps the kept console messages (a chatty page must not
	// grow the test's memory without bound).
	maxConsole = 1000
)

// ScreenshotDirEnv names the environment variable with the directory that
// screenshots are written to (and kept in); without it they go to the test's
// t.TempDir().
const ScreenshotDirEnv = "BROWSER_SCREENSHOT_DIR"

// candidates are the names Find looks up on PATH after $CHROMIUM, in order.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Find returns the path of the browser binary: $CHROMIUM when set (a path or
// a name on PATH), else the first of chromium, chromium-browser,
// google-chrome and google-chrome-stable on PATH.
func Find() (string, error) {
	if env := os.Getenv("CHROMIUM"); env != "" {
		p, err := exec.LookPath(env)
		if err != nil {
			return "", fmt.Errorf("CHROMIUM=%s: %w", env, err)
		}
		return p, nil
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s on PATH and CHROMIUM not set", strings.Join(candidates, ", "))
}

// Browser is one headless browser process, stopped when the test ends.
type Browser struct {
	t      testing.TB
	ctx    context.Context // the chromedp context of the first tab; tabs derive from it
	output *cappedBuffer   // the browser's stdout and stderr
	shots  string          // screenshot directory
}

// Start runs a headless browser for the test's lifetime. Without a browser
// binary (see Find) the test is skipped, or failed when $CI is set.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := Find()
	if err != nil {
		msg := "no Chromium for the browser tests: " + err.Error() +
			" (install: apt-get install chromium, or set CHROMIUM to the binary)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}

	deadline := time.Now().Add(Lifetime)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		// Stop a few seconds before `go test -timeout` would, so that the
		// test fails with the browser's story instead of a panic dump.
		if dl, ok := d.Deadline(); ok && dl.Add(-5*time.Second).Before(deadline) {
			deadline = dl.Add(-5 * time.Second)
		}
	}
	b := &Browser{t: t, output: &cappedBuffer{max: 64 << 10}}
	b.shots = os.Getenv(ScreenshotDirEnv)
	if b.shots == "" {
		b.shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		// The new headless mode is the real browser without a window (the
		// old one is a separate implementation, removed from recent Chrome).
		chromedp.Flag("headless", "new"),
		// Tests run as root in containers, where Chromium's sandbox cannot
		// start; the pages are the test's own, on loopback.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(b.output),
	)
	base, cancelBase := context.WithDeadline(context.Background(), deadline)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// The tab's cancel closes the browser; the allocator's waits for
		// the process to exit and its profile directory to be removed.
		cancelBrowser()
		cancelAlloc()
		cancelBase()
	})

	// The first Run starts the process and opens the first tab. Its
	// context must not carry a timeout (that would bound the browser's
	// whole life), so the start is bounded by a timer instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(StartTimeout):
		cancelBrowser()
		err = <-started
		err = fmt.Errorf("no browser after %s: %w", StartTimeout, err)
	}
	if err != nil {
		t.Fatalf("browser: start %s: %v\nbrowser output:\n%s", bin, err, b.output)
	}
	b.ctx = ctx
	t.Logf("browser: %s started (headless)", bin)
	return b
}

// Output is what the browser process wrote to stdout and stderr so far
// (capped at its first 64 KiB).
func (b *Browser) Output() string { return b.output.String() }

// Page is one tab.
type Page struct {
	t    testing.TB
	b    *Browser
	name string
	ctx  context.Context

	mu      sync.Mutex
	console []string
	dropped int
}

// Open opens url in a new tab and waits for its load event. The tab is
// closed when the test ends; if the test failed, its console messages are
// logged and a screenshot is taken first.
func (b *Browser) Open(url string) *Page {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	// Open the tab without a timeout (see Start), then listen to its
	// console before the page can write anything.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		b.t.Fatalf("browser: open a tab: %v", err)
	}
	p := &Page{t: b.t, b: b, ctx: ctx, name: url}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			p.addConsole(m.String())
		}
	}()
	b.t.Cleanup(func() {
		if p.t.Failed() {
			p.dumpOnFailure()
		}
		cancel()
		<-done
	})
	if err := p.run(LoadTimeout, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("browser: load %s: %v", url, err)
	}
	return p
}

func (p *Page) addConsole(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.console) >= maxConsole {
		p.dropped++
		return
	}
	p.console = append(p.console, s)
}

// Console returns the page's console messages and uncaught exceptions so
// far, oldest first (at most the first 1000).
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.console...)
}

func (p *Page) dumpOnFailure() {
	p.t.Helper()
	p.mu.Lock()
	msgs, dropped := append([]string(nil), p.console...), p.dropped
	p.mu.Unlock()
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("\n  ")
		b.WriteString(m)
	}
	if dropped > 0 {
		fmt.Fprintf(&b, "\n  (%d more dropped)", dropped)
	}
	p.t.Logf("browser: console of %s (%d messages):%s", p.name, len(msgs), b.String())
	if path, err := p.screenshot("failure"); err != nil {
		p.t.Logf("browser: screenshot on failure: %v", err)
	} else {
		p.t.Logf("browser: screenshot on failure: %s", path)
	}
}

// Context is the tab's chromedp context, for actions this package does not
// wrap (bound each with context.WithTimeout; never cancel the tab's own).
func (p *Page) Context() context.Context { return p.ctx }

// Run runs chromedp actions on the tab within timeout.
func (p *Page) Run(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	return p.run(timeout, actions...)
}

func (p *Page) run(timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// TryEval evaluates the JavaScript expression expr on the page and decodes its
// JSON value into T (see chromedp.Evaluate; a Promise is awaited).
func TryEval[T any](p *Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, EvalTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// Eval is TryEval that fails the test on an error (an exception in expr, a
// value that does not decode into T, a dead tab).
func Eval[T any](p *Page, expr string) T {
	p.t.Helper()
	v, err := TryEval[T](p, expr)
	if err != nil {
		p.t.Fatalf("browser: eval %s: %v", expr, err)
	}
	return v
}

// WaitFor evaluates the JavaScript expression cond every 20 ms until it is
// truthy, and fails the test after timeout, naming what it waited for (what:
// "the second connect push") and cond's last value or exception. An
// exception does not end the wait: the page may not have defined cond's
// names yet.
func (p *Page) WaitFor(what, cond string, timeout time.Duration) {
	p.t.Helper()
	if err := p.TryWaitFor(cond, timeout); err != nil {
		p.t.Fatalf("browser: waiting for %s: %v", what, err)
	}
}

// TryWaitFor is WaitFor returning the failure instead of ending the test.
func (p *Page) TryWaitFor(cond string, timeout time.Duration) error {
	// String(v) so that any value reports, DOM nodes included; truncated
	// so that a large value does not flood the failure message.
	probe := `(() => { const v = (` + cond + `); return {ok: !!v, v: String(v).slice(0, 300)}; })()`
	type result struct {
		OK bool   `json:"ok"`
		V  string `json:"v"`
	}
	deadline := time.Now().Add(timeout)
	last := "never evaluated"
	for {
		r, err := TryEval[result](p, probe)
		switch {
		case err == nil && r.OK:
			return nil
		case err == nil:
			last = "last value " + r.V
		case p.ctx.Err() != nil:
			return fmt.Errorf("tab gone: %w", errors.Join(err, context.Cause(p.ctx)))
		default:
			last = "last error " + err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not true after %s (%s)", cond, timeout, last)
		}
		time.Sleep(pollEvery)
	}
}

// Screenshot saves a PNG of the tab's viewport as <test>-<name>.png in
// $BROWSER_SCREENSHOT_DIR or the test's temporary directory, logs the path
// and returns it. A failure to take it fails the test.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	path, err := p.screenshot(name)
	if err != nil {
		p.t.Fatalf("browser: screenshot: %v", err)
	}
	where := "kept"
	if os.Getenv(ScreenshotDirEnv) == "" {
		where = "removed with the test's temporary directory; set " + ScreenshotDirEnv + " to keep it"
	}
	p.t.Logf("browser: screenshot %s (%s)", path, where)
	return path
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (p *Page) screenshot(name string) (string, error) {
	ctx, cancel := context.WithTimeout(p.ctx, EvalTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p.b.shots, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(p.b.shots, unsafeName.ReplaceAllString(p.t.Name()+"-"+name, "_")+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// cappedBuffer keeps the first max bytes written to it, from any goroutine
// (the browser's output arrives on the allocator's).
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}
