package bench

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/unisse/unisse/bench/client"
	"github.com/unisse/unisse/bench/recovery"
	"github.com/unisse/unisse/bench/token"
)

// connsPerSource bounds connections per source address: the ephemeral port
// range (32768–60999 by default) allows ~28k per source and destination.
const connsPerSource = 20000

// fileReserve is descriptors a process keeps for everything but subscribers.
const fileReserve = 64

// plan is a Config turned into what the workers and publishers need.
type plan struct {
	cfg      *Config
	urls     []*url.URL       // the uni_sse endpoints (cluster nodes), in --url order
	servers  []netip.AddrPort // their addresses
	expires  time.Time        // of the connection tokens
	deadline time.Time        // when workers stop by themselves
	sources  []netip.Addr
	channels []string
	requests [][]byte      // by server, then channel (client.Config.Requests)
	parts    []workerStart // one per worker; a single local one when workers is 0
	procs    int           // worker processes (0: parts[0] runs in this process)
	// Recovery mode's storm: its connections are in worker processes too
	// when stormProcs > 0 (see stormParts).
	stormProcs int
}

func makePlan(cfg *Config) (*plan, error) {
	p := &plan{cfg: cfg}
	for _, raw := range cfg.URLs() {
		u, server, err := parseEndpoint(raw)
		if err != nil {
			return nil, err
		}
		p.urls = append(p.urls, u)
		p.servers = append(p.servers, server)
	}
	if len(p.urls) == 0 {
		return nil, fmt.Errorf("%w: no url", ErrConfig)
	}
	loopback := true
	for _, s := range p.servers {
		loopback = loopback && s.Addr().IsLoopback()
	}

	total := cfg.Conns + cfg.RecoverConns
	nsrc := cfg.Addrs
	if nsrc == 0 {
		nsrc = (total + connsPerSource - 1) / connsPerSource
	}
	if nsrc > 1 && !loopback {
		return nil, fmt.Errorf("%w: several source addresses need loopback servers", ErrConfig)
	}
	for i := range nsrc {
		if loopback {
			p.sources = append(p.sources, netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}))
		} else {
			p.sources = append(p.sources, netip.IPv4Unspecified())
		}
	}

	if cfg.Mode == Channels {
		for i := range cfg.NumChannels {
			p.channels = append(p.channels, cfg.Channel+"-"+strconv.Itoa(i))
		}
	} else {
		p.channels = []string{cfg.Channel}
	}
	p.expires = time.Now().Add(max(24*time.Hour, 2*cfg.hardTimeout()))
	p.deadline = time.Now().Add(cfg.hardTimeout() + time.Minute)
	for _, u := range p.urls { // client.Config.Requests: by server, then channel
		for _, ch := range p.channels {
			req, err := connectRequest(u, cfg.Secret, ch, p.expires, nil)
			if err != nil {
				return nil, err
			}
			p.requests = append(p.requests, req)
		}
	}

	capacity := cfg.ConnsPerWorker
	if capacity == 0 {
		capacity = int(raiseFileLimit()) - fileReserve
	}
	capacity = max(capacity, 1)
	p.procs, p.stormProcs = cfg.Workers, 0
	if cfg.RecoverConns > 0 {
		p.stormProcs = cfg.Workers
	}
	// Everything in this process if it fits (the storm's connections
	// included); else each set in its own worker processes.
	if cfg.Workers == 0 && total > capacity-cfg.Publishers {
		p.procs = (cfg.Conns + capacity - 1) / capacity
		p.stormProcs = (cfg.RecoverConns + capacity - 1) / capacity
	}
	p.parts = p.split(0, cfg.Conns, p.procs, p.requests, cfg.GroupSize, nil)
	return p, nil
}

// parseEndpoint checks one uni_sse endpoint, http://<IPv4 or
// localhost>:<port>/<path>, and resolves its address.
func parseEndpoint(raw string) (*url.URL, netip.AddrPort, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: url %q: want http://127.0.0.1:port/connection/uni_sse", ErrConfig, raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is4() {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: url host %q: need an IPv4 address", ErrConfig, u.Hostname())
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: url port %q", ErrConfig, port)
	}
	return u, netip.AddrPortFrom(addr, uint16(pn)), nil
}

// split divides connections first…first+count−1 over max(procs, 1) parts.
func (p *plan) split(first, count, procs int, requests [][]byte, groupSize int, rec *recovery.Expect) []workerStart {
	cfg := p.cfg
	n := max(procs, 1)
	var parts []workerStart
	for k := range n {
		lo, hi := first+count*k/n, first+count*(k+1)/n
		parts = append(parts, workerStart{Loops: cfg.Loops, Deadline: p.deadline, Client: client.Config{
			Servers:          p.servers,
			Sources:          p.sources,
			First:            lo,
			Count:            hi - lo,
			Channels:         len(requests) / len(p.servers),
			GroupSize:        groupSize,
			Requests:         requests,
			Publishers:       cfg.Publishers,
			ConnectRate:      cfg.ConnectRate / float64(n),
			MaxInFlight:      max(1, cfg.MaxInFlight/n),
			ConnectTimeout:   cfg.ConnectTimeout,
			ChurnRate:        cfg.ChurnRate / float64(n),
			Seed:             cfg.Seed,
			KernelTimestamps: cfg.KernelTimestamps,
			Recover:          rec,
		}})
	}
	return parts
}

// stormParts is recovery mode's storm: cfg.RecoverConns connections (global
// indices after the live ones, so that source addresses keep alternating)
// that ask to recover exp.Channel from exp.From in exp.Epoch.
func (p *plan) stormParts(exp *recovery.Expect) ([]workerStart, error) {
	sub := map[string]any{"recover": true, "offset": exp.From, "epoch": exp.Epoch}
	var reqs [][]byte // one channel, on every server
	for _, u := range p.urls {
		req, err := connectRequest(u, p.cfg.Secret, exp.Channel, p.expires, sub)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, req)
	}
	return p.split(p.cfg.Conns, p.cfg.RecoverConns, p.stormProcs, reqs, 1, exp), nil
}

// connectRequest is the GET a subscriber on channel sends: a token with the
// channel in its channels claim, or (no secret: an insecure server) the
// channel in the connect request's subs. sub, when not nil, is the
// request's subs entry for the channel (recovery: recover, offset, epoch).
func connectRequest(u *url.URL, secret, channel string, exp time.Time, sub map[string]any) ([]byte, error) {
	connect := map[string]any{}
	if secret != "" {
		tok, err := token.Sign(secret, "bench", []string{channel}, exp)
		if err != nil {
			return nil, err
		}
		connect["token"] = tok
	}
	if secret == "" || sub != nil {
		if sub == nil {
			sub = map[string]any{}
		}
		connect["subs"] = map[string]any{channel: sub}
	}
	js, err := json.Marshal(connect)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	q := u.Query()
	q.Set("cf_connect", string(js))
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return []byte("GET " + path + "?" + q.Encode() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: unisse-bench\r\nAccept: text/event-stream\r\n\r\n"), nil
}

func workerArgv(cfg *Config) ([]string, error) {
	if len(cfg.WorkerCommand) > 0 {
		return cfg.WorkerCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: find own binary: %w", ErrWorker, err)
	}
	return []string{exe, WorkerFlag}, nil
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = string(trimNL(b))
	}
	return m
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
