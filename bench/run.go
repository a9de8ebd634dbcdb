package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/unisse/unisse/bench/client"
	"github.com/unisse/unisse/bench/probe"
	"github.com/unisse/unisse/bench/publish"
)

// ErrNoConnection is returned (with the report) when no subscriber got its
// connect push.
var ErrNoConnection = errors.New("bench: no connection succeeded")

// runner carries one Run's state.
type runner struct {
	cfg     Config
	plan    *plan
	rep     *Report
	workers []worker // the subscribers (recovery mode: the live ones)
	pub     *publish.Publisher
	start   time.Time

	// mu guards storm, last, lastProcs, phase and the report's Timeline,
	// Notes and Kernel.TCPMemPeak while the sampler runs.
	mu        sync.Mutex
	storm     []worker // recovery mode: the recovering connections, once started
	last      Sample
	lastProcs procSample // the sampler's previous sample, for CPU per second
	phase     string
	sampling  chan struct{}
}

// Run executes cfg: see the package doc. It returns the report also when it
// returns an error, if it got as far as connecting.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.hardTimeout())
	defer cancel()
	p, err := makePlan(&cfg)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, plan: p, start: time.Now()}
	r.rep = &Report{Tool: "unisse-bench", Mode: cfg.Mode, Config: cfg, Machine: machine(), Started: r.start,
		Workers: p.procs, Sources: len(p.sources)}
	r.rep.Conns.Target = cfg.Conns
	if cfg.publishes() {
		apis := cfg.APIs()
		pc := publish.Config{API: apis[0], Nodes: apis[1:], APIKey: cfg.APIKey, Broadcast: cfg.UseBcastAPI, Channels: p.channels,
			GroupSize: cfg.GroupSize, Publishers: cfg.Publishers, Rate: cfg.Rate, Size: cfg.Size,
			Duration: cfg.Duration, MaxCalls: cfg.MaxCalls, Timeout: cfg.CallTimeout}
		if cfg.Mode == Recovery {
			pc.Duration = cfg.hardTimeout() // stopped when the after window ends
			pc.Log = true                   // to split the calls by window
		}
		if r.pub, err = publish.New(pc); err != nil {
			return nil, err
		}
	}
	err = r.run(ctx)
	r.rep.Elapsed = time.Since(r.start)
	return r.rep, err
}

func (r *runner) run(ctx context.Context) error {
	cfg := &r.cfg
	// Baselines.
	if pids := cfg.pids(); len(pids) > 0 || cfg.RedisPID != 0 {
		s, err := r.readProcs()
		if err != nil {
			return err
		}
		if len(pids) > 0 {
			r.rep.Server = &ServerReport{PID: pids[0], Before: s.sum}
			if len(pids) > 1 {
				r.rep.Server.PIDs = pids
				for i, pid := range pids {
					r.rep.Nodes = append(r.rep.Nodes, ServerReport{PID: pid, Before: s.nodes[i]})
				}
			}
		}
		if cfg.RedisPID != 0 {
			r.rep.Redis = &ServerReport{PID: cfg.RedisPID, Before: s.redis}
		}
		r.lastProcs = s
	}
	r.rep.Kernel.SlabBefore, _ = probe.ReadSlab()
	if ss, err := probe.ReadSockstat(); err == nil {
		r.rep.Kernel.TCPMemBefore = ss.MemBytes
	}

	if err := r.startWorkers(); err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			r.stopWorkers(context.Background())
		}
	}()
	r.sampling = make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		r.sampler()
	}()
	var once sync.Once
	stopSampler := func() {
		once.Do(func() {
			close(r.sampling)
			<-samplerDone
		})
	}
	defer stopSampler()

	// Connect.
	r.setPhase("connect")
	if err := r.awaitConnected(ctx); err != nil {
		return err
	}
	c := r.counters()
	r.rep.Conns.OpenAfterConnect = c.Open
	r.rep.Kernel.SlabConnected, _ = probe.ReadSlab()
	if c.Open > 0 && r.rep.Kernel.SlabConnected > r.rep.Kernel.SlabBefore {
		r.rep.Kernel.SlabPerSocket = float64(r.rep.Kernel.SlabConnected-r.rep.Kernel.SlabBefore) / float64(2*c.Open)
	}
	connected, _ := r.readProcs()
	r.setProcs(connected, func(rep *ServerReport, p probe.Proc) { rep.Connected = p })
	if srv := r.rep.Server; srv != nil {
		if c.Open > 0 {
			srv.RSSPerConn = (float64(srv.Connected.RSS) - float64(srv.Before.RSS)) / float64(c.Open)
		}
		if c.Connected > 0 {
			srv.CPUPerConnect = float64(srv.Connected.CPU-srv.Before.CPU) / 1e3 / float64(c.Connected)
		}
	}
	if c.Connected == 0 {
		stopped = true
		r.stopWorkers(ctx)
		return fmt.Errorf("%w: %s", ErrNoConnection, topErrors(r.rep.Conns.Errors, 3))
	}

	switch {
	case cfg.Mode == Recovery:
		if err := r.recovery(ctx); err != nil {
			return err
		}
	case cfg.publishes():
		if err := r.deliver(ctx); err != nil {
			return err
		}
	default:
		r.setPhase("hold")
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	end, _ := r.readProcs()
	r.setProcs(end, func(rep *ServerReport, p probe.Proc) { rep.End = p })
	if srv := r.rep.Server; srv != nil {
		if open := r.rep.Conns.OpenAfterConnect; open > 0 && cfg.Mode != Recovery {
			srv.RSSPerConnEnd = (float64(srv.End.RSS) - float64(srv.Before.RSS)) / float64(open)
		}
		if cfg.Mode == Churn {
			srv.ChurnRSSGrowth = int64(srv.End.RSS) - int64(srv.Connected.RSS)
		}
	}
	// The last sample is taken with every connection still open.
	stopSampler()
	stopped = true
	return r.stopWorkers(ctx)
}

func (r *runner) startWorkers() error {
	if r.plan.procs == 0 {
		w, err := startLocal(r.plan.parts[0])
		if err != nil {
			return err
		}
		r.workers = append(r.workers, w)
		return nil
	}
	argv, err := workerArgv(&r.cfg)
	if err != nil {
		return err
	}
	for _, part := range r.plan.parts {
		w, err := startProc(argv, part)
		if err != nil {
			r.stopWorkers(context.Background())
			return err
		}
		r.workers = append(r.workers, w)
	}
	return nil
}

// stopWorkers stops every worker, merges their results into the report and
// accounts the tool's own usage.
func (r *runner) stopWorkers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errs []error
	self, _ := probe.ReadSelf()
	usage := SelfReport{MaxRSS: self.MaxRSS, Processes: 1}
	stop := func(set []worker) []*client.Result {
		var results []*client.Result
		for _, w := range set {
			res, ws, err := w.Stop(ctx)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			results = append(results, res)
			if ws.MaxRSS > 0 {
				usage.Processes++
				usage.MaxRSS += ws.MaxRSS
				usage.CPU += ws.CPU
			}
		}
		return results
	}
	results := stop(r.workers)
	r.mu.Lock()
	storm := r.storm
	r.mu.Unlock()
	stormResults := stop(storm)
	if self, err := probe.ReadSelf(); err == nil {
		usage.CPU += self.CPU
	}
	if len(results) > 0 {
		r.fill(client.MergeAll(results))
	}
	if len(stormResults) > 0 {
		r.fillRecovery(client.MergeAll(stormResults)) // after the live windows
	}
	// Not in recovery mode: the storm's cost is no delivered message's.
	if d := r.rep.Delivery; d != nil && d.Delivered > 0 && r.rep.Recovery == nil {
		usage.CPUPerMessage = float64(usage.CPU) / 1e3 / float64(d.Delivered)
	}
	r.rep.Self = usage
	return errors.Join(errs...)
}

// fill copies the merged client result into the report.
func (r *runner) fill(res *client.Result) {
	rc := &r.rep.Conns
	c := &res.Counters
	rc.Attempts, rc.Connected = c.Attempts, c.Connected
	rc.ConnectErrors, rc.ConnectTimeouts, rc.HTTPErrors = c.ConnectErrors, c.ConnectTimeouts, c.HTTPErrors
	rc.ServerClosed, rc.Disconnects, rc.Churned, rc.Pings = c.ServerClosed, c.Disconnects, c.Churned, c.Pings
	rc.Errors = res.Errors
	rc.Latency = percentiles(&res.Connect)
	r.rep.ConnectHist = res.Connect
	r.rep.LatencyHist = res.Latency
	r.mu.Lock()
	rc.OpenAtEnd = r.last.Open
	r.mu.Unlock()
	if d := r.rep.Delivery; d != nil {
		r.fillWindows(res)
		d.Expected, d.Lost = res.Delivery.Expected, res.Delivery.Lost
		d.ConnsWithLoss, d.MaxLostPerConn = res.Delivery.ConnsWithLoss, res.Delivery.MaxLostPerConn
		d.Delivered, d.Dups, d.Reorders, d.Stale, d.Foreign = c.Pubs, c.Dups, c.Reorders, c.Stale, c.Foreign
		d.Bytes = c.Bytes
		d.Latency = percentiles(&res.Latency)
		d.ReadLag = percentiles(&res.ReadLag)
		if d.Window > 0 {
			d.Rate = float64(d.Delivered) / d.Window.Seconds()
		}
		if r.rep.Recovery == nil {
			// A cluster's sum: the cost of a delivered message on any node.
			if srv := r.rep.Server; srv != nil {
				srv.CPUPerMessage = perMessage(srv.PublishCPU, d.Delivered)
			}
			if rd := r.rep.Redis; rd != nil {
				rd.CPUPerMessage = perMessage(rd.PublishCPU, d.Delivered)
			}
		}
	}
}

// counters sums the (live) workers' counters.
func (r *runner) counters() client.Counters { return sumCounters(r.workers) }

func sumCounters(set []worker) client.Counters {
	var c client.Counters
	for _, w := range set {
		wc := w.Counters()
		c.Add(&wc)
	}
	return c
}

// awaitConnected waits until every connection got its connect push or
// failed, within the connect budget.
func (r *runner) awaitConnected(ctx context.Context) error {
	cfg := &r.cfg
	budget := cfg.ConnectTimeout + 5*time.Second
	if cfg.ConnectRate > 0 {
		budget += time.Duration(float64(cfg.Conns) / cfg.ConnectRate * float64(time.Second))
	}
	deadline := time.NewTimer(budget)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c := r.counters()
		if c.Attempts >= uint64(cfg.Conns) && c.InFlight == 0 {
			r.rep.Conns.ConnectPhase = time.Since(r.start)
			if r.rep.Conns.ConnectPhase > 0 {
				r.rep.Conns.ConnectRate = float64(c.Connected) / r.rep.Conns.ConnectPhase.Seconds()
			}
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			r.note("connect phase did not finish within %v: %d of %d attempted, %d in flight", budget, c.Attempts, cfg.Conns, c.InFlight)
			r.rep.Conns.ConnectPhase = time.Since(r.start)
			return nil
		case <-ctx.Done():
			return fmt.Errorf("bench: connecting: %w", ctx.Err())
		}
	}
}

// deliveryStart is where a delivery window starts: the server's CPU and
// metrics then.
type deliveryStart struct {
	procs   procSample
	metrics probe.Metrics
}

// startDelivery marks every live subscriber as owed every publication from
// now on and samples the server.
func (r *runner) startDelivery(ctx context.Context) (deliveryStart, error) {
	cfg := &r.cfg
	var ds deliveryStart
	r.rep.Delivery = &DeliveryReport{}
	for _, w := range r.workers {
		if err := w.MarkStart(ctx); err != nil {
			return ds, err
		}
	}
	if cfg.MetricsURL != "" {
		m, err := probe.Scrape(ctx, cfg.MetricsURL)
		if err != nil {
			r.note("metrics: %v", err)
		}
		ds.metrics = m
	}
	ds.procs, _ = r.readProcs()
	return ds, nil
}

// deliver publishes (and churns), then drains.
func (r *runner) deliver(ctx context.Context) error {
	cfg := &r.cfg
	ds, err := r.startDelivery(ctx)
	if err != nil {
		return err
	}
	if cfg.Mode == Churn {
		for _, w := range r.workers {
			if err := w.StartChurn(); err != nil {
				return err
			}
		}
	}
	r.setPhase("publish")
	windowStart := time.Now()
	pr := r.pub.Run(ctx)
	r.publishReport(pr)
	if calls := pr.Calls + pr.Refused + pr.Uncertain; cfg.Rate > 0 && cfg.MaxCalls == 0 && float64(calls) < 0.9*cfg.Rate*cfg.Duration.Seconds() {
		r.note("published %d calls, %.0f%% of --rate × --duration: each publisher waits for its reply (p50 %s), so a rate above %d/p50 needs more --publishers",
			calls, 100*float64(calls)/(cfg.Rate*cfg.Duration.Seconds()), time.Duration(pr.Latency.Quantile(0.5)), cfg.Publishers)
	}
	r.drain(ctx, pr, windowStart, ds)
	return nil
}

// publishReport puts the publishers' result in the report.
func (r *runner) publishReport(pr *publish.Result) {
	r.rep.Publish = &PublishReport{Calls: pr.Calls, Refused: pr.Refused, Uncertain: pr.Uncertain,
		Elapsed: pr.Elapsed, Behind: pr.Behind, Latency: percentiles(&pr.Latency), Errors: pr.Errors}
	r.rep.CallHist = pr.Latency
	if pr.Elapsed > 0 {
		r.rep.Publish.Rate = float64(pr.Calls+pr.Refused+pr.Uncertain) / pr.Elapsed.Seconds()
	}
}

// drain waits until every live subscriber has every publication (or the
// drain time is up) and accounts the delivery window, from windowStart (or
// the first publish) to now.
func (r *runner) drain(ctx context.Context, pr *publish.Result, windowStart time.Time, ds deliveryStart) {
	cfg := &r.cfg
	d := r.rep.Delivery
	if !pr.Started.IsZero() {
		windowStart = pr.Started
	}
	r.setPhase("drain")
	drainStart := time.Now()
	chs := make([]<-chan struct{}, len(r.workers))
	for i, w := range r.workers {
		chs[i] = w.Drain(pr.Finals)
	}
	timer := time.NewTimer(cfg.Drain)
	defer timer.Stop()
	d.Drained = true
wait:
	for _, ch := range chs {
		select {
		case <-ch:
		case <-timer.C:
			d.Drained = false
			break wait
		case <-ctx.Done():
			d.Drained = false
			break wait
		}
	}
	end := time.Now()
	d.DrainTime = end.Sub(drainStart)
	d.Window = end.Sub(windowStart)
	if s1, err := r.readProcs(); err == nil {
		r.overWindow(ds.procs, s1, func(rep *ServerReport, cpu time.Duration, util float64) {
			rep.PublishCPU, rep.CPUUtilization = cpu, util
		})
	}
	if ds.metrics != nil {
		if after, err := probe.Scrape(ctx, cfg.MetricsURL); err == nil {
			if ratio, e, w, ok := probe.EventsPerWrite(ds.metrics, after); ok {
				r.rep.Writes = &WritesReport{Events: e, Writes: w, Ratio: ratio}
			}
		}
	}
}

// setProcs stores a sample of the processes in the reports of the server
// (the nodes' sum), each node and Redis, with set.
func (r *runner) setProcs(s procSample, set func(*ServerReport, probe.Proc)) {
	if srv := r.rep.Server; srv != nil {
		set(srv, s.sum)
	}
	for i := range r.rep.Nodes {
		if i < len(s.nodes) {
			set(&r.rep.Nodes[i], s.nodes[i])
		}
	}
	if rd := r.rep.Redis; rd != nil {
		set(rd, s.redis)
	}
}

// overWindow gives set the CPU and cores busy of the server (the nodes'
// sum), each node and Redis from a to b.
func (r *runner) overWindow(a, b procSample, set func(*ServerReport, time.Duration, float64)) {
	if srv := r.rep.Server; srv != nil && len(a.nodes) > 0 {
		cpu, util := cpuOver(a.sum, b.sum)
		set(srv, cpu, util)
	}
	for i := range r.rep.Nodes {
		if i < len(a.nodes) && i < len(b.nodes) {
			cpu, util := cpuOver(a.nodes[i], b.nodes[i])
			set(&r.rep.Nodes[i], cpu, util)
		}
	}
	if rd := r.rep.Redis; rd != nil && !a.redis.At.IsZero() {
		cpu, util := cpuOver(a.redis, b.redis)
		set(rd, cpu, util)
	}
}

func (r *runner) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *runner) note(format string, args ...any) {
	r.mu.Lock()
	r.rep.Notes = append(r.rep.Notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// sampler records the timeline and prints the progress line every second
// until r.sampling closes.
func (r *runner) sampler() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.sampling:
			r.sample(false)
			return
		case <-t.C:
			r.sample(true)
		}
	}
}

func (r *runner) sample(progress bool) {
	c := r.counters()
	sc := r.stormCounters()
	now := time.Now()
	s := Sample{T: now.Sub(r.start).Seconds(), Open: c.Open, Connected: c.Connected, Delivered: c.Pubs, Errors: c.Errors(),
		RecoverOpen: sc.Open, Recovered: sc.Recovered}
	if r.pub != nil {
		s.Published = r.pub.Sent()
	}
	if len(r.cfg.pids()) > 0 || r.cfg.RedisPID != 0 {
		if p, err := r.readProcs(); err == nil {
			r.mu.Lock()
			last := r.lastProcs
			r.lastProcs = p
			r.mu.Unlock()
			if len(p.nodes) > 0 {
				s.ServerRSS = p.sum.RSS
				_, s.ServerCPU = cpuOver(last.sum, p.sum)
			}
			if len(p.nodes) > 1 && len(last.nodes) == len(p.nodes) {
				for i := range p.nodes {
					_, util := cpuOver(last.nodes[i], p.nodes[i])
					s.NodeCPU = append(s.NodeCPU, util)
				}
			}
			if r.cfg.RedisPID != 0 {
				_, s.RedisCPU = cpuOver(last.redis, p.redis)
			}
		}
	}
	if ss, err := probe.ReadSockstat(); err == nil {
		r.mu.Lock()
		r.rep.Kernel.TCPMemPeak = max(r.rep.Kernel.TCPMemPeak, ss.MemBytes)
		r.mu.Unlock()
	}
	r.mu.Lock()
	prev := r.last
	r.last = s
	r.rep.Timeline = append(r.rep.Timeline, s)
	phase := r.phase
	r.mu.Unlock()
	if progress && r.cfg.Progress != nil {
		dt := s.T - prev.T
		var b strings.Builder
		fmt.Fprintf(&b, "%5.0fs %-8s open %d/%d", s.T, phase, s.Open, r.cfg.Conns)
		if r.cfg.Mode == Recovery {
			fmt.Fprintf(&b, "  recovering open %d/%d, recovered %d (%.0f/s)", s.RecoverOpen, r.cfg.RecoverConns,
				s.Recovered, float64(s.Recovered-prev.Recovered)/max(dt, 1e-9))
		}
		if r.pub != nil && dt > 0 {
			fmt.Fprintf(&b, "  recv %.0f/s  pub %.0f/s", float64(s.Delivered-prev.Delivered)/dt, float64(s.Published-prev.Published)/dt)
		}
		fmt.Fprintf(&b, "  errors %d", s.Errors)
		if s.ServerRSS > 0 {
			what := "server"
			if n := len(r.cfg.pids()); n > 1 {
				what = fmt.Sprintf("%d nodes", n)
			}
			fmt.Fprintf(&b, "  %s %.1f MiB %.0f%% cpu", what, float64(s.ServerRSS)/(1<<20), s.ServerCPU*100)
		}
		if r.cfg.RedisPID != 0 {
			fmt.Fprintf(&b, "  redis %.0f%% cpu", s.RedisCPU*100)
		}
		fmt.Fprintln(r.cfg.Progress, b.String())
	}
}

// topErrors lists the n most frequent errors.
func topErrors(m map[string]uint64, n int) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "no error recorded"
	}
	return strings.Join(parts, "; ")
}
