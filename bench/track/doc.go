// Package track keeps the delivery accounting of one stream of sequence
// numbers (one publisher's messages on one subscriber's channel): how many
// distinct messages arrived, duplicates, reorderings, and from those the
// losses once the last published sequence is known.
//
// A Stream is 32 bytes and does not allocate; it remembers a window of the
// last 64 sequence numbers to tell a duplicate from a late arrival. Not safe
// for concurrent use: the event loop that owns the connection owns its
// streams.
package track
