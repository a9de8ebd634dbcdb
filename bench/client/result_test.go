package client

import (
	"encoding/json"
	"reflect"
	"testing"
)

func result(scale uint64, lat []int64, errs map[string]uint64, drained bool) *Result {
	r := &Result{
		Counters: Counters{Attempts: 10 * scale, Connected: 9 * scale, Open: 8 * scale, Pubs: 100 * scale, Dups: scale, Bytes: 1000 * scale},
		Delivery: Delivery{Expected: 100 * scale, Lost: scale, ConnsWithLoss: 1, MaxLostPerConn: scale, Final: true},
		Errors:   errs,
		Drained:  drained,
	}
	for _, v := range lat {
		r.Latency.Record(v)
		r.Connect.Record(2 * v)
	}
	return r
}

// TestMergeAllThroughJSON merges worker results the way the coordinator
// does: after a JSON round trip, as they arrive from worker processes.
func TestMergeAllThroughJSON(t *testing.T) {
	in := []*Result{
		result(1, []int64{1000, 2000}, map[string]uint64{"eof": 1}, true),
		result(2, []int64{3000}, map[string]uint64{"eof": 2, "http 401": 5}, true),
		result(3, nil, nil, false),
	}
	var decoded []*Result
	for _, r := range in {
		b, err := json.Marshal(message{Result: r})
		if err != nil {
			t.Fatal(err)
		}
		var m message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		decoded = append(decoded, m.Result)
	}
	got := MergeAll(decoded)
	want := Counters{Attempts: 60, Connected: 54, Open: 48, Pubs: 600, Dups: 6, Bytes: 6000}
	if got.Counters != want {
		t.Fatalf("counters %+v, want %+v", got.Counters, want)
	}
	if d := got.Delivery; d != (Delivery{Expected: 600, Lost: 6, ConnsWithLoss: 3, MaxLostPerConn: 3, Final: true}) {
		t.Fatalf("delivery %+v", d)
	}
	if !reflect.DeepEqual(got.Errors, map[string]uint64{"eof": 3, "http 401": 5}) {
		t.Fatalf("errors %v", got.Errors)
	}
	if got.Latency.Count() != 3 || got.Latency.Max() != 3000 || got.Latency.Min() != 1000 || got.Connect.Max() != 6000 {
		t.Fatalf("histograms: n %d min %d max %d", got.Latency.Count(), got.Latency.Min(), got.Latency.Max())
	}
	if got.Drained {
		t.Fatal("drained although one worker did not drain")
	}
	if in[0].Errors["eof"] != 1 {
		t.Fatal("MergeAll changed its first input")
	}
	if !MergeAll(in[:2]).Drained {
		t.Fatal("not drained although every worker drained")
	}
}

// message mirrors the worker protocol's result message.
type message struct {
	Result *Result `json:"result"`
}
