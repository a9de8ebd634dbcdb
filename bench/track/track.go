package track

// WindowSize is how far behind the highest sequence seen a late arrival can
// still be told apart from a duplicate.
const WindowSize = 64

// Outcome is what one arrival was.
type Outcome uint8

// Outcomes of Add.
const (
	New       Outcome = iota // first arrival of a sequence, in order (possibly after a gap)
	Late                     // first arrival of a sequence below the highest seen: a reordering
	Duplicate                // a sequence that already arrived
	Stale                    // more than WindowSize below the highest: duplicate or reordering, unknown
)

// Stream is the accounting of one sequence stream: what is needed to tell
// each arrival's Outcome and the losses (the caller counts the outcomes).
// There is one per connection and publisher, so it is kept small. Sequences
// start at 1; the zero value has seen nothing.
type Stream struct {
	First, Last uint32 // lowest and highest sequence seen; 0 before any
	// Window bit i is set when Last-i arrived.
	Window uint64
	Uniq   uint32 // distinct sequences arrived
}

// Add accounts one arrival of seq (≥ 1).
func (s *Stream) Add(seq uint32) Outcome {
	switch {
	case s.Last == 0:
		s.First, s.Last, s.Window, s.Uniq = seq, seq, 1, 1
		return New
	case seq > s.Last:
		if shift := seq - s.Last; shift >= WindowSize {
			s.Window = 1
		} else {
			s.Window = s.Window<<shift | 1
		}
		s.Last = seq
		s.Uniq++
		return New
	}
	d := s.Last - seq
	if d >= WindowSize {
		return Stale
	}
	bit := uint64(1) << d
	if s.Window&bit != 0 {
		return Duplicate
	}
	s.Window |= bit
	s.Uniq++
	s.First = min(s.First, seq)
	return Late
}

// Expected is how many messages the stream should have received when the
// publisher's last sequence is final: all of 1..final when the subscriber
// was in place before the first publish (fromStart), else First..final (a
// subscriber that joined midway cannot be owed what came before it).
func (s *Stream) Expected(final uint32, fromStart bool) uint32 {
	start := uint32(1)
	if !fromStart {
		if s.Last == 0 {
			return 0
		}
		start = s.First
	}
	if final < start {
		return 0
	}
	return final - start + 1
}

// Lost is Expected minus the distinct arrivals up to final.
func (s *Stream) Lost(final uint32, fromStart bool) uint32 {
	exp := s.Expected(final, fromStart)
	if s.Uniq >= exp {
		return 0
	}
	return exp - s.Uniq
}

// Complete reports whether everything up to final arrived (for draining:
// stop waiting when every stream is complete).
func (s *Stream) Complete(final uint32, fromStart bool) bool {
	return s.Lost(final, fromStart) == 0
}
