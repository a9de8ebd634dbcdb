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

func (nopHandler) OnPiece([]byte, bool) {}

func TestPiecesDoNotAllocate(t *testing.T) {
	body, _ := events(8)
	stream := []byte(head + fmt.Sprintf("%x\r\n%s\r\n", len(body), body))
	var p Parser
	var h nopHandler
	allocs := testing.AllocsPerRun(100, func() {
		p.Reset()
		p.SetPieces(true)
		for i := 0; i < len(stream); i += 7 {
			_ = p.Feed(stream[i:min(i+7, len(stream))], h)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per stream", allocs)
	}
}
