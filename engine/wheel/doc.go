// Package wheel is the hashed timing wheel each event loop keeps its
// connections' timers in (pings, token expiry, read and write deadlines).
//
// It is intrusive: an item embeds a Node and is in at most one slot, for its
// earliest deadline, so scheduling allocates nothing and a loop with a
// million idle subscribers does no work per tick beyond the items that are
// due. Concurrency: a Wheel and the Nodes in it belong to one goroutine (the
// event loop); nothing is locked.
package wheel
