package wheel

import (
	"slices"
	"testing"
)

type item struct {
	id   int
	node Node[item]
}

func (it *item) TimerNode() *Node[item] { return &it.node }

func ids(xs []*item) []int {
	var out []int
	for _, x := range xs {
		out = append(out, x.id)
	}
	slices.Sort(out)
	return out
}

func TestScheduleAdvanceRemove(t *testing.T) {
	var w Wheel[item, *item]
	w.Init(100)
	a, b, c := &item{id: 1}, &item{id: 2}, &item{id: 3}
	w.Schedule(a, 105)
	w.Schedule(b, 105)
	w.Schedule(c, 50) // in the past: fires on the next advance
	if !a.node.Scheduled() {
		t.Fatal("a not scheduled")
	}
	if got := ids(w.Advance(101)); !slices.Equal(got, []int{3}) {
		t.Fatalf("tick 101: %v, want [3]", got)
	}
	w.Remove(a)
	if a.node.Scheduled() {
		t.Fatal("a still scheduled after Remove")
	}
	w.Remove(a) // twice is harmless
	if got := ids(w.Advance(110)); !slices.Equal(got, []int{2}) {
		t.Fatalf("tick 110: %v, want [2]", got)
	}
	if b.node.Scheduled() || w.Tick() != 110 {
		t.Fatalf("b scheduled %v, tick %d", b.node.Scheduled(), w.Tick())
	}
}

// TestRescheduleMoves: scheduling an item again moves it, it never fires twice.
func TestRescheduleMoves(t *testing.T) {
	var w Wheel[item, *item]
	a := &item{id: 1}
	w.Schedule(a, 3)
	w.Schedule(a, 7)
	if got := ids(w.Advance(6)); len(got) != 0 {
		t.Fatalf("tick 6: %v, want none", got)
	}
	if got := ids(w.Advance(7)); !slices.Equal(got, []int{1}) {
		t.Fatalf("tick 7: %v, want [1]", got)
	}
}

// TestFarDeadlinesAndStalls: a deadline past a revolution waits for its
// tick, and a wheel advanced over more than a revolution at once still
// fires everything due.
func TestFarDeadlinesAndStalls(t *testing.T) {
	var w Wheel[item, *item]
	far, near := &item{id: 1}, &item{id: 2}
	w.Schedule(far, Slots+10)
	w.Schedule(near, 10)
	if got := ids(w.Advance(20)); !slices.Equal(got, []int{2}) {
		t.Fatalf("tick 20: %v, want [2]", got)
	}
	if got := ids(w.Advance(Slots + 9)); len(got) != 0 {
		t.Fatalf("tick %d: %v, want none", Slots+9, got)
	}
	w.Schedule(near, Slots+20)
	if got := ids(w.Advance(5 * Slots)); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after a stall: %v, want [1 2]", got)
	}
}
