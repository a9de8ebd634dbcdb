package hist

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// reference is the nearest-rank quantile of sorted values.
func reference(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

func within(got, want int64) bool {
	d := math.Abs(float64(got - want))
	return d <= float64(want)/subCount || d <= 1
}

func TestQuantilesMatchSortedReference(t *testing.T) {
	quantiles := []float64{0.0001, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
	gens := map[string]func(r *rand.Rand) int64{
		"uniform-small": func(r *rand.Rand) int64 { return r.Int64N(300) },
		"uniform-wide":  func(r *rand.Rand) int64 { return r.Int64N(1 << 36) },
		"lognormal":     func(r *rand.Rand) int64 { return int64(math.Exp(r.NormFloat64()*2 + 12)) },
		"bimodal": func(r *rand.Rand) int64 {
			if r.IntN(10) == 0 {
				return 50_000_000 + r.Int64N(1000)
			}
			return 200_000 + r.Int64N(5000)
		},
	}
	for name, gen := range gens {
		for _, n := range []int{1, 7, 1000, 100_000} {
			r := rand.New(rand.NewPCG(uint64(n), 42))
			var h Hist
			vals := make([]int64, n)
			for i := range vals {
				vals[i] = gen(r)
				h.Record(vals[i])
			}
			slices.Sort(vals)
			if h.Count() != uint64(n) || h.Min() != vals[0] || h.Max() != vals[n-1] {
				t.Fatalf("%s/%d: count/min/max %d/%d/%d, want %d/%d/%d", name, n, h.Count(), h.Min(), h.Max(), n, vals[0], vals[n-1])
			}
			for _, q := range quantiles {
				got, want := h.Quantile(q), reference(vals, q)
				if !within(got, want) {
					t.Errorf("%s/%d: q%v = %d, reference %d", name, n, q, got, want)
				}
			}
		}
	}
}

func TestBucketBoundsCoverEveryValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		v := r.Int64N(1 << uint(r.IntN(41)+1))
		i := index(v)
		low, w := bounds(i)
		if v < low || v >= low+w {
			t.Fatalf("value %d in bucket %d [%d,%d)", v, i, low, low+w)
		}
	}
	if got := index(math.MaxInt64); got != NumBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last (%d)", got, NumBuckets-1)
	}
}

func TestMergeAndSnapshotRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, all Hist
	for i := range 10_000 {
		v := r.Int64N(1 << 30)
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	raw, err := json.Marshal(b.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if err := a.MergeSnapshot(s); err != nil {
		t.Fatal(err)
	}
	if a != all {
		t.Fatal("merged histogram differs from the one that saw every value")
	}
	s.N++
	if err := a.MergeSnapshot(s); err == nil {
		t.Fatal("inconsistent snapshot accepted")
	}
}

func TestEmpty(t *testing.T) {
	var h Hist
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram reports non-zero")
	}
	h.Record(-5)
	if h.Min() != 0 || h.Quantile(0.5) != 0 {
		t.Fatal("negative value not clamped to 0")
	}
}
