// Package broker owns the seam between "a publication was accepted" and
// "deliver it to this node's subscribers": the Broker interface, and Memory, the
// in-process implementation that is unisse's embedded default.
//
// A Broker decides a publication's place in its channel's stream (offset and
// epoch, for channels with history), suppresses duplicates by idempotency key,
// and then hands it to the node's Handler, which frames it once and fans it out.
// Scale-out brokers (Redis) implement the same interface: Publish goes to the
// shared engine and every node's Handler is called from the broker's receive
// loop.
//
// Concurrency: every method is safe from any goroutine. Memory.Publish calls the
// Handler synchronously on the publishing goroutine, after releasing its own
// locks, and publications of one channel reach the Handler in offset order.
package broker
