package client

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/unisse/unisse/bench/recovery"
)

// Config is what a Loop or Pool holds and how.
type Config struct {
	// Servers are the uni_sse endpoints' IPv4 addresses and ports (the
	// nodes of a cluster, or one server). Connection i goes to
	// Servers[ServerOf(i)]: each channel's subscribers are spread
	// round-robin over them.
	Servers []netip.AddrPort `json:"servers"`
	// Sources are the local IPv4 addresses connections are bound to, used
	// round-robin by global index (127.0.0.1…127.0.0.N on loopback).
	Sources []netip.Addr `json:"sources"`
	// First and Count: the global indices of the connections held.
	First int `json:"first"`
	Count int `json:"count"`
	// Channels: connection i is on channel i mod Channels.
	Channels int `json:"channels"`
	// GroupSize: channel c belongs to publish group c / GroupSize; finals
	// (the last sequence per publisher and group) are given per group.
	GroupSize int `json:"group_size"`
	// Requests[s*Channels+c] is the whole HTTP request a connection on
	// channel c sends to Servers[s] (its Host header names that server).
	Requests [][]byte `json:"requests"`
	// Publishers is how many publishers (sequence streams) there are.
	Publishers int `json:"publishers"`
	// ConnectRate is connects started per second; 0 means no pacing (only
	// MaxInFlight bounds them).
	ConnectRate float64 `json:"connect_rate"`
	// MaxInFlight bounds connections opened but not yet past their connect
	// push, so that an unpaced start does not overflow the server's backlog.
	MaxInFlight int `json:"max_in_flight"`
	// ConnectTimeout bounds connect() to connect push.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// ChurnRate is connections closed and reopened per second once churn
	// is started (StartChurn); in churn mode connections the server closes
	// are reopened too.
	ChurnRate float64 `json:"churn_rate"`
	// KernelTimestamps reads with recvmsg and SO_TIMESTAMPNS and measures
	// latency to the kernel's receive time rather than to the read.
	KernelTimestamps bool `json:"kernel_timestamps"`
	// Seed makes churn's choice of victims reproducible.
	Seed uint64 `json:"seed"`
	// Recover makes every connection a recovering one: its request asks to
	// recover a channel, and its connect push, however long, is checked
	// against Recover as it arrives (package recovery).
	Recover *recovery.Expect `json:"recover,omitempty"`
}

// ErrConfig is wrapped by Validate's errors.
var ErrConfig = errors.New("client: bad config")

// Validate checks c.
func (c *Config) Validate() error {
	switch {
	case len(c.Servers) == 0:
		return fmt.Errorf("%w: no server", ErrConfig)
	case len(c.Sources) == 0:
		return fmt.Errorf("%w: no source address", ErrConfig)
	case c.Count < 0 || c.First < 0:
		return fmt.Errorf("%w: negative range", ErrConfig)
	case c.Channels < 1 || len(c.Requests) != c.Channels*len(c.Servers):
		return fmt.Errorf("%w: %d channels and %d servers, %d requests", ErrConfig, c.Channels, len(c.Servers), len(c.Requests))
	case c.GroupSize < 1 || c.Publishers < 1 || c.Publishers > 1<<16:
		return fmt.Errorf("%w: group size %d, publishers %d", ErrConfig, c.GroupSize, c.Publishers)
	case c.MaxInFlight < 1 || c.ConnectTimeout <= 0:
		return fmt.Errorf("%w: max in flight %d, connect timeout %v", ErrConfig, c.MaxInFlight, c.ConnectTimeout)
	}
	for _, s := range c.Servers {
		if !s.Addr().Is4() {
			return fmt.Errorf("%w: server %v is not IPv4", ErrConfig, s)
		}
	}
	for _, s := range c.Sources {
		if !s.Is4() {
			return fmt.Errorf("%w: source %v is not IPv4", ErrConfig, s)
		}
	}
	return nil
}

// ServerOf is the index in Servers of connection i's server. Connections
// i…i+Channels−1 cover every channel once, so consecutive such rounds go to
// consecutive servers: every channel gets its share of every server, also
// when Channels and len(Servers) have a common factor (i mod len(Servers)
// would then keep a channel off some servers).
func (c *Config) ServerOf(i int) int { return i / c.Channels % len(c.Servers) }

// Request is the request connection i sends.
func (c *Config) Request(i int) []byte {
	return c.Requests[c.ServerOf(i)*c.Channels+i%c.Channels]
}
