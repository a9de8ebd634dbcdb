package cluster_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/unisse/unisse/engine/cluster"
)

// The values testdata/gen/control_gen.go.txt encodes with centrifuge's code.
func goldenFilter() *cluster.FilterNode {
	return &cluster.FilterNode{
		Op: "and",
		Nodes: []*cluster.FilterNode{
			{Key: "region", Cmp: "eq", Val: "eu"},
			{Key: "tier", Cmp: "in", Vals: []string{"gold", "silver"}},
			{Op: "not", Nodes: []*cluster.FilterNode{{Key: "beta", Cmp: "ex"}}},
		},
	}
}

var goldenCommands = map[string]*cluster.Command{
	"node": {UID: "6d3a1c2e-node-a", Node: &cluster.Node{
		UID: "6d3a1c2e-node-a", Name: "centrifugo_host_8000", Version: "6.9.1 OSS",
		NumClients: 3, NumUsers: 2, NumChannels: 5, Uptime: 1234, NumSubs: 7,
		Metrics: &cluster.Metrics{Interval: 60, Items: map[string]float64{"centrifugo.node.num_clients": 3}},
		Data:    []byte("app-data"),
	}},
	"node_metrics": {UID: "n2", Node: &cluster.Node{
		UID: "n2", Name: "n2", Version: "6.9.1 OSS", NumClients: 1 << 31, Uptime: 1,
		Metrics: &cluster.Metrics{Interval: 60.5, Items: map[string]float64{"a": 1.5, "b.c": -2, "d": 0}},
	}},
	"node_empty": {UID: "n3", Node: &cluster.Node{}},
	"shutdown":   {UID: "6d3a1c2e-node-a", Shutdown: true},
	"unsubscribe_api": {UID: "u", Unsubscribe: &cluster.Unsubscribe{
		Channel: "news", User: "42", Client: "c1", Session: "s1", Code: 2000, Reason: "server unsubscribe",
	}},
	"unsubscribe_full": {UID: "u", Unsubscribe: &cluster.Unsubscribe{
		Channel: "news", Client: "c1", Session: "s1", Code: 2500, Reason: "custom",
		LabelFilter: goldenFilter(), AllUsers: true,
	}},
	"disconnect_api": {UID: "u", Disconnect: &cluster.Disconnect{
		User: "42", Code: 3503, Reason: "force disconnect",
	}},
	"disconnect_full": {UID: "u", Disconnect: &cluster.Disconnect{
		User: "42", Whitelist: []string{"c7", "c8"}, Code: 4000, Reason: "bye", Reconnect: true,
		Client: "c1", Session: "s1", LabelFilter: goldenFilter(), AllUsers: true,
	}},
	"subscribe_api": {UID: "u", Subscribe: &cluster.Subscribe{
		User: "42", Channel: "news", ChannelInfo: []byte(`{"a":1}`), Data: []byte(`{"b":2}`),
		Client: "c1", Session: "s1", ExpireAt: 1893456000, Recover: true, Position: true,
		EmitPresence: true, EmitJoinLeave: true, PushJoinLeave: true, Source: 10,
		RecoverSince: &cluster.StreamPosition{Offset: 17, Epoch: "xyz"},
	}},
	"subscribe_full": {UID: "u", Subscribe: &cluster.Subscribe{
		Channel: "news", ExpireAt: -1, LabelFilter: goldenFilter(), AllUsers: true,
		RecoverSince: &cluster.StreamPosition{},
	}},
	"refresh_api": {UID: "u", Refresh: &cluster.Refresh{
		User: "42", Client: "c1", Session: "s1", ExpireAt: 1893456000, Info: []byte(`{"i":1}`),
	}},
	"refresh_full": {UID: "u", Refresh: &cluster.Refresh{
		Expired: true, LabelFilter: goldenFilter(), AllUsers: true,
	}},
	"survey_request": {UID: "6d3a1c2e-node-a", SurveyRequest: &cluster.SurveyRequest{
		ID: 7, Op: "channels", Data: []byte("\x0a\x06news:*"),
	}},
	"survey_response": {UID: "6d3a1c2e-node-a", SurveyResponse: &cluster.SurveyResponse{
		ID: 1 << 40, Data: []byte("\x0a\x0a\x0a\x04news\x12\x02\x08\x03"),
	}},
	"survey_response_code": {UID: "6d3a1c2e-node-a", SurveyResponse: &cluster.SurveyResponse{
		ID: 8, Code: 3,
	}},
	"notification": {UID: "6d3a1c2e-node-a", Notification: &cluster.Notification{
		Op: "usage", Data: []byte("x"),
	}},
}

// byteOrderFree names the golden commands whose bytes depend on Go's map
// iteration order (several metrics items): compared after decoding.
var byteOrderFree = map[string]bool{"node_metrics": true}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenDecode(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "control_*.bin"))
	if len(files) != len(goldenCommands) {
		t.Fatalf("%d golden files, %d expected commands", len(files), len(goldenCommands))
	}
	for name, want := range goldenCommands {
		t.Run(name, func(t *testing.T) {
			got, err := cluster.Decode(readGolden(t, "control_"+name))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", got, want)
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	for name, cmd := range goldenCommands {
		t.Run(name, func(t *testing.T) {
			golden := readGolden(t, "control_"+name)
			got := cluster.Encode(cmd)
			if byteOrderFree[name] {
				if len(got) != len(golden) {
					t.Fatalf("encoded %d bytes, centrifuge %d", len(got), len(golden))
				}
				back, err := cluster.Decode(got)
				if err != nil || !reflect.DeepEqual(back, cmd) {
					t.Fatalf("re-decoded %#v, %v", back, err)
				}
				return
			}
			if !bytes.Equal(got, golden) {
				t.Fatalf("encoded\n%x\ncentrifuge wrote\n%x", got, golden)
			}
		})
	}
}

func TestGoldenChannelsPayloads(t *testing.T) {
	if got := cluster.EncodeChannelsRequest("news:*"); !bytes.Equal(got, readGolden(t, "channels_request")) {
		t.Fatalf("request %x", got)
	}
	if got := cluster.EncodeChannelsRequest(""); !bytes.Equal(got, readGolden(t, "channels_request_empty")) {
		t.Fatalf("empty request %x", got)
	}
	for name, want := range map[string]string{"channels_request": "news:*", "channels_request_empty": ""} {
		p, err := cluster.DecodeChannelsRequest(readGolden(t, name))
		if err != nil || p != want {
			t.Fatalf("%s: pattern %q, %v", name, p, err)
		}
	}

	// Centrifugo's deterministic marshalling sorts channels; built in the
	// same order ours matches byte for byte.
	var built []byte
	built = cluster.AppendChannel(built, "chat", 300000)
	built = cluster.AppendChannel(built, "news:1", 3)
	built = cluster.AppendChannel(built, "news:2", 1)
	if golden := readGolden(t, "channels_result"); !bytes.Equal(built, golden) {
		t.Fatalf("result\n%x\nCentrifugo\n%x", built, golden)
	}
	if got := cluster.AppendChannel(nil, "news", 3); !bytes.Equal(got, readGolden(t, "channels_result_one")) {
		t.Fatalf("one-channel result %x", got)
	}
	for name, want := range map[string]map[string]uint32{
		"channels_result":       {"chat": 300000, "news:1": 3, "news:2": 1},
		"channels_result_one":   {"news": 3},
		"channels_result_empty": {},
	} {
		got, err := cluster.DecodeChannelsResult(readGolden(t, name))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %v, %v", name, got, err)
		}
	}
	// The survey_response golden command carries a one-channel result.
	got, err := cluster.DecodeChannelsResult(goldenCommands["survey_response"].SurveyResponse.Data)
	if err != nil || !reflect.DeepEqual(got, map[string]uint32{"news": 3}) {
		t.Fatalf("embedded result: %v, %v", got, err)
	}
}
