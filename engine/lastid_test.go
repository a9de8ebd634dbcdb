package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
	"github.com/unisse/unisse/engine/eventid"
)

// unisse.sse_event_ids: publications of recoverable subscriptions carry an
// SSE id with the connection's positions, and a connect with Last-Event-ID
// recovers from them, as a browser's EventSource reconnecting by itself
// does (the browser's own test is in browser_lastid_test.go).

// idEvent is one SSE event with its id field, if any.
type idEvent struct {
	id, data string
	hasID    bool
}

// readIDEvent reads the next event of a stream whose events may carry an
// "id:" line (Stream.Event accepts only data lines).
func readIDEvent(st *enginetest.Stream, timeout time.Duration) (idEvent, error) {
	st.Conn.SetReadDeadline(time.Now().Add(timeout))
	var ev idEvent
	have := false
	for {
		line, err := st.Body.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" && !have && !ev.hasID {
				return ev, io.EOF
			}
			return ev, err
		}
		switch {
		case line == "\n" || line == "\r\n":
			if have {
				return ev, nil
			}
			if ev.hasID {
				return ev, fmt.Errorf("an id-only event %q", ev.id)
			}
		case strings.HasPrefix(line, "id: ") && !have && !ev.hasID:
			ev.id, ev.hasID = strings.TrimSuffix(line[len("id: "):], "\n"), true
		case strings.HasPrefix(line, "data: ") && !have:
			ev.data, have = strings.TrimSuffix(line[len("data: "):], "\n"), true
		default:
			return ev, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// readIDEventSkipPings is readIDEvent without pings.
func readIDEventSkipPings(t *testing.T, st *enginetest.Stream) idEvent {
	t.Helper()
	for {
		ev, err := readIDEvent(st, enginetest.IOTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if ev.data != enginetest.Ping {
			return ev
		}
		if ev.hasID {
			t.Fatalf("a ping with an id: %+v", ev)
		}
	}
}

// lastIDOptions is the capture config with SSE ids on and room in history.
func lastIDOptions(t *testing.T, ids bool) config.Options {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.SSEEventIDs = ids
	for i := range opts.Channel.Namespaces {
		if opts.Channel.Namespaces[i].Name == "hist" {
			opts.Channel.Namespaces[i].HistorySize = 1000
		}
	}
	return opts
}

// dialWithHeader opens a uni_sse stream for connect request req with extra
// request header lines (e.g. "Last-Event-ID: …\r\n") and query (appended to
// the URL as is).
func dialWithHeader(t *testing.T, srv *enginetest.Server, req any, header, query string) *enginetest.Stream {
	t.Helper()
	target := srv.ConnectURL(req)[len("http://"+srv.Addr):] + query
	st := enginetest.Dial(t, srv.Addr, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", target, header))
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st
}

// publishN publishes {"n": n} to ch.
func publishN(t *testing.T, api *enginetest.APIClient, ch string, n int) {
	t.Helper()
	api.Call(t, "publish", fmt.Sprintf(`{"channel":%q,"data":{"n":%d}}`, ch, n))
}

// TestLastEventIDResumesEveryChannel: a client on three recoverable
// channels reads 20 publications, each with an id; its socket is cut, 30
// more are published on the three channels; it reconnects with the same URL
// and only Last-Event-ID, and its connect push recovers exactly the 30, in
// order per channel, with nothing delivered twice afterwards.
func TestLastEventIDResumesEveryChannel(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, lastIDOptions(t, true))
	lastEventIDResumes(t, srv, srv)
}

// TestLastEventIDResumesOnRedis is the same with two nodes on one Redis
// (positions and history are Redis's): the client reconnects to the other
// node.
func TestLastEventIDResumesOnRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	node := func(id string) *enginetest.Server {
		rb, err := redisbroker.New(redisbroker.Options{Addresses: []string{rs.Addr()}, NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rb.Close() })
		return enginetest.Start(t, lastIDOptions(t, true), engine.WithBroker(rb), engine.WithPresenceManager(rb), engine.WithNodeID(id))
	}
	lastEventIDResumes(t, node("a"), node("b"))
}

func lastEventIDResumes(t *testing.T, first, second *enginetest.Server) {
	chans := []string{"hist:a", "hist:b", "hist:c"}
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u", "channels": chans})
	req := map[string]any{"token": token}
	api := first.DialAPI(t)

	st := dialWithHeader(t, first, req, "", "")
	ev := readIDEventSkipPings(t, st)
	if !ev.hasID || !strings.HasPrefix(ev.data, `{"connect":`) {
		t.Fatalf("connect push without an id: %+v", ev)
	}
	ps, err := eventid.Decode(nil, []byte(ev.id))
	if err != nil || len(ps) != 3 {
		t.Fatalf("connect push id %q: %v, %d positions", ev.id, err, len(ps))
	}
	// 20 publications, spread over the channels; each arrives with an id
	// that moves its channel's position.
	lastID := ev.id
	for i := range 20 {
		publishN(t, api, chans[i%3], i)
	}
	for i := range 20 {
		ev := readIDEventSkipPings(t, st)
		var p pubEvent
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil || p.Pub == nil {
			t.Fatalf("event %d: %s", i, ev.data)
		}
		if !ev.hasID {
			t.Fatalf("publication %d without an id", i)
		}
		pos, err := eventid.Decode(nil, []byte(ev.id))
		if err != nil {
			t.Fatalf("id %q: %v", ev.id, err)
		}
		if got, _ := eventid.Find(pos, eventid.Hash(p.Channel)); got.Offset != p.Pub.Offset {
			t.Fatalf("publication at offset %d of %s has id %q (position %d)", p.Pub.Offset, p.Channel, ev.id, got.Offset)
		}
		lastID = ev.id
	}
	st.Conn.Close()

	// 30 more while the client is away: 10 per channel.
	for i := 20; i < 50; i++ {
		publishN(t, api, chans[i%3], i)
	}

	// Same URL, and the last id it saw.
	st = dialWithHeader(t, second, req, "Last-Event-ID: "+lastID+"\r\n", "")
	ev = readIDEventSkipPings(t, st)
	var c connectEvent
	if err := json.Unmarshal([]byte(ev.data), &c); err != nil || !ev.hasID {
		t.Fatalf("connect push %+v: %v", ev, err)
	}
	got := 0
	for k, ch := range chans {
		sub := c.Connect.Subs[ch]
		if !sub.Recovered || !sub.WasRecovering {
			t.Fatalf("%s not recovered: %s", ch, ev.data)
		}
		if len(sub.Publications) != 10 {
			t.Fatalf("%s: recovered %d publications, want 10: %s", ch, len(sub.Publications), ev.data)
		}
		var want []int // what was published on ch while away, in order
		for i := 20; i < 50; i++ {
			if i%3 == k {
				want = append(want, i)
			}
		}
		for j, p := range sub.Publications {
			if p.Data.N != want[j] {
				t.Fatalf("%s: recovered publication %d is n=%d, want %d (the ones missed, in order)", ch, j, p.Data.N, want[j])
			}
		}
		got += len(sub.Publications)
	}
	// The connect push's id covers what it recovered: a reconnect with it
	// recovers nothing more.
	ps, _ = eventid.Decode(nil, []byte(ev.id))
	for _, ch := range chans {
		p, _ := eventid.Find(ps, eventid.Hash(ch))
		pubs := c.Connect.Subs[ch].Publications
		if p.Offset != pubs[len(pubs)-1].Offset {
			t.Fatalf("connect push id %q: %s at %d, last recovered %d", ev.id, ch, p.Offset, pubs[len(pubs)-1].Offset)
		}
	}
	// Nothing else follows: the next events are new publications, once.
	for k, ch := range chans {
		publishN(t, api, ch, 100+k)
	}
	for k := range chans {
		ev := readIDEventSkipPings(t, st)
		var p pubEvent
		if err := json.Unmarshal([]byte(ev.data), &p); err != nil || p.Pub == nil || p.Pub.Data.N < 100 {
			t.Fatalf("after the recovery, event %d is %s: want only the new publications", k, ev.data)
		}
	}
	if got != 30 {
		t.Fatalf("recovered %d publications, want 30", got)
	}
}

// TestLastEventIDNeverGrantsMore: a forged, malformed or foreign
// Last-Event-ID never does more than the connection's own subscriptions: a
// malformed one is ignored whole, a channel the connection does not
// subscribe to is ignored, and a position in another epoch fails recovery
// as Centrifugo's does (recovered false, the current position). The query
// parameters polyfills use work like the header.
func TestLastEventIDNeverGrantsMore(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, lastIDOptions(t, true))
	api := srv.DialAPI(t)
	const ch, other = "hist:mine", "hist:secret"
	for n := range 5 {
		publishN(t, api, ch, n)
		publishN(t, api, other, n)
	}
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u", "channels": []string{ch}})
	req := map[string]any{"token": token}
	first := readIDEventSkipPings(t, dialWithHeader(t, srv, req, "", ""))
	pos, err := eventid.Decode(nil, []byte(first.id))
	if err != nil || len(pos) != 1 || pos[0].Offset != 5 {
		t.Fatalf("connect push id %q: %+v %v", first.id, pos, err)
	}
	epoch := pos[0].Epoch
	token2 := func(entries ...eventid.Position) string {
		b := eventid.AppendVersion(nil)
		for _, p := range entries {
			b = eventid.AppendEntry(b, p.Hash, p.Offset, p.Epoch)
		}
		return string(b)
	}
	connect := func(header, query string) (connectEvent, string) {
		ev := readIDEventSkipPings(t, dialWithHeader(t, srv, req, header, query))
		var c connectEvent
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			t.Fatalf("connect push %s: %v", ev.data, err)
		}
		return c, ev.data
	}
	for _, bad := range []string{"garbage", "u1.A.A", "u2.A.A.x", "u1" + strings.Repeat(".A.A.e", eventid.MaxSubs+1), "u1." + strings.Repeat("A", 3000)} {
		c, raw := connect("Last-Event-ID: "+bad+"\r\n", "")
		if s := c.Connect.Subs[ch]; s.WasRecovering || s.Offset != 5 {
			t.Fatalf("malformed id %.40q: %s", bad, raw)
		}
	}
	// Another channel's position (and one for a channel never heard of)
	// subscribes to nothing.
	c, raw := connect("Last-Event-ID: "+token2(eventid.Position{Hash: eventid.Hash(other), Offset: 0, Epoch: epoch}, eventid.Position{Hash: 12345, Offset: 1})+"\r\n", "")
	if len(c.Connect.Subs) != 1 || c.Connect.Subs[ch].WasRecovering {
		t.Fatalf("foreign positions acted on: %s", raw)
	}
	// The wrong epoch: recovery fails as Centrifugo's does.
	c, raw = connect("Last-Event-ID: "+token2(eventid.Position{Hash: eventid.Hash(ch), Offset: 2, Epoch: "Zzzzzzzz"})+"\r\n", "")
	if s := c.Connect.Subs[ch]; !s.WasRecovering || s.Recovered || s.Offset != 5 || len(s.Publications) != 0 {
		t.Fatalf("recovery from another epoch: %s", raw)
	}
	// Polyfills: the query parameters.
	for _, name := range []string{"lastEventId", "last_event_id"} {
		c, raw = connect("", "&"+name+"="+url.QueryEscape(token2(eventid.Position{Hash: eventid.Hash(ch), Offset: 3, Epoch: epoch})))
		if s := c.Connect.Subs[ch]; !s.Recovered || len(s.Publications) != 2 || s.Publications[0].Offset != 4 {
			t.Fatalf("%s: %s", name, raw)
		}
	}
}

// TestLastEventIDOff: by default streams carry no ids and Last-Event-ID is
// ignored (Centrifugo's bytes and behaviour).
func TestLastEventIDOff(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, lastIDOptions(t, false))
	api := srv.DialAPI(t)
	const ch = "hist:off"
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u", "channels": []string{ch}})
	id := "u1." + fmt.Sprint(eventid.Hash(ch)) // any
	st := dialWithHeader(t, srv, map[string]any{"token": token}, "Last-Event-ID: "+id+"\r\n", "")
	ev := readIDEventSkipPings(t, st)
	if ev.hasID || strings.Contains(ev.data, "was_recovering") {
		t.Fatalf("ids off: connect push %+v", ev)
	}
	publishN(t, api, ch, 1)
	if ev := readIDEventSkipPings(t, st); ev.hasID {
		t.Fatalf("ids off: publication with an id: %+v", ev)
	}
}

// TestLastEventIDPastTheBound: a connection with more than eventid.MaxSubs
// recoverable channels gets no ids at all.
func TestLastEventIDPastTheBound(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, lastIDOptions(t, true))
	var chans []string
	for i := range eventid.MaxSubs + 1 {
		chans = append(chans, fmt.Sprintf("hist:many%d", i))
	}
	token := enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u", "channels": chans})
	st := dialWithHeader(t, srv, map[string]any{"token": token}, "", "")
	if ev := readIDEventSkipPings(t, st); ev.hasID {
		t.Fatalf("%d recoverable channels: connect push with an id", len(chans))
	}
	srv.DialAPI(t).Call(t, "publish", `{"channel":"hist:many0","data":{}}`)
	if ev := readIDEventSkipPings(t, st); ev.hasID {
		t.Fatalf("%d recoverable channels: publication with an id", len(chans))
	}
	// At the bound ids are on.
	token = enginetest.Token(t, enginetest.Secret, map[string]any{"sub": "u", "channels": chans[:eventid.MaxSubs]})
	if ev := readIDEventSkipPings(t, dialWithHeader(t, srv, map[string]any{"token": token}, "", "")); !ev.hasID {
		t.Fatalf("%d recoverable channels: no id", eventid.MaxSubs)
	}
}
