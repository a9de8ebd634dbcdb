package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Mode is what a run does with its connections.
type Mode string

// Modes.
const (
	Idle      Mode = "idle"      // connect, hold, measure memory and connect latency
	Broadcast Mode = "broadcast" // one channel, publish to it
	Channels  Mode = "channels"  // connections spread over channels, publishes spread over them
	Churn     Mode = "churn"     // broadcast while closing and reopening connections
	// Recovery: broadcast to live subscribers while a storm of connections
	// recovers a channel's history in their connect pushes.
	Recovery Mode = "recovery"
)

// Modes lists every mode in the order the CLI shows them.
var Modes = []Mode{Idle, Broadcast, Channels, Churn, Recovery}

// HistoryNamespace is where recovery mode's history channel lives:
// hist:<Channel>, a namespace with history and force_recovery
// (bench/config.json).
const HistoryNamespace = "hist"

// ErrConfig is wrapped by Validate's errors.
var ErrConfig = errors.New("bench: bad config")

// Config is one run. Defaults (Default) live in one place; the CLI fills the
// same struct from flags.
type Config struct {
	Mode Mode `json:"mode"`
	// URL is the uni_sse endpoint, http://<IPv4 or localhost>:<port>/<path>,
	// or several (the nodes of a cluster) separated by commas: each
	// channel's subscribers are spread round-robin over them.
	URL string `json:"url"`
	// API is the server API base (…/api), or several separated by commas:
	// publisher k publishes through the (k mod n)th. APIKey is its key
	// (X-API-Key), empty for an insecure API.
	API    string `json:"api"`
	APIKey string `json:"-"`
	// Secret signs HS256 connection tokens (sub, channels, exp); empty
	// means an insecure server: channels are requested in cf_connect subs.
	Secret string `json:"-"`
	// Channel is the channel name, or in channels mode the prefix of
	// <Channel>-<i>. Recovery mode recovers hist:<Channel>.
	Channel string `json:"channel"`

	Conns       int     `json:"conns"`         // subscriber connections
	NumChannels int     `json:"channels"`      // channels mode: how many channels
	UseBcastAPI bool    `json:"broadcast_api"` // channels mode: /api/broadcast instead of /api/publish
	GroupSize   int     `json:"group_size"`    // channels per /api/broadcast call
	Rate        float64 `json:"rate"`          // publish calls per second; 0 = as fast as possible
	Publishers  int     `json:"publishers"`    // concurrent publisher goroutines (keep-alive connections)
	Size        int     `json:"size"`          // payload bytes
	MaxCalls    int     `json:"max_calls"`     // bound on publish calls; 0 = duration only

	Duration       time.Duration `json:"duration_ns"`        // hold (idle) or publish time
	ConnectRate    float64       `json:"connect_rate"`       // new connections per second; 0 = unpaced
	MaxInFlight    int           `json:"max_in_flight"`      // connects awaiting their connect push
	ConnectTimeout time.Duration `json:"connect_timeout_ns"` // per connection
	ChurnRate      float64       `json:"churn_rate"`         // churn: closes+reopens per second
	Drain          time.Duration `json:"drain_ns"`           // max wait for deliveries after publishing
	CallTimeout    time.Duration `json:"call_timeout_ns"`    // per publish call
	Timeout        time.Duration `json:"timeout_ns"`         // whole run; 0 = derived from the others

	// Recovery mode: RecoverConns connections recover History publications
	// of hist:<Channel> (at ConnectRate, MaxInFlight at once) after a
	// Baseline window of live delivery; After is the window measured once
	// they are all connected. Zero in the other modes.
	RecoverConns int           `json:"recover_conns,omitempty"`
	History      int           `json:"history,omitempty"`
	Baseline     time.Duration `json:"baseline_ns,omitempty"`
	After        time.Duration `json:"after_ns,omitempty"`

	Addrs          int    `json:"addrs"`            // loopback source addresses 127.0.0.1…; 0 = auto
	Workers        int    `json:"workers"`          // worker processes; 0 = auto (none when one process suffices)
	Loops          int    `json:"loops"`            // epoll loops (threads) per process
	ConnsPerWorker int    `json:"conns_per_worker"` // 0 = from the open-file limit
	Seed           uint64 `json:"seed"`
	// KernelTimestamps measures publish→receive to the kernel's receive
	// time of the data (SO_TIMESTAMPNS) instead of to the tool's read, so
	// that the tool's own read queue is not counted as server latency.
	KernelTimestamps bool `json:"kernel_timestamps"`

	ServerPID int `json:"server_pid,omitempty"` // sample CPU and memory of this process
	// ServerPIDs are a cluster's server processes, one per node, when
	// there are several (ServerPID is then the first): the report has each
	// node and their sum, and charges the sum's CPU to delivered messages.
	ServerPIDs []int `json:"server_pids,omitempty"`
	// RedisPID is the Redis server the nodes share: its CPU is sampled
	// over the same windows and reported beside theirs.
	RedisPID   int    `json:"redis_pid,omitempty"`
	MetricsURL string `json:"metrics_url,omitempty"` // Prometheus endpoint with unisse's transport counters

	// Progress receives a status line every second (nil: none).
	Progress io.Writer `json:"-"`
	// WorkerCommand starts a worker; nil means this binary with WorkerFlag.
	WorkerCommand []string `json:"-"`
}

// Default returns the defaults for mode.
func Default(mode Mode) Config {
	c := Config{
		Mode:           mode,
		URL:            "http://127.0.0.1:8000/connection/uni_sse",
		API:            "http://127.0.0.1:8000/api",
		Channel:        "bench",
		Conns:          1000,
		NumChannels:    100,
		GroupSize:      10,
		Rate:           10,
		Publishers:     1,
		Size:           100,
		Duration:       10 * time.Second,
		ConnectRate:    2000,
		MaxInFlight:    256,
		ConnectTimeout: 10 * time.Second,
		ChurnRate:      100,
		Drain:          5 * time.Second,
		CallTimeout:    10 * time.Second,
		Loops:          1,
		// The tool reads thousands of sockets per loop one after another;
		// without kernel timestamps the last one read would be charged
		// for every read before it.
		KernelTimestamps: true,
	}
	if mode == Recovery {
		c.Rate = 50
		c.ConnectRate = 0 // the storm: as fast as the server takes them
		c.RecoverConns = 10000
		c.History = 300
		c.Baseline = 3 * time.Second
		c.After = 3 * time.Second
	}
	return c
}

// Validate checks c and fills derived values (GroupSize 1 with
// /api/publish, NumChannels 1 outside channels mode).
func (c *Config) Validate() error {
	switch c.Mode {
	case Idle, Broadcast, Channels, Churn, Recovery:
	default:
		return fmt.Errorf("%w: unknown mode %q", ErrConfig, c.Mode)
	}
	if c.Mode != Channels {
		c.NumChannels, c.GroupSize, c.UseBcastAPI = 1, 1, false
	} else if !c.UseBcastAPI {
		c.GroupSize = 1
	}
	switch len(c.ServerPIDs) {
	case 0:
	case 1:
		c.ServerPID, c.ServerPIDs = c.ServerPIDs[0], nil
	default:
		c.ServerPID = c.ServerPIDs[0]
	}
	if c.Mode != Recovery {
		c.RecoverConns, c.History, c.Baseline, c.After = 0, 0, 0, 0
	}
	switch {
	case len(c.URLs()) == 0 || c.publishes() && len(c.APIs()) == 0:
		return fmt.Errorf("%w: empty url or api", ErrConfig)
	case slices.ContainsFunc(c.ServerPIDs, func(pid int) bool { return pid <= 0 }) || c.ServerPID < 0 || c.RedisPID < 0:
		return fmt.Errorf("%w: server pids %v, redis pid %d", ErrConfig, c.pids(), c.RedisPID)
	case c.Conns < 1:
		return fmt.Errorf("%w: conns %d", ErrConfig, c.Conns)
	case c.Channel == "":
		return fmt.Errorf("%w: empty channel", ErrConfig)
	case c.NumChannels < 1 || c.GroupSize < 1 || c.GroupSize > c.NumChannels:
		return fmt.Errorf("%w: %d channels, group size %d", ErrConfig, c.NumChannels, c.GroupSize)
	case c.Rate < 0 || c.ConnectRate < 0 || c.ChurnRate < 0:
		return fmt.Errorf("%w: negative rate", ErrConfig)
	case c.Publishers < 1 || c.Publishers > 1024:
		return fmt.Errorf("%w: publishers %d (1…1024)", ErrConfig, c.Publishers)
	case c.Size < 0 || c.Size > 16<<20:
		return fmt.Errorf("%w: size %d", ErrConfig, c.Size)
	case c.Duration <= 0 || c.ConnectTimeout <= 0 || c.CallTimeout <= 0 || c.Drain < 0:
		return fmt.Errorf("%w: durations must be positive", ErrConfig)
	case c.MaxInFlight < 1 || c.Loops < 1 || c.Loops > 64 || c.Addrs < 0 || c.Addrs > 254 || c.Workers < 0 || c.ConnsPerWorker < 0:
		return fmt.Errorf("%w: in-flight %d, loops %d, addrs %d, workers %d", ErrConfig, c.MaxInFlight, c.Loops, c.Addrs, c.Workers)
	case c.Mode == Churn && c.ChurnRate == 0:
		return fmt.Errorf("%w: churn needs a churn rate", ErrConfig)
	case c.Mode == Recovery && (c.RecoverConns < 1 || c.History < 1):
		return fmt.Errorf("%w: recovery needs recovering connections and history (%d, %d)", ErrConfig, c.RecoverConns, c.History)
	case c.Mode == Recovery && (c.Baseline <= 0 || c.After <= 0):
		return fmt.Errorf("%w: recovery needs positive baseline and after windows", ErrConfig)
	case c.Mode == Recovery && c.MaxCalls > 0:
		return fmt.Errorf("%w: recovery publishes for the whole run: no max calls", ErrConfig)
	}
	return nil
}

// URLs is URL split at its commas: the uni_sse endpoints.
func (c *Config) URLs() []string { return splitList(c.URL) }

// APIs is API split at its commas: the API bases publishers use in turn.
func (c *Config) APIs() []string { return splitList(c.API) }

// pids are the server processes sampled: ServerPIDs, or ServerPID alone,
// or none.
func (c *Config) pids() []int {
	switch {
	case len(c.ServerPIDs) > 0:
		return c.ServerPIDs
	case c.ServerPID != 0:
		return []int{c.ServerPID}
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks around items
// and empty items.
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// publishes reports whether the mode publishes.
func (c *Config) publishes() bool { return c.Mode != Idle }

// hardTimeout is the bound on the whole run.
func (c *Config) hardTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	connect := c.ConnectTimeout
	if c.ConnectRate > 0 {
		connect += time.Duration(float64(c.Conns) / c.ConnectRate * float64(time.Second))
	}
	if c.Mode == Recovery {
		// No --duration: history, baseline, storm, after.
		history := c.CallTimeout + time.Duration(c.History)*10*time.Millisecond
		return connect + history + c.Baseline + c.stormBudget() + c.After + c.Drain + c.CallTimeout + 30*time.Second
	}
	return connect + c.Duration + c.Drain + c.CallTimeout + 30*time.Second
}

// stormBudget bounds recovery mode's storm: paced, the pacing plus the
// connect timeout; unpaced, 10 ms per connection (it normally takes a
// fraction of that).
func (c *Config) stormBudget() time.Duration {
	if c.ConnectRate > 0 {
		return c.ConnectTimeout + 5*time.Second + time.Duration(float64(c.RecoverConns)/c.ConnectRate*float64(time.Second))
	}
	return c.ConnectTimeout + 5*time.Second + time.Duration(c.RecoverConns)*10*time.Millisecond
}
