package namespace_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/namespace"
)

// captureChannels is channel config of shared/captures/config.json, with the
// defaults of config.Default (boundary ":", private prefix "$", max length 255).
func captureChannels() config.Channel {
	c := config.Default().Channel
	c.Namespaces = []config.Namespace{
		{Name: "hist", ChannelOptions: config.ChannelOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, ForceRecovery: true}},
		{Name: "pos", ChannelOptions: config.ChannelOptions{HistorySize: 10, HistoryTTL: 300 * time.Second, ForcePositioning: true}},
		{Name: "jl", ChannelOptions: config.ChannelOptions{Presence: true, JoinLeave: true, ForcePushJoinLeave: true}},
		{Name: "open", ChannelOptions: config.ChannelOptions{AllowSubscribeForClient: true}},
	}
	return c
}

func newResolver(t *testing.T, c config.Channel) *namespace.Resolver {
	t.Helper()
	r, err := namespace.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func TestDefaults(t *testing.T) {
	c := config.Default().Channel
	if c.NamespaceBoundary != ":" || c.PrivatePrefix != "$" || c.MaxLength != 255 {
		t.Fatalf("defaults changed: %+v; the tests below assume Centrifugo's", c)
	}
}

func TestLookup(t *testing.T) {
	r := newResolver(t, captureChannels())
	cases := []struct {
		ch     string
		ns     string // "" = without namespace
		known  bool
		nsPart string // NamespaceOf
	}{
		{"news", "", true, ""},
		{"news1795640898", "", true, ""},
		{"hist:lonely", "hist", true, "hist"},
		{"hist:", "hist", true, "hist"},
		{"hist:a:b", "hist", true, "hist"}, // the first boundary splits
		{"pos:x", "pos", true, "pos"},
		{"jl:room", "jl", true, "jl"},
		{"open:x", "open", true, "open"},
		{"nope:x", "", false, "nope"}, // [32]: unknown channel
		{"Hist:x", "", false, "Hist"}, // names are case-sensitive
		{"hist2:x", "", false, "hist2"},
		{"his:x", "", false, "his"},
		{":x", "", true, ""}, // empty namespace part: without namespace
		{":", "", true, ""},
		{"", "", true, ""},
		{"$news", "", true, ""},           // private, without namespace
		{"$hist:x", "hist", true, "hist"}, // the private prefix precedes the namespace
		{"$nope:x", "", false, "nope"},
		{"$$hist:x", "", false, "$hist"}, // only one prefix is stripped
		{"a$hist:x", "", false, "a$hist"},
		{"#user", "", true, ""},
		{"hist:#user", "hist", true, "hist"},
		{"chat#u1,u2", "", true, ""},
	}
	for _, c := range cases {
		opts, ok := r.Lookup(c.ch)
		if ok != c.known {
			t.Errorf("Lookup(%q) ok = %v, want %v", c.ch, ok, c.known)
			continue
		}
		if got := r.NamespaceOf(c.ch); got != c.nsPart {
			t.Errorf("NamespaceOf(%q) = %q, want %q", c.ch, got, c.nsPart)
		}
		if !ok {
			continue
		}
		if opts == nil || opts.Name != c.ns {
			t.Errorf("Lookup(%q) = %+v, want namespace %q", c.ch, opts, c.ns)
		}
	}
	// The options are the namespace's own.
	h, _ := r.Lookup("hist:x")
	if h.HistorySize != 10 || h.HistoryTTL != 300*time.Second || !h.ForceRecovery || h.Presence {
		t.Errorf("hist options %+v", h.ChannelOptions)
	}
	j, _ := r.Lookup("jl:x")
	if !j.Presence || !j.JoinLeave || !j.ForcePushJoinLeave || j.HistorySize != 0 {
		t.Errorf("jl options %+v", j.ChannelOptions)
	}
	// Options without history_meta_ttl take channel.history_meta_ttl.
	w, _ := r.Lookup("news")
	if w.ChannelOptions != (config.ChannelOptions{HistoryMetaTTL: config.Default().Channel.HistoryMetaTTL}) {
		t.Errorf("without-namespace options %+v, want the empty config with the default meta TTL", w.ChannelOptions)
	}
	if h.HistoryMetaTTL != config.Default().Channel.HistoryMetaTTL {
		t.Errorf("hist meta TTL %v, want channel.history_meta_ttl", h.HistoryMetaTTL)
	}
	// Lookups of one namespace share its options.
	h2, _ := r.Lookup("$hist:y")
	if h2 != h {
		t.Error("two channels of one namespace got different options")
	}
}

// history_meta_ttl: a namespace's own value wins; unset (0) takes
// channel.history_meta_ttl, whatever that is set to.
func TestHistoryMetaTTL(t *testing.T) {
	c := captureChannels()
	c.HistoryMetaTTL = 2 * time.Hour
	c.Namespaces[0].HistoryMetaTTL = 10 * time.Minute // hist
	r := newResolver(t, c)
	for ch, want := range map[string]time.Duration{"hist:x": 10 * time.Minute, "pos:x": 2 * time.Hour, "news": 2 * time.Hour} {
		opts, ok := r.Lookup(ch)
		if !ok {
			t.Fatalf("Lookup(%q) failed", ch)
		}
		if opts.HistoryMetaTTL != want {
			t.Errorf("Lookup(%q): HistoryMetaTTL %v, want %v", ch, opts.HistoryMetaTTL, want)
		}
	}
	if c.Namespaces[1].HistoryMetaTTL != 0 {
		t.Error("New modified the caller's config")
	}
}

func TestCustomBoundaryAndPrefix(t *testing.T) {
	c := captureChannels()
	c.NamespaceBoundary = "::"
	c.PrivatePrefix = "private-"
	r := newResolver(t, c)
	cases := []struct {
		ch      string
		ns      string
		known   bool
		private bool
	}{
		{"hist::x", "hist", true, false},
		{"hist:x", "", true, false}, // ":" is no longer a boundary
		{"private-hist::x", "hist", true, true},
		{"private-news", "", true, true},
		{"$hist::x", "", false, false}, // "$" is no longer the prefix
		{"$news", "", true, false},
		{"nope::x", "", false, false},
		{"hist:::x", "hist", true, false},
		{"private-", "", true, true},
		{"privatehist::x", "", false, false},
	}
	for _, c := range cases {
		opts, ok := r.Lookup(c.ch)
		if ok != c.known || ok && opts.Name != c.ns {
			t.Errorf("Lookup(%q) = %v, %v; want namespace %q known %v", c.ch, opts, ok, c.ns, c.known)
		}
		if got := r.IsPrivate(c.ch); got != c.private {
			t.Errorf("IsPrivate(%q) = %v, want %v", c.ch, got, c.private)
		}
	}

	// An empty boundary turns namespaces off: every channel is without namespace.
	c.NamespaceBoundary = ""
	r = newResolver(t, c)
	for _, ch := range []string{"hist:x", "nope:x", "hist::x", "private-hist:x"} {
		if opts, ok := r.Lookup(ch); !ok || opts.Name != "" {
			t.Errorf("empty boundary: Lookup(%q) = %v, %v; want without namespace", ch, opts, ok)
		}
		if r.NamespaceOf(ch) != "" {
			t.Errorf("empty boundary: NamespaceOf(%q) = %q", ch, r.NamespaceOf(ch))
		}
	}

	// A single-character boundary other than ":".
	c.NamespaceBoundary = "/"
	c.PrivatePrefix = "$"
	r = newResolver(t, c)
	if opts, ok := r.Lookup("$hist/a/b"); !ok || opts.Name != "hist" {
		t.Errorf(`boundary "/": Lookup("$hist/a/b") = %v, %v`, opts, ok)
	}
	if opts, ok := r.Lookup("hist:a"); !ok || opts.Name != "" {
		t.Errorf(`boundary "/": Lookup("hist:a") = %v, %v`, opts, ok)
	}
}

func TestIsPrivate(t *testing.T) {
	r := newResolver(t, captureChannels())
	for ch, want := range map[string]bool{
		"$x": true, "$hist:x": true, "$": true, "$$": true,
		"x": false, "hist:$x": false, "": false, "x$": false, "#$x": false,
	} {
		if got := r.IsPrivate(ch); got != want {
			t.Errorf("IsPrivate(%q) = %v, want %v", ch, got, want)
		}
	}
	// No private prefix: nothing is private.
	c := captureChannels()
	c.PrivatePrefix = ""
	r = newResolver(t, c)
	for _, ch := range []string{"$x", "x", ""} {
		if r.IsPrivate(ch) {
			t.Errorf("no prefix: IsPrivate(%q) = true", ch)
		}
	}
	if opts, ok := r.Lookup("hist:x"); !ok || opts.Name != "hist" {
		t.Errorf("no prefix: Lookup(hist:x) = %v, %v", opts, ok)
	}
}

func TestHasHistory(t *testing.T) {
	cases := []struct {
		size int
		ttl  time.Duration
		want bool
	}{
		{10, time.Minute, true},
		{1, time.Second, true},
		{0, time.Minute, false},
		{10, 0, false},
		{0, 0, false},
	}
	for _, c := range cases {
		o := namespace.Options{ChannelOptions: config.ChannelOptions{HistorySize: c.size, HistoryTTL: c.ttl}}
		if got := o.HasHistory(); got != c.want {
			t.Errorf("HasHistory(size %d, ttl %v) = %v, want %v", c.size, c.ttl, got, c.want)
		}
	}
	r := newResolver(t, captureChannels())
	for ch, want := range map[string]bool{"hist:x": true, "pos:x": true, "jl:x": false, "news": false} {
		opts, _ := r.Lookup(ch)
		if got := opts.HasHistory(); got != want {
			t.Errorf("%s: HasHistory = %v, want %v", ch, got, want)
		}
	}
}

func TestValidMaxLength(t *testing.T) {
	c := captureChannels()
	c.MaxLength = 10
	r := newResolver(t, c)
	w, _ := r.Lookup("news")
	h, _ := r.Lookup("hist:x")
	for _, tc := range []struct {
		ch   string
		opts *namespace.Options
		want bool
	}{
		{"", w, true},
		{"abcdefghij", w, true},   // exactly max_length
		{"abcdefghijk", w, false}, // one more
		{"$abcdefghi", w, true},   // the prefix counts
		{"$abcdefghij", w, false},
		{"hist:abcde", h, true}, // the namespace counts
		{"hist:abcdef", h, false},
		{"ééééé", w, true},   // bytes, not runes: 10 bytes
		{"éééééa", w, false}, // 11 bytes
	} {
		if got := r.Valid(tc.ch, tc.opts); got != tc.want {
			t.Errorf("max_length 10: Valid(%q) = %v, want %v", tc.ch, got, tc.want)
		}
	}
	// The default is 255.
	r = newResolver(t, captureChannels())
	w, _ = r.Lookup("news")
	if !r.Valid(strings.Repeat("a", 255), w) || r.Valid(strings.Repeat("a", 256), w) {
		t.Error("default max_length is not 255")
	}
	// 0: no limit.
	c.MaxLength = 0
	r = newResolver(t, c)
	w, _ = r.Lookup("news")
	if !r.Valid(strings.Repeat("a", 100000), w) {
		t.Error("max_length 0 limits channel names")
	}
}

// channel_regex is matched against the part of the channel after the
// namespace (Centrifugo's ChannelOptions "rest").
func TestValidChannelRegex(t *testing.T) {
	c := captureChannels()
	c.Namespaces = append(c.Namespaces,
		config.Namespace{Name: "re", ChannelOptions: config.ChannelOptions{ChannelRegex: `^[a-z]+$`}},
		config.Namespace{Name: "ids", ChannelOptions: config.ChannelOptions{ChannelRegex: `^\d{1,4}$`}},
	)
	r := newResolver(t, c)
	for _, tc := range []struct {
		ch   string
		want bool
	}{
		{"re:abc", true},
		{"re:ab1", false},
		{"re:ABC", false},
		{"re:", false},    // empty rest does not match +
		{"re:a:b", false}, // the rest is "a:b"
		{"$re:abc", true}, // the private prefix is not part of the rest
		{"$re:ab-c", false},
		{"ids:1234", true},
		{"ids:12345", false},
		{"ids:re", false},
	} {
		opts, ok := r.Lookup(tc.ch)
		if !ok {
			t.Fatalf("Lookup(%q) failed", tc.ch)
		}
		if got := r.Valid(tc.ch, opts); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.ch, got, tc.want)
		}
	}
	// Namespaces without a regex accept any name within max_length.
	h, _ := r.Lookup("hist:x")
	if !r.Valid("hist:Any thing!", h) {
		t.Error("namespace without channel_regex rejected a name")
	}
	// Without namespace, a plain channel is matched as a whole.
	c.WithoutNamespace.ChannelRegex = `^[a-z]+$`
	r = newResolver(t, c)
	w, _ := r.Lookup("news")
	if !r.Valid("news", w) || r.Valid("news1", w) {
		t.Error("without_namespace channel_regex not applied to the whole channel")
	}
}

// Centrifugo's ChannelOptions (internal/config/container.go namespaceName)
// returns rest = the channel unchanged when it has no namespace boundary (the
// private prefix stays in), and the part after the boundary when it has one,
// also when the namespace part is empty (":x" → without namespace, rest "x").
// ValidChannelName matches channel_regex against that rest.
func TestValidChannelRegexRestMatchesCentrifugo(t *testing.T) {
	c := captureChannels()
	c.WithoutNamespace.ChannelRegex = `^[a-z]+$`
	r := newResolver(t, c)
	w, _ := r.Lookup("news")
	for _, tc := range []struct {
		ch   string
		want bool
	}{
		{"$news", false}, // rest "$news"
		{":news", true},  // rest "news"
		{"$:news", true}, // rest "news"
	} {
		opts, ok := r.Lookup(tc.ch)
		if !ok || opts != w {
			t.Fatalf("Lookup(%q) = %v, %v; want without namespace", tc.ch, opts, ok)
		}
		if got := r.Valid(tc.ch, opts); got != tc.want {
			t.Errorf("without_namespace regex %s: Valid(%q) = %v, want %v (Centrifugo matches %q)", c.WithoutNamespace.ChannelRegex, tc.ch, got, tc.want, rest(tc.ch))
		}
	}
}

// rest is Centrifugo's namespaceName rest for the default boundary and prefix.
func rest(ch string) string {
	trimmed := strings.TrimPrefix(ch, "$")
	if _, after, ok := strings.Cut(trimmed, ":"); ok {
		return after
	}
	return ch
}

func TestNewInvalidRegex(t *testing.T) {
	c := captureChannels()
	c.Namespaces = append(c.Namespaces, config.Namespace{Name: "bad", ChannelOptions: config.ChannelOptions{ChannelRegex: `[a-`}})
	if _, err := namespace.New(c); err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "channel_regex") {
		t.Errorf("New with a bad namespace regex: %v", err)
	}
	c = captureChannels()
	c.WithoutNamespace.ChannelRegex = `(`
	if _, err := namespace.New(c); err == nil || !strings.Contains(err.Error(), "channel_regex") {
		t.Errorf("New with a bad without_namespace regex: %v", err)
	}
}

// Lookup, Valid and IsPrivate are read-only: safe from any goroutine (-race).
func TestConcurrentReads(t *testing.T) {
	c := captureChannels()
	c.Namespaces = append(c.Namespaces, config.Namespace{Name: "re", ChannelOptions: config.ChannelOptions{ChannelRegex: `^[a-z]+$`}})
	r := newResolver(t, c)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				ch := [...]string{"news", "hist:x", "$re:abc", "re:1", "nope:x"}[(g+i)%5]
				opts, ok := r.Lookup(ch)
				if ok != (ch != "nope:x") {
					t.Errorf("Lookup(%q) ok = %v", ch, ok)
					return
				}
				if ok {
					_ = r.Valid(ch, opts)
					_ = opts.HasHistory()
				}
				_ = r.IsPrivate(ch)
			}
		})
	}
	wg.Wait()
}
