package limits

import (
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/unisse/unisse/engine/config"
)

// UserSlots counts each user's streams across the node, for
// client.user_connection_limit. Sharded so connects on different loops rarely
// meet; only used when the limit is set.
type UserSlots struct {
	seed   maphash.Seed
	shards [16]struct {
		mu sync.Mutex
		n  map[string]int
	}
}

// NewUserSlots returns an empty count.
func NewUserSlots() *UserSlots {
	u := &UserSlots{seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].n = make(map[string]int)
	}
	return u
}

// Acquire takes a slot for user unless the user already has limit streams.
// Safe from any goroutine.
func (u *UserSlots) Acquire(user string, limit int) bool {
	sh := &u.shards[maphash.String(u.seed, user)%uint64(len(u.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[user] >= limit {
		return false
	}
	sh.n[user]++
	return true
}

// Release gives a slot back. Safe from any goroutine.
func (u *UserSlots) Release(user string) {
	sh := &u.shards[maphash.String(u.seed, user)%uint64(len(u.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[user] <= 1 {
		delete(sh.n, user)
		return
	}
	sh.n[user]--
}

// Admission enforces client.connection_limit and client.connection_rate_limit
// on the uni_sse endpoint, as Centrifugo's ConnLimit middleware does in front
// of its connection handlers: a request over either limit is answered 503
// with an empty body, before CORS and before the connect request is looked at.
//
// Safe from any goroutine and lock-free: every loop admits connects at once,
// so the counters are atomics updated with compare-and-swap.
type Admission struct {
	// limit is client.connection_limit; 0: no limit.
	limit int64
	// held counts open streams plus admitted connects not finished yet. It is
	// taken at Admission rather than read from Server.numClients so that
	// connects racing on several loops cannot together pass the limit: a
	// connect holds its slot from the check until its stream ends (or it is
	// refused), which makes the limit exact.
	held atomic.Int64
	rate *connRate // nil: no rate limit

	log      *slog.Logger
	loggedAt atomic.Int64 // unix ns of the last "limit reached" warning

	refusedLimit, refusedRate *metrics.Counter
}

// limitLogEvery throttles the "connection limit reached" warning, as
// Centrifugo does (3 s), so that a flood of refused connects does not flood
// the log.
const limitLogEvery = 3 * time.Second

// NewAdmission returns nil when neither limit is set, so that the connect path
// then pays one nil check.
func NewAdmission(o *config.Client, log *slog.Logger, set *metrics.Set) *Admission {
	if o.ConnectionLimit <= 0 && o.ConnectionRateLimit <= 0 {
		return nil
	}
	a := &Admission{
		limit:        int64(max(o.ConnectionLimit, 0)),
		log:          log,
		refusedLimit: set.NewCounter("centrifugo_node_client_connection_limit"), // Centrifugo's name
		refusedRate:  set.NewCounter(`unisse_client_connections_refused_total{reason="connection_rate_limit"}`),
	}
	if o.ConnectionRateLimit > 0 {
		a.rate = newConnRate(o.ConnectionRateLimit, time.Second, time.Now())
	}
	return a
}

// Admit reports whether a connect may go on. On true the caller holds a slot
// (when a connection limit is set) and must give it back with Release once
// the connect fails or its stream ends. Like Centrifugo, the rate limit is
// checked first, and a request refused by the connection limit still spends
// its rate token.
func (a *Admission) Admit(now time.Time) (ok, slot bool) {
	if a.rate != nil && !a.rate.allow(now) {
		a.refusedRate.Inc()
		return false, false
	}
	if a.limit == 0 {
		return true, false
	}
	for {
		n := a.held.Load()
		if n >= a.limit {
			a.refusedLimit.Inc()
			a.warnLimit(now)
			return false, false
		}
		if a.held.CompareAndSwap(n, n+1) {
			return true, true
		}
	}
}

// Release gives back a slot Admit handed out.
func (a *Admission) Release() { a.held.Add(-1) }

// warnLimit logs that the node is full, at most once per limitLogEvery.
func (a *Admission) warnLimit(now time.Time) {
	t := now.UnixNano()
	prev := a.loggedAt.Load()
	if prev != 0 && t-prev < int64(limitLogEvery) {
		return
	}
	if a.loggedAt.CompareAndSwap(prev, t) {
		a.log.Warn("node connection limit reached", "limit", a.limit)
	}
}

// connRate is a lock-free token bucket with Centrifugo's connection rate
// semantics (golang.org/x/time/rate with rate.Every(time.Second) and burst
// client.connection_rate_limit): the bucket holds up to burst connects and
// refills by one per second, starting full. It is implemented as GCRA: tat
// is the theoretical arrival time of the next connect were the bucket
// drained at the refill rate; a connect is allowed when that lies no more
// than the bucket's depth ahead of now. A refused connect spends nothing.
type connRate struct {
	epoch    time.Time
	interval int64 // ns per token
	depth    int64 // ns: burst × interval
	tat      atomic.Int64
}

func newConnRate(burst int, interval time.Duration, epoch time.Time) *connRate {
	return &connRate{epoch: epoch, interval: int64(interval), depth: int64(burst) * int64(interval)}
}

func (r *connRate) allow(now time.Time) bool {
	t := int64(now.Sub(r.epoch))
	for {
		tat := r.tat.Load()
		next := max(tat, t) + r.interval
		if next-t > r.depth {
			return false
		}
		if r.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}
