// Package input keeps a connection's unserved request bytes once a request
// spans more than one read, so that each read costs its own length instead
// of gnet re-copying its whole inbound ring (Peek(-1)) on every event.
// Connections whose requests arrive whole in one read never hold a Buffer.
// Bytes a loop reads from a socket itself, outside gnet's read path (during
// a storm of hang-ups, engine/delivery's watch.go), join the same buffer
// behind what gnet holds (Append), so the request stream stays in order.
//
// Concurrency: a Buffer and the gnet.Conn passed with it belong to the
// connection's event loop; only the pool of spare buffers is shared
// (sync.Pool).
package input
