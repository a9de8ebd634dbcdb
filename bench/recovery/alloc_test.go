//go:build !race

// The race detector allocates; allocation tests run without it (make allocs).

package recovery

import "testing"

func TestCheckerDoesNotAllocate(t *testing.T) {
	line := []byte(dataLine(t, "centrifugo-300.http"))
	exp := fixtures[0].exp
	var c Checker
	allocs := testing.AllocsPerRun(50, func() {
		c.Reset(&exp)
		for i := 0; i < len(line); i += 1500 {
			c.Write(line[i:min(i+1500, len(line))])
		}
		if v := c.Finish(); v.Pubs != 300 {
			t.Fatalf("%+v", v)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per push", allocs)
	}
}

func BenchmarkChecker(b *testing.B) {
	line := []byte(dataLine(b, "centrifugo-300.http"))
	exp := fixtures[0].exp
	var c Checker
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		c.Reset(&exp)
		c.Write(line)
		c.Finish()
	}
}
