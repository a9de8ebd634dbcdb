package limits

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnRate checks the token bucket against a synthetic clock: it starts
// full with burst tokens, refills one per interval up to burst, and a
// refused call spends nothing.
func TestConnRate(t *testing.T) {
	epoch := time.Now()
	at := func(d time.Duration) time.Time { return epoch.Add(d) }
	r := newConnRate(3, time.Second, epoch)
	for i := range 3 {
		if !r.allow(at(0)) {
			t.Fatalf("call %d of a full bucket refused", i+1)
		}
	}
	for range 10 {
		if r.allow(at(999 * time.Millisecond)) {
			t.Fatal("allowed before a token refilled")
		}
	}
	if !r.allow(at(time.Second)) || r.allow(at(time.Second)) {
		t.Fatal("want exactly one connect after one second")
	}
	// Long idle: the bucket holds at most burst tokens.
	n := 0
	for r.allow(at(time.Hour)) {
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour idle %d connects allowed, want 3", n)
	}
}

// TestConnRateConcurrent: callers on many goroutines at one instant share
// the bucket exactly.
func TestConnRateConcurrent(t *testing.T) {
	epoch := time.Now()
	r := newConnRate(50, time.Second, epoch)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if r.allow(epoch) {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 50 {
		t.Fatalf("%d allowed, want 50", allowed.Load())
	}
}
