package bench

import (
	"time"

	"github.com/unisse/unisse/bench/hist"
	"github.com/unisse/unisse/bench/probe"
)

// Report is everything a run measured. It is what --json prints and what
// the summary, HTML and SVG outputs are made from.
type Report struct {
	Tool     string          `json:"tool"`
	Mode     Mode            `json:"mode"`
	Config   Config          `json:"config"`
	Machine  Machine         `json:"machine"`
	Started  time.Time       `json:"started"`
	Elapsed  time.Duration   `json:"elapsed_ns"`
	Workers  int             `json:"workers"` // worker processes (0: all in the coordinator)
	Sources  int             `json:"sources"` // loopback source addresses used
	Notes    []string        `json:"notes,omitempty"`
	Conns    ConnReport      `json:"connections"`
	Delivery *DeliveryReport `json:"delivery,omitempty"`
	Publish  *PublishReport  `json:"publish,omitempty"`
	Server   *ServerReport   `json:"server,omitempty"`
	// Nodes are a cluster's server processes one by one (Server is then
	// their sum); absent with one server.
	Nodes []ServerReport `json:"nodes,omitempty"`
	// Redis is the Redis server the nodes share (Config.RedisPID): its
	// memory and CPU over the same windows as Server's; the fields about
	// connections stay zero.
	Redis    *ServerReport   `json:"redis,omitempty"`
	Kernel   KernelReport    `json:"kernel"`
	Writes   *WritesReport   `json:"events_per_write,omitempty"`
	Recovery *RecoveryReport `json:"recovery,omitempty"`
	Self     SelfReport      `json:"tool_usage"`
	Timeline []Sample        `json:"timeline"`
	// The histograms the percentiles come from (ns), for charts.
	LatencyHist hist.Hist `json:"latency_hist"`
	ConnectHist hist.Hist `json:"connect_hist"`
	CallHist    hist.Hist `json:"call_hist"`
}

// Machine says where the figures were measured.
type Machine struct {
	Cores    int    `json:"cores"`
	Kernel   string `json:"kernel"`
	Hostname string `json:"hostname"`
	Go       string `json:"go"`
}

// Percentiles of a latency histogram, in microseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

func percentiles(h *hist.Hist) Percentiles {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Percentiles{
		Count: h.Count(),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.Quantile(0.5)),
		P90:   us(h.Quantile(0.9)),
		P99:   us(h.Quantile(0.99)),
		P999:  us(h.Quantile(0.999)),
		Max:   us(h.Max()),
	}
}

// ConnReport is about the subscriber connections.
type ConnReport struct {
	Target           int               `json:"target"`
	Attempts         uint64            `json:"attempts"`
	Connected        uint64            `json:"connected"` // connect pushes received (churn: includes reconnects)
	OpenAfterConnect uint64            `json:"open_after_connect"`
	OpenAtEnd        uint64            `json:"open_at_end"`
	ConnectPhase     time.Duration     `json:"connect_phase_ns"` // first connect to the last connect push
	ConnectRate      float64           `json:"connect_rate"`     // achieved, per second
	Latency          Percentiles       `json:"latency"`          // connect() → connect push
	ConnectErrors    uint64            `json:"connect_errors"`
	ConnectTimeouts  uint64            `json:"connect_timeouts"`
	HTTPErrors       uint64            `json:"http_errors"`
	ServerClosed     uint64            `json:"server_closed"`
	Disconnects      uint64            `json:"disconnect_pushes"`
	Churned          uint64            `json:"churned"`
	Pings            uint64            `json:"pings"`
	Errors           map[string]uint64 `json:"errors,omitempty"`
}

// DeliveryReport is about publications received.
type DeliveryReport struct {
	Expected       uint64        `json:"expected"`
	Delivered      uint64        `json:"delivered"`
	Lost           uint64        `json:"lost"`
	Dups           uint64        `json:"dups"`
	Reorders       uint64        `json:"reorders"`
	Stale          uint64        `json:"stale"`
	Foreign        uint64        `json:"foreign"`
	ConnsWithLoss  uint64        `json:"conns_with_loss"`
	MaxLostPerConn uint64        `json:"max_lost_per_conn"`
	Drained        bool          `json:"drained"`   // every subscriber got everything before the drain time ran out
	DrainTime      time.Duration `json:"drain_ns"`  // after the last publish
	Window         time.Duration `json:"window_ns"` // first publish to end of drain
	Rate           float64       `json:"rate"`      // delivered per second over Window
	Latency        Percentiles   `json:"latency"`   // publish (send time in payload) → receive
	// ReadLag is the tool's own delay: kernel receive time → read, per
	// read (with kernel timestamps). Large values mean the tool was busy.
	ReadLag Percentiles `json:"read_lag"`
	Bytes   uint64      `json:"bytes_read"` // by the subscribers, headers included
}

// PublishReport is about the API calls.
type PublishReport struct {
	Calls     uint64            `json:"calls"`
	Refused   uint64            `json:"refused"`
	Uncertain uint64            `json:"uncertain"`
	Elapsed   time.Duration     `json:"elapsed_ns"`
	Rate      float64           `json:"rate"` // calls per second achieved
	Behind    time.Duration     `json:"behind_ns"`
	Latency   Percentiles       `json:"latency"`
	Errors    map[string]uint64 `json:"errors,omitempty"`
}

// ServerReport is the server process as seen through /proc, or a cluster's
// nodes added up (PIDs; see sumProcs).
type ServerReport struct {
	PID            int           `json:"pid"`
	PIDs           []int         `json:"pids,omitempty"`   // a cluster's nodes, summed here
	Before         probe.Proc    `json:"before"`           // before connecting
	Connected      probe.Proc    `json:"connected"`        // all connected
	End            probe.Proc    `json:"end"`              // after hold / drain
	RSSPerConn     float64       `json:"rss_per_conn"`     // (connected − before) / open, bytes
	RSSPerConnEnd  float64       `json:"rss_per_conn_end"` // (end − before) / open
	CPUPerConnect  float64       `json:"cpu_per_connect_us"`
	PublishCPU     time.Duration `json:"publish_cpu_ns"`             // over the delivery window
	CPUPerMessage  float64       `json:"cpu_per_message_us"`         // per delivered message (not in recovery mode)
	CPUUtilization float64       `json:"cpu_utilization"`            // cores busy over the delivery window
	ChurnRSSGrowth int64         `json:"churn_rss_growth,omitempty"` // end − connected, churn mode
}

// KernelReport is the kernel's socket memory, system-wide (both ends of
// each loopback connection, client and server).
type KernelReport struct {
	SlabBefore    uint64  `json:"slab_before"`
	SlabConnected uint64  `json:"slab_connected"`
	SlabPerSocket float64 `json:"slab_per_socket"` // Δslab / (2 × open)
	TCPMemBefore  uint64  `json:"tcp_mem_before"`
	TCPMemPeak    uint64  `json:"tcp_mem_peak"` // socket buffers queued, at the samples
}

// WritesReport is unisse's events per write(2) over the delivery window.
type WritesReport struct {
	Events float64 `json:"events"`
	Writes float64 `json:"writes"`
	Ratio  float64 `json:"ratio"`
}

// SelfReport is the tool's own cost: coordinator plus workers.
type SelfReport struct {
	CPU           time.Duration `json:"cpu_ns"`
	CPUPerMessage float64       `json:"cpu_per_message_us,omitempty"` // whole run's CPU per delivered message (not in recovery mode)
	MaxRSS        uint64        `json:"max_rss"`                      // sum of the processes' peaks
	Processes     int           `json:"processes"`
}

// Sample is one point of the timeline, taken every second.
type Sample struct {
	T         float64 `json:"t"` // seconds since the start
	Open      uint64  `json:"open"`
	Connected uint64  `json:"connected"`
	Delivered uint64  `json:"delivered"` // cumulative
	Published uint64  `json:"published"` // cumulative calls
	Errors    uint64  `json:"errors"`    // cumulative
	// Recovery mode: the recovering connections open, and their connect
	// pushes with the expected recovery so far (Open and the other
	// counters are the live subscribers').
	RecoverOpen uint64  `json:"recover_open,omitempty"`
	Recovered   uint64  `json:"recovered,omitempty"`
	ServerRSS   uint64  `json:"server_rss,omitempty"`
	ServerCPU   float64 `json:"server_cpu,omitempty"` // cores busy since the previous sample (nodes: their sum)
	// NodeCPU is each node's cores busy, with several nodes; RedisCPU
	// Redis's, with Config.RedisPID.
	NodeCPU  []float64 `json:"node_cpu,omitempty"`
	RedisCPU float64   `json:"redis_cpu,omitempty"`
}

// RecoveryReport is recovery mode's storm: connections recovering a
// channel's history in their connect pushes while live subscribers are
// being published to.
type RecoveryReport struct {
	Channel string `json:"channel"`
	Epoch   string `json:"epoch"`
	From    uint64 `json:"from_offset"` // recovered from: publications From+1…From+History
	History int    `json:"history"`
	// HistoryPublish is the time taken to publish the history.
	HistoryPublish time.Duration `json:"history_publish_ns"`

	Target          int    `json:"target"`
	Attempts        uint64 `json:"attempts"`
	Connected       uint64 `json:"connected"` // connect pushes received
	Recovered       uint64 `json:"recovered"` // of which held the expected recovery
	Failed          uint64 `json:"failed"`    // of which did not (Errors says why)
	ConnectErrors   uint64 `json:"connect_errors"`
	ConnectTimeouts uint64 `json:"connect_timeouts"`
	HTTPErrors      uint64 `json:"http_errors"`
	ServerClosed    uint64 `json:"server_closed"`
	Disconnects     uint64 `json:"disconnect_pushes"`
	// Errors by reason, recovery failures as "recovery: <problem>".
	Errors map[string]uint64 `json:"errors,omitempty"`
	// Duration is the storm: first connect() to the last connect push.
	Duration time.Duration `json:"duration_ns"`
	Rate     float64       `json:"rate"` // connect pushes per second over Duration
	// Latency is connect() to the end of the connect push.
	Latency   Percentiles `json:"connect_latency"`
	PushBytes uint64      `json:"push_bytes"` // data of the connect pushes, in all
	BytesRead uint64      `json:"bytes_read"` // by the recovering connections, HTTP head and framing included

	// Live delivery latency, by the publications' send time.
	Baseline LiveWindow `json:"baseline"` // before the storm
	Storm    LiveWindow `json:"storm"`    // from its start until its end was seen
	After    LiveWindow `json:"after"`    // after it, until publishing stops

	Server *StormServer `json:"server,omitempty"`
	// ToolCPU is this tool's own CPU during the storm (the server shares
	// the machine with it), when no worker process is involved.
	ToolCPU         time.Duration `json:"tool_cpu_ns,omitempty"`
	ToolUtilization float64       `json:"tool_utilization,omitempty"` // cores

	ConnectHist hist.Hist `json:"connect_hist"` // ns
}

// LiveWindow is live delivery latency for publications sent in a window,
// and the publish calls sent in it.
type LiveWindow struct {
	Start   float64       `json:"start"` // seconds since the run's start
	Length  time.Duration `json:"length_ns"`
	Latency Percentiles   `json:"latency"`
	Hist    hist.Hist     `json:"hist"` // ns
	// Published is the publish calls sent in the window, at PublishRate;
	// CallLatency their API latency; Behind how far behind its schedule
	// the latest was sent (a publisher waits for each reply: an API that
	// stalls delays the next publications, which then go out in a burst).
	Published   uint64        `json:"published"`
	PublishRate float64       `json:"publish_rate"`
	CallLatency Percentiles   `json:"call_latency"`
	Behind      time.Duration `json:"behind_ns"`
}

// StormServer is the server process over the storm.
type StormServer struct {
	Wall        time.Duration `json:"wall_ns"` // storm start to its end seen
	CPU         time.Duration `json:"cpu_ns"`
	Utilization float64       `json:"utilization"` // cores
	// BaselineUtilization is the cores busy in the baseline window (live
	// delivery alone), BaselineCPU that CPU, BaselinePerDelivery it per
	// live delivery in the window (µs).
	BaselineUtilization float64       `json:"baseline_utilization"`
	BaselineCPU         time.Duration `json:"baseline_cpu_ns"`
	BaselinePerDelivery float64       `json:"baseline_cpu_per_delivery_us"`
	CPUPerConnect       float64       `json:"cpu_per_connect_us"` // CPU / connect pushes
	// NetCPUPerConnect charges the recovering connects only with the CPU
	// left once the storm window's live deliveries are charged at the
	// baseline's cost per delivery.
	NetCPUPerConnect float64 `json:"net_cpu_per_connect_us"`
	RSSBefore        uint64  `json:"rss_before"` // at the storm's start
	RSSAfter         uint64  `json:"rss_after"`  // once it ended
	RSSGrowth        int64   `json:"rss_growth"`
	RSSPerConn       float64 `json:"rss_per_conn"` // growth / connect pushes, bytes
}
