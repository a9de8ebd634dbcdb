// Package eventid is the codec of the SSE event ids unisse sends with
// unisse.sse_event_ids: a compact text token that lists, for each of a
// connection's recoverable subscriptions, a hash of the channel name, the
// stream epoch and the offset the client has reached. A browser's
// EventSource sends the last id it saw back as the Last-Event-ID header when
// it reconnects by itself, and the connect recovers each listed channel from
// there (engine/session).
//
// Format (version "u1"):
//
//	token = "u1" *( "." hash "." offset "." epoch )
//	hash, offset = base64url digits (A-Z a-z 0-9 - _), most significant
//	               first, no leading zero digit ("A" is 0), at most 11
//	hash   = FNV-1a 32 of the channel name
//	epoch  = 0 to MaxEpoch characters of the same alphabet
//
// Only characters legal in an SSE id appear (no CR, LF, NUL, space). A token
// lists at most MaxSubs entries: MaxSubs × (1+6+1+11+1+MaxEpoch) + 2 bytes at
// most, under MaxLen. Decode is strict and bounded: anything longer than
// MaxLen, with more than MaxSubs entries, or malformed in any way is
// rejected whole. A token is not authenticated and need not be: it can only
// name positions of channels the connection subscribes to anyway (the hash
// selects among them; anything else is ignored), and a recovery from a
// forged position reads no more than a cf_connect with that position could.
package eventid
