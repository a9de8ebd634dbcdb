package engine_test

// /metrics and /health, over real sockets: the exposition parses strictly,
// the families claimed to be Centrifugo's have its names, types, help,
// label names and label values (engine/testdata/centrifugo_metrics.txt is
// Centrifugo v6.9.1's own output), and traffic moves each counter by
// exactly what it should.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unisse/unisse/engine"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
	"github.com/unisse/unisse/engine/eventid"
	"github.com/unisse/unisse/engine/internal/promcheck"
	"github.com/unisse/unisse/engine/session"
)

// scrape reads /metrics and parses it strictly.
func scrape(t *testing.T, srv *enginetest.Server) map[string]*promcheck.Family {
	t.Helper()
	st := enginetest.Dial(t, srv.InternalAddr, enginetest.GetRequest("/metrics"))
	st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
	resp, err := enginetest.ReadResponse(st.R)
	if err != nil || resp.Status != 200 {
		t.Fatalf("/metrics: %v %d", err, resp.Status)
	}
	fams, err := promcheck.Parse(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value is sample name{labels} of fams (0 when absent: a labelled counter
// appears with its first count).
func value(fams map[string]*promcheck.Family, family, name string, labels map[string]string) float64 {
	f := fams[family]
	if f == nil {
		return 0
	}
	v, _ := f.Find(name, labels)
	return v
}

func fixture(t *testing.T) map[string]*promcheck.Family {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "centrifugo_metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fams, err := promcheck.Parse(string(b))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return fams
}

// metricsOpts is the capture configuration with a connection limit of 2 on
// one loop (so that the per-loop histogram counts each publication once).
func metricsOpts(t *testing.T) config.Options {
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Client.ConnectionLimit = 2
	opts.Own.EventLoops = 1
	opts.Prometheus.RecoveredPublicationsHistogram = true
	return opts
}

// eventsUntil reads st's events (pings skipped) up to and including the
// first one starting with last.
func eventsUntil(t *testing.T, st *enginetest.Stream, last string) []string {
	t.Helper()
	var evs []string
	for {
		ev, err := st.EventSkipPings(rbTimeout)
		if err != nil {
			t.Fatalf("after %q: %v", evs, err)
		}
		evs = append(evs, ev)
		if strings.HasPrefix(ev, last) {
			return evs
		}
	}
}

// countPrefix counts the events starting with prefix.
func countPrefix(evs []string, prefix string) int {
	n := 0
	for _, ev := range evs {
		if strings.HasPrefix(ev, prefix) {
			n++
		}
	}
	return n
}

// TestMetricsCountTraffic drives connects (accepted, refused by the
// connection limit, refused for a bad token), publishes, a broadcast, API
// errors and API disconnects, and checks that each Centrifugo-named counter
// moved by exactly what it should, with Centrifugo's label values; the
// exposition passes the strict parser at every scrape.
func TestMetricsCountTraffic(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, metricsOpts(t))
	before := scrape(t, srv)
	api := srv.DialAPI(t)

	unnamed := map[string]string{"accept_protocol": "", "client_name": "unnamed", "client_version": "unversioned", "transport": "uni_sse"}
	named := map[string]string{"accept_protocol": "", "client_name": "unregistered", "client_version": "unregistered", "transport": "uni_sse"}
	a := srv.Connect(t, map[string]any{"token": rbToken(t, "u1", "chat", "jl:room")})
	a.ExpectPrefix(t, `{"connect":`)
	b := srv.Connect(t, map[string]any{"token": rbToken(t, "u2", "chat"), "name": "my-app", "version": "1.2.3"})
	b.ExpectPrefix(t, `{"connect":`)

	// The connection limit (2) refuses a third connect with 503.
	st := enginetest.Dial(t, srv.Addr, srv.StreamRequest(map[string]any{"token": rbToken(t, "u3", "chat")}))
	st.Conn.SetReadDeadline(time.Now().Add(rbTimeout))
	if resp, err := enginetest.ReadResponse(st.R); err != nil || resp.Status != 503 {
		t.Fatalf("third connect: %v %d, want 503", err, resp.Status)
	}

	mid := scrape(t, srv)
	for _, c := range []struct {
		name string
		want float64
	}{
		{"centrifugo_node_num_clients", 2}, {"centrifugo_node_num_users", 2},
		{"centrifugo_node_num_subscriptions", 3}, {"centrifugo_node_num_channels", 2},
		{"centrifugo_node_num_nodes", 1},
	} {
		if got := value(mid, c.name, c.name, nil); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	inflight := "centrifugo_client_connections_inflight"
	if got := value(mid, inflight, inflight, unnamed); got != 1 {
		t.Errorf("%s%v = %v, want 1", inflight, unnamed, got)
	}
	if got := value(mid, inflight, inflight, named); got != 1 {
		t.Errorf("%s%v = %v, want 1", inflight, named, got)
	}
	if got := value(mid, "centrifugo_node_build", "centrifugo_node_build", map[string]string{"version": engine.Version}); got != 1 {
		t.Errorf("centrifugo_node_build{version=%q} = %v, want 1", engine.Version, got)
	}

	for range 3 {
		api.Call(t, "publish", `{"channel":"chat","data":{}}`)
	}
	api.Call(t, "broadcast", `{"channels":["chat","jl:room"],"data":{}}`)
	api.Call(t, "publish", `{"channel":"nope:x","data":{}}`) // 102 unknown channel
	if r, err := api.Do("publish", `{"channel":`); err != nil || r.Status != 400 {
		t.Fatalf("undecodable publish: %v %d", err, r.Status)
	}
	api.Call(t, "disconnect", `{"user":"u2"}`)
	api.Call(t, "disconnect", `{"user":"u1","disconnect":{"code":4500,"reason":"custom"}}`)
	evA := eventsUntil(t, a, `{"disconnect":{"code":4500`)
	evB := eventsUntil(t, b, `{"disconnect":{"code":3503`)
	if countPrefix(evA, `{"channel":"chat","pub"`) != 4 || countPrefix(evA, `{"channel":"jl:room","pub"`) != 1 || countPrefix(evB, `{"channel":"chat","pub"`) != 4 {
		t.Fatalf("publications delivered: %q and %q", evA, evB)
	}
	enginetest.Eventually(t, rbTimeout, "both streams closed", func() bool { return srv.NumClients() == 0 })
	// A slot is free again: a bad token is refused with 3500.
	bad := srv.Connect(t, map[string]any{"token": enginetest.Token(t, "wrong-secret", map[string]any{"sub": "u4"})})
	evBad := bad.ExpectPrefix(t, `{"disconnect":{"code":3500`)

	after := scrape(t, srv)
	delta := func(family, name string, labels map[string]string) float64 {
		return value(after, family, name, labels) - value(before, family, name, labels)
	}
	sent, recv := "centrifugo_node_messages_sent_count", "centrifugo_node_messages_received_count"
	typ := func(t string) map[string]string { return map[string]string{"channel_namespace": "", "type": t} }
	apiLabels := func(m string) map[string]string { return map[string]string{"method": m, "protocol": "http"} }
	errLabels := func(m, code string) map[string]string {
		return map[string]string{"method": m, "protocol": "http", "error": code}
	}
	code := func(c string) map[string]string { return map[string]string{"code": c} }
	msgs := "centrifugo_transport_messages_sent"
	frame := func(ft string) map[string]string {
		return map[string]string{"channel_namespace": "", "frame_type": ft, "transport": "uni_sse"}
	}
	pubBytes := 0
	for _, ev := range append(evA, evB...) {
		if strings.Contains(ev, `,"pub":`) {
			pubBytes += len(ev)
		}
	}
	if len(evBad) == 0 {
		t.Fatal("no refusal")
	}
	hist := "centrifugo_api_command_duration_seconds_histogram"
	summary := "centrifugo_api_command_duration_seconds"
	delay := "unisse_publication_delay_seconds"
	for _, c := range []struct {
		family, name string
		labels       map[string]string
		want         float64
	}{
		{"centrifugo_client_connections_accepted", "", unnamed, 1},
		{"centrifugo_client_connections_accepted", "", named, 1},
		{inflight, "", unnamed, 0},
		{inflight, "", named, 0},
		{"centrifugo_node_client_connection_limit", "", nil, 1},
		{sent, "", typ("publication"), 5}, // 3 publishes, a broadcast to 2 channels
		{recv, "", typ("publication"), 5},
		{sent, "", typ("join"), 1}, {recv, "", typ("join"), 1}, // u1 on jl:room
		{sent, "", typ("leave"), 1}, {recv, "", typ("leave"), 1},
		{sent, "", typ("control"), 0},
		{"centrifugo_client_num_server_disconnects", "", code("3503"), 1},
		{"centrifugo_client_num_server_disconnects", "", code("4500"), 1},
		{"centrifugo_client_num_server_disconnects", "", code("3500"), 1},
		{summary, summary + "_count", apiLabels("publish"), 4}, // the undecodable one never ran
		{summary, summary + "_count", apiLabels("broadcast"), 1},
		{summary, summary + "_count", apiLabels("disconnect"), 2},
		{hist, hist + "_count", apiLabels("publish"), 4},
		{hist, hist + "_bucket", map[string]string{"method": "publish", "protocol": "http", "le": "+Inf"}, 4},
		{"centrifugo_api_command_errors_total", "", errLabels("publish", "102"), 1},
		{"centrifugo_api_command_errors_total", "", errLabels("publish", "unmarshal"), 1},
		// One loop: each publication with subscribers is observed once.
		{delay, delay + "_count", nil, 5},
		{msgs, "", frame("push_connect"), 2},
		{msgs, "", frame("push_publication"), 9},
		{msgs, "", frame("push_join"), 1}, // u1's own, on jl:room
		{msgs, "", frame("push_disconnect"), 3},
		{msgs + "_size", "", frame("push_publication"), float64(pubBytes)},
		// The same three disconnects made 155 bytes in Centrifugo's sample.
		{msgs + "_size", "", frame("push_disconnect"), 155},
	} {
		name := c.name
		if name == "" {
			name = c.family
		}
		if got := delta(c.family, name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", name, c.labels, got, c.want)
		}
	}
	if got := value(after, "centrifugo_node_num_clients", "centrifugo_node_num_clients", nil); got != 0 {
		t.Errorf("centrifugo_node_num_clients = %v after the disconnects, want 0", got)
	}
	if ev, wr := delta("unisse_transport_events_total", "unisse_transport_events_total", nil), delta("unisse_transport_writes_total", "unisse_transport_writes_total", nil); ev < 9 || wr < 1 || wr > ev {
		t.Errorf("events %v, writes %v: want at least the 9 publications pushed, in no more writes than events", ev, wr)
	}

	// /api/info's metrics items are named as Centrifugo's (capture [35]).
	var info struct {
		Result struct {
			Nodes []struct {
				Metrics struct {
					Items map[string]float64 `json:"items"`
				} `json:"metrics"`
			} `json:"nodes"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(api.Call(t, "info", `{}`)), &info); err != nil || len(info.Result.Nodes) != 1 {
		t.Fatalf("info: %v", err)
	}
	items := info.Result.Nodes[0].Metrics.Items
	for key, want := range map[string]float64{
		"centrifugo.api.command_duration_seconds.count.method.publish.protocol.http": 4,
		"centrifugo.node.messages_sent_count.type.publication":                       5,
		"centrifugo.client.num_server_disconnects.code.3503":                         1,
		"centrifugo.node.num_nodes":                                                  1,
	} {
		if got, ok := items[key]; !ok || got != want {
			t.Errorf("info metrics item %s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if _, ok := items["centrifugo.api.command_duration_seconds.quantile.50.method.publish.protocol.http"]; !ok {
		t.Errorf("info metrics items lack the publish median; have %d items", len(items))
	}
}

// TestMetricsFamiliesAreCentrifugos checks every family unisse claims to
// share with Centrifugo against Centrifugo's own exposition: same type,
// help text, label names, and label values where those are fixed; and that
// every family unisse exposes is listed (session.CentrifugoFamilies,
// session.UnisseFamilies) or is a process/Go runtime one.
func TestMetricsFamiliesAreCentrifugos(t *testing.T) {
	t.Parallel()
	cf := fixture(t)
	srv := enginetest.Start(t, metricsOpts(t))
	// Traffic that makes the labelled families appear.
	a := srv.Connect(t, map[string]any{"token": rbToken(t, "u1", "chat")})
	a.ExpectPrefix(t, `{"connect":`)
	srv.Call(t, "publish", `{"channel":"nope:x","data":{}}`)
	// A recovery, for centrifugo_client_recover and _recovered_publications.
	srv.Call(t, "publish", `{"channel":"hist:f","data":{}}`)
	r := srv.Connect(t, map[string]any{"token": rbToken(t, "u2", "hist:f"), "subs": map[string]any{"hist:f": map[string]any{"recover": true, "offset": 0}}})
	r.ExpectPrefix(t, `{"connect":`)
	r.Conn.Close()
	srv.Call(t, "disconnect", `{"user":"u1"}`)
	a.ExpectPrefix(t, `{"disconnect":`)
	ours := scrape(t, srv)

	// Label values that are not data (codes, methods, versions) must be
	// among Centrifugo's.
	fixed := []string{"accept_protocol", "channel_namespace", "client_name", "client_version", "frame_type", "has_recovered_publications", "protocol", "recovered", "transport", "type"}
	for _, want := range session.CentrifugoFamilies {
		ref := cf[want.Name]
		if ref == nil {
			t.Errorf("%s: not in Centrifugo's exposition", want.Name)
			continue
		}
		got := ours[want.Name]
		if got == nil {
			t.Errorf("%s: not exposed", want.Name)
			continue
		}
		if got.Type != ref.Type || got.Help != ref.Help {
			t.Errorf("%s: type %q help %q, Centrifugo's %q %q", want.Name, got.Type, got.Help, ref.Type, ref.Help)
		}
		if gl, rl := got.LabelNames(), ref.LabelNames(); !slices.Equal(gl, rl) || !slices.Equal(gl, want.Labels) {
			t.Errorf("%s: labels %v (table %v), Centrifugo's %v", want.Name, gl, want.Labels, rl)
		}
		for _, l := range fixed {
			refValues := map[string]bool{}
			for _, s := range ref.Samples {
				if v, ok := s.Labels[l]; ok {
					refValues[v] = true
				}
			}
			for _, s := range got.Samples {
				if v, ok := s.Labels[l]; ok && !refValues[v] && !(l == "client_name" || l == "client_version") {
					t.Errorf("%s: %s=%q, Centrifugo has %v", want.Name, l, v, refValues)
				}
			}
		}
		if want.Type == "histogram" {
			// One series' buckets: the publish method's where there is one.
			method := ""
			if slices.Contains(want.Labels, "method") {
				method = "publish"
			}
			var ourLe, refLe []string
			for _, s := range got.Samples {
				if s.Labels["method"] == method && s.Name == want.Name+"_bucket" {
					ourLe = append(ourLe, s.Labels["le"])
				}
			}
			for _, s := range ref.Samples {
				if s.Labels["method"] == method && s.Name == want.Name+"_bucket" {
					refLe = append(refLe, s.Labels["le"])
				}
			}
			if len(refLe) == 0 {
				t.Errorf("%s: no buckets to compare", want.Name)
			}
			if !slices.Equal(ourLe, refLe) {
				t.Errorf("%s buckets %v, Centrifugo's %v", want.Name, ourLe, refLe)
			}
		}
	}
	listed := map[string]string{}
	for _, f := range append(slices.Clone(session.CentrifugoFamilies), session.UnisseFamilies...) {
		listed[f.Name] = f.Type
	}
	for name, f := range ours {
		typ, ok := listed[name]
		switch {
		case strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_"):
		case !ok:
			t.Errorf("%s (%s) is exposed but not listed", name, f.Type)
		case typ != f.Type:
			t.Errorf("%s is exposed as %s, listed as %s", name, f.Type, typ)
		}
	}
	for _, f := range session.UnisseFamilies {
		if !strings.HasPrefix(f.Name, "unisse_") {
			t.Errorf("%s: unisse's own families are named unisse_*", f.Name)
		}
	}
}

// toggledHealth is the memory broker with a health a test sets.
type toggledHealth struct {
	broker.Broker
	down atomic.Bool
}

func (b *toggledHealth) Healthy() error {
	if b.down.Load() {
		return errors.New("pub/sub connection lost")
	}
	return nil
}

// healthOnce makes one /health round trip on a kept-alive connection.
func healthOnce(t *testing.T, c net.Conn, r *bufio.Reader) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(rbTimeout))
	if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := enginetest.ReadResponse(r)
	if err != nil {
		t.Fatalf("/health: %v", err)
	}
	return resp.Status, resp.Body
}

// TestHealthBrokerDown: /health answers 503 with the broker's reason while
// the broker reports itself cut off, and 200 {} again once it is back.
func TestHealthBrokerDown(t *testing.T) {
	t.Parallel()
	b := &toggledHealth{Broker: broker.NewMemory()}
	srv := enginetest.Start(t, enginetest.LoadCaptureConfig(t, "config.json"), engine.WithBroker(b))
	c, err := net.DialTimeout("tcp", srv.Addr, rbTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if status, body := healthOnce(t, c, r); status != 200 || body != "{}" {
		t.Fatalf("healthy: %d %q", status, body)
	}
	b.down.Store(true)
	if status, body := healthOnce(t, c, r); status != 503 || body != `{"error":"pub/sub connection lost"}` {
		t.Fatalf("broker down: %d %q", status, body)
	}
	b.down.Store(false)
	if status, body := healthOnce(t, c, r); status != 200 || body != "{}" {
		t.Fatalf("broker back: %d %q", status, body)
	}
}

// TestHealthDuringShutdown: once Stop begins, /health on a connection
// accepted before answers 503 {"error":"shutting down"} while the streams
// are being ended (the spread window), so a load balancer stops sending
// clients to the node before it is gone.
func TestHealthDuringShutdown(t *testing.T) {
	t.Parallel()
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	opts.Own.ShutdownSpread = 3 * time.Second
	opts.Own.EventLoops = 1
	srv := enginetest.Start(t, opts, engine.WithShutdownMinRate(1)) // 3 streams: a 3 s window
	var streams []*enginetest.Stream
	for range 3 {
		st := srv.Connect(t, map[string]any{"token": rbToken(t, "u1", "chat")})
		st.ExpectPrefix(t, `{"connect":`)
		streams = append(streams, st)
	}
	c, err := net.DialTimeout("tcp", srv.Addr, rbTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if status, _ := healthOnce(t, c, r); status != 200 {
		t.Fatalf("before Stop: %d", status)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- srv.Stop(ctx)
	}()
	status, body := 200, ""
	for deadline := time.Now().Add(rbTimeout); status == 200 && time.Now().Before(deadline); {
		status, body = healthOnce(t, c, r)
	}
	if status != 503 || body != `{"error":"shutting down"}` {
		t.Fatalf("during the shutdown window: %d %q", status, body)
	}
	for _, st := range streams {
		eventsUntil(t, st, `{"disconnect":{"code":3001`)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestMetricsNumNodesCluster: two nodes on one Redis each count both in
// centrifugo_node_num_nodes, exchange control messages (counted sent and
// received), and a node that stops is no longer counted by the other.
func TestMetricsNumNodesCluster(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	opts := enginetest.LoadCaptureConfig(t, "config.json")
	a, _ := startRedisNode(t, rs, opts, "A")
	b, _ := startRedisNode(t, rs, opts, "B")
	numNodes := func(srv *enginetest.Server) float64 {
		return value(scrape(t, srv), "centrifugo_node_num_nodes", "centrifugo_node_num_nodes", nil)
	}
	enginetest.Eventually(t, 10*time.Second, "2 nodes known by each", func() bool { return numNodes(a) == 2 && numNodes(b) == 2 })
	fams := scrape(t, a)
	control := map[string]string{"channel_namespace": "", "type": "control"}
	if sent, recv := value(fams, "centrifugo_node_messages_sent_count", "centrifugo_node_messages_sent_count", control),
		value(fams, "centrifugo_node_messages_received_count", "centrifugo_node_messages_received_count", control); sent < 1 || recv < 1 {
		t.Errorf("control messages sent %v, received %v; want some of each", sent, recv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Stop(ctx); err != nil {
		t.Fatalf("stop B: %v", err)
	}
	// B announces its shutdown: A drops it at once rather than after 7 s.
	enginetest.Eventually(t, 5*time.Second, "A alone", func() bool { return numNodes(a) == 1 })
}

// TestMetricsCountRecovery: recovering connects move centrifugo_client_recover
// and centrifugo_client_recovered_publications by exactly what Centrifugo's
// would (recovered yes with and without publications, no for another
// epoch; the histogram observes successful recoveries only), and connects
// carrying a Last-Event-ID move unisse_last_event_id_total: used when it
// positioned a subscription, ignored when malformed or foreign.
func TestMetricsCountRecovery(t *testing.T) {
	t.Parallel()
	opts := lastIDOptions(t, true)
	opts.Prometheus.RecoveredPublicationsHistogram = true
	srv := enginetest.Start(t, opts)
	api := srv.DialAPI(t)
	const ch = "hist:metrics"
	token := rbToken(t, "u", ch)
	for n := range 5 {
		publishN(t, api, ch, n)
	}
	before := scrape(t, srv)

	// A connect that neither recovers nor carries an id counts nothing;
	// its connect push's id is the position 5.
	first := dialWithHeader(t, srv, map[string]any{"token": token}, "", "")
	top := readIDEventSkipPings(t, first)
	first.Conn.Close()
	pos, err := eventid.Decode(nil, []byte(top.id))
	if err != nil || len(pos) != 1 || pos[0].Offset != 5 {
		t.Fatalf("connect push id %q: %+v %v", top.id, pos, err)
	}
	epoch := pos[0].Epoch
	publishN(t, api, ch, 5)
	publishN(t, api, ch, 6) // the top is 7

	connect := func(req map[string]any, header, query string) connectEvent {
		t.Helper()
		st := dialWithHeader(t, srv, req, header, query)
		defer st.Conn.Close()
		ev := readIDEventSkipPings(t, st)
		var c connectEvent
		if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
			t.Fatalf("connect push %s: %v", ev.data, err)
		}
		return c
	}
	recoverFrom := func(offset uint64, epoch string) map[string]any {
		return map[string]any{"token": token, "subs": map[string]any{ch: map[string]any{"recover": true, "offset": offset, "epoch": epoch}}}
	}
	for _, c := range []struct {
		name          string
		req           map[string]any
		header, query string
		recovered     bool
		pubs          int
		wasRecovering bool
	}{
		{"cf_connect from 2", recoverFrom(2, epoch), "", "", true, 5, true},
		{"cf_connect another epoch", recoverFrom(2, "Zzzzzzzz"), "", "", false, 0, true},
		{"cf_connect from the top", recoverFrom(7, epoch), "", "", true, 0, true},
		{"Last-Event-ID used", map[string]any{"token": token}, "Last-Event-ID: " + top.id + "\r\n", "", true, 2, true},
		{"Last-Event-ID malformed", map[string]any{"token": token}, "Last-Event-ID: garbage\r\n", "", false, 0, false},
		{"lastEventId of another channel", map[string]any{"token": token}, "", "&lastEventId=" + url.QueryEscape(string(eventid.AppendEntry(eventid.AppendVersion(nil), eventid.Hash("hist:other"), 1, epoch))), false, 0, false},
	} {
		got := connect(c.req, c.header, c.query).Connect.Subs[ch]
		if got.WasRecovering != c.wasRecovering || got.Recovered != c.recovered || len(got.Publications) != c.pubs {
			t.Fatalf("%s: was_recovering %v recovered %v with %d publications, want %v %v %d", c.name, got.WasRecovering, got.Recovered, len(got.Publications), c.wasRecovering, c.recovered, c.pubs)
		}
	}

	after := scrape(t, srv)
	rec := "centrifugo_client_recover"
	recLabels := func(recovered, has string) map[string]string {
		return map[string]string{"channel_namespace": "", "recovered": recovered, "has_recovered_publications": has}
	}
	hist := "centrifugo_client_recovered_publications"
	le := func(b string) map[string]string { return map[string]string{"channel_namespace": "", "le": b} }
	lastID := "unisse_last_event_id_total"
	for _, c := range []struct {
		family, name string
		labels       map[string]string
		want         float64
	}{
		{rec, rec, recLabels("yes", "yes"), 2}, // from 2 (5) and the Last-Event-ID (2)
		{rec, rec, recLabels("yes", "no"), 1},  // from the top
		{rec, rec, recLabels("no", "no"), 1},   // another epoch
		{rec, rec, recLabels("no", "yes"), 0},
		{hist, hist + "_count", map[string]string{"channel_namespace": ""}, 3},
		{hist, hist + "_sum", map[string]string{"channel_namespace": ""}, 7},
		{hist, hist + "_bucket", le("0"), 1},
		{hist, hist + "_bucket", le("1"), 1},
		{hist, hist + "_bucket", le("2"), 2},
		{hist, hist + "_bucket", le("3"), 2},
		{hist, hist + "_bucket", le("5"), 3},
		{hist, hist + "_bucket", le("+Inf"), 3},
		{lastID, lastID, map[string]string{"result": "used"}, 1},
		{lastID, lastID, map[string]string{"result": "ignored"}, 2},
	} {
		if got := value(after, c.family, c.name, c.labels) - value(before, c.family, c.name, c.labels); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestMetricsRecoveredHistogramOff: without
// prometheus.recovered_publications_histogram (Centrifugo's default) a
// recovery is counted but the histogram is not exposed, as in Centrifugo.
func TestMetricsRecoveredHistogramOff(t *testing.T) {
	t.Parallel()
	srv := enginetest.Start(t, lastIDOptions(t, false))
	const ch = "hist:off"
	srv.Call(t, "publish", `{"channel":"`+ch+`","data":{}}`)
	st := srv.Connect(t, map[string]any{"token": rbToken(t, "u", ch), "subs": map[string]any{ch: map[string]any{"recover": true, "offset": 0}}})
	st.ExpectPrefix(t, `{"connect":`)
	fams := scrape(t, srv)
	yes := map[string]string{"channel_namespace": "", "recovered": "yes", "has_recovered_publications": "yes"}
	if got := value(fams, "centrifugo_client_recover", "centrifugo_client_recover", yes); got != 1 {
		t.Errorf("centrifugo_client_recover%v = %v, want 1", yes, got)
	}
	if fams["centrifugo_client_recovered_publications"] != nil {
		t.Error("centrifugo_client_recovered_publications exposed with the histogram off")
	}
	// Ids off: a Last-Event-ID is not read, so not counted.
	for _, r := range []string{"used", "ignored"} {
		if got := value(fams, "unisse_last_event_id_total", "unisse_last_event_id_total", map[string]string{"result": r}); got != 0 {
			t.Errorf("unisse_last_event_id_total{result=%q} = %v with ids off", r, got)
		}
	}
}
