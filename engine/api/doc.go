// Package api owns Centrifugo's server HTTP API as unisse serves it: which
// paths exist (/api/<method>, the legacy /api with {"method":…}, /api/batch),
// the three forms of API key, decoding request bodies with goccy/go-json, and
// encoding replies and error objects byte for byte as Centrifugo v6 does
// (shared/captures 30–35, 46).
//
// The package does not know about connections or channels: it decodes a
// command, hands it to an Executor (the engine), and encodes what comes back.
// Handler.Serve may block for as long as the Executor does; the engine calls it
// on an event loop only for commands that do nothing but publish
// (PublishesOnly) and only when its broker completes publishes inline, and on
// a goroutine otherwise.
//
// Each method is one entry of the method table (methods, method.go): its
// name, its number in the legacy protobuf API, whether it only publishes, how
// its params decode, and the function that validates, executes and encodes
// it. /api/<method>, batch elements and legacy commands all go through it.
//
// Processing order is Centrifugo's: unknown path → 404 (before auth), non-POST
// → 405, bad key → 401, undecodable body → 400 "Bad Request", then the command,
// whose own errors are 200 with {"error":{…}} (or, in transport error mode, an
// HTTP status derived from the code with the bare error object as body).
package api
