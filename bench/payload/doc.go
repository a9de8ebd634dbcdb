// Package payload builds the JSON data unisse-bench publishes and reads it
// back out of the pushes subscribers receive, without allocating.
//
// A payload is {"s":<seq>,"w":<publisher>,"t":<unix ns>,"p":"xxx…"}: the
// publisher's sequence number on the channel, the publisher's index, the send
// time, and padding up to the requested size. The sequence and time come
// first so that a receiver needs only the first few dozen bytes of an event.
// Both Centrifugo and unisse forward publication data byte for byte, so a
// receiver finds it as {"channel":…,"pub":{"data":{"s":…
//
// Functions are pure and safe from any goroutine.
package payload
