package engine_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// lockedBuffer is a log destination the test can read while loops write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// refusalRecord is one "connect refused" / "request refused" JSON log line.
type refusalRecord struct {
	Msg    string `json:"msg"`
	Level  string `json:"level"`
	Client string `json:"client"`
	User   string `json:"user"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Error  int    `json:"error_code"`
	Err    string `json:"err"`
}

// TestRefusalLogsAndNoSecrets runs a server logging JSON at debug level
// through every refusal path and a successful connect and publish, then
// checks the log: each refusal has one line with client, user (where the
// token named one), code and reason; and none of the secrets it saw, nor any
// token, nor the raw cf_connect values, appears anywhere in it.
func TestRefusalLogsAndNoSecrets(t *testing.T) {
	const (
		secret   = "hmac-S3cret-for-the-log-test"
		apiKey   = "api-K3y-for-the-log-test"
		wrongKey = "wrong-api-K3y-for-the-log-test"
	)
	opts := config.Default()
	opts.Client.Token.HMACSecretKey = secret
	opts.HTTPAPI.Key = apiKey
	opts.UniSSE.MaxRequestBodySize = 4096
	opts.Client.UserConnectionLimit = 1
	opts.Client.ConnectionLimit = 3
	opts.Log.Level = "debug"
	var logBuf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := enginetest.Start(t, opts, engine.WithLogger(log))

	now := time.Now()
	token := func(sec, sub string, exp time.Time) string {
		return enginetest.Token(t, sec, map[string]any{"sub": sub, "channels": []string{"news"}, "exp": exp.Unix()})
	}
	alice := token(secret, "alice", now.Add(time.Hour))
	bob := token(secret, "bob", now.Add(time.Hour))
	carol := token(secret, "carol", now.Add(time.Hour))
	dave := token(secret, "dave", now.Add(time.Hour))
	frank := token(secret, "frank", now.Add(time.Hour))
	expired := token(secret, "erin", now.Add(-time.Hour))
	forged := token("not-the-secret", "mallory", now.Add(time.Hour))
	garbage := "garbage-token-for-the-log-test"
	badJSON := `{"token":"` + alice + `"`

	// roundTrip sends raw bytes on a new connection (every request says
	// Connection: close) and returns everything the server sent.
	roundTrip := func(raw string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", srv.Addr, enginetest.IOTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(enginetest.IOTimeout))
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("reading the answer to %.40q: %v", raw, err)
		}
		return string(b)
	}
	get := func(cfConnect string) string {
		return roundTrip("GET " + opts.UniSSE.HandlerPrefix + "?cf_connect=" + url.QueryEscape(cfConnect) +
			" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
	}
	post := func(path, key, body string) string {
		return roundTrip(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
			path, key, len(body), body))
	}
	expect := func(answer, want string) {
		t.Helper()
		if !strings.Contains(answer, want) {
			t.Fatalf("answer %q does not contain %q", answer, want)
		}
	}

	// A successful connect and publish.
	st := srv.Connect(t, map[string]any{"token": alice})
	st.ExpectPrefix(t, `{"connect":`)
	expect(post("/api/publish", apiKey, `{"channel":"news","data":{"text":"hello"}}`), "200 OK")
	st.ExpectPrefix(t, `{"channel":"news","pub":`)

	// The refusals.
	expect(get(`{"token":"`+forged+`"}`), `"code":3500`)
	expect(get(`{"token":"`+garbage+`"}`), `"code":3500`)
	expect(get(`{"token":"`+expired+`"}`), `"code":3005`)
	expect(get(badJSON), "400 Bad Request")
	expect(get(`{"token":"`+frank+`","subs":{"nosuchns:x":{}}}`), `"code":3501`)
	expect(post("/api/publish", wrongKey, `{"channel":"news","data":{}}`), "401 Unauthorized")
	expect(post(opts.UniSSE.HandlerPrefix, "", `{"token":"`+alice+`","data":"`+strings.Repeat("x", 5000)+`"}`), "413 ")
	expect(post(opts.UniSSE.HandlerPrefix, "", ""), "400 Bad Request")
	expect(roundTrip("DELETE "+opts.UniSSE.HandlerPrefix+" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"), "405 Method Not Allowed")
	// client.user_connection_limit 1: bob's second stream is refused.
	srv.Connect(t, map[string]any{"token": bob}).ExpectPrefix(t, `{"connect":`)
	expect(get(`{"token":"`+bob+`"}`), `"code":3504`)
	// client.connection_limit 3: alice, bob, carol stream; dave gets 503.
	srv.Connect(t, map[string]any{"token": carol}).ExpectPrefix(t, `{"connect":`)
	expect(get(`{"token":"`+dave+`"}`), "503 Service Unavailable")

	type want struct {
		msg, user string
		code      int
		reason    string
		error     int
		hasErr    bool
	}
	wants := []want{
		{"connect refused", "", 3500, "invalid token", 0, true},         // forged
		{"connect refused", "", 3500, "invalid token", 0, true},         // garbage
		{"connect refused", "", 3005, "connection expired", 109, false}, // expired
		{"connect refused", "", 400, "malformed connect request", 0, false},
		{"connect refused", "frank", 3501, "bad request", 0, false}, // unknown namespace
		{"request refused", "", 401, "missing or wrong API key", 0, false},
		{"connect refused", "", 413, "request body too large", 0, false},
		{"connect refused", "", 400, "empty POST body", 0, false},
		{"connect refused", "", 405, "method not allowed", 0, false},
		{"connect refused", "bob", 3504, "connection limit", 0, false},
		{"connect refused", "", 503, "client.connection_limit or client.connection_rate_limit reached", 0, false},
	}
	var got []refusalRecord
	enginetest.Eventually(t, 5*time.Second, "every refusal logged", func() bool {
		got = got[:0]
		for _, line := range strings.Split(strings.TrimSpace(logBuf.String()), "\n") {
			var r refusalRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("log line is not JSON: %q: %v", line, err)
			}
			if strings.HasSuffix(r.Msg, " refused") {
				got = append(got, r)
			}
		}
		return len(got) >= len(wants)
	})
	if len(got) != len(wants) {
		t.Fatalf("%d refusal lines, want %d:\n%s", len(got), len(wants), logBuf.String())
	}
	for i, w := range wants {
		r := got[i]
		if r.Msg != w.msg || r.Level != "DEBUG" || r.User != w.user || r.Code != w.code || r.Reason != w.reason ||
			r.Error != w.error || (r.Err != "") != w.hasErr || !strings.HasPrefix(r.Client, "127.0.0.1:") {
			t.Errorf("refusal %d: got %+v, want %+v from 127.0.0.1", i, r, w)
		}
	}

	out := logBuf.String()
	for _, leak := range []string{secret, apiKey, wrongKey, alice, bob, carol, dave, frank, expired, forged, garbage,
		badJSON, url.QueryEscape(badJSON), "eyJ"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log contains %.50q", leak)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}
