// Package engine is the unisse server: gnet event loops that speak HTTP/1.1
// themselves, serve Centrifugo's uni_sse endpoint and server API, and deliver
// publications to subscribers.
//
// The root is small: Server (server.go) builds the session, binds the
// listeners (accept.go), runs the gnet client that serves what they accept,
// and reports an engine that stops by itself on Done. Each concern is a
// package:
//
//	engine/session   a connection's life on its loop: gnet callbacks and
//	                 timers, HTTP serving, the connect, parking for the
//	                 broker, the API executor and broker.Handler, metrics,
//	                 the stop window (Node)
//	engine/delivery  the per-loop delivery runtime: Conn and Loop, inbox,
//	                 channel logs and cursors, sweep, flush, 3008 shedding
//	engine/listen    owned listeners: accept, reserve descriptor, shedding, backoff
//	engine/sockopt   listener keepalive and TCP_USER_TIMEOUT; send buffer growth
//	engine/httpwrite HTTP/1.1 responses as Go writes them (pure append functions)
//	engine/input     a connection's unserved request bytes across reads
//	engine/limits    user slots, connection limit and rate admission
//	engine/wheel     the per-loop timing wheel (intrusive, generic)
//	engine/kick      the socket pair that wakes a loop through its poller
//	engine/api       the server API: decode, validate, one table of methods
//	engine/broker    history, positions, publication transport (the seam)
//	                 and the memory broker; broker/redisbroker (Redis, in
//	                 Centrifugo's layout), broker/natsbroker (Centrifugo's
//	                 NATS broker), broker/clientinfo (a client's info in
//	                 their wire forms), broker/brokertest (a slow broker)
//	engine/hub       channels and their subscribers, by loop
//	engine/cluster   Centrifugo v6's node-to-node control protocol
//	engine/eventid   the SSE ids of unisse.sse_event_ids: a connection's
//	                 stream positions as a compact token, and its bounded
//	                 decoding from Last-Event-ID
//	engine/auth, engine/namespace, engine/protocol, engine/config
//	engine/enginetest real-socket helpers for tests of the engine;
//	                 enginetest/browser drives a headless Chromium,
//	                 enginetest/centrifugotest a real Centrifugo binary
//
// File names below without a package are engine/session's (session/…).
//
// Follow a publication from the API to the socket:
//
//	session/events.go    OnTraffic → serve.go serveInput → httpparse →
//	                     route (/api/publish)
//	session/apiserve.go  → api.Handler.Serve (decode, validate); on the
//	                     loop when the broker completes publishes inline
//	                     (Broker.Inline), else on a goroutine
//	session/executor.go  → executor.Publish → broker.Publish (history,
//	                     idempotency), asynchronous: awaitBroker waits
//	                     only off the loops
//	session/executor.go  → executor.HandlePublication: frame encoded once
//	                     (sse.Frame), hub.Broadcast posts it to each loop
//	                     with subscribers (delivery.Loop.PostFrame); the
//	                     loops are woken (executor.Flush, engine/kick) once
//	                     the broker and hub locks are released
//	engine/delivery      → on each loop (Loop.Drain, drain.go): the frame
//	                     joins the channel's log; a sweep queues each
//	                     subscriber everything past its cursor (sse.Queue),
//	                     one write per connection per slice, then yields
//
// A subscriber whose socket fills up is handed nothing more; its backlog
// waits in the channel logs (engine/delivery: noteStall, CheckStalled), and
// it is disconnected with a readable 3008 when its socket stalls for
// unisse.write_stall_timeout or a log passes client.queue_max_size
// (shedLaggards, CloseSlow). Logs and inboxes are capped, so memory under
// publish overload is bounded by configuration. The catch-up before an API
// disconnect or push (delivery.Loop.CatchUp) follows the same rule.
//
// A slice is bounded on every side (engine/delivery): SliceBudget writes,
// connectsPerSlice connects, and ClosesPerSlice hang-ups (gnet closes those itself; OnClose
// runs a slice every ClosesPerSlice of them, so thousands of clients leaving
// at once do not hold up the loop's deliveries until the last is closed).
// Before that slice the loop reads the few keep-alive connections it
// watches (an API client's, once served a request) and serves what arrived
// on them (delivery/watch.go): a publish is not left behind the rest of the
// hang-ups in epoll's ready list either.
//
// A client from connect to stream: engine/listen accepts it on unisse's
// own listener and hands it to the loop with the fewest connections (gnet
// runs the loops, not the listeners, so an accept error never ends them);
// there serve.go routes to connect.go, which admits it (engine/limits),
// authenticates (engine/auth), subscribes in the hub and writes the headers
// (engine/httpwrite) and the connect push. A
// positioned or recovering subscription first needs the broker's position
// or history: the connection is subscribed, then parked (Conn.Parked: the
// sweep leaves its frames in the channel logs, as for a stalled socket)
// while the broker answers off the loop; the answer comes back through the
// loop's inbox, behind every frame posted before it, and unpark moves the
// cursor past the buffered frames at or below the position, so nothing is
// delivered twice or skipped (park.go: subscribe, askBroker, unpark; the cursor
// move is delivery.Loop.SkipThrough). With a broker that subscribes over the
// network (Redis), a connect that brings a channel's first subscriber to the
// node also waits, parked the same way, for the node's SUBSCRIBE at the
// broker (the hub's broker hooks, Node.brokerSubscribe; the answer reaches
// the loop through its inbox as subscriptionSettled), and only then reads
// positions, all within one broker timeout; so a publication made anywhere
// after the connect push reaches the client. A failed subscription refuses
// the connect with 3004, as Centrifugo does; a broker that lost and restored
// its PUB/SUB connection ends the streams of the resubscribed channels with
// 3010 when publications may have been lost (session/resubscribe.go: at once
// without positions, after a position check for positioned channels,
// whose loops hold their frames meanwhile: delivery.Loop.Hold), and
// /health answers 503 while the
// broker reports itself cut off (broker.HealthChecker);
// events.go keeps the connection's timers (pings, expiry, read deadline) in
// its loop's timing wheel (engine/wheel). A server that stops by itself
// says so on Server.Done (the root's accept.go). Server.Stop ends the
// streams spread over a window (shutdown.go: Node.DisconnectAll;
// delivery.Spread) so that
// clients do not all reconnect at once; reconnect.go can give each stream
// its own SSE retry.
//
// Concurrency contract: everything a connection owns (delivery.Conn) and
// every field of a loop (delivery.Loop) except its inbox is touched only on
// that loop's goroutine. Other goroutines reach a loop only by posting to its
// inbox (Loop.Post), which
// wakes it through a kick socket registered with its poller (engine/kick). API operations
// that act on connections post an operation to every loop and wait for all of
// them (Node.OnAllLoops), so their effect has happened when the API replies. Lock order is in
// LOCKS.md.
//
// Input (serve.go, engine/input): a request is routed, and for the API its
// method and key checked, from its head before any body byte is read; a
// request spanning reads is gathered in a per-connection buffer so each read
// costs its own length, and its head end is found by httpparse.HeadEnd,
// resumed where the last read left it, before the loop's one parser runs; a connection's requests wait while 64 KiB of its
// responses are unsent (statePaused); every response that ends a connection
// goes through closeWhenSent, which closes only once gnet has sent it all.
//
// Hot path invariants: no goroutine, timer or buffer per idle connection;
// publish → fan-out → write allocates nothing in steady state
// (session/alloc_test.go);
// a loop never blocks (off-loop work returns through AsyncWrite or the
// inbox). Tests hold the loops to it: the root's watchdog_test.go fails the engine's
// test run when a loop step (engine/internal/stepwatch) takes more than 2 ms of CPU or
// parks, and UNISSE_TEST_BROKER=slow runs every test server on a broker
// that takes 10–60 ms per call (broker/brokertest).
package engine
