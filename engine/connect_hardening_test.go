package engine_test

// Connects and payloads built to hurt: tens of thousands of channels in one
// connect, floods of positioned subscriptions to channels nobody publishes
// to, and raw JSON with line breaks that would split an SSE event. Real
// sockets against the real engine.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// processCPU is the CPU time (user + system) this process has used so far:
// the server runs in the test binary, so a difference measures its work.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// manySubsCPUBound is the CPU time one 80,000-channel connect may cost, far
// above what a linear pass needs (~0.1 s without the race detector) and far
// below the quadratic scan it replaces (20 s).
const manySubsCPUBound = 5 * time.Second

// TestConnectManyChannels connects once with 80,000 channels — in the
// request's subs (POST body and GET cf_connect) and in the token's channels
// and subs claims — and expects the 3505 channel limit refusal, for a bounded
// amount of server CPU, with /health answering afterwards. Not parallel: the
// CPU time is the whole process's, so no other test of the package may run
// meanwhile (parallel tests wait until the serial ones are done).
func TestConnectManyChannels(t *testing.T) {
	engine.ExcuseLongSteps(t, "a connect listing 80000 channels is decoded and checked in one step")
	const n = 80000
	srv := rbStart(t, func(o *config.Options) {
		o.UniSSE.MaxRequestBodySize = 8 << 20
		o.Own.MaxRequestHeadSize = 8 << 20
	})
	const refused = `{"disconnect":{"code":3505,"reason":"channel limit"}}`

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("open:m%05d", i)
	}
	var subs strings.Builder
	subs.WriteString(`{`)
	for i, ch := range names {
		if i > 0 {
			subs.WriteByte(',')
		}
		fmt.Fprintf(&subs, `%q:{}`, ch)
	}
	subs.WriteString(`}`)
	userToken := rbToken(t, "many")
	requestSubs := fmt.Sprintf(`{"token":%q,"subs":%s}`, userToken, subs.String())
	channelsToken := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "many", "channels": names})
	subsClaim := make(map[string]any, n)
	for _, ch := range names {
		subsClaim[ch] = map[string]any{}
	}
	subsToken := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "many", "subs": subsClaim})

	post := func(body string) string {
		return fmt.Sprintf("POST /connection/uni_sse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	cases := []struct{ name, request string }{
		{"request subs POST", post(requestSubs)},
		{"request subs GET", enginetest.GetRequest(rbCfConnect("cf_connect=" + url.QueryEscape(requestSubs)))},
		{"token channels claim", post(fmt.Sprintf(`{"token":%q}`, channelsToken))},
		{"token subs claim", post(fmt.Sprintf(`{"token":%q}`, subsToken))},
	}
	for _, c := range cases {
		before := processCPU(t)
		st := enginetest.Dial(t, srv.Addr, c.request)
		rbRefused(t, st, refused)
		used := processCPU(t) - before
		t.Logf("%s (%d bytes): refused with 3505 after %v of process CPU", c.name, len(c.request), used)
		if used > manySubsCPUBound {
			t.Errorf("%s: %v of CPU for one connect, want under %v", c.name, used, manySubsCPUBound)
		}
		rbExpectHealthy(t, srv, 0)
	}
}

// TestConnectChannelLimitBoundary checks client.channel_limit at its edge:
// exactly the limit connects (token channels, duplicates counted once, plus
// allowed request subs, while refused ones do not count), one more is 3505,
// and an unknown namespace in the request is still a bad request (3501) even
// when the limit is already exceeded, as in Centrifugo, which checks every
// entry before counting.
func TestConnectChannelLimitBoundary(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, func(o *config.Options) { o.Client.ChannelLimit = 5 })
	token := func(claims map[string]any) string {
		claims["sub"] = "edge"
		return enginetest.Token(t, enginetest.Secret, claims)
	}
	twoChannels := token(map[string]any{"channels": []string{"e1", "e2", "e1", "e2"}})
	cases := []struct {
		name string
		req  map[string]any
		want string // connect push subs (sorted, comma-joined) or the disconnect
	}{
		{"at the limit", map[string]any{"token": twoChannels, "subs": map[string]any{
			"open:a": map[string]any{}, "open:b": map[string]any{}, "open:c": map[string]any{},
			"e1": map[string]any{}, "$open:private": map[string]any{}, "closed": map[string]any{},
		}}, "e1,e2,open:a,open:b,open:c"},
		{"one over", map[string]any{"token": twoChannels, "subs": map[string]any{
			"open:a": map[string]any{}, "open:b": map[string]any{}, "open:c": map[string]any{}, "open:d": map[string]any{},
		}}, `{"disconnect":{"code":3505,"reason":"channel limit"}}`},
		{"token channels over", map[string]any{"token": token(map[string]any{"channels": []string{"e1", "e2", "e3", "e4", "e5", "e6"}})},
			`{"disconnect":{"code":3505,"reason":"channel limit"}}`},
		{"token subs at the limit", map[string]any{"token": token(map[string]any{"subs": map[string]any{
			"e1": map[string]any{}, "e2": map[string]any{}, "e3": map[string]any{}, "e4": map[string]any{}, "e5": map[string]any{},
		}})}, "e1,e2,e3,e4,e5"},
		{"token subs over", map[string]any{"token": token(map[string]any{"subs": map[string]any{
			"e1": map[string]any{}, "e2": map[string]any{}, "e3": map[string]any{}, "e4": map[string]any{}, "e5": map[string]any{}, "e6": map[string]any{},
		}})}, `{"disconnect":{"code":3505,"reason":"channel limit"}}`},
		{"unknown namespace past the limit", map[string]any{"token": twoChannels, "subs": map[string]any{
			"open:a": map[string]any{}, "open:b": map[string]any{}, "open:c": map[string]any{}, "open:d": map[string]any{}, "zzz:x": map[string]any{},
		}}, `{"disconnect":{"code":3501,"reason":"bad request"}}`},
	}
	for _, c := range cases {
		if strings.HasPrefix(c.want, `{"disconnect"`) {
			rbRefused(t, enginetest.Dial(t, srv.Addr, srv.StreamRequest(c.req)), c.want)
			continue
		}
		st := srv.Connect(t, c.req)
		ev := st.ExpectPrefix(t, `{"connect":`)
		var got []string
		for ch := range connectPushSubs(t, ev) {
			got = append(got, ch)
		}
		slices.Sort(got)
		if s := strings.Join(got, ","); s != c.want {
			t.Errorf("%s: subscribed to %s, want %s", c.name, s, c.want)
		}
		st.Conn.Close()
	}
	rbExpectHealthy(t, srv, 0)
}

// TestConnectUnpublishedChannelsBounded opens 1,000 connections that each
// ask for 100 new positioned channels with history, nobody ever publishing
// to them, and closes them at once. The broker must keep no stream for them
// (Centrifugo keeps each for history_meta_ttl, 30 days) and the heap must not
// grow with them, while recovery stays correct: for a channel published to
// before and after the flood, and for one positioned before its first
// publication. Not parallel: the heap is the whole process's.
func TestConnectUnpublishedChannelsBounded(t *testing.T) {
	const conns, perConn = 1000, 100
	b := broker.NewMemory()
	srv := startHistoryServer(t, b)
	token := rbToken(t, "flood")
	api := srv.DialAPI(t)

	// A channel with publications, and a quiet one, positioned before the flood.
	pub := srv.Connect(t, map[string]any{"token": token, "subs": map[string]any{"hh:published": map[string]any{}, "hh:quiet": map[string]any{}}})
	connect := connectSubs(t, pub.ExpectPrefix(t, `{"connect":`))
	quiet := connect["hh:quiet"]
	if quiet.Offset != 0 || quiet.Epoch == "" {
		t.Fatalf("quiet channel position %+v", quiet)
	}
	api.Call(t, "publish", `{"channel":"hh:published","data":{"n":1}}`)
	pub.ExpectEvent(t, `{"channel":"hh:published","pub":{"data":{"n":1},"offset":1,"epoch":"`+connect["hh:published"].Epoch+`"}}`)
	pub.Conn.Close()

	runtime.GC()
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	enginetest.ForEach(t, conns, 8, func(i int) error {
		subs := make(map[string]any, perConn)
		for j := range perConn {
			subs[fmt.Sprintf("hh:flood-%d-%d", i, j)] = map[string]any{}
		}
		st, err := srv.ConnectE(map[string]any{"token": token, "subs": subs})
		if err != nil {
			return err
		}
		defer st.Conn.Close()
		ev, err := st.Event(rbTimeout)
		if err != nil {
			return err
		}
		if got := len(connectSubs(t, ev)); got != perConn {
			return fmt.Errorf("connect push with %d subs, want %d", got, perConn)
		}
		return nil
	})
	enginetest.Eventually(t, rbTimeout, "every flood stream closed", func() bool { return srv.NumClients() == 0 })
	enginetest.Eventually(t, rbTimeout, "hub channels released", func() bool { return rbMetric(t, srv, "centrifugo_node_num_channels") == 0 })
	if n := b.Streams(); n != 1 {
		t.Errorf("broker keeps %d streams after %d positioned subscriptions to unpublished channels; want 1 (the published channel)", n, conns*perConn)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d×%d unpublished positioned channels: %d broker streams, heap in use %.1f → %.1f MiB", conns, perConn, b.Streams(), float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
	// Keeping a stream per channel for the meta TTL, as before, grew it by
	// 18 MiB here (and the RSS by 86 MB); what is left now is scratch that
	// does not scale with the channels (0.5 MiB).
	if grown > 8<<20 {
		t.Errorf("heap in use grew by %.1f MiB after the flood closed, want under 8 MiB", float64(grown)/(1<<20))
	}

	// Recovery after the flood: the published channel recovers what was
	// missed, and so does the quiet one positioned before its first
	// publication.
	api.Call(t, "publish", `{"channel":"hh:published","data":{"n":2}}`)
	api.Call(t, "publish", `{"channel":"hh:quiet","data":{"q":1}}`)
	rec := srv.Connect(t, map[string]any{"token": token, "subs": map[string]any{
		"hh:published": map[string]any{"recover": true, "offset": 1, "epoch": connect["hh:published"].Epoch},
		"hh:quiet":     map[string]any{"recover": true, "offset": 0, "epoch": quiet.Epoch},
	}})
	got := connectSubs(t, rec.ExpectPrefix(t, `{"connect":`))
	for ch, want := range map[string]string{"hh:published": `{"n":2}`, "hh:quiet": `{"q":1}`} {
		r := got[ch]
		if !r.Recovered || len(r.Publications) != 1 || string(r.Publications[0].Data) != want {
			t.Errorf("%s after the flood: %+v, want recovered with %s", ch, r, want)
		}
	}
	// A position that is not the stream's is not recovered.
	bad := srv.Connect(t, map[string]any{"token": token, "subs": map[string]any{
		"hh:quiet": map[string]any{"recover": true, "offset": 0, "epoch": "NotThis1"},
	}})
	if r := connectSubs(t, bad.ExpectPrefix(t, `{"connect":`))["hh:quiet"]; r.Recovered || r.Epoch != quiet.Epoch || r.Offset != 1 {
		t.Errorf("recovery from another epoch: %+v, want not recovered at offset 1 of %s", r, quiet.Epoch)
	}
}

// startHistoryServer starts a server with a namespace "hh" (history, recovery,
// subscribe from the connect request) on broker b.
func startHistoryServer(t *testing.T, b broker.Broker) *enginetest.Server {
	t.Helper()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Channel.Namespaces = append(opts.Channel.Namespaces, config.Namespace{Name: "hh", ChannelOptions: config.ChannelOptions{
		HistorySize: 10, HistoryTTL: 300 * time.Second, ForceRecovery: true, AllowSubscribeForClient: true,
	}})
	return enginetest.Start(t, opts, engine.WithBroker(b))
}

// subResult is a connect push's subscribe result, as a client reads it.
type subResult struct {
	Recoverable  bool   `json:"recoverable"`
	Epoch        string `json:"epoch"`
	Offset       uint64 `json:"offset"`
	Recovered    bool   `json:"recovered"`
	Positioned   bool   `json:"positioned"`
	Publications []struct {
		Data   json.RawMessage `json:"data"`
		Offset uint64          `json:"offset"`
	} `json:"publications"`
	Data json.RawMessage `json:"data"`
}

func connectSubs(t testing.TB, event string) map[string]subResult {
	t.Helper()
	var p struct {
		Connect struct {
			Subs map[string]subResult `json:"subs"`
		} `json:"connect"`
	}
	if err := json.Unmarshal([]byte(event), &p); err != nil {
		t.Fatalf("connect push %q: %v", event, err)
	}
	return p.Connect.Subs
}

// rawToken signs a raw JSON payload with HS256 exactly as given: a JSON
// encoder would compact the line breaks this test needs to keep.
func rawToken(payload string) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
	mac := hmac.New(sha256.New, []byte(enginetest.Secret))
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

// TestRawJSONLineBreaks sends JSON with CR and LF between tokens through
// every way raw JSON reaches a push — publication data (publish, broadcast,
// batch), the token's info (conn_info in join pushes) and subs claim (chan_info,
// subscribe data), b64info, and an API subscribe's data — and reads the
// stream with the WHATWG interpretation an EventSource uses: every push must
// be exactly one event whose data is valid JSON equal to what was sent.
func TestRawJSONLineBreaks(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	info := "{\"who\":\n\n\"cr\"}"
	token := rawToken(`{"sub":"crlf","info":` + info + `,"subs":{"crlf":{},"jl:crlf":{"info":{"c":` + "\r\n" + `1},"data":{"d":` + "\n\n" + `2}}}}`)
	st := srv.Connect(t, map[string]any{"token": token})
	w := startWHATWG(st.Body)

	// next is the next event that is not a ping.
	next := func() whatwgEvent {
		t.Helper()
		for {
			if ev := w.next(t); ev.Data != enginetest.Ping {
				return ev
			}
		}
	}
	// want checks the next event: one message whose data is JSON equal to want.
	want := func(what, want string) {
		t.Helper()
		ev := next()
		var got, exp any
		if err := json.Unmarshal([]byte(ev.Data), &got); err != nil {
			t.Fatalf("%s: event data is not JSON: %q (%v)", what, ev.Data, err)
		}
		if strings.ContainsAny(ev.Data, "\r\n") {
			t.Fatalf("%s: event data %q holds a line break", what, ev.Data)
		}
		if err := json.Unmarshal([]byte(want), &exp); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Fatalf("%s:\n got %s\nwant %s", what, ev.Data, want)
		}
	}
	connect := next()
	subs := connectSubs(t, connect.Data)
	if d := subs["jl:crlf"].Data; string(d) != `{"d":2}` {
		t.Fatalf("subscribe data in the connect push: %s (event %q)", d, connect.Data)
	}
	self := fmt.Sprint(mustJSON(t, connect.Data)["connect"].(map[string]any)["client"])
	want("own join", `{"channel":"jl:crlf","join":{"info":{"user":"crlf","client":"`+self+`","conn_info":{"who":"cr"},"chan_info":{"c":1}}}}`)

	api := srv.DialAPI(t)
	for _, data := range []string{"{\"a\":\n\n1}", "{\"a\":\r\n1}", "{\"a\":\r1}", "[\r\n1,\r2\n]"} {
		api.Call(t, "publish", `{"channel":"crlf","data":`+data+`}`)
		want("publish "+fmt.Sprintf("%q", data), `{"channel":"crlf","pub":{"data":`+strings.NewReplacer("\r", "", "\n", "").Replace(data)+`}}`)
	}
	api.Call(t, "broadcast", "{\"channels\":[\"crlf\"],\"data\":{\"b\":\r\n\r\n3}}")
	want("broadcast", `{"channel":"crlf","pub":{"data":{"b":3}}}`)
	api.Call(t, "batch", "{\"commands\":[{\"publish\":{\"channel\":\"crlf\",\"data\":{\"c\":\n4}}}]}")
	want("batch", `{"channel":"crlf","pub":{"data":{"c":4}}}`)
	api.Call(t, "subscribe", "{\"user\":\"crlf\",\"channel\":\"crsub\",\"data\":{\"s\":\r\n5}}")
	want("api subscribe", `{"channel":"crsub","subscribe":{"data":{"s":5}}}`)

	// A second connection whose b64info decodes to bytes with line breaks:
	// its join reaches the first one as one event.
	b64 := base64.StdEncoding.EncodeToString([]byte("{\"b64\":\r\n\r\n6}"))
	other := srv.Connect(t, map[string]any{"token": rawToken(`{"sub":"crlf2","b64info":"` + b64 + `","channels":["jl:crlf"]}`)})
	other.ExpectPrefix(t, `{"connect":`)
	want("other's join", fmt.Sprintf(`{"channel":"jl:crlf","join":{"info":{"user":"crlf2","client":"%s","conn_info":{"b64":6}}}}`, joinClient(t, other)))
	// End the stream from the server and read it to its end: only then is
	// the parser (fed on the reading goroutine) quiet and safe to inspect.
	api.Call(t, "disconnect", `{"user":"crlf"}`)
	want("disconnect", `{"disconnect":{"code":3503,"reason":"force disconnect"}}`)
	for range w.events {
	}
	<-w.done
	if w.parser.Pending() || len(w.parser.Fields) > 0 || len(w.parser.Comments) > 0 {
		t.Errorf("stream left pending data or used other fields: fields %v comments %v", w.parser.Fields, w.parser.Comments)
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return m
}

// joinClient reads a stream's own join push and returns its client ID.
func joinClient(t *testing.T, st *enginetest.Stream) string {
	t.Helper()
	ev := mustJSON(t, st.ExpectPrefix(t, `{"channel":"jl:crlf","join":`))
	return fmt.Sprint(ev["join"].(map[string]any)["info"].(map[string]any)["client"])
}
