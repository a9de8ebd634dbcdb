package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// Two nodes on one Redis: what one publishes, the other (subscribed)
// receives, in offset order, with the stream's epoch.
func TestPublishSubscribeBetweenNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, b, "news")
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	// Sequential publishes from one goroutine each complete before the next,
	// so offsets follow the loop; a concurrent burst on another channel runs
	// meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := publish(t, a, "other", strconv.Itoa(i), withHistory); err != nil {
				errs <- err
			}
		}
	}()
	var first broker.StreamPosition
	for i := range n {
		sp := mustPublish(t, a, "news", fmt.Sprintf(`{"i":%d}`, i), withHistory)
		if i == 0 {
			first = sp
		}
		if sp.Offset != uint64(i+1) || sp.Epoch != first.Epoch || sp.Epoch == "" {
			t.Fatalf("publish %d: position %+v (first %+v)", i, sp, first)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, "200 publications at b", func() bool { return len(rb.received("news")) == n })
	for i, g := range rb.received("news") {
		if g.offset != uint64(i+1) || g.epoch != first.Epoch || g.data != fmt.Sprintf(`{"i":%d}`, i) || g.notJSON {
			t.Fatalf("publication %d at b: %+v", i, g)
		}
	}
	if got := rb.received("other"); len(got) != 0 {
		t.Fatalf("b received %d publications of a channel it did not subscribe", len(got))
	}
}

// Tags, binary (b64data) data and publisher info survive the trip; data
// without history arrives at offset 0.
func TestPublicationFields(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, b, "ch")
	bin := []byte{0xff, 0x00, 'x'}
	info := `{"user":"u1","client":"c1","conn_info":{"n":1}}`
	pubs := []*broker.Publication{
		{Data: []byte(`{"a":1}`), Tags: map[string]string{"k": "v"}},
		{Data: bin, NotJSON: true},
		{Data: []byte(`"s"`), Info: []byte(info)},
	}
	for _, p := range pubs {
		if err := wait1(t, func(done func(error)) {
			a.Publish(ctx5(t), "ch", p, broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { done(err) })
		}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "3 publications", func() bool { return len(rb.received("ch")) == 3 })
	g := rb.received("ch")
	if g[0].data != `{"a":1}` || !reflect.DeepEqual(g[0].tags, map[string]string{"k": "v"}) || g[0].offset != 0 || g[0].notJSON {
		t.Fatalf("tagged: %+v", g[0])
	}
	if g[1].data != string(bin) || !g[1].notJSON {
		t.Fatalf("binary: %+v", g[1])
	}
	if g[2].info != info {
		t.Fatalf("info: got %s want %s", g[2].info, info)
	}
	// Info that is not a ClientInfo object is refused, not sent half-made.
	err := wait1(t, func(done func(error)) {
		a.Publish(ctx5(t), "ch", &broker.Publication{Data: []byte(`1`), Info: []byte(`[1]`)}, broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { done(err) })
	})
	if err == nil {
		t.Fatal("publication with a non-object info accepted")
	}
}

// historyModes runs a test in both history layouts: STREAM (the default)
// and LIST (HistoryUseLists), which must behave the same.
func historyModes(t *testing.T, test func(t *testing.T, opts Options, metaKey string)) {
	t.Run("streams", func(t *testing.T) { test(t, Options{}, "centrifugo.stream.meta.") })
	t.Run("lists", func(t *testing.T) { test(t, Options{HistoryUseLists: true}, "centrifugo.list.meta.") })
}

func TestHistoryRecovery(t *testing.T) { historyModes(t, testHistoryRecovery) }

func testHistoryRecovery(t *testing.T, o Options, metaKey string) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", o, srv)
	b, _ := node(t, "b", o, srv)

	// A channel never published to has a position already, and its first
	// publication continues that epoch (a position read before it recovers).
	before, err := history(t, b, "h", broker.HistoryFilter{})
	if err != nil || before.Offset != 0 || before.Epoch == "" {
		t.Fatalf("position before publishing: %+v %v", before, err)
	}
	opts := broker.PublishOptions{HistorySize: 5, HistoryTTL: time.Minute}
	for i := 1; i <= 10; i++ {
		sp := mustPublish(t, a, "h", strconv.Itoa(i), opts)
		if sp.Epoch != before.Epoch || sp.Offset != uint64(i) {
			t.Fatalf("publish %d: %+v, want epoch %s", i, sp, before.Epoch)
		}
	}
	epoch := before.Epoch
	cases := []struct {
		name string
		f    broker.HistoryFilter
		want []uint64
	}{
		{"all", broker.HistoryFilter{Limit: -1}, []uint64{6, 7, 8, 9, 10}},
		{"limit", broker.HistoryFilter{Limit: 2}, []uint64{6, 7}},
		{"position only", broker.HistoryFilter{}, nil},
		{"reverse", broker.HistoryFilter{Limit: 2, Reverse: true}, []uint64{10, 9}},
		{"since trimmed", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 2, Epoch: epoch}}, []uint64{6, 7, 8, 9, 10}},
		{"since", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 8, Epoch: epoch}}, []uint64{9, 10}},
		{"since reverse", broker.HistoryFilter{Limit: -1, Reverse: true, Since: &broker.StreamPosition{Offset: 7}}, []uint64{10, 9, 8}},
		{"since top", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 10, Epoch: epoch}}, nil},
	}
	for _, c := range cases {
		res, err := history(t, b, "h", c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []uint64
		for _, p := range res.Publications {
			got = append(got, p.Offset)
			if string(p.Data) != strconv.FormatUint(p.Offset, 10) {
				t.Fatalf("%s: offset %d has data %q", c.name, p.Offset, p.Data)
			}
		}
		if !reflect.DeepEqual(got, c.want) || res.Offset != 10 || res.Epoch != epoch {
			t.Fatalf("%s: got %v at %+v, want %v at 10/%s", c.name, got, res.StreamPosition, c.want, epoch)
		}
	}
	res, err := history(t, b, "h", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 3, Epoch: "other"}})
	if !errors.Is(err, broker.ErrUnrecoverablePosition) || res.Epoch != epoch {
		t.Fatalf("epoch mismatch: %v %+v", err, res.StreamPosition)
	}

	// RemoveHistory drops the publications, not the position.
	if err := wait1(t, func(done func(error)) { a.RemoveHistory(ctx5(t), "h", done) }); err != nil {
		t.Fatal(err)
	}
	res, err = history(t, b, "h", broker.HistoryFilter{Limit: -1})
	if err != nil || len(res.Publications) != 0 || res.Offset != 10 || res.Epoch != epoch {
		t.Fatalf("after RemoveHistory: %+v %v", res, err)
	}
	if sp := mustPublish(t, a, "h", "11", opts); sp.Offset != 11 || sp.Epoch != epoch {
		t.Fatalf("publish after RemoveHistory: %+v", sp)
	}

	// A lost meta (eviction, expiry) starts a new epoch: old positions are
	// then unrecoverable.
	if _, err := srv.Do("DEL", metaKey+"h"); err != nil {
		t.Fatal(err)
	}
	sp := mustPublish(t, a, "h", "1", opts)
	if sp.Offset != 1 || sp.Epoch == epoch {
		t.Fatalf("after meta loss: %+v (old epoch %s)", sp, epoch)
	}
	if _, err := history(t, b, "h", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 11, Epoch: epoch}}); !errors.Is(err, broker.ErrUnrecoverablePosition) {
		t.Fatalf("old epoch after meta loss: %v", err)
	}
}

func TestIdempotency(t *testing.T) {
	historyModes(t, func(t *testing.T, o Options, _ string) { testIdempotency(t, o) })
}

func testIdempotency(t *testing.T, o Options) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", o, srv)
	b, rb := node(t, "b", o, srv)
	subscribe(t, b, "i")
	subscribe(t, b, "nh")
	opts := withHistory
	opts.IdempotencyKey = "k1"
	first := mustPublish(t, a, "i", "1", opts)
	again := mustPublish(t, b, "i", "1", opts)
	if again != first {
		t.Fatalf("repeat got %+v, want the first %+v", again, first)
	}
	opts.IdempotencyKey = "k2"
	if sp := mustPublish(t, a, "i", "2", opts); sp.Offset != first.Offset+1 {
		t.Fatalf("another key: %+v", sp)
	}
	noHist := broker.PublishOptions{IdempotencyKey: "k1"}
	mustPublish(t, a, "nh", "x", noHist)
	mustPublish(t, a, "nh", "x", noHist)
	mustPublish(t, a, "nh", "end", broker.PublishOptions{})
	eventually(t, "deliveries", func() bool { return len(rb.received("i")) == 2 && len(rb.received("nh")) == 2 })
	if got := offsets(rb.received("i")); !reflect.DeepEqual(got, []uint64{1, 2}) {
		t.Fatalf("delivered offsets %v", got)
	}
	if g := rb.received("nh"); g[0].data != "x" || g[1].data != "end" {
		t.Fatalf("without history: %+v", g)
	}
	// The result key is centrifuge's: a hash with e (epoch) and s (offset).
	out, err := srv.Do("HGETALL", "centrifugo.result.i.k1")
	if err != nil || out != "e\n"+first.Epoch+"\ns\n1" {
		t.Fatalf("result key: %q %v", out, err)
	}
	if ttl, _ := srv.Do("TTL", "centrifugo.result.i.k1"); ttl == "-1" || ttl == "-2" {
		t.Fatalf("result key TTL %s", ttl)
	}
}

func TestPresenceAcrossNodes(t *testing.T) {
	for _, mapping := range []bool{false, true} {
		t.Run(fmt.Sprintf("user_mapping=%v", mapping), func(t *testing.T) {
			srv := redistest.Start(t)
			// Expiry is in whole seconds (expire-at = now's second + TTL, as in
			// centrifuge), so an entry lives between TTL-1 and TTL seconds:
			// 3 s leaves the steps before the expiry check 2 s at least.
			opts := Options{PresenceTTL: 3 * time.Second, PresenceUserMapping: mapping}
			a, _ := node(t, "a", opts, srv)
			b, _ := node(t, "b", opts, srv)
			add := func(br *Broker, client, user string) {
				t.Helper()
				info := &broker.ClientInfo{ClientID: client, UserID: user, ConnInfo: []byte(`{"c":1}`), ChanInfo: []byte(`{"h":2}`)}
				if err := wait1(t, func(done func(error)) { br.AddPresence(ctx5(t), "p", client, info, done) }); err != nil {
					t.Fatal(err)
				}
			}
			stats := func(br *Broker) broker.PresenceStats {
				t.Helper()
				c := make(chan broker.PresenceStats, 1)
				br.PresenceStats(ctx5(t), "p", func(s broker.PresenceStats, err error) {
					if err != nil {
						t.Error(err)
					}
					c <- s
				})
				return <-c
			}
			presence := func(br *Broker) map[string]*broker.ClientInfo {
				t.Helper()
				c := make(chan map[string]*broker.ClientInfo, 1)
				br.Presence(ctx5(t), "p", func(m map[string]*broker.ClientInfo, err error) {
					if err != nil {
						t.Error(err)
					}
					c <- m
				})
				return <-c
			}
			add(a, "c1", "u1")
			add(b, "c2", "u1")
			add(b, "c3", "u2")
			m := presence(a)
			if len(m) != 3 || m["c2"].UserID != "u1" || string(m["c2"].ConnInfo) != `{"c":1}` || string(m["c2"].ChanInfo) != `{"h":2}` {
				t.Fatalf("presence at a: %v", m)
			}
			if s := stats(b); s != (broker.PresenceStats{NumClients: 3, NumUsers: 2}) {
				t.Fatalf("stats at b: %+v", s)
			}
			if err := wait1(t, func(done func(error)) { a.RemovePresence(ctx5(t), "p", "c3", "u2", done) }); err != nil {
				t.Fatal(err)
			}
			if s := stats(a); s != (broker.PresenceStats{NumClients: 2, NumUsers: 1}) {
				t.Fatalf("stats after remove: %+v", s)
			}
			// Not renewed: gone after the TTL (Redis counts whole seconds).
			eventually(t, "presence expiry", func() bool { return len(presence(b)) == 0 })
			if s := stats(b); s != (broker.PresenceStats{}) {
				t.Fatalf("stats after expiry: %+v", s)
			}
		})
	}
}

func TestControl(t *testing.T) {
	srv := redistest.Start(t)
	a, ra := node(t, "a", Options{}, srv)
	_, rb := node(t, "b", Options{}, srv)
	if err := wait1(t, func(done func(error)) { a.PublishControl(ctx5(t), []byte("to-b"), "b", done) }); err != nil {
		t.Fatal(err)
	}
	if err := wait1(t, func(done func(error)) { a.PublishControl(ctx5(t), []byte("to-all"), "", done) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "control at both", func() bool { return len(ra.controls()) == 1 && len(rb.controls()) == 2 })
	// One connection carries both channels in publish order, so a has seen
	// everything meant for it once "to-all" is there.
	if got := ra.controls(); got[0] != "to-all" {
		t.Fatalf("a got %v", got)
	}
	if got := rb.controls(); !reflect.DeepEqual(got, []string{"to-b", "to-all"}) {
		t.Fatalf("b got %v", got)
	}
}

// Subscriptions arriving together go out as few SUBSCRIBE commands.
func TestSubscribeBatching(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)
	b, rb := node(t, "b", Options{}, srv)
	before := b.shards[0].subscribeCommands.Load()
	const n = 3000
	var wg sync.WaitGroup
	wg.Add(n)
	errs := make(chan error, n)
	for i := range n {
		b.Subscribe(ctx5(t), "c"+strconv.Itoa(i), func(err error) {
			if err != nil {
				errs <- err
			}
			wg.Done()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cmds := b.shards[0].subscribeCommands.Load() - before
	t.Logf("%d subscriptions in %d SUBSCRIBE commands", n, cmds)
	if cmds > n/20 {
		t.Fatalf("%d subscriptions took %d commands", n, cmds)
	}
	// Redis agrees: every channel has one subscriber.
	for _, i := range []int{0, 1234, n - 1} {
		if got := numsub(t, srv, "centrifugo.client.c"+strconv.Itoa(i)); got != "1" {
			t.Fatalf("NUMSUB c%d = %s", i, got)
		}
	}
	out, _ := srv.Do("INFO", "commandstats")
	t.Logf("redis: %s", grepLine(out, "cmdstat_subscribe"))
	mustPublish(t, a, "c2999", "x", broker.PublishOptions{})
	eventually(t, "delivery", func() bool { return len(rb.received("c2999")) == 1 })
}

func grepLine(s, prefix string) string {
	for _, l := range splitLines(s) {
		if len(l) >= len(prefix) && l[:len(prefix)] == prefix {
			return l
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, trimCR(s[start:i]))
			start = i + 1
		}
	}
	return append(out, trimCR(s[start:]))
}

func trimCR(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\r' {
		return s[:len(s)-1]
	}
	return s
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, b, "x")
	subscribe(t, b, "y")
	mustPublish(t, a, "x", "1", broker.PublishOptions{})
	eventually(t, "first", func() bool { return len(rb.received("x")) == 1 })
	unsubscribe(t, b, "x")
	if got := numsub(t, srv, "centrifugo.client.x"); got != "0" {
		t.Fatalf("NUMSUB after unsubscribe = %s", got)
	}
	mustPublish(t, a, "x", "2", broker.PublishOptions{})
	mustPublish(t, a, "y", "marker", broker.PublishOptions{})
	// y's publication comes after x's on the same connection: once it is
	// here, x's would have been too.
	eventually(t, "marker", func() bool { return len(rb.received("y")) == 1 })
	if got := rb.received("x"); len(got) != 1 {
		t.Fatalf("x delivered after unsubscribe: %+v", got)
	}
	// Subscribe/unsubscribe churn on one channel ends in the last state.
	for range 50 {
		b.Subscribe(ctx5(t), "z", func(error) {})
		b.Unsubscribe(ctx5(t), "z", func(error) {})
	}
	subscribe(t, b, "z")
	if got := numsub(t, srv, "centrifugo.client.z"); got != "1" {
		t.Fatalf("NUMSUB after churn = %s", got)
	}
}

// Redis dies (kill -9) and comes back empty on the same port.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{ConnectTimeout: 200 * time.Millisecond, IOTimeout: time.Second}, srv)
	b, rb := node(t, "b", Options{ConnectTimeout: 200 * time.Millisecond, IOTimeout: time.Second}, srv)
	subscribe(t, b, "r1")
	subscribe(t, b, "r2")
	if err := b.Healthy(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	eventually(t, "unhealthy", func() bool { return b.Healthy() != nil && a.Healthy() != nil })
	t.Logf("while down: %v", b.Healthy())
	if _, err := publish(t, a, "r1", "lost", withHistory); err == nil {
		t.Fatal("publish succeeded with Redis down")
	}
	if _, err := publish(t, a, "r1", "lost", broker.PublishOptions{}); err == nil {
		t.Fatal("publish without history succeeded with Redis down")
	}
	if err := wait1(t, func(done func(error)) { b.Subscribe(ctx5(t), "r3", done) }); err == nil {
		t.Fatal("subscribe succeeded with Redis down")
	}
	srv.Restart()
	eventually(t, "healthy again", func() bool { return b.Healthy() == nil && a.Healthy() == nil })
	eventually(t, "gap callback", func() bool { return len(rb.resubscribed()) == 1 })
	got := rb.resubscribed()[0]
	if len(got) != 2 || !(got[0] == "r1" && got[1] == "r2" || got[0] == "r2" && got[1] == "r1") {
		t.Fatalf("resubscribed %v", got)
	}
	if n := numsub(t, srv, "centrifugo.client.r1"); n != "1" {
		t.Fatalf("NUMSUB r1 after restart = %s", n)
	}
	mustPublish(t, a, "r1", "back", withHistory)
	eventually(t, "delivery after restart", func() bool { return len(rb.received("r1")) == 1 })
	if g := rb.received("r1")[0]; g.data != "back" || g.offset != 1 {
		t.Fatalf("after restart: %+v", g)
	}
	if len(rb.received("r3")) != 0 {
		t.Fatal("r3 delivered though its subscribe failed")
	}
}

// Centrifuge's consistentIndex, computed with its own code: the same channel
// lands on the same shard of the same address list.
func TestShardIndexMatchesCentrifuge(t *testing.T) {
	vectors := []struct {
		ch         string
		n2, n3, n7 int
	}{
		{"news", 1, 2, 3},
		{"chat:index", 0, 0, 0},
		{"user#42", 1, 2, 2},
		{"", 1, 1, 1},
		{"a", 1, 2, 2},
		{"personal:1234567890", 1, 1, 1},
		{"x", 1, 1, 3},
	}
	for _, v := range vectors {
		if a, b, c := shardIndex(v.ch, 2), shardIndex(v.ch, 3), shardIndex(v.ch, 7); a != v.n2 || b != v.n3 || c != v.n7 {
			t.Fatalf("%q: %d %d %d, centrifuge %d %d %d", v.ch, a, b, c, v.n2, v.n3, v.n7)
		}
	}
}

func TestTwoShards(t *testing.T) {
	s0, s1 := redistest.Start(t), redistest.Start(t)
	a, _ := node(t, "a", Options{}, s0, s1)
	b, rb := node(t, "b", Options{}, s0, s1)
	const n = 100
	count := [2]int{}
	for i := range n {
		ch := "s" + strconv.Itoa(i)
		subscribe(t, b, ch)
		mustPublish(t, a, ch, ch, withHistory)
		idx := shardIndex(ch, 2)
		count[idx]++
		// The stream is on the shard both nodes (and Centrifugo) pick.
		srv := []*redistest.Server{s0, s1}[idx]
		other := []*redistest.Server{s0, s1}[1-idx]
		if out, _ := srv.Do("EXISTS", "centrifugo.stream."+ch); out != "1" {
			t.Fatalf("%s: stream not on shard %d", ch, idx)
		}
		if out, _ := other.Do("EXISTS", "centrifugo.stream."+ch); out != "0" {
			t.Fatalf("%s: stream also on shard %d", ch, 1-idx)
		}
	}
	if count[0] < n/5 || count[1] < n/5 {
		t.Fatalf("channels spread %v", count)
	}
	for i := range n {
		ch := "s" + strconv.Itoa(i)
		eventually(t, "delivery "+ch, func() bool { return len(rb.received(ch)) == 1 })
	}
	// Control reaches every node whichever shard it goes through.
	for i := range 4 {
		if err := wait1(t, func(done func(error)) { a.PublishControl(ctx5(t), []byte(strconv.Itoa(i)), "b", done) }); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "4 controls", func() bool { return len(rb.controls()) == 4 })
}

// A call whose context has ended completes with the context's error.
func TestCanceledContext(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", Options{}, srv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := make(chan error, 3)
	a.Publish(ctx, "c", &broker.Publication{Data: []byte("1")}, withHistory, func(_ broker.StreamPosition, err error) { c <- err })
	a.Subscribe(ctx, "c", func(err error) { c <- err })
	a.History(ctx, "c", broker.PublishOptions{}, broker.HistoryFilter{}, func(_ broker.HistoryResult, err error) { c <- err })
	for range 3 {
		if err := <-c; !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	}
}
