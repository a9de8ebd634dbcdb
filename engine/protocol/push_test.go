package protocol

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The expected strings below are copied from shared/captures (Centrifugo
// v6.9.1), with the capture's ids put in the inputs.

var (
	captureClient  = mustUUID("3a917a70-094f-444b-bb6f-ec0ea2fbb8aa")
	captureSession = mustUUID("493a4e5f-1d5f-4c8a-9eb3-3f9a00a51d0f")
)

func mustUUID(s string) [16]byte {
	u, ok := ParseUUID(s)
	if !ok {
		panic(s)
	}
	return u
}

func TestConnectPush(t *testing.T) {
	// [01]
	r := ConnectResult{Client: captureClient, Version: "0.0.0 OSS", Expires: true, TTL: 3600, Ping: 4, Session: captureSession}
	want := `{"connect":{"client":"3a917a70-094f-444b-bb6f-ec0ea2fbb8aa","version":"0.0.0 OSS","expires":true,"ttl":3600,"ping":4,"session":"493a4e5f-1d5f-4c8a-9eb3-3f9a00a51d0f"}}`
	if got := string(AppendConnectPush(nil, &r)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// [07] recovered subscription, [06] positioning only, [39] subs claim data, plain.
	r = ConnectResult{Client: captureClient, Version: "0.0.0 OSS", Ping: 4, Session: captureSession, Subs: []ChannelResult{
		{Channel: "hist:r1795640824", Result: SubscribeResult{Recoverable: true, Epoch: "WIeFIlAt", Publications: []Publication{
			{Data: []byte(`{"n":2}`), Offset: 2}, {Data: []byte(`{"n":3}`), Offset: 3},
		}, Recovered: true, Offset: 1, Positioned: true, WasRecovering: true}},
		{Channel: "pos:p1795640819", Result: SubscribeResult{Epoch: "nRvljpxr", Offset: 1, Positioned: true}},
		{Channel: "jl:subs1795640909", Result: SubscribeResult{Data: []byte(`{"welcome":true}`)}},
		{Channel: "x<&>1795640905"},
	}}
	want = `{"connect":{"client":"3a917a70-094f-444b-bb6f-ec0ea2fbb8aa","version":"0.0.0 OSS","subs":{` +
		`"hist:r1795640824":{"recoverable":true,"epoch":"WIeFIlAt","publications":[{"data":{"n":2},"offset":2},{"data":{"n":3},"offset":3}],"recovered":true,"offset":1,"positioned":true,"was_recovering":true},` +
		`"pos:p1795640819":{"epoch":"nRvljpxr","offset":1,"positioned":true},` +
		`"jl:subs1795640909":{"data":{"welcome":true}},` +
		`"x\u003c\u0026\u003e1795640905":{}` +
		`},"ping":4,"session":"493a4e5f-1d5f-4c8a-9eb3-3f9a00a51d0f"}}`
	if got := string(AppendConnectPush(nil, &r)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPublicationPush(t *testing.T) {
	cases := []struct {
		channel string
		pub     Publication
		want    string
	}{
		{"news1795640814", Publication{Data: []byte(`{"text":"hello"}`)}, `{"channel":"news1795640814","pub":{"data":{"text":"hello"}}}`},                                               // [04]
		{"news1795640814", Publication{Data: []byte(`"a string"`), Tags: map[string]string{"k": "v"}}, `{"channel":"news1795640814","pub":{"data":"a string","tags":{"k":"v"}}}`},       // [04]
		{"hist:h1795640819", Publication{Data: []byte(`{"n":1}`), Offset: 1, Epoch: "rmxoJMcE"}, `{"channel":"hist:h1795640819","pub":{"data":{"n":1},"offset":1,"epoch":"rmxoJMcE"}}`}, // [06]
		{"hist:h1795640819", Publication{Data: []byte(`{"n":2}`), Offset: 2}, `{"channel":"hist:h1795640819","pub":{"data":{"n":2},"offset":2}}`},                                       // [06]
		{"uni1795640905", Publication{Data: []byte("{ \"a\" :\n  [1, 2] ,\t\"b\":\"x\"\n}")}, "{\"channel\":\"uni1795640905\",\"pub\":{\"data\":{ \"a\" :  [1, 2] ,\t\"b\":\"x\"}}}"},   // [37]
		// [37] keeps the \r; unisse drops it too (README "Differences").
		{"x<&>1795640905", Publication{Data: []byte("{\"a\":1,\r\"b\":2}")}, "{\"channel\":\"x\\u003c\\u0026\\u003e1795640905\",\"pub\":{\"data\":{\"a\":1,\"b\":2}}}"},
		{"x", Publication{Data: []byte("{\"a\":\n\n1}"), Info: []byte("{\"user\":\r\n\"u\"}")}, `{"channel":"x","pub":{"data":{"a":1},"info":{"user":"u"}}}`},
	}
	for _, c := range cases {
		if got := string(AppendPublicationPush(nil, c.channel, &c.pub)); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
	// Tags are written in sorted key order.
	p := Publication{Data: []byte(`1`), Tags: map[string]string{"b": "2", "a": "1", "c": "<"}}
	if got := string(AppendPublication(nil, &p)); got != `{"data":1,"tags":{"a":"1","b":"2","c":"\u003c"}}` {
		t.Errorf("tags: %s", got)
	}
	// More keys than fit the stack buffer: still sorted, and the same as
	// encoding/json's map encoding (which sorts keys).
	many := make(map[string]string)
	for i := range 1000 {
		many[fmt.Sprintf("k%d", 7919*i%1000)] = strconv.Itoa(i)
	}
	want, _ := json.Marshal(many)
	if got := AppendStringMap(nil, many); string(got) != string(want) {
		t.Errorf("1000 tags:\n got %.200s\nwant %.200s", got, want)
	}
}

func TestOtherPushes(t *testing.T) {
	cases := []struct{ got, want string }{
		{string(AppendDisconnectPush(nil, DisconnectForceNoReconnect)), `{"disconnect":{"code":3503,"reason":"force disconnect"}}`},                                                                                                                                                                             // [10]
		{string(AppendDisconnectPush(nil, Disconnect{4001, "custom <reason> & more"})), `{"disconnect":{"code":4001,"reason":"custom \u003creason\u003e \u0026 more"}}`},                                                                                                                                        // [11]
		{string(AppendDisconnectPush(nil, Disconnect{Code: 4000})), `{"disconnect":{"code":4000}}`},                                                                                                                                                                                                             // [46]
		{string(AppendUnsubscribePush(nil, "news1795640852", UnsubscribeServer, "server unsubscribe")), `{"channel":"news1795640852","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}`},                                                                                                               // [12]
		{string(AppendUnsubscribePush(nil, "", UnsubscribeServer, "server unsubscribe")), `{"unsubscribe":{"code":2000,"reason":"server unsubscribe"}}`},                                                                                                                                                        // [46]
		{string(AppendSubscribePush(nil, "open:z1795640856", &SubscribeResult{Data: []byte(`{"welcome":1}`)})), `{"channel":"open:z1795640856","subscribe":{"data":{"welcome":1}}}`},                                                                                                                            // [13]
		{string(AppendSubscribePush(nil, "hist:s1795640856", &SubscribeResult{Recoverable: true, Epoch: "uBHJhbxu", Positioned: true})), `{"channel":"hist:s1795640856","subscribe":{"recoverable":true,"epoch":"uBHJhbxu","positioned":true}}`},                                                                // [13]
		{string(AppendSubscribePush(nil, "anon1795641486", &SubscribeResult{})), `{"channel":"anon1795641486","subscribe":{}}`},                                                                                                                                                                                 // [46]
		{string(AppendRefreshPush(nil, true, 100)), `{"refresh":{"expires":true,"ttl":100}}`},                                                                                                                                                                                                                   // [35]
		{string(AppendJoinPush(nil, "jl:room1795640859", &ClientInfo{User: "uA", Client: "8babd10b-e35a-4ef6-94f7-ef726f936568", ConnInfo: []byte(`{"name":"A"}`)})), `{"channel":"jl:room1795640859","join":{"info":{"user":"uA","client":"8babd10b-e35a-4ef6-94f7-ef726f936568","conn_info":{"name":"A"}}}}`}, // [14]
		{string(AppendLeavePush(nil, "jl:room1795640859", &ClientInfo{User: "uB", Client: "7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"})), `{"channel":"jl:room1795640859","leave":{"info":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"}}}`},                                                          // [14]
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

func TestDisconnectReconnectRule(t *testing.T) {
	for code, want := range map[uint32]bool{3000: true, 3499: true, 3500: false, 3999: false, 4000: true, 4499: true, 4500: false, 4999: false, 5000: true} {
		if got := (Disconnect{Code: code}).Reconnect(); got != want {
			t.Errorf("Reconnect(%d) = %v", code, got)
		}
	}
	for code, want := range map[uint32]uint32{109: 3005, 110: 3005, 111: 3013, 103: 3507, 100: 3004, 102: 3004} {
		if got := DefaultDisconnectForError(&Error{Code: code}).Code; got != want {
			t.Errorf("error %d → %d, want %d", code, got, want)
		}
	}
	for code, want := range map[uint32]int{100: 500, 102: 404, 104: 404, 107: 400, 108: 400, 112: 416, 113: 409, 101: 500} {
		if got := TransportStatus(&Error{Code: code}); got != want {
			t.Errorf("transport status of %d = %d, want %d", code, got, want)
		}
	}
}

// Every raw JSON value a push carries — publication data and info, conn and
// channel info, subscribe data, connect data — loses its CR and LF bytes, so
// the push stays one SSE line.
func TestPushesDropLineBreaks(t *testing.T) {
	raw := []byte("{\"k\":\r\n\r\n1}")
	ci := ClientInfo{User: "u", Client: "c", ConnInfo: raw, ChanInfo: raw}
	sub := SubscribeResult{Data: raw, Publications: []Publication{{Data: raw, Info: raw, Offset: 1}}, Recovered: true}
	pushes := map[string]string{
		"join":      string(AppendJoinPush(nil, "ch", &ci)),
		"leave":     string(AppendLeavePush(nil, "ch", &ci)),
		"subscribe": string(AppendSubscribePush(nil, "ch", &sub)),
		"connect":   string(AppendConnectPush(nil, &ConnectResult{Data: raw, Subs: []ChannelResult{{Channel: "ch", Result: sub}}})),
		"pub":       string(AppendPublicationPush(nil, "ch", &Publication{Data: raw, Info: raw})),
	}
	for name, p := range pushes {
		if strings.ContainsAny(p, "\r\n") {
			t.Errorf("%s push holds a line break: %q", name, p)
		}
		if n := strings.Count(p, `{"k":1}`); n == 0 {
			t.Errorf("%s push lost the value: %q", name, p)
		}
	}
}
