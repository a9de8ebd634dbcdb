// Package redisbroker is a broker.Broker and broker.PresenceManager on Redis
// (github.com/redis/rueidis, auto-pipelined), built to share one Redis with
// Centrifugo v6.9.1 nodes (centrifuge v0.38 RedisBroker and
// RedisPresenceManager, non-sharded PUB/SUB layout, STREAM or LIST history):
// the same keys, PUB/SUB channel names, encodings and script semantics, so
// that a publication made on either kind of node reaches the subscribers of
// both, and history, positions, idempotency results and presence are shared.
//
// # Layout (prefix "centrifugo" by default)
//
// Keys and channels are those listed in keys.go: <prefix>.client.<ch> for a
// channel's publications, <prefix>.control and <prefix>.node.<nodeID> for
// control, <prefix>.stream.<ch> (XADD id "<offset>-0", field "d" = protobuf
// Publication) and <prefix>.stream.meta.<ch> (hash: "e" epoch, "s" top
// offset) for history, <prefix>.result.<ch>.<key> (hash "e", "s") for
// idempotency (with HistoryUseLists, history is <prefix>.list.<ch>, a LIST
// newest first whose elements are the "__p1:…" PUB/SUB messages, and
// <prefix>.list.meta.<ch>, the same hash; see history_lists.go),
// <prefix>.presence.data.<ch> (hash client → protobuf
// ClientInfo) and <prefix>.presence.expire.<ch> (zset client → unix expiry),
// plus <prefix>.presence.user.{expire,clients}.<ch> with user mapping. In a
// Redis Cluster the channel is wrapped in {} as centrifuge does.
//
// PUB/SUB messages: "__p1:<offset>:<epoch>__"+Publication with history, the
// bare Publication without, "__j__"/"__l__"+ClientInfo for join/leave
// (PublishJoin/PublishLeave, broker.JoinLeavePublisher, send them to every
// node, Centrifugo's included, in call order per shard: one goroutine sends
// what is queued as one pipelined batch after another; received ones go to
// Handler.HandleJoinLeave on the channel's worker, in order with its
// publications, conn_info and chan_info that are not JSON left out).
// Publication.data carries the
// payload bytes as is, which is what Centrifugo's API puts there for data
// (raw JSON) and b64data (decoded bytes); the wire has no JSON flag, so a
// received publication is NotJSON exactly when its data is not valid JSON.
// Publication.info maps to and from unisse's ClientInfo JSON
// ({"user","client","conn_info","chan_info"}).
//
// # Shards
//
// A channel lives on shard shardIndex(channel, len(Addresses)): centrifuge's
// consistentIndex (FNV-1a 64 then jump consistent hash), so unisse and
// Centrifugo nodes with the same address list in the same order agree.
// PublishControl goes through the shards in turn; every node listens for
// control on all of them, as centrifuge does.
//
// # Subscriptions
//
// Each shard has one dedicated PUB/SUB connection and one goroutine that
// owns it: Subscribe and Unsubscribe queue a request, and the goroutine sends
// everything queued as one SUBSCRIBE/UNSUBSCRIBE per run of requests of one
// kind (up to 512 channels each), so a burst of subscriptions costs a few
// round trips. The set of subscribed channels is kept; when the connection
// breaks the goroutine reconnects (50 ms backoff doubling to 1 s),
// subscribes the control channels and the whole set again, and then calls
// Handler.HandleResubscribed with the set: what was published meanwhile was
// lost. Once that SUBSCRIBE is done (or has failed) a handler that is a
// broker.ResubscribeDoneHandler hears it (HandleResubscribeDone;
// ConfirmsResubscribe says so), so it can read positions that every later
// publication follows. While the connection is down, Subscribe fails at
// once (ErrUnavailable) and Healthy reports the shard and the cause. Received publications are
// decoded by PubSubWorkers goroutines per shard, a channel always on the
// same one, so the Handler sees each channel's publications in order (the
// publish script appends and publishes atomically, so PUB/SUB order is
// offset order). The workers call HandlePublication and then Flush holding
// no lock of the broker's; HandleControl runs on the connection's reader.
//
// # Calls
//
// Every call completes on a goroutine of its own (Inline is false for all):
// rueidis pipelines what concurrent goroutines send, so concurrent publishes
// share round trips. A publish while Redis is unreachable completes with an
// error, never success. New fails when a shard cannot be reached at start;
// Run fails when a shard's PUB/SUB connection cannot subscribe.
//
// History semantics follow broker.HistoryFilter (the same as Memory): Since
// selects offsets after Since.Offset, also with Reverse (newest first), a
// different epoch is ErrUnrecoverablePosition. Reading the position of a
// channel without a stream creates its meta with a fresh epoch, as
// centrifuge does, so the first publication continues that epoch; a lost
// meta (expired after HistoryMetaTTL or evicted) starts a new epoch.
//
// # Configuration (Centrifugo v6 keys → Options)
//
// The keys are those of engine.redis, broker.redis and
// presence_manager.redis:
//
//	address              → Addresses ("host:port" or redis://[user:pass@]host:port[/db])
//	cluster_address      → ClusterAddresses
//	sentinel_address     → SentinelAddresses
//	sentinel_master_name → SentinelMasterName
//	sentinel_user/password → SentinelUser/SentinelPassword
//	prefix               → Prefix (default "centrifugo")
//	db, user, password   → DB, User, Password
//	client_name          → ClientName
//	tls                  → TLS (*tls.Config; nil: off)
//	force_resp2          → ForceRESP2
//	connect_timeout      → ConnectTimeout (1s)
//	io_timeout           → IOTimeout (4s)
//	presence_ttl         → PresenceTTL (60s)
//	presence_user_mapping → PresenceUserMapping
//	history_meta_ttl     → HistoryMetaTTL (720h; a publish's own value wins)
//	history_use_lists    → HistoryUseLists (LIST history instead of STREAM)
//	(node name)          → NodeID: required, unique per node
//
// Not supported: presence_hash_field_ttl
// (HEXPIRE, Redis 7.4), replica_client / SubscribeOnReplica, skip_pub_sub,
// sharded PUB/SUB (num_sharded_pub_sub_partitions), sentinel
// TLS separate from TLS, delta and version publications. Cluster is tested
// on a one-node cluster and Sentinel with one sentinel, not failover.
package redisbroker
