// Package sockopt sets the socket options the engine relies on: a listening
// socket's SO_REUSEADDR (and SO_REUSEPORT when configured), keepalive and
// TCP_USER_TIMEOUT (inherited by every accepted connection), and a full send
// buffer grown so that a last disconnect push fits before a slow subscriber
// is closed.
//
// Concurrency: the functions act on the descriptor they are given and keep
// no state but the kernel's wmem_max, read once; safe from any goroutine.
package sockopt
