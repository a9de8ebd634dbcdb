package session

import (
	"context"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
)

// TestShutdownWindow: the spread window is unisse.shutdown_spread, shorter
// when the streams are few (at least shutdownMinRate a second) and never
// more than half of what is left of the stop's deadline.
func TestShutdownWindow(t *testing.T) {
	opts := config.Default()
	opts.Own.ShutdownSpread = 5 * time.Second
	s := &Node{opts: opts}
	bg := context.Background()
	for _, c := range []struct {
		streams int
		want    time.Duration
	}{
		{0, 0},
		{1, time.Millisecond},
		{200, 200 * time.Millisecond},
		{5000, 5 * time.Second},
		{19000, 5 * time.Second},
	} {
		if got := s.shutdownWindow(bg, c.streams); got != c.want {
			t.Errorf("%d streams: window %v, want %v", c.streams, got, c.want)
		}
	}
	ctx, cancel := context.WithTimeout(bg, 4*time.Second)
	defer cancel()
	if got := s.shutdownWindow(ctx, 19000); got > 2*time.Second || got < time.Second {
		t.Errorf("19000 streams, 4 s left: window %v, want just under 2 s", got)
	}
	s.opts.Own.ShutdownSpread = 0
	if got := s.shutdownWindow(bg, 19000); got != 0 {
		t.Errorf("shutdown_spread 0: window %v, want 0", got)
	}
}
