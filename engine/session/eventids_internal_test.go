package session

import (
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/eventid"
)

// recordConn is a gnet.Conn that keeps what is written to it.
type recordConn struct {
	gnet.Conn
	b strings.Builder
}

func (c *recordConn) Write(p []byte) (int, error) { c.b.Write(p); return len(p), nil }
func (c *recordConn) OutboundBuffered() int       { return 0 }

// TestEventIDFollowsTheStream: a tracked position moves with every
// publication of its channel, to the epoch a restarted stream brings; a
// channel that is not tracked, and an untracked connection, get no ids.
func TestEventIDFollowsTheStream(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	rec := &recordConn{}
	c := testConn(rec, delivery.StateStreaming, true)
	plain := &recordConn{}
	p := testConn(plain, delivery.StateStreaming, true)
	for _, name := range []string{"news", "other"} {
		for _, cc := range []*delivery.Conn{c, p} {
			ch, idx := s.hub.Subscribe(name, 0, cc)
			cc.Subs = append(cc.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
		}
	}
	l.AddStream(c)
	l.AddStream(p)
	if !c.TrackPosition(c.Subs[0].Ch, 7, "OldEpoch") {
		t.Fatal("TrackPosition refused")
	}
	publish := func(ch string, offset uint64, epoch string) {
		rec.b.Reset()
		s.exec().HandlePublication(ch, &broker.Publication{Data: []byte(`{}`), Offset: offset}, broker.StreamPosition{Offset: offset, Epoch: epoch})
		for l.Scheduled() {
			l.Drain()
		}
		l.HoldWakes()
	}
	lastID := func() []eventid.Position {
		t.Helper()
		out := rec.b.String()
		i := strings.LastIndex(out, "id: ")
		if i < 0 {
			t.Fatalf("no id in %q", out)
		}
		ps, err := eventid.Decode(nil, []byte(out[i+4:i+strings.IndexByte(out[i:], '\n')]))
		if err != nil || len(ps) != 1 || ps[0].Hash != eventid.Hash("news") {
			t.Fatalf("id in %q: %+v %v", out, ps, err)
		}
		return ps
	}
	publish("news", 8, "OldEpoch")
	if ps := lastID(); ps[0].Offset != 8 || ps[0].Epoch != "OldEpoch" {
		t.Fatalf("after offset 8: %+v", ps)
	}
	// A publication the connection's position already covers (one that
	// reached the loop after the connect read its position) does not move
	// the id back.
	publish("news", 6, "OldEpoch")
	if ps := lastID(); ps[0].Offset != 8 || ps[0].Epoch != "OldEpoch" {
		t.Fatalf("after an older offset 6: %+v, want the id to stay at 8", ps)
	}
	// The stream was lost and restarted: offsets start over, in a new epoch.
	publish("news", 1, "NewEpoch")
	if ps := lastID(); ps[0].Offset != 1 || ps[0].Epoch != "NewEpoch" {
		t.Fatalf("after the restart: %+v", ps)
	}
	// An untracked channel's publication carries no id.
	publish("other", 3, "X")
	if strings.Contains(rec.b.String(), "id: ") {
		t.Fatalf("untracked channel got an id: %q", rec.b.String())
	}
	if strings.Contains(plain.b.String(), "id: ") {
		t.Fatalf("a connection without ids got one: %q", plain.b.String())
	}
}
