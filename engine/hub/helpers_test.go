package hub

// subscribers lists loop's subscribers of c, without their cursors.
func subscribers[S comparable, X any](c *Channel[S, X], loop int) []S {
	entries := c.Local(loop).Entries
	out := make([]S, len(entries))
	for i, e := range entries {
		out[i] = e.Sub
	}
	return out
}
