package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/unisse/unisse/bench/hist"
	"github.com/unisse/unisse/bench/payload"
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("publish: bad config")

// Config is what to publish, where, and how fast.
type Config struct {
	// API is the base URL of the server API, e.g. http://127.0.0.1:8000/api.
	// More bases (the nodes of a cluster) go in Nodes: publisher w then
	// publishes through the (w mod n)th of API, Nodes….
	API    string
	Nodes  []string
	APIKey string // sent as X-API-Key; empty for an insecure API
	// Broadcast uses /api/broadcast with one group of channels per call;
	// otherwise /api/publish with one channel per call (GroupSize 1).
	Broadcast  bool
	Channels   []string // every channel, by number
	GroupSize  int      // channels per group; group g is channels [g·GroupSize, (g+1)·GroupSize)
	Publishers int
	Rate       float64 // calls per second over all publishers; 0 = as fast as possible
	Size       int     // payload bytes
	Duration   time.Duration
	MaxCalls   int           // bound on calls in total; 0 = Duration only
	Timeout    time.Duration // per call
	// Log keeps every call in Result.Log (for runs of a few thousand calls).
	Log bool
}

// Call is one call in Result.Log.
type Call struct {
	Sent int64 `json:"sent"` // unix ns, the time in its payload
	Took int64 `json:"took"` // ns, to the reply (or the error)
	// Late is how far behind its schedule it was sent, ns (paced runs).
	Late int64 `json:"late"`
}

// Groups is the number of publish groups.
func (c *Config) Groups() int { return (len(c.Channels) + c.GroupSize - 1) / c.GroupSize }

// Result is what a Run did.
type Result struct {
	Calls     uint64            `json:"calls"`     // calls that published
	Refused   uint64            `json:"refused"`   // calls the server refused (nothing published)
	Uncertain uint64            `json:"uncertain"` // calls with unknown or partial outcome
	Errors    map[string]uint64 `json:"errors,omitempty"`
	Latency   hist.Hist         `json:"latency"` // call latency, ns
	// Finals[w][g] is publisher w's last sequence in group g.
	Finals  [][]uint32    `json:"-"`
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"` // first call to last reply
	// Behind is how far behind its schedule the most late paced call was
	// sent (0 for unpaced runs): the publishers or the API could not keep up.
	Behind time.Duration `json:"behind_ns"`
	// Log is every call, by publisher then time, with Config.Log.
	Log []Call `json:"-"`
}

// Publisher runs the publishers of one Config.
type Publisher struct {
	cfg     Config
	clients []*fasthttp.HostClient // per API base
	uris    []string               // per API base: the method's URI
	prefix  [][]byte               // per group: the body up to the payload
	sent    atomic.Uint64
	started atomic.Bool
}

// New checks cfg and prepares the bodies and the HTTP client.
func New(cfg Config) (*Publisher, error) {
	switch {
	case len(cfg.Channels) == 0 || cfg.GroupSize < 1 || cfg.Publishers < 1 || cfg.Publishers > 1<<16:
		return nil, fmt.Errorf("%w: %d channels, group size %d, %d publishers", ErrConfig, len(cfg.Channels), cfg.GroupSize, cfg.Publishers)
	case !cfg.Broadcast && cfg.GroupSize != 1:
		return nil, fmt.Errorf("%w: /api/publish takes one channel per call", ErrConfig)
	case cfg.Duration <= 0 || cfg.Timeout <= 0:
		return nil, fmt.Errorf("%w: duration %v, timeout %v", ErrConfig, cfg.Duration, cfg.Timeout)
	}
	method := "/publish"
	if cfg.Broadcast {
		method = "/broadcast"
	}
	p := &Publisher{cfg: cfg}
	apis := append([]string{cfg.API}, cfg.Nodes...)
	for i, api := range apis {
		u, err := url.Parse(api)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%w: api %q: %w", ErrConfig, api, err)
		case u.Scheme != "http" || u.Host == "":
			return nil, fmt.Errorf("%w: api %q: want http://host:port/prefix", ErrConfig, api)
		}
		// Publishers i, i+n, i+2n… use this base: one keep-alive
		// connection each.
		conns := (cfg.Publishers - i + len(apis) - 1) / len(apis)
		p.clients = append(p.clients, &fasthttp.HostClient{
			Addr:                u.Host,
			MaxConns:            max(conns, 1),
			ReadTimeout:         cfg.Timeout,
			WriteTimeout:        cfg.Timeout,
			MaxIdleConnDuration: time.Minute,
		})
		p.uris = append(p.uris, strings.TrimSuffix(api, "/")+method)
	}
	for g := range cfg.Groups() {
		chans := cfg.Channels[g*cfg.GroupSize : min((g+1)*cfg.GroupSize, len(cfg.Channels))]
		var b bytes.Buffer
		if cfg.Broadcast {
			names, _ := json.Marshal(chans)
			b.WriteString(`{"channels":`)
			b.Write(names)
		} else {
			name, _ := json.Marshal(chans[0])
			b.WriteString(`{"channel":`)
			b.Write(name)
		}
		b.WriteString(`,"data":`)
		p.prefix = append(p.prefix, b.Bytes())
	}
	return p, nil
}

// Sent is the number of calls answered so far (any outcome). Safe from any
// goroutine.
func (p *Publisher) Sent() uint64 { return p.sent.Load() }

// worker is one publisher's state.
type worker struct {
	w       int
	seqs    []uint32
	next    int // next group
	lat     hist.Hist
	errs    map[string]uint64
	calls   uint64
	refused uint64
	unsure  uint64
	behind  time.Duration
	log     []Call
	first   time.Time
	last    time.Time
}

// Run publishes until the duration or MaxCalls is reached or ctx ends.
func (p *Publisher) Run(ctx context.Context) *Result {
	cfg := &p.cfg
	var ticket atomic.Int64
	start := time.Now()
	end := start.Add(cfg.Duration)
	ws := make([]*worker, cfg.Publishers)
	var wg sync.WaitGroup
	for w := range ws {
		wk := &worker{w: w, seqs: make([]uint32, cfg.Groups()), next: w * cfg.Groups() / cfg.Publishers, errs: map[string]uint64{}}
		ws[w] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.loop(ctx, wk, &ticket, start, end)
		}()
	}
	wg.Wait()
	r := &Result{Started: start, Errors: map[string]uint64{}}
	var first, last time.Time
	for _, wk := range ws {
		r.Calls += wk.calls
		r.Refused += wk.refused
		r.Uncertain += wk.unsure
		r.Latency.Merge(&wk.lat)
		for k, v := range wk.errs {
			r.Errors[k] += v
		}
		r.Finals = append(r.Finals, wk.seqs)
		r.Behind = max(r.Behind, wk.behind)
		r.Log = append(r.Log, wk.log...)
		if !wk.first.IsZero() && (first.IsZero() || wk.first.Before(first)) {
			first = wk.first
		}
		if wk.last.After(last) {
			last = wk.last
		}
	}
	if !first.IsZero() {
		r.Started, r.Elapsed = first, last.Sub(first)
	}
	return r
}

func (p *Publisher) loop(ctx context.Context, wk *worker, ticket *atomic.Int64, start, end time.Time) {
	cfg := &p.cfg
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	node := wk.w % len(p.clients)
	client := p.clients[node]
	req.SetRequestURI(p.uris[node])
	req.Header.SetContentType("application/json")
	if cfg.APIKey != "" {
		req.Header.Set("X-API-Key", cfg.APIKey)
	}
	body := make([]byte, 0, 256+cfg.Size)
	groups := cfg.Groups()
	for ctx.Err() == nil {
		var at time.Time
		i := ticket.Add(1) - 1
		if cfg.MaxCalls > 0 && i >= int64(cfg.MaxCalls) {
			return
		}
		if cfg.Rate > 0 {
			at = start.Add(time.Duration(float64(i) / cfg.Rate * 1e9))
			if !at.Before(end) || !time.Now().Before(end) {
				return // past the schedule or the duration: a run is never longer than asked
			}
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			} else {
				wk.behind = max(wk.behind, -d)
			}
		} else if !time.Now().Before(end) {
			return
		}
		g := wk.next
		wk.next = (wk.next + 1) % groups
		seq := wk.seqs[g] + 1
		sentAt := time.Now()
		body = append(body[:0], p.prefix[g]...)
		body = payload.Append(body, uint16(wk.w), seq, sentAt.UnixNano(), cfg.Size)
		body = append(body, '}')
		req.SetBodyRaw(body)
		err := client.DoTimeout(req, resp, cfg.Timeout)
		done := time.Now()
		p.sent.Add(1)
		wk.lat.Record(int64(done.Sub(sentAt)))
		if cfg.Log {
			c := Call{Sent: sentAt.UnixNano(), Took: int64(done.Sub(sentAt))}
			if !at.IsZero() {
				// On the wall clock, as Sent: Sent-Late is then the
				// scheduled time exactly (the monotonic clock and the
				// wall clock may drift or step apart during a run).
				c.Late = max(0, int64(sentAt.Round(0).Sub(at.Round(0))))
			}
			wk.log = append(wk.log, c)
		}
		if wk.first.IsZero() {
			wk.first = sentAt
		}
		wk.last = done
		switch {
		case err != nil:
			wk.errs["call: "+err.Error()]++
			wk.unsure++
			wk.seqs[g] = seq
		case resp.StatusCode() != fasthttp.StatusOK:
			wk.errs[fmt.Sprintf("status %d", resp.StatusCode())]++
			wk.refused++
		case bytes.Contains(resp.Body(), []byte(`"error"`)):
			wk.errs["error reply: "+firstLine(resp.Body())]++
			if cfg.Broadcast {
				wk.unsure++
				wk.seqs[g] = seq
			} else {
				wk.refused++
			}
		default:
			wk.calls++
			wk.seqs[g] = seq
		}
	}
}

func firstLine(b []byte) string {
	if len(b) > 120 {
		b = b[:120]
	}
	return string(b)
}
