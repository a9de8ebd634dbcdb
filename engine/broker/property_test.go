package broker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// model is what a history stream must hold: the retained publications (data
// and offset, with their expiry), the top offset and the epoch.
type model struct {
	epoch string
	top   uint64
	pubs  []modelPub
	last  time.Time // last publish (meta TTL counts from it)
}

type modelPub struct {
	offset  uint64
	data    string
	expires time.Time
}

// TestHistoryProperties drives one channel's stream with random operations —
// publishes (some skipping history), clock jumps within and past the TTLs,
// history reads with random since/limit/reverse, history removals — and
// checks every result against a model: offsets strictly increase by one, the
// epoch is stable until the stream is lost (meta TTL) and a lost stream
// restarts at offset 1 with a new epoch, size and TTL eviction keep exactly the
// newest unexpired publications, and reads select exactly what the filter
// asks.
func TestHistoryProperties(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runHistoryProperties(t, seed) })
	}
}

func runHistoryProperties(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed*7919))
	m, rec, clk := newTestMemory(t)
	const ch = "prop"
	size := 1 + r.IntN(20)
	ttl := time.Duration(1+r.IntN(60)) * time.Second
	meta := ttl + time.Duration(1+r.IntN(120))*time.Second
	opts := PublishOptions{HistorySize: size, HistoryTTL: ttl, HistoryMetaTTL: meta}

	var mod model
	// unpublished is the epoch reads report while the channel has no stream
	// (stable until a stream is lost); lost are the epochs of lost streams,
	// which must never come back.
	var unpublished string
	lost := map[string]bool{}
	expire := func(now time.Time) {
		if mod.epoch != "" && !now.Before(mod.last.Add(meta)) {
			lost[mod.epoch] = true
			mod, unpublished = model{}, "" // stream lost: next access starts a new epoch
		}
		keep := mod.pubs[:0]
		for _, p := range mod.pubs {
			if now.Before(p.expires) {
				keep = append(keep, p)
			}
		}
		mod.pubs = keep
	}
	n := 0
	for step := 0; step < 400; step++ {
		now := clk.Now()
		switch op := r.IntN(10); {
		case op < 5: // publish
			n++
			data := fmt.Sprintf(`{"n":%d}`, n)
			skip := r.IntN(5) == 0
			o := opts
			o.SkipHistory = skip
			delivered := rec.count(ch)
			pos, err := syncPublish(m, ch, &Publication{Data: []byte(data)}, o)
			if err != nil {
				t.Fatal(err)
			}
			if rec.count(ch) != delivered+1 {
				t.Fatalf("step %d: publication not delivered once", step)
			}
			if skip {
				if pos != (StreamPosition{}) {
					t.Fatalf("step %d: skip_history got position %+v", step, pos)
				}
				continue
			}
			expire(now)
			if mod.epoch == "" {
				mod.epoch = pos.Epoch
				if mod.epoch == "" || lost[mod.epoch] {
					t.Fatalf("step %d: new stream in epoch %q (lost: %v)", step, mod.epoch, lost)
				}
				// Subscribers positioned before the first publication are
				// in its epoch: they recover it.
				if unpublished != "" && mod.epoch != unpublished {
					t.Fatalf("step %d: first publication in epoch %q, reads said %q", step, mod.epoch, unpublished)
				}
			}
			mod.top++
			mod.last = now
			mod.pubs = append(mod.pubs, modelPub{offset: mod.top, data: data, expires: now.Add(ttl)})
			if len(mod.pubs) > size {
				mod.pubs = mod.pubs[len(mod.pubs)-size:]
			}
			if pos.Offset != mod.top || pos.Epoch != mod.epoch {
				t.Fatalf("step %d: position %+v, want offset %d epoch %q", step, pos, mod.top, mod.epoch)
			}
		case op < 7: // move the clock, sometimes past the TTLs
			switch r.IntN(4) {
			case 0:
				clk.Advance(ttl)
			case 1:
				clk.Advance(meta)
			default:
				clk.Advance(time.Duration(r.IntN(int(ttl/time.Millisecond))) * time.Millisecond)
			}
		case op < 9: // read
			expire(now)
			f := HistoryFilter{Limit: r.IntN(size+3) - 1, Reverse: r.IntN(2) == 0}
			var since *StreamPosition
			if r.IntN(2) == 0 {
				since = &StreamPosition{Offset: uint64(r.IntN(int(mod.top) + 2))}
				if r.IntN(3) == 0 {
					since.Epoch = "other"
				} else if r.IntN(2) == 0 {
					since.Epoch = mod.epoch
				}
				f.Since = since
			}
			res, err := syncHistory(m, ch, opts, f)
			wantEpoch := mod.epoch
			if wantEpoch == "" {
				// A read of a channel without a stream stores nothing; it
				// reports offset 0 in a stable epoch that no lost stream had.
				if unpublished == "" {
					unpublished = res.Epoch
				}
				wantEpoch = unpublished
				if res.Epoch == "" || lost[res.Epoch] {
					t.Fatalf("step %d: read epoch %q (lost: %v)", step, res.Epoch, lost)
				}
				if n := m.Streams(); n != 0 {
					t.Fatalf("step %d: a read stored a stream", step)
				}
			}
			if res.Offset != mod.top || res.Epoch != wantEpoch {
				t.Fatalf("step %d: read position %+v, want offset %d epoch %q", step, res.StreamPosition, mod.top, wantEpoch)
			}
			if since != nil && since.Epoch != "" && since.Epoch != wantEpoch {
				if !errors.Is(err, ErrUnrecoverablePosition) {
					t.Fatalf("step %d: since epoch %q: err %v, want ErrUnrecoverablePosition", step, since.Epoch, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			var want []modelPub
			for _, p := range mod.pubs {
				if since == nil || p.offset > since.Offset {
					want = append(want, p)
				}
			}
			if f.Limit == 0 {
				want = nil
			}
			if f.Reverse {
				for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
					want[i], want[j] = want[j], want[i]
				}
			}
			if f.Limit > 0 && len(want) > f.Limit {
				want = want[:f.Limit]
			}
			if len(res.Publications) != len(want) {
				t.Fatalf("step %d: filter %+v since %+v: %d publications, want %d", step, f, since, len(res.Publications), len(want))
			}
			for i, p := range res.Publications {
				if p.Offset != want[i].offset || string(p.Data) != want[i].data {
					t.Fatalf("step %d: publication %d = offset %d %s, want offset %d %s", step, i, p.Offset, p.Data, want[i].offset, want[i].data)
				}
			}
		default: // remove history: publications go, position stays
			if err := syncRemove(m, ch); err != nil {
				t.Fatal(err)
			}
			mod.pubs = nil
		}
	}
}
