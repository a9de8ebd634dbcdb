// Package protocol owns the Centrifugo v6 wire vocabulary that unisse speaks:
// disconnect and error codes with their reasons (codes.go), the JSON encoding of
// every push a unidirectional client can receive (push.go), and decoding of the
// connect request a client sends (connect.go).
//
// Encoders are Append-style: they take a destination slice and return it extended,
// allocate nothing, and reproduce Centrifugo's field order and omission rules byte
// for byte, because clients and the captures in engine/testdata/captures compare bytes.
// Strings the server writes are escaped the way Go's encoding/json does with
// HTML escaping on (<, >, & as \u003c, \u003e, \u0026), which is what Centrifugo
// emits. Raw JSON supplied by publishers and tokens (publication data and info,
// conn and channel info, subscribe and connect data) is copied as is, except
// that every CR and LF byte is dropped (AppendRawJSON), so that a push is
// always one SSE "data:" line. In valid JSON they can only be whitespace
// between tokens, so the value is unchanged. Centrifugo drops '\n' from
// publication data only; ordinary JSON comes out byte for byte the same.
//
// All functions are safe for concurrent use; none keeps a reference to its inputs.
package protocol
