package clientinfo

import (
	"errors"
	"testing"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
)

// TestJSONRoundTrip: unisse's JSON goes to the protobuf form and back
// unchanged; info that is not a ClientInfo object is refused.
func TestJSONRoundTrip(t *testing.T) {
	const raw = `{"user":"u","client":"c","conn_info":{"a":1},"chan_info":[1,2]}`
	ci, err := FromJSON([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ci.User != "u" || ci.Client != "c" || string(ci.ConnInfo) != `{"a":1}` || string(ci.ChanInfo) != `[1,2]` {
		t.Fatalf("FromJSON: %+v", ci)
	}
	if got := string(ToJSON(ci)); got != raw {
		t.Fatalf("ToJSON: %s, want %s", got, raw)
	}
	if _, err := FromJSON([]byte(`"a string"`)); !errors.Is(err, ErrNotClientInfo) {
		t.Fatalf("FromJSON of a string: %v, want ErrNotClientInfo", err)
	}
	if ToJSON(nil) != nil || ToJSON(&cproto.ClientInfo{ConnInfo: []byte("not json")}) != nil {
		t.Fatal("ToJSON of nil or of non-JSON conn_info is not nil")
	}
}

// TestProtoRoundTrip: a join's or presence entry's info goes to the
// protobuf form and back; conn_info or chan_info that is not JSON (from a
// Centrifugo node using binary info) is left out.
func TestProtoRoundTrip(t *testing.T) {
	in := broker.ClientInfo{ClientID: "c", UserID: "u", ConnInfo: []byte(`{"n":1}`), ChanInfo: []byte(`true`)}
	var out broker.ClientInfo
	FromProto(ToProto(&in), &out)
	if out.ClientID != "c" || out.UserID != "u" || string(out.ConnInfo) != `{"n":1}` || string(out.ChanInfo) != "true" {
		t.Fatalf("round trip: %+v", out)
	}
	FromProto(&cproto.ClientInfo{Client: "c", User: "u", ConnInfo: []byte{0xff}, ChanInfo: []byte("x")}, &out)
	if out.ConnInfo != nil || out.ChanInfo != nil || out.ClientID != "c" {
		t.Fatalf("non-JSON info kept: %+v", out)
	}
	if ToProto(nil) != nil {
		t.Fatal("ToProto(nil) is not nil")
	}
	if ci := ToProto(&broker.ClientInfo{ClientID: "c"}); ci.ConnInfo != nil || ci.ChanInfo != nil {
		t.Fatalf("empty info sent as %+v", ci)
	}
}
