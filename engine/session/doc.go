// Package session is what unisse does with a connection once engine/listen
// has handed it to an event loop, and the server API's side of the node.
//
// It owns (Node):
//
//   - gnet's callbacks and the loop tick (events.go, Node.Handler): a
//     connection's timers — read deadline, pings, token expiry — in its
//     loop's timing wheel;
//   - HTTP serving of a connection (serve.go): head scanning across reads
//     (engine/input, httpparse.HeadEnd), routing from the head, bodies,
//     pipelining with maxUnsent, closeWhenSent and the lingering close;
//     /health (503 with the reason while the broker, as
//     broker.HealthChecker, is cut off);
//   - the Centrifugo connect (connect.go): admission (engine/limits),
//     authentication (engine/auth), the channels it gets, the stream head and
//     connect push, refusals, and with unisse.sse_event_ids the recovery
//     positions of a Last-Event-ID (lastEventPositions) and the stream's
//     first id (startEventIDs); and parking for the broker (park.go:
//     subscribe, askBroker, subscriptionSettled, unpark, positionQuery),
//     the one place a connection waits for the broker: for its position
//     or history, and, with a networked broker (Inline(OpSubscribe) false),
//     first for the node's subscription to a channel it is the first local
//     subscriber of (the hub's broker hooks: brokerSubscribe and
//     brokerUnsubscribe in node.go);
//   - the server API's executor and the broker's handler (executor.go,
//     apiserve.go): publish, fan-out to the loops (HandlePublication),
//     subscribe/unsubscribe/disconnect/refresh on connections, presence,
//     history, info;
//   - after a broker reconnect (resubscribe.go: HandleResubscribed,
//     HandleResubscribeDone): the streams of channels without positions end
//     with 3010; positioned channels are held on the loops until their
//     stream position, read once the broker is subscribed again, shows
//     whether a publication was lost (3010) or not (the streams go on);
//     connects parked on those channels meanwhile are refused with 3010
//     (Conn.Gap);
//   - the node's part in a cluster (cluster.go): with a broker that is not
//     inline (Redis) and a node ID, an engine/cluster.Cluster announces the
//     node (JoinCluster … LeaveCluster), /api/info and /api/channels span
//     the nodes, the API's connection commands are broadcast, and other
//     nodes' commands are posted to the loops (clusterHandler, from the
//     broker's goroutine, never waiting);
//   - presence in a shared presence manager (presence.go): added when a
//     stream starts, refreshed whenever the connection's wheel slot fires
//     (scheduled at most client.presence_update_interval ahead), removed on close and
//     unsubscribe, all asynchronous; /api/presence reads the manager;
//   - join/leave pushes (joinleave.go): published through the broker when
//     it is a broker.JoinLeavePublisher (Redis: every node, this one
//     included, hears them back through HandleJoinLeave and pushes them to
//     its own subscribers, one push each), else pushed to this node's
//     subscribers directly; asynchronous, failures counted and logged;
//   - the node's metrics (metrics.go): Centrifugo's families under its names
//     (CentrifugoFamilies) and unisse's (UnisseFamilies), the loops' numbers
//     (delivery's, and the recoveries and Last-Event-IDs each loop's
//     connects count in its connectScratch) summed at scrape time,
//     /api/info's items named as Centrifugo's; the
//     SSE retry jitter (reconnect.go), and the graceful stop's window
//     (shutdown.go, Node.DisconnectAll), during which /health answers 503;
//   - the debug line for each refused connect or request (refusallog.go:
//     client, user, code, reason; never a token, cf_connect or API key),
//     behind one Enabled check so that other levels pay nothing.
//
// The delivery of frames to sockets is engine/delivery's: the session calls
// into a delivery.Loop and is called back only through delivery.Host
// (CloseWhenSent, ServeInput). The engine root builds a Node, runs its
// Handler on a gnet client and starts and stops it.
//
// Concurrency: a connection's fields are touched only on its loop; other
// goroutines reach a loop through its inbox (Loop.Post). API operations
// that act on connections post to every loop and wait (OnAllLoops), never
// on a loop.
package session
