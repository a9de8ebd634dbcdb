// Package cluster speaks the node-to-node control protocol of Centrifugo v6
// (centrifuge's internal/controlpb, carried over the broker's control
// channel), so that unisse nodes and Centrifugo v6.9.1 nodes sharing one
// Redis see each other and act on each other's commands. The broker
// carries control messages as opaque bytes (broker.Broker.PublishControl,
// broker.Handler.HandleControl); this package gives them meaning. It owns no
// goroutine but the announcer's, which the engine runs.
//
// # What interoperates
//
//   - Node announcements: every node publishes its Node info (uid, name,
//     version, client/user/channel/subscription counts, uptime) every 3 s
//     (AnnounceInterval), and straight to a node it hears from for the
//     first time. Registry keeps the others' latest announcement; a node
//     silent for 7 s (NodeMaxDelay) is no longer listed, and a Shutdown
//     command removes it at once. /api/info on any node, unisse or
//     Centrifugo, lists every live node. unisse sends no metrics snapshot
//     (it has no Prometheus aggregation to share) and keeps the last one a
//     Centrifugo node sent.
//   - Connection commands: Disconnect, Unsubscribe, Subscribe and Refresh,
//     which Centrifugo's server API sends to every node, are decoded with
//     every field (label filters and all_users too, which Centrifugo v6.9.1's
//     API never sets) and handed to Handler; unisse's API sends the same
//     commands with Encode.
//   - Surveys: /api/channels asks every node for its channels ("channels"
//     op, apiproto.ChannelsRequest/ChannelsResult) and sums the counts.
//     Surveys asks and collects (from as many nodes as Registry lists, with
//     a timeout); Dispatcher answers other nodes' surveys through Handler.
//     Centrifugo fails the call when a node does not answer or answers with
//     a non-zero code, and so does SurveyChannels; an op unisse does not
//     know (Centrifugo's client emulation op, say) is answered with
//     SurveyMethodNotFound so that nobody waits for a timeout.
//   - Notifications (Centrifugo's usage statistics) are decoded and ignored.
//
// Commands a node publishes reach it too on a shared channel; like
// centrifuge, Dispatcher ignores those carrying its own UID.
//
// # Encoding
//
// Encode writes what centrifuge's vtproto marshaller writes (field order,
// proto3 zero omission, empty messages kept), byte for byte except for the
// order of a metrics map; testdata/golden holds bytes written by
// centrifuge's and Centrifugo's own code, which the tests read and compare.
// Decode never panics on hostile input: it bounds the message (64 MiB) and
// label filter nesting (32), rejects a known field with the wrong wire type,
// and skips unknown fields so that a newer centrifuge can add some.
//
// # Wiring
//
// The engine builds one Cluster per node with New and then:
//
//	go c.Run(ctx)                  // announcements every 3 s
//	broker Handler.HandleControl → c.HandleControl(data)
//	/api/info                      → c.Info()
//	/api/channels                  → c.Channels(ctx, pattern)
//	/api/disconnect etc.           → c.Broadcast(ctx, cluster.Command{Disconnect: ...}, done)
//	                                 and act on local connections
//	shutdown                       → c.Leave(ctx, done)
//
// Config.Handler's methods run on the broker's goroutine: they queue work to
// the event loops and return.
package cluster
