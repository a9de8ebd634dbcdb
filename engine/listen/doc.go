// Package listen accepts connections on sockets it owns and hands them to
// the event loops.
//
// unisse owns its listening sockets instead of letting gnet accept. In gnet
// v2.9.7 an accept error such as EMFILE ends the event loop that accepted
// and, with it, the whole engine, while the process lives on with no
// listener; and gnet's SO_REUSEPORT listeners let a second process bind the
// same port without an error. So each address is a plain listening socket
// (SO_REUSEADDR so a restart binds while old connections sit in TIME_WAIT,
// no SO_REUSEPORT so a busy port fails Start, unless Config.ReusePort —
// unisse.reuse_port — asks for a port shared between processes) served by
// one goroutine. It
// hands every accepted connection to the event loop with the fewest
// connections (Config.Hand: gnet.Client.EnrollContext, which duplicates the descriptor and
// runs OnOpen on that loop before it returns).
//
// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM) the
// goroutine never gives up: it frees its reserve descriptor, accepts the
// connection at the head of the queue and closes it with a 503 (so a client
// learns at once instead of waiting in the backlog), takes the reserve back,
// and retries after a backoff of 5 ms doubling to 1 s. A connection accepted
// with the last free descriptor cannot be duplicated for its loop; it is
// closed and the same backoff applies. It logs at most once a
// second, with the number of errors since the last line. Connections are
// accepted again as soon as descriptors free up. Only a listener that is gone
// (closed under us, not a socket any more) stops it; that is reported on
// Config.Gone (the engine reports it on Server.Done).
//
// Keepalive and TCP_USER_TIMEOUT are set on the listening socket: Linux
// copies them to every socket it accepts, so they cost nothing per connect.
//
// The price of owning the accept is the hand-off: gnet v2.9.7 adopts a socket
// only as a net.Conn (Go's accept registers it with Go's poller, reads its
// local address and sets TCP_NODELAY), duplicates it, and registers it on the
// loop while the accepting goroutine waits — two more thread wake-ups and
// about seven more system calls per connection than gnet accepting on its
// loop. Measured on a 2-core VM: about 80–150 µs more server CPU per paced
// connect (≈125 µs before). A gnet API that adopts a raw descriptor, or one
//
// Concurrency: one goroutine per listener accepts and calls Config.Hand;
// the reserve descriptor is shared under a mutex taken only while
// shedding. Bind, Serve, Close and Wait are called by the engine's
// Start and Stop.
package listen
