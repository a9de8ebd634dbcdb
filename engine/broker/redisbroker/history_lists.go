package redisbroker

import (
	"context"
	"errors"
	"strconv"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
)

// LIST history (Options.HistoryUseLists), laid out as centrifuge's
// broker_history_add_list.lua and broker_history_list.lua lay it out: a
// LIST <prefix>.list.<ch>, newest first (LPUSH, then LTRIM 0 size-1 and
// EXPIRE history TTL), each element the very message published on PUB/SUB,
// "__p1:<offset>:<epoch>__" + protobuf Publication, and the meta hash
// <prefix>.list.meta.<ch> with the stream's fields ("e" epoch, "s" top
// offset, EXPIRE history_meta_ttl). Positions, epochs and idempotency
// results are those of the STREAM mode.
//
// Two deliberate differences from centrifuge, neither visible to a node
// reading the same keys: a new epoch (offset 1) deletes what is left of the
// list, as centrifuge's STREAM script does and its LIST script does not, and
// reading takes only the range the filter needs (the element at index i has
// offset top-i) and keeps only elements of the current epoch, where
// centrifuge reads the whole list and filters in Go. Reverse order is
// supported (centrifuge ignores it with lists).

// metaKey is the channel's history meta hash in the configured mode.
func (b *Broker) metaKey(ch string) string {
	if b.opts.HistoryUseLists {
		return b.keys.listMeta(ch)
	}
	return b.keys.meta(ch)
}

// publishHistoryList is publishHistory for a LIST.
//
// KEYS: list, meta hash, result hash (idempotency; unused when ARGV[7] is "")
// ARGV: 1 protobuf Publication, 2 LTRIM right bound (size-1), 3 list TTL
// seconds, 4 PUB/SUB channel ("" to skip), 5 meta TTL seconds ("0": none),
// 6 epoch for a new stream, 7 result TTL seconds ("" without a key).
// Returns {offset, epoch, suppressed "1"/"0"}.
var publishHistoryList = publishScript(`
redis.call('lpush', hist, payload)
redis.call('ltrim', hist, 0, ARGV[2])
redis.call('expire', hist, ARGV[3])`)

// readHistoryList returns a list's position and, when asked, the elements
// the filter selects, newest first. The list holds offsets top, top-1, ...
// from index 0 (LPUSH of consecutive offsets, trimmed at the tail), so the
// elements after offset since are the first top-since ones; of those a
// forward read with a limit wants the oldest, a reverse one the newest.
//
// KEYS: list, meta hash.
// ARGV: 1 include publications "0"/"1", 2 since offset ("0": from the
// start), 3 limit ("-1": all), 4 reverse "0"/"1", 5 meta TTL seconds ("0":
// none), 6 epoch for a new stream.
// Returns {offset, epoch, elements or nil}.
var readHistoryList = rueidis.NewLuaScript(readMeta("ARGV[5]", "ARGV[6]") + `
local list = KEYS[1]
local pubs = nil
if ARGV[1] == '1' then
  local n = tonumber(offset) - tonumber(ARGV[2])
  local len = redis.call('llen', list)
  if n > len then
    n = len
  end
  if n <= 0 then
    pubs = {}
  else
    local first, last = 0, n - 1
    local limit = tonumber(ARGV[3])
    if limit > 0 and limit < n then
      if ARGV[4] == '1' then
        last = limit - 1
      else
        first = n - limit
      end
    end
    pubs = redis.call('lrange', list, first, last)
  end
end
return {offset, epoch, pubs}
`)

func (b *Broker) historyList(ctx context.Context, channel string, opts broker.PublishOptions, f broker.HistoryFilter) (broker.HistoryResult, error) {
	s := b.shardFor(channel)
	include := "1"
	if f.Limit == 0 {
		include = "0"
	}
	var since uint64
	if f.Since != nil {
		since = f.Since.Offset
	}
	limit := "-1"
	if f.Limit > 0 {
		limit = strconv.Itoa(f.Limit)
	}
	reverse := "0"
	if f.Reverse {
		reverse = "1"
	}
	metaTTL := opts.HistoryMetaTTL
	if metaTTL <= 0 {
		metaTTL = b.opts.HistoryMetaTTL
	}
	reply, err := readHistoryList.Exec(ctx, s.client,
		[]string{b.keys.list(channel), b.keys.listMeta(channel)},
		[]string{include, strconv.FormatUint(since, 10), limit, reverse, seconds(metaTTL), newEpoch()}).ToArray()
	if err != nil {
		return broker.HistoryResult{}, wrap("history", err)
	}
	res, elems, err := historyReply(reply, f, include == "1")
	if err != nil || elems == nil {
		return res, err
	}
	epoch, top := res.Epoch, res.Offset
	res.Publications = make([]broker.Publication, 0, len(elems))
	for i := range elems {
		e := elems[i] // newest first: forward order reads from the end
		if !f.Reverse {
			e = elems[len(elems)-1-i]
		}
		v, err := e.ToString()
		if err != nil {
			return broker.HistoryResult{}, wrap("history", err)
		}
		pub, pubEpoch, err := decodeListElement(v)
		if err != nil {
			return broker.HistoryResult{}, wrap("history", err)
		}
		// Defensive: the script's range holds only the current epoch's
		// offsets after since unless something else wrote the list.
		if pubEpoch != epoch || pub.Offset <= since || pub.Offset > top {
			continue
		}
		res.Publications = append(res.Publications, pub)
	}
	return res, nil
}

// decodeListElement decodes one list element,
// "__p1:<offset>:<epoch>__" + protobuf Publication.
func decodeListElement(v string) (broker.Publication, string, error) {
	var pub broker.Publication
	payload, kind, off, epoch, err := splitPush([]byte(v))
	if err != nil || kind != pushPublication || epoch == nil {
		return pub, "", errors.New("malformed list element")
	}
	var p cproto.Publication
	if err := decodePublication(&p, payload, &pub); err != nil {
		return pub, "", err
	}
	pub.Offset = off
	return pub, string(epoch), nil
}
