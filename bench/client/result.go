package client

import (
	"maps"
	"slices"

	"github.com/unisse/unisse/bench/hist"
)

// Counters are a Loop's running totals. Gauges (Open, InFlight) are the
// current values; everything else is cumulative.
type Counters struct {
	Attempts        uint64 `json:"attempts"`         // connects started
	Connected       uint64 `json:"connected"`        // connect pushes received
	Open            uint64 `json:"open"`             // streams open past their connect push (gauge)
	InFlight        uint64 `json:"in_flight"`        // opened, connect push not yet received (gauge)
	ConnectErrors   uint64 `json:"connect_errors"`   // failed before the connect push (socket, refused, reset, EOF, bad framing)
	ConnectTimeouts uint64 `json:"connect_timeouts"` // no connect push within the timeout
	HTTPErrors      uint64 `json:"http_errors"`      // non-200 responses
	ServerClosed    uint64 `json:"server_closed"`    // streams the server (or the network) ended after the connect push
	Disconnects     uint64 `json:"disconnects"`      // disconnect pushes received
	Churned         uint64 `json:"churned"`          // streams the tool closed on purpose (churn)
	Pubs            uint64 `json:"pubs"`             // distinct publications received
	Dups            uint64 `json:"dups"`             // publications received again
	Reorders        uint64 `json:"reorders"`         // publications received after a later one
	Stale           uint64 `json:"stale"`            // arrivals too far behind to tell dup from reorder
	Foreign         uint64 `json:"foreign"`          // events that are not the bench's (other pushes, unknown publisher)
	Pings           uint64 `json:"pings"`
	Bytes           uint64 `json:"bytes"` // bytes read
	Reads           uint64 `json:"reads"` // read(2) calls that returned data
	// Recovering connections (Config.Recover): connect pushes that held
	// the expected recovery, those that did not, and their bytes.
	Recovered     uint64 `json:"recovered,omitempty"`
	RecoverFailed uint64 `json:"recover_failed,omitempty"`
	RecoverBytes  uint64 `json:"recover_bytes,omitempty"`
}

// Add adds o to c (gauges too: Loops' gauges sum to the Pool's).
func (c *Counters) Add(o *Counters) {
	c.Attempts += o.Attempts
	c.Connected += o.Connected
	c.Open += o.Open
	c.InFlight += o.InFlight
	c.ConnectErrors += o.ConnectErrors
	c.ConnectTimeouts += o.ConnectTimeouts
	c.HTTPErrors += o.HTTPErrors
	c.ServerClosed += o.ServerClosed
	c.Disconnects += o.Disconnects
	c.Churned += o.Churned
	c.Pubs += o.Pubs
	c.Dups += o.Dups
	c.Reorders += o.Reorders
	c.Stale += o.Stale
	c.Foreign += o.Foreign
	c.Pings += o.Pings
	c.Bytes += o.Bytes
	c.Reads += o.Reads
	c.Recovered += o.Recovered
	c.RecoverFailed += o.RecoverFailed
	c.RecoverBytes += o.RecoverBytes
}

// Errors is the total of everything that went wrong with a connection.
func (c *Counters) Errors() uint64 {
	return c.ConnectErrors + c.ConnectTimeouts + c.HTTPErrors + c.ServerClosed
}

// Delivery is the loss accounting: per connection and publisher, what was
// owed against what arrived.
type Delivery struct {
	// Expected: publications the connections should have received. For a
	// connection present before the first publish and still open at the
	// end (or closed by the server), all of 1..last published; for one that
	// joined midway or was closed by churn, the span it saw.
	Expected uint64 `json:"expected"`
	// Lost is Expected minus the distinct publications received.
	Lost           uint64 `json:"lost"`
	ConnsWithLoss  uint64 `json:"conns_with_loss"`
	MaxLostPerConn uint64 `json:"max_lost_per_conn"`
	// Final says whether Expected used the publishers' final sequences
	// (after a drain) or only the spans seen (no publish, or no drain).
	Final bool `json:"final"`
}

// Add merges o into d.
func (d *Delivery) Add(o *Delivery) {
	d.Expected += o.Expected
	d.Lost += o.Lost
	d.ConnsWithLoss += o.ConnsWithLoss
	d.MaxLostPerConn = max(d.MaxLostPerConn, o.MaxLostPerConn)
	d.Final = d.Final || o.Final
}

// Result is what a Loop or Pool reports when stopped.
type Result struct {
	Counters Counters          `json:"counters"`
	Delivery Delivery          `json:"delivery"`
	Errors   map[string]uint64 `json:"errors,omitempty"` // reason → count
	Latency  hist.Hist         `json:"latency"`          // publish→receive, ns
	Connect  hist.Hist         `json:"connect"`          // connect() → connect push, ns
	// ReadLag is, per read, the kernel's receive time to the read: how long
	// data waited for this tool (with KernelTimestamps), ns.
	ReadLag hist.Hist `json:"read_lag"`
	Drained bool      `json:"drained"` // every stream got the final sequences before Stop
	// Windows splits Latency by the publications' send time at the
	// boundaries given to SetWindow: Windows[k] holds those sent after k
	// boundaries. Empty when no boundary was set.
	Windows []hist.Hist `json:"windows,omitempty"`
	// FirstAttempt and LastConnect are the wall-clock times (unix ns) of
	// the first connect() and of the last connect push received (its
	// kernel receive time); 0 when none.
	FirstAttempt int64 `json:"first_attempt,omitempty"`
	LastConnect  int64 `json:"last_connect,omitempty"`
}

// Merge adds o into r.
func (r *Result) Merge(o *Result) {
	r.Counters.Add(&o.Counters)
	r.Delivery.Add(&o.Delivery)
	if len(o.Errors) > 0 && r.Errors == nil {
		r.Errors = make(map[string]uint64, len(o.Errors))
	}
	for k, v := range o.Errors {
		r.Errors[k] += v
	}
	r.Latency.Merge(&o.Latency)
	r.Connect.Merge(&o.Connect)
	r.ReadLag.Merge(&o.ReadLag)
	r.Drained = r.Drained && o.Drained
	for len(r.Windows) < len(o.Windows) {
		r.Windows = append(r.Windows, hist.Hist{})
	}
	for k := range o.Windows {
		r.Windows[k].Merge(&o.Windows[k])
	}
	if o.FirstAttempt != 0 && (r.FirstAttempt == 0 || o.FirstAttempt < r.FirstAttempt) {
		r.FirstAttempt = o.FirstAttempt
	}
	r.LastConnect = max(r.LastConnect, o.LastConnect)
}

// Clone returns a deep copy.
func (r *Result) Clone() *Result {
	c := *r
	c.Errors = maps.Clone(r.Errors)
	c.Windows = slices.Clone(r.Windows)
	return &c
}

// MergeAll merges results into a new one; Drained only if every one drained.
func MergeAll(rs []*Result) *Result {
	if len(rs) == 0 {
		return &Result{}
	}
	out := rs[0].Clone()
	for _, r := range rs[1:] {
		out.Merge(r)
	}
	return out
}
