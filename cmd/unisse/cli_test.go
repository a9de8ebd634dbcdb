package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/config"
)

// cli runs a command line as main does and returns stdout, stderr and the error.
func cli(t *testing.T, env []string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := dispatch(args, env, &out, &errOut)
	return out.String(), errOut.String(), err
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestVersionCommand: unisse version and --version print the version, the
// Go version and a stamped commit.
func TestVersionCommand(t *testing.T) {
	old := commit
	commit = "abc1234"
	t.Cleanup(func() { commit = old })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := cli(t, nil, args...)
		want := "unisse " + engine.Version + " (Go version: " + runtime.Version() + ", commit abc1234)\n"
		if err != nil || out != want {
			t.Errorf("%v: %q, %v; want %q", args, out, err, want)
		}
	}
	if _, _, err := cli(t, nil, "version", "extra"); err == nil {
		t.Error("version with an argument: no error")
	}
}

// TestGenconfig: genconfig writes a private JSON config with a generated
// HMAC secret and API key and uni_sse enabled, that loads without unknown
// keys; it refuses to overwrite a file unless -f, and writes only JSON.
func TestGenconfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	if _, _, err := cli(t, nil, "genconfig", "-c", p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 (the file holds secrets)", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(p)
	o, rep, err := config.Load([]string{"-c", p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ignored) > 0 {
		t.Errorf("generated file has ignored keys %v", rep.Ignored)
	}
	if len(o.Client.Token.HMACSecretKey) != 64 || len(o.HTTPAPI.Key) != 32 || !o.UniSSE.Enabled || o.Client.Insecure || o.HTTPAPI.Insecure {
		t.Errorf("generated config: secret %q, key %q, uni_sse %v", o.Client.Token.HMACSecretKey, o.HTTPAPI.Key, o.UniSSE.Enabled)
	}
	if err := o.Validate(); err != nil {
		t.Error(err)
	}

	_, _, err = cli(t, nil, "genconfig", "-c", p)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second genconfig: %v, want an already-exists error", err)
	}
	if now, _ := os.ReadFile(p); !bytes.Equal(now, first) {
		t.Error("the refused genconfig changed the file")
	}
	if _, _, err := cli(t, nil, "genconfig", "--config", p, "-f"); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(p); bytes.Equal(now, first) {
		t.Error("genconfig -f did not write new secrets")
	}
	// -f over a world-readable file: the new secrets are 0600 all the same.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, nil, "genconfig", "-c", p, "-f"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after -f over a 0644 file: %v %v, want mode 0600", fi.Mode().Perm(), err)
	}
	// A generated file that does not load (here: the environment sets an
	// invalid log level) leaves the existing config as it was, and no
	// temporary file behind.
	kept, _ := os.ReadFile(p)
	if _, _, err := cli(t, []string{"UNISSE_LOG_LEVEL=verbose"}, "genconfig", "-c", p, "-f"); err == nil {
		t.Error("genconfig -f with an invalid UNISSE_LOG_LEVEL succeeded")
	}
	if now, _ := os.ReadFile(p); !bytes.Equal(now, kept) {
		t.Error("a failed genconfig -f replaced the existing config")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".genconfig-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if _, _, err := cli(t, nil, "genconfig", "-c", filepath.Join(t.TempDir(), "config.yaml")); err == nil {
		t.Error("genconfig wrote a .yaml file")
	}
}

// TestCheckconfig: exit status (error) and output of checkconfig for a valid
// file, unknown and unsupported keys (with --strict), a near miss of a
// secret, an invalid log.level, and a missing file.
func TestCheckconfig(t *testing.T) {
	good := writeFile(t, `{"client":{"token":{"hmac_secret_key":"s"},"channel_limt":5},"websocket":{"compression":true}}`)
	out, _, err := cli(t, nil, "checkconfig", "-c", good)
	if err != nil {
		t.Fatalf("valid file: %v\n%s", err, out)
	}
	for _, want := range []string{
		"unsupported key websocket:",
		"unknown key client.channel_limt (did you mean client.channel_limit?)",
		good + ": valid",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := cli(t, nil, "checkconfig", "-c", good, "--strict"); err == nil {
		t.Error("--strict passed a file with an unknown key")
	}

	bad := writeFile(t, `{"client":{"token":{"hmac_secret":"s"}},"log":{"level":"verbose"}}`)
	out, _, err = cli(t, nil, "checkconfig", "-c", bad)
	var nm *config.NearMissError
	var fe *config.FieldError
	if !errors.As(err, &nm) || nm.Meant != "client.token.hmac_secret_key" || !errors.As(err, &fe) || fe.Key != "log.level" {
		t.Errorf("near miss and bad level: error %v, want both", err)
	}
	if !strings.Contains(err.Error(), "unknown key client.token.hmac_secret: did you mean client.token.hmac_secret_key?") {
		t.Errorf("error %q does not name the key meant", err)
	}
	if strings.Contains(out, ": valid") {
		t.Errorf("invalid file reported valid:\n%s", out)
	}

	if _, _, err := cli(t, nil, "checkconfig", "-c", filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestGentoken: gentoken prints one line, the token, signed HS256 with the
// config's secret, with sub, channels and exp from the flags in both the
// issue's form (--ttl 1h, --channels a,b) and Centrifugo's (-t seconds,
// -t -1: no exp); it fails, printing nothing, without an HMAC secret.
func TestGentoken(t *testing.T) {
	const secret = "gentoken-test-secret"
	p := writeFile(t, `{"client":{"token":{"hmac_secret_key":"`+secret+`"}}}`)
	parse := func(out string) jwt.MapClaims {
		t.Helper()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Fatalf("stdout %q is not one line", out)
		}
		claims := jwt.MapClaims{}
		tok, err := jwt.ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
			jwt.WithValidMethods([]string{"HS256"}))
		if err != nil || !tok.Valid {
			t.Fatalf("token does not verify with the config's secret: %v", err)
		}
		return claims
	}
	near := func(c jwt.MapClaims, ttl time.Duration) {
		t.Helper()
		exp, err := c.GetExpirationTime()
		if err != nil || exp == nil {
			t.Fatalf("no exp: %v", err)
		}
		if d := time.Until(exp.Time) - ttl; d > 5*time.Second || d < -5*time.Second {
			t.Errorf("exp %v is not about %v from now", exp.Time, ttl)
		}
	}

	out, _, err := cli(t, nil, "gentoken", "-c", p, "-u", "alice", "--channels", "a,b", "--ttl", "1h")
	if err != nil {
		t.Fatal(err)
	}
	c := parse(out)
	if sub, _ := c.GetSubject(); sub != "alice" {
		t.Errorf("sub %q", sub)
	}
	if ch, _ := json.Marshal(c["channels"]); string(ch) != `["a","b"]` {
		t.Errorf("channels %s", ch)
	}
	near(c, time.Hour)

	out, _, err = cli(t, nil, "gentoken", "--config", p, "--user", "bob", "-t", "60")
	if err != nil {
		t.Fatal(err)
	}
	c = parse(out)
	near(c, time.Minute)
	if _, ok := c["channels"]; ok {
		t.Error("channels claim without --channels")
	}

	out, _, err = cli(t, nil, "gentoken", "-c", p, "-u", "carol", "-t", "-1", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := parse(out)["exp"]; ok {
		t.Error("exp with -t -1")
	}

	noSecret := writeFile(t, `{"client":{"token":{"rsa_public_key":""}}}`)
	out, _, err = cli(t, nil, "gentoken", "-c", noSecret, "-u", "alice")
	if err == nil || !strings.Contains(err.Error(), "client.token.hmac_secret_key") || out != "" {
		t.Errorf("without a secret: stdout %q, error %v", out, err)
	}
	if _, _, err := cli(t, nil, "gentoken", "-c", p, "--ttl", "soon"); err == nil {
		t.Error("--ttl soon accepted")
	}
}

// TestStartRefusesNearMissSecretAndBadLevel: the server does not start with
// a misspelt secret setting (file or env) or an unknown log.level.
func TestStartRefusesNearMissSecretAndBadLevel(t *testing.T) {
	var nm *config.NearMissError
	p := writeFile(t, `{"http_api":{"kye":"k"}}`)
	if err := run([]string{"-c", p}, nil, &bytes.Buffer{}); !errors.As(err, &nm) || nm.Meant != "http_api.key" {
		t.Errorf("http_api.kye: %v", err)
	}
	empty := writeFile(t, `{}`)
	err := run([]string{"-c", empty}, []string{"UNISSE_CLIENT_TOKEN_HMAC_SECRET=x"}, &bytes.Buffer{})
	if !errors.As(err, &nm) || nm.Meant != "UNISSE_CLIENT_TOKEN_HMAC_SECRET_KEY" {
		t.Errorf("UNISSE_CLIENT_TOKEN_HMAC_SECRET: %v", err)
	}
	var fe *config.FieldError
	if err := run([]string{"-c", empty, "--log.level", "verbose"}, nil, &bytes.Buffer{}); !errors.As(err, &fe) || fe.Key != "log.level" {
		t.Errorf("log.level verbose: %v", err)
	}
	// A log.file that cannot be opened stops start-up instead of logging
	// to stdout where nobody looks.
	bad := filepath.Join(t.TempDir(), "missing-dir", "unisse.log")
	if err := run([]string{"-c", empty, "--log.file", bad}, nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "log.file") {
		t.Errorf("unopenable log.file: %v", err)
	}
}

// TestJSONLogs: with unisse.log_format json every log line is a JSON object
// with time, level and msg, at the configured level; a near-miss warning
// names the key meant.
func TestJSONLogs(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(config.Log{Level: "debug"}, "json", &buf)
	log.Debug("hello", "k", "v")
	p := writeFile(t, `{"client":{"channel_limt":5}}`)
	o, rep, err := config.Load([]string{"-c", p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logStartup(log, &buf, &o, rep)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("log:\n%s", buf.String())
	}
	var msgs []string
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if rec["time"] == nil || rec["level"] == nil {
			t.Errorf("line lacks time or level: %q", l)
		}
		msgs = append(msgs, rec["msg"].(string))
	}
	if msgs[0] != "hello" || !strings.Contains(strings.Join(msgs, "\n"), "unknown key client.channel_limt: did you mean client.channel_limit? (ignored)") {
		t.Errorf("messages %q", msgs)
	}

	buf.Reset()
	newLogger(config.Log{Level: "WARN"}, "json", &buf).Info("hidden")
	newLogger(config.Log{Level: "none"}, "json", &buf).Error("hidden")
	if buf.Len() != 0 {
		t.Errorf("lines below the level: %q", buf.String())
	}
	buf.Reset()
	newLogger(config.Log{Level: "trace"}, "text", &buf).Debug("shown")
	if !strings.HasPrefix(buf.String(), "time=") || !strings.Contains(buf.String(), "msg=shown") {
		t.Errorf("trace text log: %q", buf.String())
	}
}

// TestBannerSaysWhereItListens: on a wildcard address the banner says it
// binds every interface and offers the loopback URL to try; on a specific
// address it names that address.
func TestBannerSaysWhereItListens(t *testing.T) {
	out, _ := startup(t, nil, nil)
	if !strings.Contains(out, "listening on 0.0.0.0:8000 (all interfaces); try http://127.0.0.1:8000\n") {
		t.Errorf("wildcard banner:\n%s", out)
	}
	out, _ = startup(t, []string{"--http_server.address", "127.0.0.2", "--http_server.internal_port", "9000"}, nil)
	if !strings.Contains(out, "listening on http://127.0.0.2:8000\n") || strings.Contains(out, "all interfaces") ||
		!strings.Contains(out, "server API, health and metrics on http://127.0.0.2:9000") {
		t.Errorf("specific-address banner:\n%s", out)
	}
}
