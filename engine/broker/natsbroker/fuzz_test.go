package natsbroker

import (
	"testing"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
)

// FuzzDecode: whatever arrives on a channel's subject (any client of the
// NATS server can publish there) is decoded or refused, never a panic, and
// a publication that decodes has its epoch tag stripped.
func FuzzDecode(f *testing.F) {
	seed := func(p *cproto.Push) {
		b, _ := p.MarshalVT()
		f.Add(b)
	}
	seed(&cproto.Push{Channel: "c", Pub: &cproto.Publication{Data: []byte(`{}`), Tags: map[string]string{"k": "v", epochTag: "e"}, Offset: 3}})
	seed(&cproto.Push{Channel: "c", Pub: &cproto.Publication{Data: []byte{0xff}, Info: &cproto.ClientInfo{User: "u", ConnInfo: []byte("not json")}}})
	seed(&cproto.Push{Channel: "c", Join: &cproto.Join{Info: &cproto.ClientInfo{User: "u"}}})
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		var (
			pub  broker.Publication
			sp   broker.StreamPosition
			info broker.ClientInfo
		)
		kind, err := decode(msg, &pub, &sp, &info)
		if err != nil && kind != pushNone {
			t.Fatal("a push kind with an error")
		}
		if _, tagged := pub.Tags[epochTag]; kind == pushPublication && tagged {
			t.Fatal("epoch tag left in")
		}
	})
}
