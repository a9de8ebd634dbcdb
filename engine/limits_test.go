package engine_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

func tokenFor(t *testing.T, claims map[string]any) map[string]string {
	return map[string]string{"token": enginetest.Token(t, enginetest.Secret, claims)}
}

// connectPushSubs returns the channels of a connect push's "subs" map.
func connectPushSubs(t *testing.T, event string) map[string]json.RawMessage {
	t.Helper()
	var p struct {
		Connect struct {
			Subs map[string]json.RawMessage `json:"subs"`
		} `json:"connect"`
	}
	if err := json.Unmarshal([]byte(event), &p); err != nil {
		t.Fatalf("connect push %q: %v", event, err)
	}
	return p.Connect.Subs
}

// TestUserConnectionLimit: client.user_connection_limit refuses a user's
// connection past the limit with 3504, and a slot frees when a stream ends.
func TestUserConnectionLimit(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.UserConnectionLimit = 2
	srv := enginetest.Start(t, opts)
	req := tokenFor(t, map[string]any{"sub": "lim"})

	a := srv.Connect(t, req)
	a.ExpectPrefix(t, `{"connect":`)
	b := srv.Connect(t, req)
	b.ExpectPrefix(t, `{"connect":`)
	c := srv.Connect(t, req)
	c.ExpectEvent(t, `{"disconnect":{"code":3504,"reason":"connection limit"}}`)
	// Other users are not affected.
	other := srv.Connect(t, tokenFor(t, map[string]any{"sub": "other"}))
	other.ExpectPrefix(t, `{"connect":`)

	_ = a.Conn.Close()
	enginetest.Eventually(t, 5*time.Second, "server sees the close", func() bool { return srv.NumClients() == 2 })
	d := srv.Connect(t, req)
	d.ExpectPrefix(t, `{"connect":`)
}

// TestPersonalChannel: with subscribe_to_user_personal_channel a user is
// subscribed to "#<user>" (or "<ns>:#<user>"), and anonymous users are not.
func TestPersonalChannel(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.SubscribeToUserPersonalChannel.Enabled = true
	opts.Client.SubscribeToUserPersonalChannel.PersonalChannelNamespace = "open"
	srv := enginetest.Start(t, opts)

	s := srv.Connect(t, tokenFor(t, map[string]any{"sub": "pc", "channels": []string{"news"}}))
	subs := connectPushSubs(t, s.ExpectPrefix(t, `{"connect":`))
	if _, ok := subs["open:#pc"]; !ok || len(subs) != 2 {
		t.Fatalf("connect push subs %v, want news and open:#pc", subs)
	}
	if got := srv.Call(t, "publish", `{"channel":"open:#pc","data":{"to":"me"}}`); got != `{"result":{}}` {
		t.Fatalf("publish: %s", got)
	}
	s.ExpectEvent(t, `{"channel":"open:#pc","pub":{"data":{"to":"me"}}}`)

	anon := srv.Connect(t, tokenFor(t, map[string]any{}))
	if ev := anon.ExpectPrefix(t, `{"connect":`); strings.Contains(ev, `"subs"`) {
		t.Fatalf("anonymous connection got a personal channel: %s", ev)
	}
}

// TestPersonalSingleConnection: with single_connection a user's new
// connection ends the older ones with 3504; other users keep theirs.
func TestPersonalSingleConnection(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.SubscribeToUserPersonalChannel.Enabled = true
	opts.Client.SubscribeToUserPersonalChannel.SingleConnection = true
	opts.Channel.WithoutNamespace.Presence = true
	srv := enginetest.Start(t, opts)

	old := srv.Connect(t, tokenFor(t, map[string]any{"sub": "solo"}))
	old.ExpectPrefix(t, `{"connect":`)
	bystander := srv.Connect(t, tokenFor(t, map[string]any{"sub": "other"}))
	bystander.ExpectPrefix(t, `{"connect":`)

	newer := srv.Connect(t, tokenFor(t, map[string]any{"sub": "solo"}))
	newer.ExpectPrefix(t, `{"connect":`)
	old.ExpectEvent(t, `{"disconnect":{"code":3504,"reason":"connection limit"}}`)
	if ev, err := old.Event(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after the disconnect push: %q, %v; want the end of the response", ev, err)
	}
	old.ExpectEOF(t, 5*time.Second)

	// The newer connection and the bystander still get their publications.
	srv.Call(t, "publish", `{"channel":"#solo","data":1}`)
	newer.ExpectEvent(t, `{"channel":"#solo","pub":{"data":1}}`)
	srv.Call(t, "publish", `{"channel":"#other","data":2}`)
	bystander.ExpectEvent(t, `{"channel":"#other","pub":{"data":2}}`)
	if got := srv.Call(t, "presence_stats", `{"channel":"#solo"}`); got != `{"result":{"num_clients":1,"num_users":1}}` {
		t.Fatalf("presence of #solo: %s", got)
	}
}
