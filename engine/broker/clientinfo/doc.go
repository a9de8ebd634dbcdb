// Package clientinfo converts a client's info between the forms the
// brokers meet: unisse's JSON ({"user","client","conn_info","chan_info"},
// Centrifugo's shape, carried in broker.Publication.Info), the engine's
// broker.ClientInfo (join/leave, presence) and the protobuf ClientInfo of
// github.com/centrifugal/protocol that Centrifugo's Redis and NATS brokers
// put on the wire. It is shared by redisbroker and natsbroker so that both
// read and write a client's info the same way.
package clientinfo
