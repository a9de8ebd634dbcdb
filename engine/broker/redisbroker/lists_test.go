package redisbroker

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

var listsMode = Options{HistoryUseLists: true}

// With HistoryUseLists, what unisse writes is what centrifuge's
// broker_history_add_list.lua writes: LIST <prefix>.list.<ch>, newest first,
// each element the PUB/SUB message ("__p1:<offset>:<epoch>__" + protobuf),
// trimmed to the history size, TTL the history TTL; meta hash
// <prefix>.list.meta.<ch> with e and s, TTL history_meta_ttl; no stream.
func TestListsWrittenAsCentrifugeReadsIt(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := node(t, "a", listsMode, srv)

	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	msgs := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = raw.Receive(ctx, raw.B().Subscribe().Channel("centrifugo.client.l").Build(), func(m rueidis.PubSubMessage) { msgs <- m.Message })
	}()
	eventually(t, "raw subscriber", func() bool { return numsub(t, srv, "centrifugo.client.l") == "1" })

	opts := broker.PublishOptions{HistorySize: 3, HistoryTTL: time.Minute}
	var sp broker.StreamPosition
	for i := 1; i <= 5; i++ {
		sp = mustPublish(t, a, "l", `{"n":`+strconv.Itoa(i)+`}`, opts)
	}
	if sp.Offset != 5 || len(sp.Epoch) != 8 {
		t.Fatalf("position %+v", sp)
	}
	if typ, _ := srv.Do("TYPE", "centrifugo.list.l"); typ != "list" {
		t.Fatalf("centrifugo.list.l is a %q", typ)
	}
	if n, _ := srv.Do("EXISTS", "centrifugo.stream.l", "centrifugo.stream.meta.l"); n != "0" {
		t.Fatalf("stream keys written in lists mode (%s)", n)
	}
	if e, _ := srv.Do("HGET", "centrifugo.list.meta.l", "e"); e != sp.Epoch {
		t.Fatalf("meta e = %q, position %+v", e, sp)
	}
	if s, _ := srv.Do("HGET", "centrifugo.list.meta.l", "s"); s != "5" {
		t.Fatalf("meta s = %q", s)
	}
	if ttl, _ := srv.Do("TTL", "centrifugo.list.meta.l"); ttl != "2592000" {
		t.Fatalf("meta TTL %s, want 720h", ttl)
	}
	if ttl, _ := srv.Do("TTL", "centrifugo.list.l"); atoi(ttl) < 55 || atoi(ttl) > 60 {
		t.Fatalf("list TTL %s, want the history TTL (60)", ttl)
	}
	// (Through a RESP client: protobuf bytes may hold newlines.)
	elems, err := raw.Do(ctx, raw.B().Lrange().Key("centrifugo.list.l").Start(0).Stop(-1).Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != 3 { // trimmed to the history size
		t.Fatalf("%d list elements: %q", len(elems), elems)
	}
	for i, e := range elems {
		off := 5 - i // newest first
		prefix := "__p1:" + strconv.Itoa(off) + ":" + sp.Epoch + "__"
		var p cproto.Publication
		if !strings.HasPrefix(e, prefix) || p.UnmarshalVT([]byte(e[len(prefix):])) != nil ||
			string(p.Data) != `{"n":`+strconv.Itoa(off)+`}` || p.Time == 0 {
			t.Fatalf("element %d = %q, want %s + Publication n=%d", i, e, prefix, off)
		}
	}
	// The PUB/SUB message is the element itself, as centrifuge publishes it.
	for i := 1; i <= 5; i++ {
		select {
		case m := <-msgs:
			if i == 5 && m != elems[0] {
				t.Fatalf("PUB/SUB message %q, list head %q", m, elems[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("PUB/SUB message %d missing", i)
		}
	}

	// RemoveHistory deletes the list and keeps the meta.
	if err := wait1(t, func(done func(error)) { a.RemoveHistory(ctx5(t), "l", done) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.Do("EXISTS", "centrifugo.list.l"); n != "0" {
		t.Fatal("list kept after RemoveHistory")
	}
	if s, _ := srv.Do("HGET", "centrifugo.list.meta.l", "s"); s != "5" {
		t.Fatalf("meta s after RemoveHistory = %q", s)
	}
}

// A list written by a Centrifugo node (raw commands, byte for byte as
// centrifuge's list script writes it) is read by unisse's history with its
// offsets and epoch, in either order, and unisse's next publication
// continues it. Elements of an older epoch left at the tail (centrifuge does
// not delete them when a lost meta starts a new epoch) are not served.
func TestListsReadsWhatCentrifugeWrites(t *testing.T) {
	srv := redistest.Start(t)
	b, rb := node(t, "b", listsMode, srv)
	subscribe(t, b, "cf")
	elem := func(off int, epoch string) string {
		p := cproto.Publication{Data: []byte(`{"n":` + strconv.Itoa(off) + `}`), Info: &cproto.ClientInfo{User: "u", Client: "c"}, Time: 1}
		payload, err := p.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		return "__p1:" + strconv.Itoa(off) + ":" + epoch + "__" + string(payload)
	}
	steps := [][]string{
		{"RPUSH", "centrifugo.list.cf", elem(9, "OLDEPOCH"), elem(8, "OLDEPOCH")},
		{"HSET", "centrifugo.list.meta.cf", "e", "ABCDEFGH", "s", "7"},
	}
	for off := 3; off <= 7; off++ {
		steps = append(steps, []string{"LPUSH", "centrifugo.list.cf", elem(off, "ABCDEFGH")})
	}
	steps = append(steps, []string{"PUBLISH", "centrifugo.client.cf", elem(7, "ABCDEFGH")})
	for _, s := range steps {
		if _, err := srv.Do(s...); err != nil {
			t.Fatalf("%v: %v", s[:2], err)
		}
	}
	eventually(t, "the publication", func() bool { return len(rb.received("cf")) == 1 })
	if g := rb.received("cf")[0]; g.offset != 7 || g.epoch != "ABCDEFGH" || g.data != `{"n":7}` {
		t.Fatalf("delivered %+v", g)
	}
	cases := []struct {
		name string
		f    broker.HistoryFilter
		want []uint64
	}{
		{"all", broker.HistoryFilter{Limit: -1}, []uint64{3, 4, 5, 6, 7}},
		{"since", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 4, Epoch: "ABCDEFGH"}}, []uint64{5, 6, 7}},
		{"since limit", broker.HistoryFilter{Limit: 2, Since: &broker.StreamPosition{Offset: 4, Epoch: "ABCDEFGH"}}, []uint64{5, 6}},
		{"reverse limit", broker.HistoryFilter{Limit: 2, Reverse: true}, []uint64{7, 6}},
		{"since beyond top", broker.HistoryFilter{Limit: -1, Since: &broker.StreamPosition{Offset: 100}}, nil},
	}
	for _, c := range cases {
		res, err := history(t, b, "cf", c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var got []uint64
		for _, p := range res.Publications {
			got = append(got, p.Offset)
			if string(p.Data) != `{"n":`+strconv.FormatUint(p.Offset, 10)+`}` || string(p.Info) != `{"user":"u","client":"c"}` {
				t.Fatalf("%s: offset %d is %q %s", c.name, p.Offset, p.Data, p.Info)
			}
		}
		if !reflect.DeepEqual(got, c.want) || res.Offset != 7 || res.Epoch != "ABCDEFGH" {
			t.Fatalf("%s: %v at %+v, want %v at 7/ABCDEFGH", c.name, got, res.StreamPosition, c.want)
		}
	}
	if sp := mustPublish(t, b, "cf", `{"n":8}`, withHistory); sp.Offset != 8 || sp.Epoch != "ABCDEFGH" {
		t.Fatalf("continue: %+v", sp)
	}
	if head, _ := srv.Do("LINDEX", "centrifugo.list.cf", "0"); !strings.HasPrefix(head, "__p1:8:ABCDEFGH__") {
		t.Fatalf("list head %q", head)
	}

	// A garbage element in the selected range fails the read, never a panic.
	if _, err := srv.Do("LPUSH", "centrifugo.list.cf", "\xff\xff"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("HINCRBY", "centrifugo.list.meta.cf", "s", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := history(t, b, "cf", broker.HistoryFilter{Limit: -1}); err == nil {
		t.Fatal("malformed element read without error")
	}
}

// The keys carry Centrifugo's cluster hash tags in lists mode too.
func TestListKeysInCluster(t *testing.T) {
	k := keys{prefix: "p", cluster: true}
	if got := k.list("ch") + " " + k.listMeta("ch"); got != "p.list.{ch} p.list.meta.{ch}" {
		t.Fatalf("cluster list keys %q", got)
	}
	k.cluster = false
	if got := k.list("ch") + " " + k.listMeta("ch"); got != "p.list.ch p.list.meta.ch" {
		t.Fatalf("list keys %q", got)
	}
}

// In a Redis Cluster the list script's keys (list, meta, result) share the
// channel's slot, and history reads them back.
func TestListsInCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	opts := Options{ClusterAddresses: []string{srv.Addr()}, HistoryUseLists: true}
	a, _ := node(t, "a", opts)
	o := withHistory
	o.IdempotencyKey = "once"
	for i := range 10 {
		ch := "k" + strconv.Itoa(i)
		sp := mustPublish(t, a, ch, `"x"`, o)
		if again := mustPublish(t, a, ch, `"x"`, o); again != sp || sp.Offset != 1 {
			t.Fatalf("%s: %+v then %+v", ch, sp, again)
		}
	}
	for _, key := range []string{"centrifugo.list.{k3}", "centrifugo.list.meta.{k3}", "centrifugo.result.{k3}.once"} {
		if out, _ := srv.Do("EXISTS", key); out != "1" {
			t.Fatalf("%s missing", key)
		}
	}
	res, err := history(t, a, "k3", broker.HistoryFilter{Limit: -1})
	if err != nil || len(res.Publications) != 1 || res.Offset != 1 || string(res.Publications[0].Data) != `"x"` {
		t.Fatalf("history %+v %v", res, err)
	}
}
