package publish

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type call struct {
	path, key string
	body      map[string]json.RawMessage
}

// fakeAPI records calls and refuses every third one with an error reply.
type fakeAPI struct {
	mu    sync.Mutex
	calls []call
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var body map[string]json.RawMessage
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, "Bad Request", 400)
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, call{r.URL.Path, r.Header.Get("X-API-Key"), body})
	n := len(f.calls)
	f.mu.Unlock()
	if n%3 == 0 {
		w.Write([]byte(`{"error":{"code":100,"message":"internal server error"}}`))
		return
	}
	w.Write([]byte(`{"result":{}}`))
}

type data struct {
	S uint32 `json:"s"`
	W uint16 `json:"w"`
	T int64  `json:"t"`
	P string `json:"p"`
}

func TestPublishSequencesAndRefusals(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p, err := New(Config{API: srv.URL + "/api", APIKey: "k", Channels: []string{"a", "b"}, GroupSize: 1,
		Publishers: 2, Size: 80, Duration: 10 * time.Second, MaxCalls: 30, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Run(context.Background())
	if r.Calls != 20 || r.Refused != 10 || r.Uncertain != 0 || r.Latency.Count() != 30 || p.Sent() != 30 {
		t.Fatalf("calls %d refused %d uncertain %d latencies %d sent %d", r.Calls, r.Refused, r.Uncertain, r.Latency.Count(), p.Sent())
	}
	// Replay the accepted calls: per publisher and channel the sequences
	// run 1, 2, 3… with no gap (a refused call's sequence is reused), and
	// the finals are the last ones.
	last := map[[2]any]uint32{}
	for i, c := range api.calls {
		if c.path != "/api/publish" || c.key != "k" {
			t.Fatalf("call to %s with key %q", c.path, c.key)
		}
		var ch string
		var d data
		json.Unmarshal(c.body["channel"], &ch)
		if err := json.Unmarshal(c.body["data"], &d); err != nil || len(c.body["data"]) != 80 {
			t.Fatalf("data %s: %v", c.body["data"], err)
		}
		if (i+1)%3 == 0 {
			continue // refused
		}
		k := [2]any{d.W, ch}
		if d.S != last[k]+1 {
			t.Fatalf("publisher %d channel %s: seq %d after %d", d.W, ch, d.S, last[k])
		}
		last[k] = d.S
	}
	for w, seqs := range r.Finals {
		for g, s := range seqs {
			if s != last[[2]any{uint16(w), []string{"a", "b"}[g]}] {
				t.Fatalf("finals %v, replay %v", r.Finals, last)
			}
		}
	}
}

func TestBroadcastBodiesAndRate(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	chans := []string{"c0", "c1", "c2", "c3", "c4"}
	p, err := New(Config{API: srv.URL + "/api/", Broadcast: true, Channels: chans, GroupSize: 2,
		Publishers: 1, Rate: 200, Duration: 10 * time.Second, MaxCalls: 20, Timeout: 5 * time.Second, Log: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := p.Run(context.Background())
	// Calls are scheduled every 5 ms from the start: 20 calls take at
	// least 95 ms.
	if n := r.Calls + r.Refused + r.Uncertain; n != 20 || time.Since(start) < 95*time.Millisecond {
		t.Fatalf("%d calls in %v at 200/s for 100ms", n, time.Since(start))
	}
	groups := map[string]bool{}
	for _, c := range api.calls {
		var names []string
		json.Unmarshal(c.body["channels"], &names)
		if c.path != "/api/broadcast" || c.key != "" {
			t.Fatalf("call to %s, key %q", c.path, c.key)
		}
		groups[strings.Join(names, ",")] = true
	}
	if len(groups) != 3 || !groups["c0,c1"] || !groups["c2,c3"] || !groups["c4"] {
		t.Fatalf("groups %v", groups)
	}
	// Error replies to /api/broadcast may be partial: they consume the sequence.
	if r.Uncertain == 0 || r.Refused != 0 {
		t.Fatalf("uncertain %d refused %d", r.Uncertain, r.Refused)
	}
	// The log has every call, in order: sent when scheduled, 5 ms apart,
	// plus how late.
	if len(r.Log) != 20 {
		t.Fatalf("%d calls logged", len(r.Log))
	}
	for i, c := range r.Log {
		if c.Took <= 0 || c.Late < 0 {
			t.Fatalf("call %d: %+v", i, c)
		}
		if i > 0 {
			prev := r.Log[i-1]
			if d := (c.Sent - c.Late) - (prev.Sent - prev.Late) - int64(5*time.Millisecond); d < -1000 || d > 1000 {
				t.Fatalf("call %d: %+v after %+v: schedules %d ns off 5 ms apart", i, c, prev, d)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{API: "ftp://x/api", Channels: []string{"a"}, GroupSize: 1, Publishers: 1, Duration: time.Second, Timeout: time.Second},
		{API: "http://x/api", Channels: []string{"a", "b"}, GroupSize: 2, Publishers: 1, Duration: time.Second, Timeout: time.Second},
		{API: "http://x/api", Channels: []string{"a"}, GroupSize: 1, Publishers: 0, Duration: time.Second, Timeout: time.Second},
		{API: "http://x/api", Nodes: []string{"x:1/api"}, Channels: []string{"a"}, GroupSize: 1, Publishers: 2, Duration: time.Second, Timeout: time.Second},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// TestPublishersSpreadOverNodes: with Nodes, publisher w publishes through
// the (w mod n)th API base, and only through it.
func TestPublishersSpreadOverNodes(t *testing.T) {
	var mu sync.Mutex
	seen := make([]map[uint16]int, 3) // per node: calls by publisher
	var srvs []*httptest.Server
	for i := range seen {
		seen[i] = map[uint16]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct{ Data data }
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.URL.Path != "/api/publish" {
				http.Error(w, "Bad Request", 400)
				return
			}
			mu.Lock()
			seen[i][body.Data.W]++
			mu.Unlock()
			w.Write([]byte(`{"result":{}}`))
		}))
		defer srv.Close()
		srvs = append(srvs, srv)
	}
	p, err := New(Config{API: srvs[0].URL + "/api", Nodes: []string{srvs[1].URL + "/api", srvs[2].URL + "/api/"},
		Channels: []string{"c"}, GroupSize: 1, Publishers: 5, Duration: 10 * time.Second, MaxCalls: 100, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Run(context.Background())
	if r.Calls != 100 || len(r.Errors) != 0 {
		t.Fatalf("calls %d, errors %v", r.Calls, r.Errors)
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for node, byPub := range seen {
		for w, n := range byPub {
			if int(w)%3 != node {
				t.Errorf("publisher %d published through node %d", w, node)
			}
			total += n
		}
		if len(byPub) == 0 {
			t.Errorf("node %d got no call", node)
		}
	}
	if total != 100 {
		t.Fatalf("%d calls arrived, want 100", total)
	}
}
