// Package delivery is the engine's per-loop delivery runtime: what unisse
// keeps per connection (Conn) and per gnet event loop (Loop), and how a
// loop gets frames from its inbox onto its connections' sockets.
//
// It owns:
//
//   - the inbox (Loop.Post, Loop.PostFrame): the only way another goroutine
//     reaches a loop, woken through its kick socket (engine/kick);
//   - the channel logs and the subscribers' cursors (ChanState, hub.Entry),
//     the sweep that queues each subscriber what is past its cursor
//     (sse.Queue) and the one write per connection per slice (drain.go);
//   - with unisse.sse_event_ids, the positions a connection has reached in
//     its recoverable subscriptions (Conn.TrackPosition), sent as an SSE id
//     before each publication that moves one (Loop.queue, engine/eventid);
//   - the slice's budgets: SliceBudget writes, connectsPerSlice connects
//     (Loop.TakeConnectTurn), ClosesPerSlice hang-ups (Loop.NotePeerClose),
//     between which the loop also serves requests waiting on the few
//     keep-alive connections it watches (Loop.Watch, watch.go);
//   - backpressure: a full socket is handed nothing more (stalled), a
//     connection that stays stalled for write_stall_timeout, whose log
//     passes client.queue_max_size or whose publication did not fit in
//     the inbox is disconnected with a readable 3008 (Loop.CloseSlow);
//   - ending a stream in order (Loop.Finish, Loop.CatchUp, Loop.WriteEvent)
//     and the spread of a graceful stop (Spread);
//   - a channel's last known stream position (the newest publication
//     logged, Loop.NotePosition) and holds (Loop.Hold, HoldCheck, Unhold):
//     after a broker reconnect the session stops a positioned channel's
//     delivery where the loss may begin until the stream's position says
//     whether a publication went missing;
//   - the loop's streams and users (Loop.Find) and its timing wheel
//     (Loop.Wheel, engine/wheel), whose timers the session sets;
//   - the loop's numbers for /metrics (stats.go): events queued, writes,
//     the publish → write delay histogram (PostFrame stamps a publication,
//     the sweep observes it), the backlog bytes stored once per slice, and
//     the server disconnects by code (DisconnectCounts). The loop counts
//     with atomic adds on its own fields, never a lock or an allocation;
//     /metrics sums the loops.
//
// What a connection does — requests, connects, subscriptions, parking for
// the broker, timers firing — is the session's (engine/session); it
// reaches back in only through Host.
//
// Concurrency: a Conn and every field of a Loop except its inbox are
// touched only on that loop's goroutine.
package delivery
