package cluster

import (
	"sort"
	"sync"
	"time"
)

// Timing of node announcements, as centrifuge's (config.go).
const (
	// AnnounceInterval is how often a node publishes its Node info.
	AnnounceInterval = 3 * time.Second
	// NodeMaxDelay is how long a node stays listed after its last
	// announcement: two missed announcements and a second of slack.
	NodeMaxDelay = 2*AnnounceInterval + time.Second
)

// MaxNodes bounds the registry: a control channel anyone on the Redis can
// publish to must not grow it without limit. Announcements from further
// nodes are ignored until stale ones expire.
const MaxNodes = 1024

// Registry is what this node knows of the other nodes: their latest
// announcements, keyed by node UID. It is safe for concurrent use.
//
// Unlike centrifuge, which drops a silent node only when its cleaner runs
// (every 9 s), a node older than NodeMaxDelay is left out of Len and List at
// once: a survey then never waits for a node that is gone.
type Registry struct {
	self string
	now  func() time.Time

	mu    sync.Mutex
	nodes map[string]*entry
}

type entry struct {
	info Node
	seen time.Time
}

// NewRegistry returns an empty registry for the node whose UID is self
// (whose own announcements it ignores). now is the clock; nil means
// time.Now.
func NewRegistry(self string, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{self: self, now: now, nodes: make(map[string]*entry)}
}

// Add records an announcement and reports whether the node was unknown (or
// had expired), in which case centrifuge introduces itself to it at once
// rather than making it wait for the next round. An announcement without
// Metrics keeps the node's previous metrics: senders attach them only when
// they aggregate a new snapshot. The registry keeps n's maps and slices; the
// caller must not modify them afterwards.
func (r *Registry) Add(n *Node) (isNew bool) {
	if n.UID == "" || n.UID == r.self {
		return false
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.nodes[n.UID]
	if ok && r.expired(e, now) {
		delete(r.nodes, n.UID)
		ok = false
	}
	if !ok {
		if len(r.nodes) >= MaxNodes {
			r.cleanLocked(now)
			if len(r.nodes) >= MaxNodes {
				return false
			}
		}
		e = &entry{}
		r.nodes[n.UID] = e
	}
	metrics := e.info.Metrics
	e.info = *n
	if e.info.Metrics == nil {
		e.info.Metrics = metrics
	}
	e.seen = now
	return !ok
}

// Remove forgets a node (it announced its shutdown).
func (r *Registry) Remove(uid string) {
	r.mu.Lock()
	delete(r.nodes, uid)
	r.mu.Unlock()
}

// Clean frees the entries of nodes silent for longer than NodeMaxDelay.
func (r *Registry) Clean() {
	now := r.now()
	r.mu.Lock()
	r.cleanLocked(now)
	r.mu.Unlock()
}

func (r *Registry) cleanLocked(now time.Time) {
	for uid, e := range r.nodes {
		if r.expired(e, now) {
			delete(r.nodes, uid)
		}
	}
}

func (r *Registry) expired(e *entry, now time.Time) bool {
	return now.Sub(e.seen) > NodeMaxDelay
}

// Len counts the other live nodes.
func (r *Registry) Len() int {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.nodes {
		if !r.expired(e, now) {
			n++
		}
	}
	return n
}

// List returns self followed by the other live nodes sorted by name and
// UID (centrifuge's order is a map's; a stable one is kinder to readers of
// /api/info). The Nodes share their Metrics and Data with the registry:
// read-only.
func (r *Registry) List(self Node) []Node {
	now := r.now()
	r.mu.Lock()
	out := make([]Node, 1, len(r.nodes)+1)
	out[0] = self
	for _, e := range r.nodes {
		if !r.expired(e, now) {
			out = append(out, e.info)
		}
	}
	r.mu.Unlock()
	others := out[1:]
	sort.Slice(others, func(i, j int) bool {
		if others[i].Name != others[j].Name {
			return others[i].Name < others[j].Name
		}
		return others[i].UID < others[j].UID
	})
	return out
}
