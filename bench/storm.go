package bench

// Recovery mode: while live subscribers are published to, a storm of
// connections recovers a channel's history in their connect pushes. The
// live side's latency is split into windows by the publications' send time
// (client.Loop.SetWindow): 0 the warm-up and the history publishing,
// 1 the baseline, 2 the storm, 3 after it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/unisse/unisse/bench/client"
	"github.com/unisse/unisse/bench/hist"
	"github.com/unisse/unisse/bench/payload"
	"github.com/unisse/unisse/bench/probe"
	"github.com/unisse/unisse/bench/publish"
	"github.com/unisse/unisse/bench/recovery"
)

// windowLead is how far ahead of time a latency window boundary is set, so
// that every subscriber loop has it before the first publication it applies
// to is sent.
const windowLead = 50 * time.Millisecond

// Latency windows of the live subscribers.
const (
	winWarmup = iota
	winBaseline
	winStorm
	winAfter
	numWindows
)

// ErrAPI is wrapped by errors of the server API calls recovery mode makes.
var ErrAPI = errors.New("bench: server API")

// recovery runs recovery mode once the live subscribers are connected.
func (r *runner) recovery(ctx context.Context) error {
	cfg := &r.cfg
	rr := &RecoveryReport{Channel: HistoryNamespace + ":" + cfg.Channel, History: cfg.History, Target: cfg.RecoverConns}
	r.rep.Recovery = rr
	ds, err := r.startDelivery(ctx)
	if err != nil {
		return err
	}

	// Live publishing, for the whole run.
	r.setPhase("history")
	windowStart := time.Now()
	pubCtx, cancelPub := context.WithCancel(ctx)
	pubDone := make(chan *publish.Result, 1)
	go func() { pubDone <- r.pub.Run(pubCtx) }()
	var pr *publish.Result
	stopPublishing := func() *publish.Result {
		if pr == nil {
			cancelPub()
			pr = <-pubDone
		}
		return pr
	}
	defer stopPublishing()

	exp, err := r.publishHistory(ctx, rr)
	if err != nil {
		return err
	}

	// Baseline.
	r.setPhase("baseline")
	tb := time.Now().Add(windowLead)
	ts := tb.Add(cfg.Baseline)
	if err := r.setWindows(ctx, tb, ts); err != nil {
		return err
	}
	rr.Baseline.Start, rr.Baseline.Length = tb.Sub(r.start).Seconds(), cfg.Baseline
	if err := sleepUntil(ctx, tb); err != nil {
		return err
	}
	b0, _ := r.readServer()
	if err := sleepUntil(ctx, ts); err != nil {
		return err
	}
	b1, _ := r.readServer()

	// The storm.
	r.setPhase("storm")
	parts, err := r.plan.stormParts(exp)
	if err != nil {
		return err
	}
	self0, _ := probe.ReadSelf()
	if err := r.startStorm(parts); err != nil {
		return err
	}
	done, err := r.awaitStorm(ctx)
	if err != nil {
		return err
	}
	s1, _ := r.readServer()
	if self1, err := probe.ReadSelf(); err == nil && r.plan.procs == 0 && r.plan.stormProcs == 0 {
		// Worker processes' CPU is known only when they stop.
		rr.ToolCPU = self1.CPU - self0.CPU
		if w := s1.At.Sub(b1.At); w > 0 {
			rr.ToolUtilization = float64(rr.ToolCPU) / float64(w)
		}
	}
	if !done {
		r.note("the storm did not finish within %v", cfg.stormBudget())
	}
	if cfg.ServerPID != 0 {
		srv := &StormServer{Wall: s1.At.Sub(b1.At), CPU: s1.CPU - b1.CPU, RSSBefore: b1.RSS, RSSAfter: s1.RSS}
		srv.RSSGrowth = int64(s1.RSS) - int64(b1.RSS)
		if srv.Wall > 0 {
			srv.Utilization = float64(srv.CPU) / float64(srv.Wall)
		}
		srv.BaselineCPU = b1.CPU - b0.CPU
		if w := b1.At.Sub(b0.At); w > 0 {
			srv.BaselineUtilization = float64(srv.BaselineCPU) / float64(w)
		}
		rr.Server = srv
	}

	// After.
	r.setPhase("after")
	ta := time.Now().Add(windowLead)
	if err := r.setWindows(ctx, ta); err != nil {
		return err
	}
	// The storm window ends windowLead after its end was seen.
	rr.Storm.Start, rr.Storm.Length = ts.Sub(r.start).Seconds(), ta.Sub(ts)
	if err := sleepUntil(ctx, ta.Add(cfg.After)); err != nil {
		return err
	}
	stopPublishing()
	end := time.Now()
	rr.After.Start, rr.After.Length = ta.Sub(r.start).Seconds(), end.Sub(ta)
	splitCalls(pr.Log, []time.Time{tb, ts, ta, end}, []*LiveWindow{&rr.Baseline, &rr.Storm, &rr.After})
	r.publishReport(pr)
	r.drain(ctx, pr, windowStart, ds)
	return nil
}

// splitCalls accounts the publish calls sent in [bounds[k], bounds[k+1])
// to ws[k].
func splitCalls(log []publish.Call, bounds []time.Time, ws []*LiveWindow) {
	lat := make([]hist.Hist, len(ws))
	for _, c := range log {
		for k, w := range ws {
			if c.Sent >= bounds[k].UnixNano() && c.Sent < bounds[k+1].UnixNano() {
				w.Published++
				w.Behind = max(w.Behind, time.Duration(c.Late))
				lat[k].Record(c.Took)
			}
		}
	}
	for k, w := range ws {
		w.CallLatency = percentiles(&lat[k])
		if d := bounds[k+1].Sub(bounds[k]); d > 0 {
			w.PublishRate = float64(w.Published) / d.Seconds()
		}
	}
}

// readServer samples the server, when there is one to sample.
// With several nodes it is their sum.
func (r *runner) readServer() (probe.Proc, error) {
	if r.cfg.ServerPID == 0 {
		return probe.Proc{At: time.Now()}, nil
	}
	s, err := r.readProcs()
	return s.sum, err
}

// setWindows gives every live subscriber loop the latency window boundaries
// ats, which must still be ahead.
func (r *runner) setWindows(ctx context.Context, ats ...time.Time) error {
	for _, at := range ats {
		for _, w := range r.workers {
			if err := w.SetWindow(ctx, at.UnixNano()); err != nil {
				return err
			}
		}
	}
	if late := time.Since(ats[0]); late >= 0 {
		r.note("a latency window boundary reached the subscribers %v late", late)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bench: %w", ctx.Err())
	}
}

// startStorm starts the recovering connections' workers.
func (r *runner) startStorm(parts []workerStart) error {
	var argv []string
	if r.plan.stormProcs > 0 {
		var err error
		if argv, err = workerArgv(&r.cfg); err != nil {
			return err
		}
	}
	for _, part := range parts {
		var w worker
		var err error
		if r.plan.stormProcs > 0 {
			w, err = startProc(argv, part)
		} else {
			w, err = startLocal(part)
		}
		if err != nil {
			return err // the ones started are stopped with the others
		}
		r.mu.Lock()
		r.storm = append(r.storm, w)
		r.mu.Unlock()
	}
	return nil
}

// stormCounters sums the recovering connections' counters.
func (r *runner) stormCounters() client.Counters {
	r.mu.Lock()
	storm := r.storm
	r.mu.Unlock()
	return sumCounters(storm)
}

// awaitStorm waits until every recovering connection got its connect push
// or failed; false when the storm budget ran out first.
func (r *runner) awaitStorm(ctx context.Context) (bool, error) {
	cfg := &r.cfg
	budget := time.NewTimer(cfg.stormBudget())
	defer budget.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c := r.stormCounters()
		if c.Attempts >= uint64(cfg.RecoverConns) && c.InFlight == 0 {
			return true, nil
		}
		select {
		case <-tick.C:
		case <-budget.C:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("bench: storm: %w", ctx.Err())
		}
	}
}

// position is a history stream's top.
type position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// publishHistory publishes cfg.History publications to the history
// channel and returns the recovery the storm must get: from the stream's
// top minus cfg.History, in its epoch.
func (r *runner) publishHistory(ctx context.Context, rr *RecoveryReport) (*recovery.Expect, error) {
	cfg := &r.cfg
	api := &apiClient{base: strings.TrimSuffix(cfg.APIs()[0], "/"), key: cfg.APIKey, hc: &http.Client{Timeout: cfg.CallTimeout}}
	defer api.hc.CloseIdleConnections()
	ch := rr.Channel
	var p0, p1 position
	if err := api.call(ctx, "history", map[string]any{"channel": ch, "limit": 0}, &p0); err != nil {
		return nil, fmt.Errorf("%w (does the server have a %q namespace with history? see bench/config.json)", err, HistoryNamespace)
	}
	start := time.Now()
	buf := make([]byte, 0, payload.MinSize+cfg.Size)
	for i := 1; i <= cfg.History; i++ {
		buf = payload.Append(buf[:0], 0, uint32(i), time.Now().UnixNano(), cfg.Size)
		if err := api.call(ctx, "publish", map[string]any{"channel": ch, "data": json.RawMessage(buf)}, nil); err != nil {
			return nil, err
		}
	}
	rr.HistoryPublish = time.Since(start)
	if err := api.call(ctx, "history", map[string]any{"channel": ch, "limit": 0}, &p1); err != nil {
		return nil, err
	}
	if p1.Offset < uint64(cfg.History) {
		return nil, fmt.Errorf("%w: %s is at offset %d after %d publications", ErrAPI, ch, p1.Offset, cfg.History)
	}
	from := p1.Offset - uint64(cfg.History)
	if p0.Epoch == p1.Epoch && p0.Offset != from {
		r.note("%s moved by %d while %d publications were published: someone else publishes to it", ch, p1.Offset-p0.Offset, cfg.History)
	}
	rr.Epoch, rr.From = p1.Epoch, from
	return &recovery.Expect{Channel: ch, Epoch: p1.Epoch, From: from, Count: cfg.History}, nil
}

// apiClient makes the few server API calls recovery mode needs besides
// the publishers'.
type apiClient struct {
	base, key string
	hc        *http.Client
}

// call posts body to /api/<method> and decodes the reply's result into
// result (unless nil); an error reply is an error.
func (a *apiClient) call(ctx context.Context, method string, body, result any) error {
	js, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAPI, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/"+method, bytes.NewReader(js))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAPI, err)
	}
	if a.key != "" {
		req.Header.Set("X-API-Key", a.key)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAPI, method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAPI, method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s: status %d %q", ErrAPI, method, resp.StatusCode, raw)
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return fmt.Errorf("%w: %s: reply %q: %w", ErrAPI, method, raw, err)
	}
	if reply.Error != nil {
		return fmt.Errorf("%w: %s: error %d %s", ErrAPI, method, reply.Error.Code, reply.Error.Message)
	}
	if result != nil {
		if err := json.Unmarshal(reply.Result, result); err != nil {
			return fmt.Errorf("%w: %s: result %q: %w", ErrAPI, method, reply.Result, err)
		}
	}
	return nil
}

// fillRecovery copies the recovering connections' merged result into the
// report.
func (r *runner) fillRecovery(res *client.Result) {
	rr := r.rep.Recovery
	if rr == nil {
		return
	}
	c := &res.Counters
	rr.Attempts, rr.Connected, rr.Recovered, rr.Failed = c.Attempts, c.Connected, c.Recovered, c.RecoverFailed
	rr.ConnectErrors, rr.ConnectTimeouts, rr.HTTPErrors = c.ConnectErrors, c.ConnectTimeouts, c.HTTPErrors
	rr.ServerClosed, rr.Disconnects = c.ServerClosed, c.Disconnects
	rr.Errors = res.Errors
	rr.PushBytes, rr.BytesRead = c.RecoverBytes, c.Bytes
	rr.Latency = percentiles(&res.Connect)
	rr.ConnectHist = res.Connect
	if res.FirstAttempt > 0 && res.LastConnect > res.FirstAttempt {
		rr.Duration = time.Duration(res.LastConnect - res.FirstAttempt)
		rr.Rate = float64(c.Connected) / rr.Duration.Seconds()
	}
	if srv := rr.Server; srv != nil && c.Connected > 0 {
		n := float64(c.Connected)
		srv.CPUPerConnect = float64(srv.CPU) / 1e3 / n
		if d := rr.Baseline.Latency.Count; d > 0 {
			// Live delivery's cost, charged per delivery rather than per
			// second: the live rate need not hold during the storm.
			srv.BaselinePerDelivery = float64(srv.BaselineCPU) / 1e3 / float64(d)
			net := float64(srv.CPU)/1e3 - srv.BaselinePerDelivery*float64(rr.Storm.Latency.Count)
			srv.NetCPUPerConnect = max(net, 0) / n
		}
		srv.RSSPerConn = float64(srv.RSSGrowth) / n
	}
}

// fillWindows puts the live subscribers' latency windows in the report.
func (r *runner) fillWindows(res *client.Result) {
	rr := r.rep.Recovery
	if rr == nil || len(res.Windows) != numWindows {
		return
	}
	for k, w := range map[int]*LiveWindow{winBaseline: &rr.Baseline, winStorm: &rr.Storm, winAfter: &rr.After} {
		w.Hist = res.Windows[k]
		w.Latency = percentiles(&w.Hist)
	}
}
