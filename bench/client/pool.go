package client

import "sync"

// Pool is several Loops splitting one Config's connections and rates, each
// on its own OS thread. Its methods are safe from any goroutine.
type Pool struct {
	loops []*Loop
	wg    sync.WaitGroup
}

// Start splits cfg over n loops (contiguous index ranges, rates divided
// evenly) and runs them.
func Start(cfg Config, n int) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n = max(1, min(n, cfg.Count))
	p := &Pool{}
	for i := range n {
		part := cfg
		part.First = cfg.First + cfg.Count*i/n
		part.Count = cfg.First + cfg.Count*(i+1)/n - part.First
		part.ConnectRate = cfg.ConnectRate / float64(n)
		part.ChurnRate = cfg.ChurnRate / float64(n)
		part.MaxInFlight = max(1, cfg.MaxInFlight/n)
		l, err := NewLoop(part)
		if err != nil {
			for _, started := range p.loops {
				started.discard()
			}
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	for _, l := range p.loops {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			l.Run()
		}()
	}
	return p, nil
}

// Counters sums the loops' counters.
func (p *Pool) Counters() Counters {
	var c Counters
	for _, l := range p.loops {
		s := l.Counters()
		c.Add(&s)
	}
	return c
}

// MarkStart is Loop.MarkStart on every loop.
func (p *Pool) MarkStart() {
	for _, l := range p.loops {
		l.MarkStart()
	}
}

// SetWindow is Loop.SetWindow on every loop.
func (p *Pool) SetWindow(at int64) {
	for _, l := range p.loops {
		l.SetWindow(at)
	}
}

// StartChurn is Loop.StartChurn on every loop.
func (p *Pool) StartChurn() {
	for _, l := range p.loops {
		l.StartChurn()
	}
}

// Drain is Loop.Drain on every loop; the channel closes when all drained
// (or stopped).
func (p *Pool) Drain(finals [][]uint32) <-chan struct{} {
	chs := make([]<-chan struct{}, len(p.loops))
	for i, l := range p.loops {
		chs[i] = l.Drain(finals)
	}
	all := make(chan struct{})
	go func() {
		for _, ch := range chs {
			<-ch
		}
		close(all)
	}()
	return all
}

// Stop stops every loop and merges their results.
func (p *Pool) Stop() *Result {
	rs := make([]*Result, len(p.loops))
	for i, l := range p.loops {
		rs[i] = l.Stop()
	}
	p.wg.Wait()
	return MergeAll(rs)
}
