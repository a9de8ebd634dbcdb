package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDidYouMean: unknown keys within two edits of a known key, or with a
// '_'-word missing or added at either end of the last segment, are matched
// to it (indexes kept); far ones and short affixes are not.
func TestDidYouMean(t *testing.T) {
	for unknown, want := range map[string]string{
		"client.token.hmac_secret":           "client.token.hmac_secret_key",
		"client.token.secret_key":            "client.token.hmac_secret_key",
		"client.token.hmac_secret_keys":      "client.token.hmac_secret_key",
		"clent.token.hmac_secret_key":        "client.token.hmac_secret_key",
		"http_api.kye":                       "http_api.key",
		"client.channel_limt":                "client.channel_limit",
		"channel.namespaces[3].presense":     "channel.namespaces[3].presence",
		"uni_sse.enabeld":                    "uni_sse.enabled",
		"UNISSE_CLIENT_TOKEN_HMAC_SECRET":    "UNISSE_CLIENT_TOKEN_HMAC_SECRET_KEY",
		"CENTRIFUGO_HTTP_API_KY":             "CENTRIFUGO_HTTP_API_KEY",
		"typo_key":                           "",
		"client.something_else_entirely":     "",
		"unisse.key":                         "",
		"UNISSE_NOT_A_SETTING_AT_ALL":        "",
		"UNISSE_CHANNEL_NAMESPACES_X_PRSNCE": "",
	} {
		if got := didYouMean(unknown); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", unknown, got, want)
		}
	}
}

// TestNearMissOfSecretIsAnError: Load fails with *NearMissError naming the
// key meant for a misspelt secret setting (file or env), still returning the
// options and the report; a near miss of another key is only reported.
func TestNearMissOfSecretIsAnError(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write(`{"client":{"token":{"hmac_secret":"s"}},"http_server":{"port":9001}}`)
	o, rep, err := Load([]string{"-c", p}, nil)
	var nm *NearMissError
	if !errors.As(err, &nm) || nm.Key != "client.token.hmac_secret" || nm.Meant != "client.token.hmac_secret_key" {
		t.Fatalf("error %v", err)
	}
	if !strings.Contains(err.Error(), "unknown key client.token.hmac_secret: did you mean client.token.hmac_secret_key?") {
		t.Errorf("message %q", err)
	}
	if o.HTTPServer.Port != 9001 || rep.DidYouMean["client.token.hmac_secret"] != "client.token.hmac_secret_key" {
		t.Errorf("options or report not filled: port %d, %v", o.HTTPServer.Port, rep.DidYouMean)
	}

	for _, body := range []string{
		`{"broker":{"redis":{"pasword":"x"}}}`,
		`{"client":{"token":{"hmac_previous_secret":"x"}}}`,
	} {
		if _, _, err := Load([]string{"-c", write(body)}, nil); !errors.As(err, &nm) {
			t.Errorf("%s: error %v, want a near miss", body, err)
		}
	}

	_, rep, err = Load([]string{"-c", write(`{"client":{"channel_limt":3}}`)}, []string{"UNISSE_HTTP_SERVER_PROT=1"})
	if err != nil {
		t.Fatalf("near miss of a non-secret: %v", err)
	}
	if rep.DidYouMean["client.channel_limt"] != "client.channel_limit" || rep.DidYouMean["UNISSE_HTTP_SERVER_PROT"] != "UNISSE_HTTP_SERVER_PORT" {
		t.Errorf("DidYouMean %v", rep.DidYouMean)
	}
	if h := rep.Hint("client.channel_limt"); h != " (did you mean client.channel_limit?)" {
		t.Errorf("Hint %q", h)
	}

	_, _, err = Load([]string{"-c", write(`{}`)}, []string{"CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET=x"})
	if !errors.As(err, &nm) || nm.Meant != "CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY" {
		t.Errorf("env near miss: %v", err)
	}
}

// TestLogLevelAndFormatValidated: log.level takes Centrifugo's levels in any
// case (and "" for the default); anything else, such as "verbose", is a
// FieldError, as is a unisse.log_format other than text or json.
func TestLogLevelAndFormatValidated(t *testing.T) {
	for _, l := range []string{"", "none", "trace", "debug", "info", "warn", "error", "fatal", "DEBUG", "Info"} {
		o := Default()
		o.Log.Level = l
		if err := o.Validate(); err != nil {
			t.Errorf("log.level %q: %v", l, err)
		}
	}
	for _, l := range []string{"verbose", "warning", "information", "0"} {
		o := Default()
		o.Log.Level = l
		var fe *FieldError
		if err := o.Validate(); !errors.As(err, &fe) || fe.Key != "log.level" {
			t.Errorf("log.level %q: %v, want a log.level error", l, err)
		}
	}
	for f, ok := range map[string]bool{"": true, "text": true, "json": true, "JSON": false, "xml": false} {
		o := Default()
		o.Own.LogFormat = f
		var fe *FieldError
		err := o.Validate()
		if ok != (err == nil) || (!ok && (!errors.As(err, &fe) || fe.Key != "unisse.log_format")) {
			t.Errorf("unisse.log_format %q: %v", f, err)
		}
	}
}
