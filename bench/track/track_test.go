package track

import (
	"math/rand/v2"
	"testing"
)

// TestAgainstReference delivers 1..final with random losses, duplicates and
// short-range reorderings and checks the counters against a set-based count.
func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 500 {
		final := uint32(1 + r.IntN(2000))
		lossP, dupP, swapP := r.Float64()*0.2, r.Float64()*0.2, r.Float64()*0.2
		var arrivals []uint32
		for seq := uint32(1); seq <= final; seq++ {
			if r.Float64() < lossP {
				continue
			}
			arrivals = append(arrivals, seq)
			if r.Float64() < dupP {
				arrivals = append(arrivals, seq)
			}
		}
		// Shuffle some blocks of 10 arrivals: reorderings well within
		// WindowSize.
		for i := 0; i < len(arrivals); i += 10 {
			if r.Float64() < swapP {
				block := arrivals[i:min(i+10, len(arrivals))]
				r.Shuffle(len(block), func(a, b int) { block[a], block[b] = block[b], block[a] })
			}
		}
		var s Stream
		seen := map[uint32]bool{}
		var got, want [Stale + 1]int // arrivals by outcome
		var highest uint32
		for _, seq := range arrivals {
			switch {
			case seen[seq]:
				want[Duplicate]++
			case seq < highest:
				want[Late]++
			default:
				want[New]++
			}
			seen[seq] = true
			highest = max(highest, seq)
			got[s.Add(seq)]++
		}
		if s.Uniq != uint32(len(seen)) || got != want {
			t.Fatalf("round %d: uniq %d, outcomes new/late/dup/stale %v, want %d, %v", round, s.Uniq, got, len(seen), want)
		}
		if got, want := s.Lost(final, true), final-uint32(len(seen)); got != want {
			t.Fatalf("round %d: lost %d, want %d", round, got, want)
		}
		if s.Complete(final, true) != (len(seen) == int(final)) {
			t.Fatalf("round %d: Complete wrong", round)
		}
	}
}

func TestJoinedMidway(t *testing.T) {
	var s Stream
	if s.Expected(10, false) != 0 || s.Lost(10, false) != 0 {
		t.Fatal("a stream that saw nothing and joined late is owed nothing")
	}
	if s.Lost(10, true) != 10 {
		t.Fatal("a stream present from the start that saw nothing lost everything")
	}
	for _, seq := range []uint32{5, 6, 8, 4} {
		s.Add(seq)
	}
	if s.First != 4 || s.Expected(9, false) != 6 || s.Lost(9, false) != 2 {
		t.Fatalf("first %d expected %d lost %d", s.First, s.Expected(9, false), s.Lost(9, false))
	}
}

func TestStale(t *testing.T) {
	var s Stream
	s.Add(1)
	s.Add(200)
	if s.Add(1) != Stale || s.Add(150) != Late || s.Add(150) != Duplicate || s.Add(200) != Duplicate || s.Add(2) != Stale {
		t.Fatal("outcomes wrong")
	}
	// A stale arrival is not counted: 2 is owed and lost.
	if s.Uniq != 3 || s.First != 1 || s.Lost(200, true) != 197 {
		t.Fatalf("%+v, lost %d", s, s.Lost(200, true))
	}
}
