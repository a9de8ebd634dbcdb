package hist

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
)

// SubBits sets the precision: 2^SubBits buckets per power of two.
const SubBits = 7

const (
	subCount = 1 << SubBits
	// maxExp is the highest power of two covered; larger values are clamped
	// into the last bucket (2^40 ns ≈ 18 minutes, far past any timeout).
	maxExp = 40
	// NumBuckets is the length of Counts.
	NumBuckets = (maxExp - SubBits + 2) * subCount
)

// Hist counts values in log-linear buckets. The zero value is ready to use.
type Hist struct {
	counts   [NumBuckets]uint64
	n        uint64
	sum      float64
	min, max int64
}

// index returns the bucket of v (v ≥ 0).
func index(v int64) int {
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	e := bits.Len64(u) - 1 // highest set bit, ≥ SubBits
	if e > maxExp {
		return NumBuckets - 1
	}
	g := e - SubBits + 1
	return g<<SubBits + int(u>>(e-SubBits)) - subCount
}

// bounds returns the lowest value of bucket i and its width.
func bounds(i int) (low, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	g := i >> SubBits
	m := int64(i & (subCount - 1))
	return (subCount + m) << (g - 1), 1 << (g - 1)
}

// Record counts one value; negative values count as 0.
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.counts[index(v)]++
}

// Count is the number of recorded values.
func (h *Hist) Count() uint64 { return h.n }

// Min and Max are exact; 0 when empty.
func (h *Hist) Min() int64 { return h.min }

// Max is the largest recorded value, exact.
func (h *Hist) Max() int64 { return h.max }

// Mean is the exact arithmetic mean; 0 when empty.
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the value of
// rank ceil(q·n) in sorted order, reported as the middle of its bucket and
// clamped to [Min, Max], so exact for small values, for q=1, and within
// 1/2^SubBits of the truth otherwise. 0 when empty.
func (h *Hist) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, w := bounds(i)
			v := low + (w-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds o's counts to h.
func (h *Hist) Merge(o *Hist) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// Reset empties h.
func (h *Hist) Reset() { *h = Hist{} }

// Bucket is one non-empty bucket: values in [Low, Low+Width) counted Count times.
type Bucket struct {
	Low, Width int64
	Count      uint64
}

// Buckets appends the non-empty buckets, lowest first, to dst.
func (h *Hist) Buckets(dst []Bucket) []Bucket {
	for i, c := range h.counts {
		if c != 0 {
			low, w := bounds(i)
			dst = append(dst, Bucket{Low: low, Width: w, Count: c})
		}
	}
	return dst
}

// Snapshot is a Hist in a form that survives JSON: sparse bucket counts.
// Workers send their histograms to the coordinator this way.
type Snapshot struct {
	N   uint64      `json:"n"`
	Sum float64     `json:"sum"`
	Min int64       `json:"min"`
	Max int64       `json:"max"`
	B   [][2]uint64 `json:"b"` // [bucket index, count]
}

// Snapshot returns h's sparse form.
func (h *Hist) Snapshot() Snapshot {
	s := Snapshot{N: h.n, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			s.B = append(s.B, [2]uint64{uint64(i), c})
		}
	}
	return s
}

// MergeSnapshot adds a Snapshot's counts to h; it fails on a bucket index
// out of range or counts that do not add up to N.
func (h *Hist) MergeSnapshot(s Snapshot) error {
	var o Hist
	var total uint64
	for _, b := range s.B {
		if b[0] >= NumBuckets {
			return fmt.Errorf("hist: bucket index %d out of range", b[0])
		}
		o.counts[b[0]] += b[1]
		total += b[1]
	}
	if total != s.N {
		return fmt.Errorf("hist: snapshot counts add up to %d, not %d", total, s.N)
	}
	o.n, o.sum, o.min, o.max = s.N, s.Sum, s.Min, s.Max
	h.Merge(&o)
	return nil
}

// MarshalJSON encodes h as its Snapshot.
func (h *Hist) MarshalJSON() ([]byte, error) { return json.Marshal(h.Snapshot()) }

// UnmarshalJSON replaces h with a decoded Snapshot.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("hist: %w", err)
	}
	h.Reset()
	return h.MergeSnapshot(s)
}
