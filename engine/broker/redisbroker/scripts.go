package redisbroker

import "github.com/redis/rueidis"

// The Lua scripts. Their keys, hash fields, stream entry ids and PUB/SUB
// payloads are those of centrifuge's scripts (internal/redis_lua), so that
// Centrifugo nodes and unisse nodes share streams and presence; the scripts
// themselves are ours and carry only the features unisse uses (no delta, no
// version, no hash-field TTL). The LIST history scripts are in
// history_lists.go.

// publishHistory appends a publication to a channel's stream and publishes
// it, atomically, so that PUB/SUB order is offset order.
//
// KEYS: stream, meta hash, result hash (idempotency; unused when ARGV[7] is "")
// ARGV: 1 protobuf Publication, 2 stream MAXLEN, 3 stream TTL seconds,
// 4 PUB/SUB channel ("" to skip), 5 meta TTL seconds ("0": none),
// 6 epoch for a new stream, 7 result TTL seconds ("" without a key).
// Returns {offset, epoch, suppressed "1"/"0"}.
var publishHistory = publishScript(`
redis.call('xadd', hist, 'MAXLEN', ARGV[2], offset, 'd', ARGV[1])
redis.call('expire', hist, ARGV[3])`)

// readMeta is how both history read scripts (streams and lists) start:
// the position from the meta hash KEYS[2] into epoch and offset, a meta
// created with the epoch newEpoch when missing (so that a position read
// before the first publication stays valid, as centrifuge does), and its
// TTL renewed to metaTTL seconds unless that is "0". The arguments name
// the script's ARGV entries.
func readMeta(metaTTL, newEpoch string) string {
	return `
local meta = KEYS[2]
local m = redis.call('hmget', meta, 'e', 's')
local epoch, offset = m[1], m[2]
if not epoch then
  epoch = ` + newEpoch + `
  offset = 0
  redis.call('hset', meta, 'e', epoch)
end
if not offset then
  offset = 0
end
if ` + metaTTL + ` ~= '0' then
  redis.call('expire', meta, ` + metaTTL + `)
end
`
}

// publishScript builds a script that publishes with history, for streams
// and lists alike: unless the idempotency result exists, take the next
// offset from the meta hash (a missing meta starts a new epoch at 1 and
// drops what is left of the history, which is stale), run add — which
// appends ARGV[1] to the history KEYS[1] (hist) and may use payload, the
// PUB/SUB message — then publish payload and record the result.
func publishScript(add string) *rueidis.Lua {
	return rueidis.NewLuaScript(`
local hist, meta, result = KEYS[1], KEYS[2], KEYS[3]
if ARGV[7] ~= '' then
  local prev = redis.call('hmget', result, 'e', 's')
  if prev[1] then
    return {prev[2] or 0, prev[1], '1'}
  end
end
local epoch = redis.call('hget', meta, 'e')
if not epoch then
  epoch = ARGV[6]
  redis.call('hset', meta, 'e', epoch)
end
local offset = redis.call('hincrby', meta, 's', 1)
if ARGV[5] ~= '0' then
  redis.call('expire', meta, ARGV[5])
end
if offset == 1 then
  -- A new epoch: whatever is left in the history (meta evicted) is stale.
  redis.call('del', hist)
end
local payload = '__p1:' .. offset .. ':' .. epoch .. '__' .. ARGV[1]
` + add + `
if ARGV[4] ~= '' then
  redis.call('publish', ARGV[4], payload)
end
if ARGV[7] ~= '' then
  redis.call('hset', result, 'e', epoch, 's', offset)
  redis.call('expire', result, ARGV[7])
end
return {offset, epoch, '0'}
`)
}

// publishOnce publishes without history unless the idempotency key's result
// exists (centrifuge stores e="" for a publication without history).
//
// KEYS: result hash. ARGV: 1 payload, 2 PUB/SUB channel, 3 result TTL seconds.
// Returns 1 when suppressed, else 0.
var publishOnce = rueidis.NewLuaScript(`
if redis.call('hexists', KEYS[1], 'e') == 1 then
  return 1
end
redis.call('publish', ARGV[2], ARGV[1])
redis.call('hset', KEYS[1], 'e', '')
redis.call('expire', KEYS[1], ARGV[3])
return 0
`)

// readHistory returns a stream's position and, when asked, a range of it.
// A stream without meta gets one (the epoch its first publication will
// continue), as centrifuge does, so that positions read before the first
// publication stay valid.
//
// KEYS: stream, meta hash.
// ARGV: 1 include publications "0"/"1", 2 start id, 3 end id, 4 count ("0":
// all), 5 reverse "0"/"1", 6 meta TTL seconds ("0": none), 7 epoch for a
// new stream.
// Returns {offset, epoch, entries or nil}.
var readHistory = rueidis.NewLuaScript(readMeta("ARGV[6]", "ARGV[7]") + `
local stream = KEYS[1]
local pubs = nil
if ARGV[1] == '1' then
  local cmd = 'xrange'
  if ARGV[5] == '1' then
    cmd = 'xrevrange'
  end
  if ARGV[4] ~= '0' then
    pubs = redis.call(cmd, stream, ARGV[2], ARGV[3], 'COUNT', ARGV[4])
  else
    pubs = redis.call(cmd, stream, ARGV[2], ARGV[3])
  end
end
return {offset, epoch, pubs}
`)

// presenceAdd adds or renews a client in a channel's presence.
//
// KEYS: presence zset, presence hash, user zset, user hash.
// ARGV: 1 TTL seconds, 2 expire-at unix seconds, 3 client ID, 4 protobuf
// ClientInfo, 5 user ID, 6 user mapping "0"/"1".
var presenceAdd = rueidis.NewLuaScript(`
local isNew = false
if ARGV[6] ~= '0' then
  isNew = redis.call('hexists', KEYS[2], ARGV[3]) == 0
end
redis.call('hset', KEYS[2], ARGV[3], ARGV[4])
redis.call('expire', KEYS[2], ARGV[1])
redis.call('zadd', KEYS[1], ARGV[2], ARGV[3])
redis.call('expire', KEYS[1], ARGV[1])
if ARGV[6] ~= '0' then
  if isNew then
    redis.call('hincrby', KEYS[4], ARGV[5], 1)
  end
  redis.call('expire', KEYS[4], ARGV[1])
  redis.call('zadd', KEYS[3], ARGV[2], ARGV[5])
  redis.call('expire', KEYS[3], ARGV[1])
end
`)

// presenceRemove removes a client from a channel's presence.
//
// KEYS: as presenceAdd. ARGV: 1 client ID, 2 user ID, 3 user mapping.
var presenceRemove = rueidis.NewLuaScript(`
local existed = false
if ARGV[3] ~= '0' then
  existed = redis.call('hexists', KEYS[2], ARGV[1]) == 1
end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('zrem', KEYS[1], ARGV[1])
if existed then
  if redis.call('hincrby', KEYS[4], ARGV[2], -1) <= 0 then
    redis.call('zrem', KEYS[3], ARGV[2])
    redis.call('hdel', KEYS[4], ARGV[2])
  end
end
`)

// presenceGet drops expired clients and returns the rest (HGETALL).
//
// KEYS: presence zset, presence hash. ARGV: 1 now, unix seconds.
var presenceGet = rueidis.NewLuaScript(`
local expired = redis.call('zrangebyscore', KEYS[1], '0', ARGV[1])
if #expired > 0 then
  for i = 1, #expired do
    redis.call('hdel', KEYS[2], expired[i])
  end
  redis.call('zremrangebyscore', KEYS[1], '0', ARGV[1])
end
return redis.call('hgetall', KEYS[2])
`)

// presenceStats drops expired clients and users and counts the rest (user
// mapping only).
//
// KEYS: as presenceAdd. ARGV: 1 now, unix seconds.
var presenceStats = rueidis.NewLuaScript(`
for _, pair in ipairs({{KEYS[1], KEYS[2]}, {KEYS[3], KEYS[4]}}) do
  local expired = redis.call('zrangebyscore', pair[1], '0', ARGV[1])
  if #expired > 0 then
    for i = 1, #expired do
      redis.call('hdel', pair[2], expired[i])
    end
    redis.call('zremrangebyscore', pair[1], '0', ARGV[1])
  end
end
return {redis.call('hlen', KEYS[2]), redis.call('hlen', KEYS[4])}
`)
