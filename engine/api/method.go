package api

// Method is a server API method.
type Method uint8

// The methods unisse serves. MethodLegacy is the bare prefix (/api) taking
// {"method":…,"params":…} commands.
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

var methodNames = [...]string{
	MethodPublish:       "publish",
	MethodBroadcast:     "broadcast",
	MethodSubscribe:     "subscribe",
	MethodUnsubscribe:   "unsubscribe",
	MethodDisconnect:    "disconnect",
	MethodRefresh:       "refresh",
	MethodPresence:      "presence",
	MethodPresenceStats: "presence_stats",
	MethodHistory:       "history",
	MethodHistoryRemove: "history_remove",
	MethodChannels:      "channels",
	MethodInfo:          "info",
	MethodRPC:           "rpc",
	MethodBatch:         "batch",
}

// String is the method's name in paths and batch commands.
func (m Method) String() string {
	if int(m) < len(methodNames) && methodNames[m] != "" {
		return methodNames[m]
	}
	if m == MethodLegacy {
		return "legacy"
	}
	return "unknown"
}

// MethodByName maps a name to its method (MethodUnknown if none). Allocation-free.
func MethodByName(name []byte) Method {
	for m, n := range methodNames {
		if n != "" && string(name) == n {
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

// Inline reports whether m can run on an event loop: its execution never waits
// on anything (publishing to the in-memory broker only enqueues). Everything
// else runs on a goroutine so loops never block.
func Inline(m Method) bool { return m == MethodPublish || m == MethodBroadcast }
