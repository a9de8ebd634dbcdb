// Package natsbroker is a broker.Broker on NATS core pub/sub
// (github.com/nats-io/nats.go), wire-compatible with Centrifugo v6's NATS
// broker (broker.type "nats"), so that unisse and Centrifugo nodes on one
// NATS share publications and node commands.
//
// Subjects, with Prefix "centrifugo" by default:
//
//	<prefix>.client.<channel>  publications of channel
//	<prefix>.control           commands to every node (PublishControl "")
//	<prefix>.node.<node id>    commands to one node
//
// A publication is a protobuf centrifugal/protocol Push {channel, pub}
// whose Publication carries data as is, tags, client info and the time in
// Unix milliseconds. Received publications may carry an offset and, in the
// "__centrifugo_epoch" tag, an epoch (Centrifugo's
// PublishWithStreamPosition): they become the stream position and the tag
// is stripped. PublishJoin and PublishLeave send a Push with join or leave
// and the ClientInfo, as Centrifugo does; received ones (this node's own
// included, as in centrifuge) go to Handler.HandleJoinLeave in the
// channel's order with its publications. Malformed messages are dropped.
// Control data travels raw.
//
// NATS keeps no history: History and RemoveHistory complete with
// ErrHistoryNotAvailable and Publish ignores history options, as
// Centrifugo's NATS broker does (the configuration refuses namespaces that
// need history with this broker). Channels NATS would read as wildcards or
// reject ('*', '>', whitespace, empty tokens) are refused.
//
// Publish and Subscribe complete after a PING/PONG round trip shared by
// all waiting calls, so success means the server has the message or the
// subscription (what another node publishes after a Subscribe completes
// reaches this node). While NATS is
// away, publishes and subscribes fail at once (no reconnect buffer) and
// Healthy reports the reason.
//
// Delivery: nats.go queues each channel's messages, in order, on one of a
// few workers (GOMAXPROCS, at most 16; chosen by a hash of the channel),
// not on a goroutine per subscription as its callback subscriptions would,
// since a node may hold a channel per user. A full worker queue makes
// nats.go drop messages (a slow consumer, reported on stderr by nats.go's
// default error handler); the handler never blocks, so only a burst that
// outruns a core fills one.
//
// Gaps: nats.go reconnects and resends subscriptions by itself, before it
// runs the reconnected callback. So the worker compares, before each
// message, the connection's reconnect count (incremented before the new
// connection reads anything) and the subscription's drop count with what
// the handler was last told for the channel, and calls HandleResubscribed
// for it before delivering past a gap; the reconnected callback tells the
// remaining channels, holding their locks so that their workers wait.
// Each channel is told once per reconnect (or run of drops), ahead of
// every publication received after the gap.
package natsbroker
