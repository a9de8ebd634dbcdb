package cluster_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/cluster"
)

func TestRegistryExpiresSilentNodes(t *testing.T) {
	clock := newFakeClock()
	r := cluster.NewRegistry("me", clock.Now)
	if !r.Add(&cluster.Node{UID: "b", Name: "b"}) {
		t.Fatal("first announcement of b is not new")
	}
	if r.Add(&cluster.Node{UID: "b", Name: "b", NumClients: 4}) {
		t.Fatal("second announcement of b is new")
	}
	clock.Advance(time.Second)
	r.Add(&cluster.Node{UID: "a", Name: "a"})

	// b was last heard at t0: listed through t0+7s (2 rounds and 1 s, as
	// centrifuge), gone after.
	clock.Advance(cluster.NodeMaxDelay - time.Second)
	if n := r.Len(); n != 2 {
		t.Fatalf("Len %d at the limit", n)
	}
	clock.Advance(time.Nanosecond)
	if n := r.Len(); n != 1 {
		t.Fatalf("Len %d after b's limit", n)
	}
	list := r.List(cluster.Node{UID: "me"})
	if len(list) != 2 || list[0].UID != "me" || list[1].UID != "a" {
		t.Fatalf("List %+v", list)
	}
	r.Clean()
	if !r.Add(&cluster.Node{UID: "b"}) {
		t.Fatal("b coming back after expiry is not new")
	}
}

func TestRegistryList(t *testing.T) {
	clock := newFakeClock()
	r := cluster.NewRegistry("me", clock.Now)
	r.Add(&cluster.Node{UID: "3", Name: "y"})
	r.Add(&cluster.Node{UID: "2", Name: "x"})
	r.Add(&cluster.Node{UID: "1", Name: "y"})
	// Its own announcement (echoed by the control channel) and a node
	// without UID are not recorded.
	r.Add(&cluster.Node{UID: "me", Name: "echo"})
	r.Add(&cluster.Node{Name: "anonymous"})
	var uids []string
	for _, n := range r.List(cluster.Node{UID: "me", Name: "self"}) {
		uids = append(uids, n.UID+"/"+n.Name)
	}
	if want := []string{"me/self", "2/x", "1/y", "3/y"}; !reflect.DeepEqual(uids, want) {
		t.Fatalf("List %v, want %v", uids, want)
	}
	r.Remove("2")
	if r.Len() != 2 {
		t.Fatalf("Len %d after Remove", r.Len())
	}
}

func TestRegistryKeepsMetricsBetweenSnapshots(t *testing.T) {
	r := cluster.NewRegistry("me", newFakeClock().Now)
	m := &cluster.Metrics{Interval: 60, Items: map[string]float64{"x": 1}}
	r.Add(&cluster.Node{UID: "b", NumClients: 1, Metrics: m})
	r.Add(&cluster.Node{UID: "b", NumClients: 2}) // between snapshots: no metrics
	got := r.List(cluster.Node{})[1]
	if got.NumClients != 2 || got.Metrics != m {
		t.Fatalf("got %+v", got)
	}
	m2 := &cluster.Metrics{Interval: 60}
	r.Add(&cluster.Node{UID: "b", Metrics: m2})
	if got := r.List(cluster.Node{})[1]; got.Metrics != m2 {
		t.Fatalf("new snapshot not kept: %+v", got.Metrics)
	}
}

func TestRegistryIsBounded(t *testing.T) {
	clock := newFakeClock()
	r := cluster.NewRegistry("me", clock.Now)
	for i := range cluster.MaxNodes {
		r.Add(&cluster.Node{UID: fmt.Sprint(i)})
	}
	if r.Add(&cluster.Node{UID: "one too many"}) || r.Len() != cluster.MaxNodes {
		t.Fatalf("grew past MaxNodes: Len %d", r.Len())
	}
	// Known nodes still update; once the flood expires, room is made.
	if r.Add(&cluster.Node{UID: "0"}) {
		t.Fatal("update of a known node reported new")
	}
	clock.Advance(cluster.NodeMaxDelay + time.Second)
	if !r.Add(&cluster.Node{UID: "late"}) {
		t.Fatal("no room after the others expired")
	}
	if r.Len() != 1 {
		t.Fatalf("Len %d", r.Len())
	}
}

func TestRegistryConcurrentUse(t *testing.T) {
	clock := newFakeClock()
	r := cluster.NewRegistry("me", clock.Now)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				r.Add(&cluster.Node{UID: fmt.Sprint(g, i%10)})
				_ = r.List(cluster.Node{})
				_ = r.Len()
				if i%50 == 0 {
					clock.Advance(time.Second)
					r.Clean()
					r.Remove(fmt.Sprint(g, 0))
				}
			}
		}()
	}
	wg.Wait()
	if n := r.Len(); n > 40 {
		t.Fatalf("Len %d", n)
	}
}
