package api

import "github.com/unisse/unisse/engine/protocol"

// Method is a server API method.
type Method uint8

// The methods unisse serves. MethodLegacy is the bare prefix (/api) taking
// {"method":…,"params":…} commands. The order of the commands (MethodPublish
// to MethodRPC) is the field order of Centrifugo's batch Command, which picks
// a batch element's command (firstKnownCommand).
const (
	MethodUnknown Method = iota
	MethodLegacy
	MethodPublish
	MethodBroadcast
	MethodSubscribe
	MethodUnsubscribe
	MethodDisconnect
	MethodRefresh
	MethodPresence
	MethodPresenceStats
	MethodHistory
	MethodHistoryRemove
	MethodChannels
	MethodInfo
	MethodRPC
	MethodBatch
)

// noLegacyNumber marks a method the legacy endpoint cannot name by number.
const noLegacyNumber = -1

// methodSpec is everything the package knows about one method; adding a
// method adds one entry to methods.
type methodSpec struct {
	name string // in paths (/api/<name>) and batch commands
	// legacyNumber is the method's number in Centrifugo's protobuf API
	// (Command.MethodType), which the legacy endpoint accepts for "method".
	legacyNumber int
	// publishesOnly: the method's execution only publishes through the
	// Executor (no operation on connections across the event loops), so it
	// completes without waiting exactly when the broker's publishes do.
	publishesOnly bool
	// decode parses a command's params into its request; nil for the
	// envelopes (legacy, batch), which Serve unpacks into commands.
	decode func(params []byte) (any, error)
	// run validates a decoded request, executes it and appends its result
	// object to dst.
	run func(h *Handler, dst []byte, req any) ([]byte, *protocol.Error)
}

// command builds the entry of a method whose params decode into an R and
// which run serves.
func command[R any](name string, legacyNumber int, publishesOnly bool, run func(h *Handler, dst []byte, r *R) ([]byte, *protocol.Error)) methodSpec {
	return methodSpec{
		name:          name,
		legacyNumber:  legacyNumber,
		publishesOnly: publishesOnly,
		decode: func(params []byte) (any, error) {
			r := new(R)
			// decode checks the whole body with encoding/json's validator,
			// so raw JSON fields (data, info), which are forwarded verbatim
			// to clients, are strictly valid too.
			if err := decode(params, r); err != nil {
				return nil, err
			}
			return r, nil
		},
		run: func(h *Handler, dst []byte, req any) ([]byte, *protocol.Error) { return run(h, dst, req.(*R)) },
	}
}

// methods is the method table, indexed by Method.
var methods = [...]methodSpec{
	MethodLegacy:        {name: "", legacyNumber: noLegacyNumber},
	MethodPublish:       command("publish", 0, true, (*Handler).publish),
	MethodBroadcast:     command("broadcast", 1, true, (*Handler).broadcast),
	MethodSubscribe:     command("subscribe", 12, false, (*Handler).subscribe),
	MethodUnsubscribe:   command("unsubscribe", 2, false, (*Handler).unsubscribe),
	MethodDisconnect:    command("disconnect", 3, false, (*Handler).disconnect),
	MethodRefresh:       command("refresh", 11, false, (*Handler).refresh),
	MethodPresence:      command("presence", 4, false, (*Handler).presence),
	MethodPresenceStats: command("presence_stats", 5, false, (*Handler).presenceStats),
	MethodHistory:       command("history", 6, false, (*Handler).history),
	MethodHistoryRemove: command("history_remove", 7, false, (*Handler).historyRemove),
	MethodChannels:      command("channels", 8, false, (*Handler).channels),
	MethodInfo:          command("info", 9, false, (*Handler).info),
	MethodRPC:           command("rpc", 10, false, (*Handler).rpc),
	MethodBatch:         {name: "batch", legacyNumber: noLegacyNumber},
}

// spec returns m's entry, or nil for MethodUnknown and out-of-range values.
func (m Method) spec() *methodSpec {
	if m == MethodUnknown || int(m) >= len(methods) {
		return nil
	}
	return &methods[m]
}

// String is the method's name in paths and batch commands.
func (m Method) String() string {
	switch s := m.spec(); {
	case m == MethodLegacy:
		return "legacy"
	case s == nil:
		return "unknown"
	default:
		return s.name
	}
}

// MethodByName maps a name to its method (MethodUnknown if none). Allocation-free.
func MethodByName(name []byte) Method {
	for m := range methods {
		if n := methods[m].name; n != "" && string(name) == n {
			return Method(m)
		}
	}
	return MethodUnknown
}

// methodByLegacyNumber maps a protobuf method type to its method
// (MethodUnknown if none).
func methodByLegacyNumber(n int) Method {
	for m := range methods {
		if n != noLegacyNumber && methods[m].decode != nil && methods[m].legacyNumber == n {
			return Method(m)
		}
	}
	return MethodUnknown
}

// Route maps a request path to a method under prefix: prefix itself is MethodLegacy,
// prefix + "/" + name is that method, anything else is MethodUnknown (→ 404), exactly
// as Centrifugo's exact-match mux registrations behave.
func Route(prefix string, path []byte) Method {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return MethodUnknown
	}
	rest := path[len(prefix):]
	if len(rest) == 0 {
		return MethodLegacy
	}
	if rest[0] != '/' {
		return MethodUnknown
	}
	return MethodByName(rest[1:])
}

// PublishesOnly reports whether m's execution does nothing but publish
// through the Executor (publish, broadcast): it then waits for nothing but the
// broker, and the engine may run it on an event loop when the broker completes
// publishes inline. Every other method acts on connections across the loops
// and runs on a goroutine.
func PublishesOnly(m Method) bool {
	s := m.spec()
	return s != nil && s.publishesOnly
}
