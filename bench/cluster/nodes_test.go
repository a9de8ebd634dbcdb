//go:build cluster || interop

package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Node kinds.
const (
	kindUnisse     = "unisse"
	kindCentrifugo = "centrifugo"
)

// wait bounds every delivery and convergence wait in the cluster tests.
const wait = 15 * time.Second

type node struct {
	*Process
	kind string
	api  API
}

// startNodes starts one node per kind, all on redis with Centrifugo's
// default key prefix (so that the layout is the one Centrifugo uses).
func startNodes(t *testing.T, redis *Redis, kinds ...string) []*node {
	t.Helper()
	return startNodesWith(t, redis, nil, kinds...)
}

// startNodesWith is startNodes with every node's config passed through
// tweak (when not nil) before the node starts.
func startNodesWith(t *testing.T, redis *Redis, tweak func(cfg map[string]any), kinds ...string) []*node {
	t.Helper()
	var nodes []*node
	for i, kind := range kinds {
		name := kind + strconv.Itoa(i)
		port := FreePort(t)
		var p *Process
		switch kind {
		case kindUnisse:
			cfg := NodeConfig(name, port, redis.URL(), "centrifugo")
			if tweak != nil {
				tweak(cfg)
			}
			p = Start(t, name, unisseBin, cfg)
		case kindCentrifugo:
			bin, err := BinaryFromEnv("CENTRIFUGO_BIN", "../../bin/centrifugo")
			if err != nil {
				t.Fatalf("Centrifugo v6.9.1: %v (make interop installs it)", err)
			}
			cfg := CentrifugoConfig(name, port, redis.URL(), "centrifugo")
			if tweak != nil {
				tweak(cfg)
			}
			p = Start(t, name, bin, cfg)
		}
		nodes = append(nodes, &node{Process: p, kind: kind, api: API{p.Addr()}})
	}
	return nodes
}

// publishN publishes {"n": from..to} to channel, round-robin over nodes,
// each call waiting for its reply, so the order is the publish order.
func publishN(t *testing.T, nodes []*node, channel string, from, to int) Position {
	t.Helper()
	var last Position
	for n := from; n <= to; n++ {
		nd := nodes[n%len(nodes)]
		pos, err := nd.api.Publish(channel, map[string]any{"n": n})
		if err != nil {
			t.Fatalf("publish n=%d via %s: %v", n, nd.Name, err)
		}
		last = pos
	}
	return last
}

// checkFanOut: publications sent through any node reach every subscriber
// on every node exactly once and in order, on a history channel (offsets
// 1..n) and on one without history.
func checkFanOut(t *testing.T, nodes []*node) {
	const n = 30
	var subs []*Subscriber
	for _, nd := range nodes {
		for i := range 2 {
			user := fmt.Sprintf("fan-%s-%d", nd.Name, i)
			subs = append(subs, Subscribe(t, nd.Name, nd.Addr(), map[string]any{"token": Token(t, user, "hist:fan", "fan")}))
		}
	}
	publishN(t, nodes, "hist:fan", 1, n)
	publishN(t, nodes, "fan", 1, n)
	// A last publication after all others: a duplicate of an earlier one
	// would arrive before it and break the sequence.
	publishN(t, nodes, "hist:fan", n+1, n+1)
	publishN(t, nodes, "fan", n+1, n+1)
	for _, s := range subs {
		for _, ch := range []string{"hist:fan", "fan"} {
			pubs := s.WaitPubs(t, ch, n+1, wait)
			if fault := CheckSequence(pubs, 1, ch == "hist:fan"); fault != "" || len(pubs) != n+1 {
				t.Errorf("subscriber on %s, %s: %d publications: %s", s.Node, ch, len(pubs), fault)
			}
		}
	}
}

// checkHistory: history written through one node is read the same through
// every node, and a subscriber on another node recovers from a position.
func checkHistory(t *testing.T, nodes []*node) {
	last := publishN(t, nodes[:1], "hist:h", 1, 10)
	if last.Offset != 10 || last.Epoch == "" {
		t.Fatalf("publish position = %+v, want offset 10 and an epoch", last)
	}
	for _, nd := range nodes {
		pubs, pos, err := nd.api.History("hist:h", 100)
		if err != nil {
			t.Fatalf("history via %s: %v", nd.Name, err)
		}
		if pos != last || len(pubs) != 10 || CheckSequence(pubs, 1, true) != "" {
			t.Errorf("history via %s: position %+v, %d publications (%s); want %+v and 1..10", nd.Name, pos, len(pubs), CheckSequence(pubs, 1, true), last)
		}
	}
	far := nodes[len(nodes)-1]
	s := Subscribe(t, far.Name, far.Addr(), map[string]any{
		"token": Token(t, "recoverer", "hist:h"),
		"subs":  map[string]any{"hist:h": map[string]any{"recover": true, "offset": 5, "epoch": last.Epoch}},
	})
	if r, _ := s.Sub("hist:h"); !r.Recovered {
		t.Errorf("subscriber on %s: connect result %+v, want recovered", far.Name, r)
	}
	publishN(t, nodes, "hist:h", 11, 12)
	pubs := s.WaitPubs(t, "hist:h", 7, wait)
	if fault := CheckSequence(pubs, 6, true); fault != "" || len(pubs) != 7 {
		t.Errorf("recovered subscriber on %s: %d publications: %s; want 6..12", far.Name, len(pubs), fault)
	}
}

// checkPresence: every node counts the subscribers of every node, and a
// subscriber that leaves stops being counted everywhere.
func checkPresence(t *testing.T, nodes []*node) {
	var subs []*Subscriber
	for _, nd := range nodes {
		subs = append(subs, Subscribe(t, nd.Name, nd.Addr(), map[string]any{"token": Token(t, "p-"+nd.Name, "pres:room")}))
	}
	expect := func(want int) {
		t.Helper()
		for _, nd := range nodes {
			var clients, users int
			var err error
			deadline := time.Now().Add(wait)
			for time.Now().Before(deadline) {
				if clients, users, err = nd.api.PresenceStats("pres:room"); err == nil && clients == want && users == want {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil || clients != want || users != want {
				t.Errorf("presence_stats via %s: %d clients, %d users (%v); want %d", nd.Name, clients, users, err, want)
			}
		}
	}
	expect(len(nodes))
	subs[0].Close()
	expect(len(nodes) - 1)
}

// checkDisconnect: a disconnect sent through one node reaches the user's
// connection on another.
func checkDisconnect(t *testing.T, nodes []*node) {
	far := nodes[len(nodes)-1]
	s := Subscribe(t, far.Name, far.Addr(), map[string]any{"token": Token(t, "victim", "fan")})
	if err := nodes[0].api.Disconnect("victim"); err != nil {
		t.Fatal(err)
	}
	if !s.WaitFor(wait, func() bool { return s.disconnect != nil }) {
		t.Fatalf("user on %s not disconnected through %s (stream end: %v)", far.Name, nodes[0].Name, s.Ended())
	}
	if d := s.Disconnected(); d.Code != 3503 {
		t.Errorf("disconnect push %+v, want code 3503", d)
	}
}

// runScenarios runs every cross-node check as a subtest on one set of nodes.
func runScenarios(t *testing.T, nodes []*node) {
	t.Run("FanOut", func(t *testing.T) { checkFanOut(t, nodes) })
	t.Run("History", func(t *testing.T) { checkHistory(t, nodes) })
	t.Run("Presence", func(t *testing.T) { checkPresence(t, nodes) })
	t.Run("Disconnect", func(t *testing.T) { checkDisconnect(t, nodes) })
	t.Run("JoinLeave", func(t *testing.T) { checkJoinLeave(t, nodes) })
}

// checkJoinLeave: a watcher on every node (push join/leave) sees exactly one
// join and one leave for a client of every node, its own node's included,
// whichever kind of node each is.
func checkJoinLeave(t *testing.T, nodes []*node) {
	const ch = "pres:jl"
	var watchers []*Subscriber
	for _, nd := range nodes {
		w := Subscribe(t, nd.Name, nd.Addr(), map[string]any{"token": Token(t, "w-"+nd.Name, ch)})
		watchers = append(watchers, w)
	}
	// Every watcher hears its own join and those of the watchers after it
	// before the clients come, so what follows starts from a known point.
	// An earlier watcher's join may reach it too (that announcement can
	// still be on its way through the broker when this one subscribes), but
	// never twice.
	for i, w := range watchers {
		heard := func() bool {
			for _, later := range nodes[i:] {
				if count(w.joinLeave[ch], "join:w-"+later.Name) != 1 {
					return false
				}
			}
			return true
		}
		if !w.WaitFor(wait, heard) {
			t.Fatalf("watcher on %s: %q, want one join of itself and of each later watcher", w.Node, w.JoinLeave(ch))
		}
		for _, earlier := range nodes[:i] {
			if n := count(w.JoinLeave(ch), "join:w-"+earlier.Name); n > 1 {
				t.Fatalf("watcher on %s: %q, %d joins of the watcher on %s", w.Node, w.JoinLeave(ch), n, earlier.Name)
			}
		}
	}
	var clients []*Subscriber
	for _, nd := range nodes {
		clients = append(clients, Subscribe(t, nd.Name, nd.Addr(), map[string]any{"token": Token(t, "j-"+nd.Name, ch)}))
	}
	for _, w := range watchers {
		if !w.WaitFor(wait, func() bool { return count(w.joinLeave[ch], "join:j-") == len(nodes) }) {
			t.Fatalf("watcher on %s: %q, want a join of every node's client", w.Node, w.JoinLeave(ch))
		}
	}
	for _, c := range clients {
		c.Close()
	}
	for _, w := range watchers {
		if !w.WaitFor(wait, func() bool { return count(w.joinLeave[ch], "leave:j-") == len(nodes) }) {
			t.Fatalf("watcher on %s: %q, want a leave of every node's client", w.Node, w.JoinLeave(ch))
		}
	}
	// A publication after it all: once a watcher has it, any second copy of
	// a join or leave (queued no later) would be there too.
	if _, err := nodes[0].api.Publish(ch, map[string]any{"end": true}); err != nil {
		t.Fatal(err)
	}
	for i, w := range watchers {
		if !w.WaitFor(wait, func() bool { return count(w.joinLeave[ch], "pub") == 1 }) {
			t.Fatalf("watcher on %s: no publication after the leaves", w.Node)
		}
		got := w.JoinLeave(ch)
		for j, nd := range nodes {
			wantN := map[string]int{"join:j-" + nd.Name: 1, "leave:j-" + nd.Name: 1}
			if j >= i {
				wantN["join:w-"+nd.Name] = 1
			} else if n := count(got, "join:w-"+nd.Name); n > 1 {
				// An earlier watcher's join: heard at most once (see above).
				t.Errorf("watcher on %s: %d joins of the watcher on %s: %q", w.Node, n, nd.Name, got)
			}
			for e, want := range wantN {
				if n := count(got, e); n != want {
					t.Errorf("watcher on %s: %d of %s, want %d: %q", w.Node, n, e, want, got)
				}
			}
		}
		if got[len(got)-1] != "pub" {
			t.Errorf("watcher on %s: something after the publication: %q", w.Node, got)
		}
	}
}

// count is how many of events start with prefix.
func count(events []string, prefix string) int {
	n := 0
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func hasN(pubs []Pub, n int) bool { return indexOfN(pubs, n) >= 0 }

func indexOfN(pubs []Pub, n int) int {
	want := fmt.Sprintf(`{"n":%d}`, n)
	for i, p := range pubs {
		if string(p.Data) == want {
			return i
		}
	}
	return -1
}
