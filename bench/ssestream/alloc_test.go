//go:build !race

// The race detector allocates; allocation tests run without it (make allocs).

package ssestream

import (
	"fmt"
	"testing"
)

func TestFeedDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	body, _ := events(8)
	stream := []byte(head + fmt.Sprintf("%x\r\n%s\r\n", len(body), body))
	var p Parser
	var rec nopHandler
	_ = p.Feed(stream[:len(stream)/2+3], rec) // allocates the line buffer once
	p.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		p.Reset()
		_ = p.Feed(stream[:len(stream)/2+3], rec)
		_ = p.Feed(stream[len(stream)/2+3:], rec)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per stream", allocs)
	}
}

type nopHandler struct{}

func (nopHandler) OnEvent([]byte, bool) {}
