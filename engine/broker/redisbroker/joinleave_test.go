package redisbroker

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// Joins and leaves reach every subscribed node's handler, the publishing
// node's own included (centrifuge's nodes hear their own through PUB/SUB
// too), with their ClientInfo, in channel order with publications.
func TestJoinLeaveInOrderWithPublications(t *testing.T) {
	srv := redistest.Start(t)
	a, ra := node(t, "a", Options{}, srv)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, a, "room")
	subscribe(t, b, "room")
	info := &broker.ClientInfo{ClientID: "c1", UserID: "u1", ConnInfo: []byte(`{"name":"n"}`), ChanInfo: []byte(`{"role":"r"}`)}
	join := func(c *Broker, ch string, info *broker.ClientInfo) {
		t.Helper()
		if err := wait1(t, func(done func(error)) { c.PublishJoin(ctx5(t), ch, info, done) }); err != nil {
			t.Fatal(err)
		}
	}
	leave := func(c *Broker, ch string, info *broker.ClientInfo) {
		t.Helper()
		if err := wait1(t, func(done func(error)) { c.PublishLeave(ctx5(t), ch, info, done) }); err != nil {
			t.Fatal(err)
		}
	}
	// Each step completes before the next is made: delivery follows it.
	mustPublish(t, a, "room", "1", broker.PublishOptions{})
	join(a, "room", info)
	mustPublish(t, b, "room", "2", withHistory)
	leave(b, "room", &broker.ClientInfo{ClientID: "c2", UserID: ""})
	mustPublish(t, a, "room", "3", broker.PublishOptions{})
	want := []string{"pub:1", `join:c1:u1:{"name":"n"}:{"role":"r"}`, "pub:2", "leave:c2:::", "pub:3"}
	for name, r := range map[string]*rec{"a": ra, "b": rb} {
		eventually(t, "5 events at "+name, func() bool { return len(r.eventsOf("room")) >= len(want) })
		if got := r.eventsOf("room"); !slices.Equal(got, want) {
			t.Fatalf("node %s got %q, want %q", name, got, want)
		}
	}
	// A channel the node does not subscribe brings it nothing.
	join(a, "elsewhere", info)
	mustPublish(t, a, "room", "4", broker.PublishOptions{})
	eventually(t, "pub 4 at b", func() bool { return len(rb.eventsOf("room")) == len(want)+1 })
	if got := rb.eventsOf("elsewhere"); len(got) != 0 {
		t.Fatalf("b got %q on a channel it does not subscribe", got)
	}
}

// Announcements made back to back, without waiting for each other, keep
// their order (a leave never overtakes its join), across shards too.
func TestJoinLeaveKeepCallOrder(t *testing.T) {
	s1, s2 := redistest.Start(t), redistest.Start(t)
	a, _ := node(t, "a", Options{}, s1, s2)
	b, rb := node(t, "b", Options{}, s1, s2)
	chans := []string{"x", "y", "z", "w"}
	for _, ch := range chans {
		subscribe(t, b, ch)
	}
	const n = 300
	errs := make(chan error, n*len(chans))
	for i := range n {
		for _, ch := range chans {
			info := &broker.ClientInfo{ClientID: strconv.Itoa(i), UserID: "u"}
			done := func(err error) {
				if err != nil {
					errs <- err
				}
			}
			if i%2 == 0 {
				a.PublishJoin(ctx5(t), ch, info, done)
			} else {
				a.PublishLeave(ctx5(t), ch, info, done)
			}
		}
	}
	for _, ch := range chans {
		eventually(t, "all announcements on "+ch, func() bool { return len(rb.eventsOf(ch)) >= n })
		for i, e := range rb.eventsOf(ch) {
			kind := "join"
			if i%2 == 1 {
				kind = "leave"
			}
			if want := fmt.Sprintf("%s:%d:u::", kind, i); e != want {
				t.Fatalf("%s event %d: %q, want %q", ch, i, e, want)
			}
		}
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// A Centrifugo node's join (written here byte for byte as centrifuge's
// PublishJoin) reaches the handler; conn_info that is not JSON is left out
// rather than written into pushes; a ClientInfo that does not decode is
// dropped without disturbing the publications after it.
func TestReadsCentrifugeJoinLeave(t *testing.T) {
	srv := redistest.Start(t)
	b, rb := node(t, "b", Options{}, srv)
	subscribe(t, b, "cf")
	enc := func(ci *cproto.ClientInfo) string {
		d, err := ci.MarshalVT()
		if err != nil {
			t.Fatal(err)
		}
		return string(d)
	}
	pub, err := (&cproto.Publication{Data: []byte(`{"a":1}`)}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"PUBLISH", "centrifugo.client.cf", "__j__" + enc(&cproto.ClientInfo{Client: "cid", User: "u", ConnInfo: []byte(`{"x":1}`), ChanInfo: []byte(`[1]`)})},
		{"PUBLISH", "centrifugo.client.cf", "__l__" + enc(&cproto.ClientInfo{Client: "cid", User: "u", ConnInfo: []byte("\x00not json")})},
		{"PUBLISH", "centrifugo.client.cf", "__j__\xff\xff\xff"},
		{"PUBLISH", "centrifugo.client.cf", string(pub)},
	}
	for _, s := range steps {
		if _, err := srv.Do(s...); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`join:cid:u:{"x":1}:[1]`, "leave:cid:u::", `pub:{"a":1}`}
	eventually(t, "3 events", func() bool { return len(rb.eventsOf("cf")) >= len(want) })
	if got := rb.eventsOf("cf"); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
