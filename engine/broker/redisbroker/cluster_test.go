package redisbroker

import (
	"strconv"
	"testing"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// A Redis Cluster (one node owning every slot): keys and PUB/SUB channels
// carry centrifuge's {channel} hash tags, the scripts' keys share a slot, and
// publish/subscribe, history, idempotency and presence work through the
// cluster client.
func TestCluster(t *testing.T) {
	srv := redistest.StartCluster(t)
	opts := Options{ClusterAddresses: []string{srv.Addr()}}
	a, _ := node(t, "a", opts)
	b, rb := node(t, "b", opts)
	for i := range 20 {
		subscribe(t, b, "k"+strconv.Itoa(i))
	}
	o := withHistory
	o.IdempotencyKey = "once"
	for i := range 20 {
		ch := "k" + strconv.Itoa(i)
		sp := mustPublish(t, a, ch, `"x"`, o)
		if again := mustPublish(t, a, ch, `"x"`, o); again != sp || sp.Offset != 1 {
			t.Fatalf("%s: %+v then %+v", ch, sp, again)
		}
	}
	for i := range 20 {
		ch := "k" + strconv.Itoa(i)
		eventually(t, "delivery "+ch, func() bool { return len(rb.received(ch)) == 1 })
	}
	for _, key := range []string{"centrifugo.stream.{k3}", "centrifugo.stream.meta.{k3}", "centrifugo.result.{k3}.once"} {
		if out, _ := srv.Do("EXISTS", key); out != "1" {
			t.Fatalf("%s missing", key)
		}
	}
	res, err := history(t, b, "k3", broker.HistoryFilter{Limit: -1})
	if err != nil || len(res.Publications) != 1 || res.Offset != 1 {
		t.Fatalf("history %+v %v", res, err)
	}
	info := &broker.ClientInfo{ClientID: "c", UserID: "u"}
	if err := wait1(t, func(done func(error)) { a.AddPresence(ctx5(t), "k3", "c", info, done) }); err != nil {
		t.Fatal(err)
	}
	if out, _ := srv.Do("HEXISTS", "centrifugo.presence.data.{k3}", "c"); out != "1" {
		t.Fatal("presence hash not tagged")
	}
	unsubscribe(t, b, "k3")
	if n := numsub(t, srv, "centrifugo.client.{k3}"); n != "0" {
		t.Fatalf("NUMSUB after unsubscribe %s", n)
	}
	if err := wait1(t, func(done func(error)) { a.PublishControl(ctx5(t), []byte("c"), "b", done) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "control through the cluster", func() bool { return len(rb.controls()) == 1 })
}
