package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/unisse/unisse/engine/config"
)

// startup runs what run does before the engine starts, and then the banner,
// writing everything (logs included) to one buffer: config.Load, the
// logger, logStartup, fillSecrets, Validate, printBanner. It returns the
// output and the final options.
// Without -c in args, an empty config file is used, so that a config.json
// in the working directory cannot change the outcome.
func startup(t *testing.T, args, environ []string) (string, config.Options) {
	t.Helper()
	if !slices.Contains(args, "-c") {
		empty := filepath.Join(t.TempDir(), "empty.json")
		if err := os.WriteFile(empty, []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"-c", empty}, args...)
	}
	opts, rep, err := config.Load(args, environ)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	log := newLogger(opts.Log, opts.Own.LogFormat, &out)
	logStartup(log, &out, &opts, rep)
	generated := fillSecrets(&opts)
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	printBanner(&out, &opts, generated)
	return out.String(), opts
}

// jwtRe matches a compact JWS as it appears in the banner, raw or
// percent-encoded; every JWT header ("{"...) base64-encodes to "eyJ".
var jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// TestBannerHidesConfiguredSecrets: with a configured HMAC secret and API
// key (from flags, env or the file, at debug level) neither the secret, the
// key nor any JWT appears in the start-up output; the banner says which
// configured setting to use instead.
func TestBannerHidesConfiguredSecrets(t *testing.T) {
	const secret, key, prev = "configured-hmac-S3cret", "configured-api-K3y", "previous-hmac-S3cret"
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"client":{"token":{"hmac_previous_secret_key":"`+prev+`","hmac_previous_secret_key_valid_until":4102444800}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]struct{ args, env []string }{
		"flags": {args: []string{"-c", file, "--log.level=debug", "--client.token.hmac_secret_key=" + secret, "--http_api.key=" + key}},
		"env":   {args: []string{"-c", file, "--log.level=debug"}, env: []string{"UNISSE_CLIENT_TOKEN_HMAC_SECRET_KEY=" + secret, "CENTRIFUGO_HTTP_API_KEY=" + key}},
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := startup(t, src.args, src.env)
			for _, leak := range []string{secret, key, prev, url.QueryEscape(secret), url.QueryEscape(key)} {
				if strings.Contains(out, leak) {
					t.Errorf("output reveals %q:\n%s", leak, out)
				}
			}
			if m := jwtRe.FindString(out); m != "" {
				t.Errorf("output carries a JWT %s:\n%s", m, out)
			}
			for _, want := range []string{"configured client.token.hmac_secret_key", "using the configured http_api.key", "generated"} {
				if got := strings.Contains(out, want); got == (want == "generated") {
					t.Errorf("output contains %q: %v, want %v:\n%s", want, got, !got, out)
				}
			}
		})
	}
}

// TestBannerPrintsGeneratedSecrets: without configured secrets the banner
// prints the generated HMAC secret and API key, and a connect URL whose
// token verifies with that secret.
func TestBannerPrintsGeneratedSecrets(t *testing.T) {
	out, opts := startup(t, nil, nil)
	secret, key := opts.Client.Token.HMACSecretKey, opts.HTTPAPI.Key
	if len(secret) < 32 || len(key) < 16 {
		t.Fatalf("secrets not generated: %q %q", secret, key)
	}
	if !strings.Contains(out, "generated client.token.hmac_secret_key: "+secret+"\n") ||
		!strings.Contains(out, "generated http_api.key: "+key+"\n") ||
		!strings.Contains(out, "X-API-Key: "+key+"'") {
		t.Fatalf("generated secrets missing from the banner:\n%s", out)
	}
	raw, err := url.QueryUnescape(jwtRe.FindString(out))
	if err != nil || raw == "" {
		t.Fatalf("no token in the banner (%v):\n%s", err, out)
	}
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !tok.Valid {
		t.Fatalf("banner token does not verify with the generated secret: %v", err)
	}
	if sub, _ := tok.Claims.GetSubject(); sub != "demo" {
		t.Fatalf("token sub %q, want demo", sub)
	}
}

// TestInsecureModeWarnings: each mode that lets someone in without
// credentials gets its own WARN line naming the setting, at the default log
// level, and still reaches the output when log.level hides warnings; a
// secure configuration gets none.
func TestInsecureModeWarnings(t *testing.T) {
	warnLine := regexp.MustCompile(`(?m)^time=\S+ level=WARN msg=".*`)
	for _, c := range []struct {
		args []string
		key  string
	}{
		{[]string{"--client.insecure"}, "client.insecure"},
		{[]string{"--http_api.insecure"}, "http_api.insecure"},
		{[]string{"--client.insecure_skip_token_signature_verify"}, "client.insecure_skip_token_signature_verify"},
		{[]string{"--client.allow_anonymous_connect_without_token"}, "client.allow_anonymous_connect_without_token"},
		{[]string{"--client.token.jwks_public_endpoint=http://keys.example/jwks"}, "client.token.jwks_public_endpoint"},
		{[]string{"--unisse.pprof_address=0.0.0.0:6060"}, "unisse.pprof_address"},
	} {
		t.Run(c.key, func(t *testing.T) {
			out, _ := startup(t, c.args, nil)
			var hits []string
			for _, l := range warnLine.FindAllString(out, -1) {
				if strings.Contains(l, "("+c.key+")") || strings.Contains(l, c.key+" ") {
					hits = append(hits, l)
				}
			}
			if len(hits) != 1 {
				t.Fatalf("want one WARN line naming %s, got %q in:\n%s", c.key, hits, out)
			}
			for _, level := range []string{"error", "none"} {
				quiet, _ := startup(t, append([]string{"--log.level=" + level}, c.args...), nil)
				if !regexp.MustCompile(`(?m)^WARNING: .*` + regexp.QuoteMeta(c.key)).MatchString(quiet) {
					t.Fatalf("with log.level=%s the warning for %s is gone:\n%s", level, c.key, quiet)
				}
			}
		})
	}
	// Both insecure flags at once: one warning each.
	out, _ := startup(t, []string{"--client.insecure", "--http_api.insecure"}, nil)
	if n := strings.Count(out, "level=WARN msg=\"INSECURE"); n != 2 {
		t.Fatalf("%d INSECURE warnings for two insecure flags:\n%s", n, out)
	}
	// Generated secrets, nothing insecure: no warning at all.
	if out, _ := startup(t, nil, nil); strings.Contains(out, "level=WARN") {
		t.Fatalf("warnings for a secure configuration:\n%s", out)
	}
}

// TestUnsupportedKeysReport: the start-up log lists Centrifugo keys unisse
// does not implement (including a value it does not implement), and no
// longer lists client.connection_limit or client.connection_rate_limit.
func TestUnsupportedKeysReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	body := `{
		"websocket": {"compression": true},
		"client": {"connection_limit": 3, "connection_rate_limit": 5, "proxy": {"connect": {"enabled": true}}},
		"channel": {"without_namespace": {"history_size": 10, "history_ttl": "60s", "force_recovery": true, "force_recovery_mode": "cache"}},
		"typo_key": 1
	}`
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, opts := startup(t, []string{"-c", file}, nil)
	if opts.Client.ConnectionLimit != 3 || opts.Client.ConnectionRateLimit != 5 {
		t.Fatalf("limits not loaded: %+v", opts.Client)
	}
	unsupported := regexp.MustCompile(`(?m)^.*level=WARN msg="ignoring Centrifugo settings unisse does not implement" keys="\[(.*)\]"$`).FindStringSubmatch(out)
	if unsupported == nil {
		t.Fatalf("no unsupported-keys warning:\n%s", out)
	}
	keys := strings.Fields(unsupported[1])
	want := []string{"channel.without_namespace.force_recovery_mode", "client.proxy", "websocket"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("unsupported keys %q, want %q", keys, want)
	}
	if !regexp.MustCompile(`(?m)level=WARN msg="ignoring unknown settings" keys=\[typo_key\]$`).MatchString(out) {
		t.Fatalf("no unknown-keys warning for typo_key:\n%s", out)
	}
}
