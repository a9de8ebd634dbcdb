package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/cluster"
)

func TestAnnouncerRun(t *testing.T) {
	clock := newFakeClock()
	nodes := cluster.NewRegistry("me", clock.Now)
	var pub recorder
	counts := cluster.Counts{Clients: 5, Users: 3, Channels: 2, Subs: 9}
	a := cluster.NewAnnouncer(cluster.Identity{UID: "me", Name: "host", Version: "1.2", Started: clock.Now()},
		func() cluster.Counts { return counts }, pub.publish, nodes)
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, ticks); close(done) }()

	// At once, then on every tick, to every node.
	s := pub.waitSent(t, 1)
	want := &cluster.Command{UID: "me", Node: &cluster.Node{UID: "me", Name: "host", Version: "1.2",
		NumClients: 5, NumUsers: 3, NumChannels: 2, NumSubs: 9}}
	if got := mustDecode(t, s[0].data); s[0].node != "" || !equalCommand(got, want) {
		t.Fatalf("first announcement %+v to %q", got.Node, s[0].node)
	}

	nodes.Add(&cluster.Node{UID: "gone"})
	clock.Advance(cluster.AnnounceInterval * 3)
	ticks <- clock.Now()
	s = pub.waitSent(t, 2)
	if got := mustDecode(t, s[1].data); got.Node.Uptime != 9 {
		t.Fatalf("uptime %d after 9 s", got.Node.Uptime)
	}
	if nodes.Len() != 0 {
		t.Fatal("silent node still counted")
	}

	// Introduce sends the announcement to one node only.
	a.Introduce("newcomer")
	s = pub.waitSent(t, 3)
	if s[2].node != "newcomer" || mustDecode(t, s[2].data).Node == nil {
		t.Fatalf("introduction %+v", s[2])
	}

	cancel()
	<-done

	// Leave: a Shutdown command to every node.
	var left error = errors.New("not called")
	a.Leave(context.Background(), func(err error) { left = err })
	s = pub.sent()
	if left != nil || len(s) != 4 || s[3].node != "" || !mustDecode(t, s[3].data).Shutdown {
		t.Fatalf("leave: %v, %+v", left, s)
	}
}

func TestAnnouncerReportsPublishErrors(t *testing.T) {
	pub := recorder{err: errors.New("redis down")}
	a := cluster.NewAnnouncer(cluster.Identity{UID: "me"}, func() cluster.Counts { return cluster.Counts{Clients: -1, Subs: 1 << 40} }, pub.publish, nil)
	var got error
	a.OnError = func(err error) { got = err }
	a.Leave(context.Background(), nil)
	if got == nil || got.Error() != "redis down" {
		t.Fatalf("OnError heard %v", got)
	}
	// Counts out of uint32 range are clamped, not wrapped.
	if n := a.Info(); n.NumClients != 0 || n.NumSubs != 1<<32-1 {
		t.Fatalf("clamped %+v", n)
	}
}

func TestIntroduceNeverBlocks(t *testing.T) {
	// Nothing runs the announcer: Introduce must still return (the
	// dispatcher calls it on the broker's goroutine).
	a := cluster.NewAnnouncer(cluster.Identity{UID: "me"}, func() cluster.Counts { return cluster.Counts{} }, (&recorder{}).publish, nil)
	for i := range 1000 {
		a.Introduce(string(rune('a' + i%26)))
	}
}

func equalCommand(a, b *cluster.Command) bool {
	return string(cluster.Encode(a)) == string(cluster.Encode(b))
}
