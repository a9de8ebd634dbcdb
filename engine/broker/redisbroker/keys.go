package redisbroker

// Key and PUB/SUB channel names, as centrifuge v0.38 builds them (non-sharded
// PUB/SUB layout). In a Redis Cluster the channel part is wrapped in {} so
// that a channel's keys share a slot.
//
//	PUB/SUB, a channel's publications:  <prefix>.client.<channel>
//	PUB/SUB, control to every node:      <prefix>.control
//	PUB/SUB, control to one node:        <prefix>.node.<nodeID>
//	history stream (XADD, field "d"):    <prefix>.stream.<channel>
//	history meta hash ("e" epoch, "s" top offset): <prefix>.stream.meta.<channel>
//	history list (HistoryUseLists; LPUSH, newest first, "__p1:<offset>:<epoch>__"+Publication): <prefix>.list.<channel>
//	its meta hash (as the stream's):     <prefix>.list.meta.<channel>
//	idempotent result hash ("e", "s"):   <prefix>.result.<channel>.<key>  (cluster: <prefix>.result.{<channel>}.<key>)
//	presence hash (client → ClientInfo): <prefix>.presence.data.<channel>
//	presence zset (client → expire at):  <prefix>.presence.expire.<channel>
//	user zset / hash (user mapping):     <prefix>.presence.user.expire.<channel>, <prefix>.presence.user.clients.<channel>
type keys struct {
	prefix  string
	cluster bool
}

func (k keys) tagged(infix, ch string) string {
	if k.cluster {
		return k.prefix + infix + "{" + ch + "}"
	}
	return k.prefix + infix + ch
}

func (k keys) clientChannel(ch string) string { return k.tagged(".client.", ch) }
func (k keys) controlChannel() string         { return k.prefix + ".control" }
func (k keys) nodeChannel(node string) string { return k.prefix + ".node." + node }
func (k keys) stream(ch string) string        { return k.tagged(".stream.", ch) }
func (k keys) meta(ch string) string          { return k.tagged(".stream.meta.", ch) }
func (k keys) list(ch string) string          { return k.tagged(".list.", ch) }
func (k keys) listMeta(ch string) string      { return k.tagged(".list.meta.", ch) }
func (k keys) presenceData(ch string) string  { return k.tagged(".presence.data.", ch) }
func (k keys) presenceSet(ch string) string   { return k.tagged(".presence.expire.", ch) }
func (k keys) userSet(ch string) string       { return k.tagged(".presence.user.expire.", ch) }
func (k keys) userHash(ch string) string      { return k.tagged(".presence.user.clients.", ch) }

func (k keys) result(ch, idem string) string {
	if k.cluster {
		return k.prefix + ".result.{" + ch + "}." + idem
	}
	return k.prefix + ".result." + ch + "." + idem
}

// channelOf extracts the channel from a client PUB/SUB channel name ("" when
// it is not one).
func (k keys) channelOf(redisChannel string) string {
	p := k.prefix + ".client."
	if len(redisChannel) <= len(p) || redisChannel[:len(p)] != p {
		return ""
	}
	ch := redisChannel[len(p):]
	if k.cluster {
		if len(ch) < 2 || ch[0] != '{' || ch[len(ch)-1] != '}' {
			return ""
		}
		return ch[1 : len(ch)-1]
	}
	return ch
}

// shardIndex is centrifuge's consistentIndex: FNV-1a 64 of the channel fed
// to Lamping and Veach's jump consistent hash, so that a node of either
// kind picks the same shard for a channel from the same address list.
func shardIndex(ch string, n int) int {
	if n <= 1 {
		return 0
	}
	key := uint64(14695981039346656037) // FNV-1a 64, inline: no allocation
	for i := 0; i < len(ch); i++ {
		key ^= uint64(ch[i])
		key *= 1099511628211
	}
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
