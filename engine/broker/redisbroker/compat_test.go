package redisbroker

import (
	"context"
	"strings"
	"testing"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// What unisse writes, read back with raw commands the way centrifuge's
// RedisBroker and RedisPresenceManager read it (broker_redis.go,
// presence_redis.go, internal/redis_lua of centrifuge v0.38).
func TestWrittenAsCentrifugeReadsIt(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)

	// A raw PUB/SUB subscriber sees the framing a Centrifugo node parses.
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	msgs := make(chan string, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = raw.Receive(ctx, raw.B().Subscribe().Channel("centrifugo.client.compat").Build(), func(m rueidis.PubSubMessage) { msgs <- m.Message })
	}()
	eventually(t, "raw subscriber", func() bool { return numsub(t, srv, "centrifugo.client.compat") == "1" })

	data := `{"text":"hi"}`
	pub := &broker.Publication{Data: []byte(data), Tags: map[string]string{"t": "1"}}
	done := make(chan broker.StreamPosition, 1)
	a.Publish(ctx5(t), "compat", pub, withHistory, func(sp broker.StreamPosition, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- sp
	})
	sp := <-done

	// Meta hash: e = epoch, s = top offset.
	if e, _ := srv.Do("HGET", "centrifugo.stream.meta.compat", "e"); e != sp.Epoch || len(e) != 8 {
		t.Fatalf("meta e = %q, position %+v", e, sp)
	}
	if s, _ := srv.Do("HGET", "centrifugo.stream.meta.compat", "s"); s != "1" {
		t.Fatalf("meta s = %q", s)
	}
	if ttl, _ := srv.Do("TTL", "centrifugo.stream.meta.compat"); ttl != "2592000" {
		t.Fatalf("meta TTL %s, want 720h", ttl)
	}
	// Stream entry: id "<offset>-0", one field "d" holding the protobuf
	// Publication.
	entry, err := srv.Do("XRANGE", "centrifugo.stream.compat", "-", "+")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(entry, "\n", 3)
	if len(parts) != 3 || parts[0] != "1-0" || parts[1] != "d" {
		t.Fatalf("stream entry %q", entry)
	}
	var p cproto.Publication
	if err := p.UnmarshalVT([]byte(parts[2])); err != nil {
		t.Fatal(err)
	}
	if string(p.Data) != data || p.Tags["t"] != "1" || p.Time == 0 {
		t.Fatalf("stored publication %+v", &p)
	}
	// PUB/SUB: "__p1:<offset>:<epoch>__" + the same protobuf.
	select {
	case m := <-msgs:
		prefix := "__p1:1:" + sp.Epoch + "__"
		if !strings.HasPrefix(m, prefix) || m[len(prefix):] != parts[2] {
			t.Fatalf("PUB/SUB message %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PUB/SUB message")
	}
	// Without history: the bare protobuf.
	mustPublish(t, a, "compat", data, broker.PublishOptions{})
	select {
	case m := <-msgs:
		var q cproto.Publication
		if err := q.UnmarshalVT([]byte(m)); err != nil || string(q.Data) != data {
			t.Fatalf("bare message %q: %v", m, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PUB/SUB message")
	}
	// Join push: "__j__" + protobuf ClientInfo.
	if err := wait1(t, func(done func(error)) {
		a.PublishJoin(ctx5(t), "compat", &broker.ClientInfo{ClientID: "c", UserID: "u"}, done)
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		var ci cproto.ClientInfo
		if !strings.HasPrefix(m, "__j__") || ci.UnmarshalVT([]byte(m[5:])) != nil || ci.Client != "c" || ci.User != "u" {
			t.Fatalf("join message %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no join message")
	}

	// Presence: hash client → protobuf ClientInfo, zset client → expiry.
	info := &broker.ClientInfo{ClientID: "c1", UserID: "u1", ConnInfo: []byte(`{"x":1}`)}
	if err := wait1(t, func(done func(error)) { a.AddPresence(ctx5(t), "compat", "c1", info, done) }); err != nil {
		t.Fatal(err)
	}
	v, err := srv.Do("HGET", "centrifugo.presence.data.compat", "c1")
	if err != nil {
		t.Fatal(err)
	}
	var ci cproto.ClientInfo
	if err := ci.UnmarshalVT([]byte(v)); err != nil || ci.Client != "c1" || ci.User != "u1" || string(ci.ConnInfo) != `{"x":1}` {
		t.Fatalf("presence value %q: %v", v, err)
	}
	score, _ := srv.Do("ZSCORE", "centrifugo.presence.expire.compat", "c1")
	if at := time.Now().Add(DefaultPresenceTTL).Unix(); score == "" || abs(atoi(score)-at) > 2 {
		t.Fatalf("presence expiry score %q, want about %d", score, at)
	}
}

// What a Centrifugo node writes (made here with raw commands, byte for
// byte as centrifuge's scripts make it) reaches unisse's handler and
// history with the same data.
func TestReadsWhatCentrifugeWrites(t *testing.T) {
	srv := redistest.Start(t)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, b, "cf")
	p := cproto.Publication{Data: []byte(`{"from":"centrifugo"}`), Info: &cproto.ClientInfo{User: "u", Client: "c"}, Time: 1}
	payload, err := p.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	pl := string(payload)
	steps := [][]string{
		{"HSET", "centrifugo.stream.meta.cf", "e", "ABCDEFGH", "s", "7"},
		{"XADD", "centrifugo.stream.cf", "MAXLEN", "10", "7", "d", pl},
		// A join push, a delta push and garbage must not disturb delivery.
		{"PUBLISH", "centrifugo.client.cf", "__j__" + pl},
		{"PUBLISH", "centrifugo.client.cf", "__d1:1:E:0::3:abc"},
		{"PUBLISH", "centrifugo.client.cf", "\xff\xff"},
		{"PUBLISH", "centrifugo.client.cf", "__p1:7:ABCDEFGH__" + pl},
		{"PUBLISH", "centrifugo.client.cf", pl},
	}
	for _, s := range steps {
		if _, err := srv.Do(s...); err != nil {
			t.Fatalf("%v: %v", s[:2], err)
		}
	}
	eventually(t, "2 publications", func() bool { return len(rb.received("cf")) == 2 })
	g := rb.received("cf")
	if g[0].data != `{"from":"centrifugo"}` || g[0].offset != 7 || g[0].epoch != "ABCDEFGH" || g[0].notJSON {
		t.Fatalf("with history: %+v", g[0])
	}
	if g[0].info != `{"user":"u","client":"c"}` {
		t.Fatalf("info %s", g[0].info)
	}
	if g[1].offset != 0 || g[1].data != g[0].data {
		t.Fatalf("without history: %+v", g[1])
	}
	res, err := history(t, b, "cf", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 6, Epoch: "ABCDEFGH"}})
	if err != nil || len(res.Publications) != 1 || res.Offset != 7 || string(res.Publications[0].Data) != `{"from":"centrifugo"}` || res.Publications[0].Offset != 7 {
		t.Fatalf("history: %+v %v", res, err)
	}
	// The next publication continues Centrifugo's stream.
	if sp := mustPublish(t, b, "cf", "8", withHistory); sp.Offset != 8 || sp.Epoch != "ABCDEFGH" {
		t.Fatalf("continue: %+v", sp)
	}
}

func atoi(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
