package redisbroker

import (
	"testing"

	cproto "github.com/centrifugal/protocol"
)

// Whatever arrives on a PUB/SUB channel (any client of the Redis can
// publish there) is decoded without panicking, and a publication that
// decodes carries an offset only from a well-formed header.
func FuzzDeliver(f *testing.F) {
	p := cproto.Publication{Data: []byte(`{"a":1}`), Tags: map[string]string{"k": "v"}, Info: &cproto.ClientInfo{User: "u", ConnInfo: []byte(`{}`)}}
	payload, _ := p.MarshalVT()
	for _, seed := range []string{
		string(payload),
		"__p1:7:ABCDEFGH__" + string(payload),
		"__j__" + string(payload),
		"__l__",
		"__p1:__",
		"__p1:99999999999999999999999:e__x",
		"__d1:1:E:0::3:abc",
		"__",
		"",
		"\xff\xff\xff",
	} {
		f.Add(seed)
	}
	h := &countingHandler{}
	f.Fuzz(func(t *testing.T, msg string) {
		var w worker
		w.deliver(h, pubsubMsg{channel: "ch", payload: msg})
		w.deliver(h, pubsubMsg{channel: "ch", payload: msg}) // reused buffers
	})
}
