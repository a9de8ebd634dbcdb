package cluster_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/unisse/unisse/engine/cluster"
)

func TestRoundTrip(t *testing.T) {
	cases := []*cluster.Command{
		{},
		{UID: "a"},
		{UID: "a", Shutdown: true},
		{UID: "a", Node: &cluster.Node{UID: "a", Uptime: math.MaxUint32, Metrics: &cluster.Metrics{}}},
		{UID: "a", Node: &cluster.Node{Metrics: &cluster.Metrics{Interval: math.Inf(1), Items: map[string]float64{"": 0, "x": -1e300}}}},
		{UID: "a", Disconnect: &cluster.Disconnect{Whitelist: []string{"", "b"}}},
		{UID: "a", Subscribe: &cluster.Subscribe{ExpireAt: math.MinInt64, Source: math.MaxUint32}},
		{UID: "a", Refresh: &cluster.Refresh{ExpireAt: -5, LabelFilter: &cluster.FilterNode{Vals: []string{""}}}},
		{UID: "a", SurveyRequest: &cluster.SurveyRequest{ID: math.MaxUint64}},
		{UID: "a", SurveyResponse: &cluster.SurveyResponse{}},
		{UID: "a", Notification: &cluster.Notification{}},
		{UID: "a", Unsubscribe: &cluster.Unsubscribe{}},
	}
	cases = append(cases, goldenCommands["disconnect_full"], goldenCommands["subscribe_api"])
	for i, c := range cases {
		got, err := cluster.Decode(cluster.Encode(c))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("case %d: got %#v want %#v", i, got, c)
		}
	}
}

// tag builds a field tag; helpers for hand-made messages.
func tag(num protowire.Number, typ protowire.Type) []byte { return protowire.AppendTag(nil, num, typ) }

func msg(num protowire.Number, body []byte) []byte {
	return protowire.AppendBytes(tag(num, protowire.BytesType), body)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestDecodeSkipsUnknownFields(t *testing.T) {
	// Fields a newer centrifuge might add, of every wire type, at the top
	// level and inside a payload, are skipped.
	unknown := cat(
		protowire.AppendVarint(tag(100, protowire.VarintType), 5),
		protowire.AppendFixed32(tag(101, protowire.Fixed32Type), 5),
		protowire.AppendFixed64(tag(102, protowire.Fixed64Type), 5),
		msg(103, []byte("zz")),
		tag(104, protowire.StartGroupType), protowire.AppendVarint(tag(1, protowire.VarintType), 1), tag(104, protowire.EndGroupType),
	)
	// Command's fields 2 and 3 were removed from centrifuge's schema.
	removed := cat(msg(2, []byte("old")), protowire.AppendVarint(tag(3, protowire.VarintType), 1))
	data := cat(unknown, removed, msg(1, []byte("n")), msg(6, cat(msg(1, []byte("42")), unknown)))
	got, err := cluster.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &cluster.Command{UID: "n", Disconnect: &cluster.Disconnect{User: "42"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func TestDecodeMergesRepeatedMessages(t *testing.T) {
	// Proto3: a sub-message sent twice is merged; a scalar's last value wins.
	data := cat(
		msg(6, cat(msg(1, []byte("42")), msg(2, []byte("c1")))),
		msg(6, cat(msg(4, []byte("bye")), msg(2, []byte("c2")))),
		msg(1, []byte("a")), msg(1, []byte("b")),
	)
	got, err := cluster.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &cluster.Command{UID: "b", Disconnect: &cluster.Disconnect{User: "42", Reason: "bye", Whitelist: []string{"c1", "c2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v", got)
	}
}

func TestDecodeRejectsHostileInput(t *testing.T) {
	deep := []byte{}
	for range 40 {
		deep = msg(6, deep) // FilterNode.nodes
	}
	cases := map[string][]byte{
		"truncated tag":           {0x80},
		"truncated varint":        cat(tag(100, protowire.VarintType), []byte{0xff}),
		"varint over 10 bytes":    cat(tag(100, protowire.VarintType), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
		"length past the end":     {0x0a, 0x05, 'a'},
		"huge length":             {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"field number zero":       {0x00, 0x00},
		"wire type 6":             {0x0e},
		"unterminated group":      tag(100, protowire.StartGroupType),
		"uid as varint":           protowire.AppendVarint(tag(1, protowire.VarintType), 1),
		"node as varint":          protowire.AppendVarint(tag(4, protowire.VarintType), 1),
		"num_clients as bytes":    msg(4, msg(4, nil)),
		"bad nested message":      msg(4, []byte{0x0a, 0x09}),
		"metrics interval varint": msg(4, msg(8, protowire.AppendVarint(tag(1, protowire.VarintType), 1))),
		"filter too deep":         msg(6, msg(8, deep)),
		"shutdown with garbage":   msg(7, []byte{0x80}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := cluster.Decode(data)
			if err == nil {
				t.Fatalf("decoded %#v", c)
			}
			if !errors.Is(err, cluster.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestDecodeFilterAtDepthLimit(t *testing.T) {
	// Nesting up to the limit decodes: the bound refuses only abuse.
	f := &cluster.FilterNode{Key: "leaf"}
	for range 31 {
		f = &cluster.FilterNode{Op: "and", Nodes: []*cluster.FilterNode{f}}
	}
	c := &cluster.Command{UID: "a", Unsubscribe: &cluster.Unsubscribe{LabelFilter: f}}
	got, err := cluster.Decode(cluster.Encode(c))
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("got %v", err)
	}
	f = &cluster.FilterNode{Op: "and", Nodes: []*cluster.FilterNode{f}}
	if _, err := cluster.Decode(cluster.Encode(&cluster.Command{Unsubscribe: &cluster.Unsubscribe{LabelFilter: f}})); err == nil {
		t.Fatal("33 levels decoded")
	}
}

func TestDecodeRejectsOversize(t *testing.T) {
	data := make([]byte, cluster.MaxCommandSize+1)
	if _, err := cluster.Decode(data); !errors.Is(err, cluster.ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
}

func TestDecodeCopiesBytes(t *testing.T) {
	// A handler may keep what it gets while the broker reuses its buffer.
	data := cluster.Encode(&cluster.Command{Refresh: &cluster.Refresh{Info: []byte("info")}})
	c, err := cluster.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 'X'
	}
	if string(c.Refresh.Info) != "info" {
		t.Fatalf("info %q changed with the input", c.Refresh.Info)
	}
}

func TestEncodeOmitsZeroScalars(t *testing.T) {
	// Proto3 as centrifuge writes it: empty payloads are present but empty.
	got := cluster.Encode(&cluster.Command{Disconnect: &cluster.Disconnect{}})
	if string(got) != "\x32\x00" {
		t.Fatalf("%x", got)
	}
	if s := cluster.Encode(&cluster.Command{UID: strings.Repeat("u", 200)}); len(s) != 203 {
		t.Fatalf("len %d: a 200-byte string takes a two-byte length", len(s))
	}
}
