package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/unisse/unisse/bench"
)

// Summary writes the human summary of rep to w.
func Summary(w io.Writer, rep *bench.Report) error {
	var b strings.Builder
	cfg := &rep.Config
	fmt.Fprintf(&b, "unisse-bench %s — %s, %d conns", rep.Mode, cfg.URL, cfg.Conns)
	if rep.Mode == bench.Channels {
		api := "publish"
		if cfg.UseBcastAPI {
			api = fmt.Sprintf("broadcast ×%d channels", cfg.GroupSize)
		}
		fmt.Fprintf(&b, " over %d channels (/api/%s)", cfg.NumChannels, api)
	}
	if rep.Mode != bench.Idle {
		fmt.Fprintf(&b, ", %s publishes/s, %d publishers, %d-byte payloads", rateStr(cfg.Rate), cfg.Publishers, cfg.Size)
	}
	if rep.Mode == bench.Churn {
		fmt.Fprintf(&b, ", churn %g/s", cfg.ChurnRate)
	}
	if rep.Mode == bench.Recovery {
		fmt.Fprintf(&b, "; storm of %d connections recovering %d publications at %s connects/s (%d in flight)",
			cfg.RecoverConns, cfg.History, rateStr(cfg.ConnectRate), cfg.MaxInFlight)
	}
	fmt.Fprintf(&b, "\nmachine: %d cores, Linux %s; %d worker process(es), %d source address(es), %d loop(s) each; elapsed %s\n",
		rep.Machine.Cores, rep.Machine.Kernel, rep.Workers, rep.Sources, cfg.Loops, dur(rep.Elapsed))

	c := &rep.Conns
	fmt.Fprintf(&b, "\nconnections  %d of %d open after the connect phase (%s, %.0f/s), %d open at the end; %d connect pushes of %d attempts in all\n",
		c.OpenAfterConnect, c.Target, dur(c.ConnectPhase), c.ConnectRate, c.OpenAtEnd, c.Connected, c.Attempts)
	fmt.Fprintf(&b, "  connect latency  %s\n", pct(c.Latency))
	fmt.Fprintf(&b, "  errors  connect %d, timeouts %d, http %d, closed by server %d, disconnect pushes %d",
		c.ConnectErrors, c.ConnectTimeouts, c.HTTPErrors, c.ServerClosed, c.Disconnects)
	if c.Churned > 0 {
		fmt.Fprintf(&b, ", churned %d", c.Churned)
	}
	b.WriteString("\n")
	for _, k := range sortedByCount(c.Errors) {
		fmt.Fprintf(&b, "    %6d × %s\n", c.Errors[k], k)
	}

	if p := rep.Publish; p != nil {
		fmt.Fprintf(&b, "\npublish      %d calls in %s (%.1f/s), refused %d, uncertain %d", p.Calls, dur(p.Elapsed), p.Rate, p.Refused, p.Uncertain)
		if p.Behind > 100*time.Millisecond {
			fmt.Fprintf(&b, ", fell %s behind schedule", dur(p.Behind))
		}
		fmt.Fprintf(&b, "\n  call latency     %s\n", pct(p.Latency))
		for _, k := range sortedByCount(p.Errors) {
			fmt.Fprintf(&b, "    %6d × %s\n", p.Errors[k], k)
		}
	}
	if d := rep.Delivery; d != nil {
		drained := "all delivered"
		switch {
		case !d.Drained:
			drained = "NOT all delivered"
		case d.Expected == 0:
			// Every publish refused: "all delivered" would read as a success.
			drained = "nothing to deliver"
		}
		fmt.Fprintf(&b, "\ndelivery     %d of %d expected (%s within %s of the last publish), %.0f msg/s over %s\n",
			d.Delivered, d.Expected, drained, dur(d.DrainTime), d.Rate, dur(d.Window))
		fmt.Fprintf(&b, "  lost %d (conns with loss %d, max per conn %d), dups %d, reorders %d, stale %d, foreign %d\n",
			d.Lost, d.ConnsWithLoss, d.MaxLostPerConn, d.Dups, d.Reorders, d.Stale, d.Foreign)
		what := "to the tool's read"
		if cfg.KernelTimestamps {
			what = "to kernel receive"
		}
		fmt.Fprintf(&b, "  latency          %s  (%s)\n", pct(d.Latency), what)
		if d.ReadLag.Count > 0 {
			fmt.Fprintf(&b, "  tool read lag    %s\n", pct(d.ReadLag))
		}
	}
	if s := rep.Server; s != nil {
		if len(s.PIDs) > 1 {
			fmt.Fprintf(&b, "\nservers: %d nodes summed (pids %s)  RSS %s before, %s connected, %s at end\n", len(s.PIDs),
				joinInts(s.PIDs), mib(s.Before.RSS), mib(s.Connected.RSS), mib(s.End.RSS))
		} else {
			fmt.Fprintf(&b, "\nserver pid %d  RSS %s before, %s connected, %s at end\n", s.PID,
				mib(s.Before.RSS), mib(s.Connected.RSS), mib(s.End.RSS))
		}
		if rep.Mode == bench.Recovery {
			fmt.Fprintf(&b, "  RSS per live connection %s (after connect); CPU per connect %.1f µs\n", bytesStr(s.RSSPerConn), s.CPUPerConnect)
		} else {
			fmt.Fprintf(&b, "  RSS per connection %s (after connect), %s (at end); CPU per connect %.1f µs\n",
				bytesStr(s.RSSPerConn), bytesStr(s.RSSPerConnEnd), s.CPUPerConnect)
		}
		if rep.Delivery != nil && rep.Mode != bench.Recovery {
			fmt.Fprintf(&b, "  CPU %s over the delivery window (%.2f cores): %.2f µs per delivered message\n",
				dur(s.PublishCPU), s.CPUUtilization, s.CPUPerMessage)
		}
		if rep.Mode == bench.Churn {
			fmt.Fprintf(&b, "  RSS growth during churn: %+.1f MiB\n", float64(s.ChurnRSSGrowth)/(1<<20))
		}
	}
	for i, n := range rep.Nodes {
		fmt.Fprintf(&b, "  node %d pid %d  RSS %s before, %s connected, %s at end", i+1, n.PID,
			mib(n.Before.RSS), mib(n.Connected.RSS), mib(n.End.RSS))
		if rep.Delivery != nil {
			fmt.Fprintf(&b, "; CPU %s over the delivery window (%.2f cores)", dur(n.PublishCPU), n.CPUUtilization)
		}
		b.WriteString("\n")
	}
	if rd := rep.Redis; rd != nil {
		fmt.Fprintf(&b, "redis pid %d  RSS %s before, %s at end", rd.PID, mib(rd.Before.RSS), mib(rd.End.RSS))
		if rep.Delivery != nil {
			fmt.Fprintf(&b, "; CPU %s over the delivery window (%.2f cores)", dur(rd.PublishCPU), rd.CPUUtilization)
			if rep.Mode != bench.Recovery {
				fmt.Fprintf(&b, ": %.3f µs per delivered message", rd.CPUPerMessage)
			}
		}
		b.WriteString("\n")
	}
	if rr := rep.Recovery; rr != nil {
		recoverySummary(&b, rep, rr)
	}
	if wr := rep.Writes; wr != nil {
		fmt.Fprintf(&b, "  events per write %.2f (%.0f events, %.0f writes)\n", wr.Ratio, wr.Events, wr.Writes)
	}
	k := &rep.Kernel
	if k.SlabPerSocket > 0 {
		fmt.Fprintf(&b, "kernel       slab %s per socket (both ends counted), TCP buffers peak %s\n",
			bytesStr(k.SlabPerSocket), mib(k.TCPMemPeak))
	}
	t := &rep.Self
	fmt.Fprintf(&b, "tool         CPU %s in %d process(es)", dur(t.CPU), t.Processes)
	if t.CPUPerMessage > 0 {
		fmt.Fprintf(&b, " (%.2f µs per delivered message)", t.CPUPerMessage)
	}
	fmt.Fprintf(&b, ", peak RSS %s\n", mib(t.MaxRSS))
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ",")
}

func rateStr(r float64) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%g", r)
}

func pct(p bench.Percentiles) string {
	if p.Count == 0 {
		return "(none)"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
		us(p.P50), us(p.P90), us(p.P99), us(p.P999), us(p.Max), p.Count)
}

// us formats microseconds readably.
func us(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fs", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2fms", v/1e3)
	default:
		return fmt.Sprintf("%.0fµs", v)
	}
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return d.String()
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func bytesStr(b float64) string {
	if b >= 10*1024 || b <= -10*1024 {
		return fmt.Sprintf("%.1f KiB", b/1024)
	}
	return fmt.Sprintf("%.0f B", b)
}

func sortedByCount(m map[string]uint64) []string {
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int {
		switch {
		case m[a] > m[b]:
			return -1
		case m[a] < m[b]:
			return 1
		}
		return 0
	})
	return keys
}

func recoverySummary(b *strings.Builder, rep *bench.Report, rr *bench.RecoveryReport) {
	fmt.Fprintf(b, "\nrecovery     %d of %d recovering connections got their connect push: %d recovered as expected, %d not\n",
		rr.Connected, rr.Target, rr.Recovered, rr.Failed)
	fmt.Fprintf(b, "  history      %d publications of %s, epoch %s, recovered from offset %d (published in %s)\n",
		rr.History, rr.Channel, rr.Epoch, rr.From, dur(rr.HistoryPublish))
	fmt.Fprintf(b, "  storm        %s from the first connect() to the last connect push: %.0f recovering connects/s\n", dur(rr.Duration), rr.Rate)
	fmt.Fprintf(b, "  connect latency  %s  (to the end of the connect push)\n", pct(rr.Latency))
	if rr.Connected > 0 {
		fmt.Fprintf(b, "  bytes        %s per connect push, %s read in all\n", bytesStr(float64(rr.PushBytes)/float64(rr.Connected)), mib(rr.BytesRead))
	}
	fmt.Fprintf(b, "  errors  connect %d, timeouts %d, http %d, closed by server %d, disconnect pushes %d\n",
		rr.ConnectErrors, rr.ConnectTimeouts, rr.HTTPErrors, rr.ServerClosed, rr.Disconnects)
	for _, k := range sortedByCount(rr.Errors) {
		fmt.Fprintf(b, "    %6d × %s\n", rr.Errors[k], k)
	}
	what := "to the tool's read"
	if rep.Config.KernelTimestamps {
		what = "to kernel receive"
	}
	fmt.Fprintf(b, "live latency by send time (publish %s)\n", what)
	windows := []struct {
		name string
		w    *bench.LiveWindow
	}{{"baseline", &rr.Baseline}, {"storm", &rr.Storm}, {"after", &rr.After}}
	for _, w := range windows {
		fmt.Fprintf(b, "  %-9s %7s  %s\n", w.name, dur(w.w.Length), pct(w.w.Latency))
	}
	fmt.Fprintf(b, "publish calls sent in each window\n")
	for _, w := range windows {
		fmt.Fprintf(b, "  %-9s %5d (%.1f/s)  %s", w.name, w.w.Published, w.w.PublishRate, pct(w.w.CallLatency))
		if w.w.Behind > 100*time.Millisecond {
			fmt.Fprintf(b, "  up to %s behind schedule", dur(w.w.Behind))
		}
		b.WriteString("\n")
	}
	if s := rr.Server; s != nil {
		fmt.Fprintf(b, "server during the storm: CPU %s over %s (%.2f cores; baseline %.2f cores, %.1f µs per live delivery)\n",
			dur(s.CPU), dur(s.Wall), s.Utilization, s.BaselineUtilization, s.BaselinePerDelivery)
		fmt.Fprintf(b, "  %.1f µs per recovering connect; %.1f µs once the storm window's live deliveries are charged at the baseline cost\n",
			s.CPUPerConnect, s.NetCPUPerConnect)
		fmt.Fprintf(b, "  RSS %s → %s (%+.1f MiB, %s per recovering connection)\n",
			mib(s.RSSBefore), mib(s.RSSAfter), float64(s.RSSGrowth)/(1<<20), bytesStr(s.RSSPerConn))
	}
	if rr.ToolCPU > 0 {
		fmt.Fprintf(b, "  this tool meanwhile: CPU %s (%.2f cores)\n", dur(rr.ToolCPU), rr.ToolUtilization)
	}
}
