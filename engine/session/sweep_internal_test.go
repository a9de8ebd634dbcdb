package session

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
)

// recordingConn keeps what is written to it.
type recordingConn struct {
	sinkConn
	data []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.data = append(c.data, p...)
	return c.sinkConn.Write(p)
}

// TestSweepKeepsPostingOrderAcrossSlices: one connection on many channels
// gets a burst posted to all of them; the loop needs several slices to
// deliver it, and the events must come out in posting order.
func TestSweepKeepsPostingOrderAcrossSlices(t *testing.T) {
	s, l, _ := newTestLoop(t, 0)
	rc := &recordingConn{}
	c := testConn(rc, delivery.StateStreaming, false)
	const channels = 5*delivery.SliceBudget + 7
	for i := range channels {
		ch, idx := s.hub.Subscribe(fmt.Sprintf("c%03d", i), 0, c)
		c.Subs = append(c.Subs, delivery.Subscription{Ch: ch, Idx: int32(idx)})
	}
	for round := range 3 {
		rc.data = rc.data[:0]
		for i := range channels {
			s.exec().HandlePublication(fmt.Sprintf("c%03d", i), &broker.Publication{Data: []byte(fmt.Sprint(round))}, broker.StreamPosition{})
		}
		slices := 0
		for l.Scheduled() {
			l.Drain()
			slices++
		}
		l.HoldWakes()
		if slices < 5 {
			t.Fatalf("round %d: %d slices, want the burst spread over several", round, slices)
		}
		got := regexp.MustCompile(`"channel":"(c\d+)"`).FindAllSubmatch(rc.data, -1)
		if len(got) != channels {
			t.Fatalf("round %d: %d events, want %d", round, len(got), channels)
		}
		for i, m := range got {
			if want := fmt.Sprintf("c%03d", i); string(m[1]) != want {
				t.Fatalf("round %d: event %d is on %s, want %s", round, i, m[1], want)
			}
		}
	}
}
