package broker

import (
	"time"
)

// stream is one channel's history: the publications still within size and
// TTL, plus the stream's epoch and top offset, which outlive the publications
// until the meta TTL passes.
type stream struct {
	epoch   string
	top     uint64
	pubs    []storedPub // oldest first; offsets top-len(pubs)+1 … top
	metaExp time.Time   // after this the stream is forgotten (new epoch next time)
}

type storedPub struct {
	pub     Publication
	expires time.Time
}

// epochLetters is the alphabet of epochs (Centrifugo uses 8 random letters).
const epochLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// trim drops publications past the size limit or expired at now.
func (s *stream) trim(size int, now time.Time) {
	drop := 0
	if n := len(s.pubs) - size; n > 0 {
		drop = n
	}
	for drop < len(s.pubs) && !now.Before(s.pubs[drop].expires) {
		drop++
	}
	switch {
	case drop == len(s.pubs) && drop > 0:
		// Everything expired: give the array back too, so a stream whose
		// history has expired costs only its epoch and offset.
		s.pubs = nil
	case drop > 0:
		clear(s.pubs[:drop])
		s.pubs = append(s.pubs[:0], s.pubs[drop:]...)
	}
}

// append adds pub as the next offset.
func (s *stream) append(pub *Publication, opts PublishOptions, now time.Time) StreamPosition {
	s.top++
	stored := *pub
	stored.Offset = s.top
	// The caller's buffers may be reused after Publish returns; history keeps
	// its own copy.
	stored.Data = append([]byte(nil), pub.Data...)
	s.pubs = append(s.pubs, storedPub{pub: stored, expires: now.Add(opts.HistoryTTL)})
	s.trim(opts.HistorySize, now)
	s.metaExp = now.Add(metaTTL(opts))
	pub.Offset = s.top
	return StreamPosition{Offset: s.top, Epoch: s.epoch}
}

// DefaultHistoryMetaTTL is how long a stream's epoch and offset survive its
// last publication when the namespace does not say (Centrifugo: 30 days).
const DefaultHistoryMetaTTL = 30 * 24 * time.Hour

func metaTTL(opts PublishOptions) time.Duration {
	if opts.HistoryMetaTTL > 0 {
		return opts.HistoryMetaTTL
	}
	return DefaultHistoryMetaTTL
}

// history selects publications per filter (copies: the caller may keep them
// after the lock is released).
func (s *stream) history(f HistoryFilter, now time.Time) (HistoryResult, error) {
	s.trim(len(s.pubs), now)
	res := HistoryResult{StreamPosition: StreamPosition{Offset: s.top, Epoch: s.epoch}}
	if f.Since != nil && f.Since.Epoch != "" && f.Since.Epoch != s.epoch {
		return res, ErrUnrecoverablePosition
	}
	pubs := s.pubs
	if f.Since != nil {
		// Offsets are consecutive, so the first publication after Since is at
		// a computable index.
		first := s.top - uint64(len(pubs)) + 1
		switch {
		case f.Since.Offset >= s.top:
			pubs = nil
		case f.Since.Offset+1 > first:
			pubs = pubs[f.Since.Offset+1-first:]
		}
	}
	if f.Limit == 0 {
		return res, nil
	}
	n := len(pubs)
	if f.Limit > 0 && f.Limit < n {
		n = f.Limit
	}
	res.Publications = make([]Publication, n)
	for i := range n {
		if f.Reverse {
			res.Publications[i] = pubs[len(pubs)-1-i].pub
		} else {
			res.Publications[i] = pubs[i].pub
		}
	}
	return res, nil
}
