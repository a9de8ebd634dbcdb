// Package protocol owns the Centrifugo v6 wire vocabulary that unisse speaks:
// disconnect and error codes with their reasons (codes.go), the JSON encoding of
// every push a unidirectional client can receive (push.go), and decoding of the
// connect request a client sends (connect.go).
//
// Encoders are Append-style: they take a destination slice and return it extended,
// allocate nothing, and reproduce Centrifugo's field order and omission rules byte
// for byte, because clients and the captures in shared/captures compare bytes.
// Strings the server writes are escaped the way Go's encoding/json does with
// HTML escaping on (<, >, & as \u003c, \u003e, \u0026), which is what Centrifugo
// emits. Raw JSON supplied by publishers (publication data, conn info) is copied
// as is, except that publication data loses every '\n' byte (Centrifugo does the
// same so an event stays on one SSE "data:" line).
//
// All functions are safe for concurrent use; none keeps a reference to its inputs.
package protocol
