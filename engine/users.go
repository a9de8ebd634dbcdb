package engine

import (
	"hash/maphash"
	"sync"
)

// userSlots counts each user's streams across the node, for
// client.user_connection_limit. Sharded so connects on different loops rarely
// meet; only used when the limit is set.
type userSlots struct {
	seed   maphash.Seed
	shards [16]struct {
		mu sync.Mutex
		n  map[string]int
	}
}

func newUserSlots() *userSlots {
	u := &userSlots{seed: maphash.MakeSeed()}
	for i := range u.shards {
		u.shards[i].n = make(map[string]int)
	}
	return u
}

// acquire takes a slot for user unless the user already has limit streams.
// Safe from any goroutine.
func (u *userSlots) acquire(user string, limit int) bool {
	sh := &u.shards[maphash.String(u.seed, user)%uint64(len(u.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[user] >= limit {
		return false
	}
	sh.n[user]++
	return true
}

// release gives a slot back. Safe from any goroutine.
func (u *userSlots) release(user string) {
	sh := &u.shards[maphash.String(u.seed, user)%uint64(len(u.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.n[user] <= 1 {
		delete(sh.n, user)
		return
	}
	sh.n[user]--
}
