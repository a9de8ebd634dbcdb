package api_test

import (
	"testing"

	"github.com/unisse/unisse/engine/api"
)

// Centrifugo v6 registers exactly these paths under http_api.handler_prefix
// (PROTOCOL.md §5); the bare prefix is the legacy endpoint.
var methodPaths = map[string]api.Method{
	"publish":        api.MethodPublish,
	"broadcast":      api.MethodBroadcast,
	"subscribe":      api.MethodSubscribe,
	"unsubscribe":    api.MethodUnsubscribe,
	"disconnect":     api.MethodDisconnect,
	"refresh":        api.MethodRefresh,
	"presence":       api.MethodPresence,
	"presence_stats": api.MethodPresenceStats,
	"history":        api.MethodHistory,
	"history_remove": api.MethodHistoryRemove,
	"channels":       api.MethodChannels,
	"info":           api.MethodInfo,
	"rpc":            api.MethodRPC,
	"batch":          api.MethodBatch,
}

func TestMethodByName(t *testing.T) {
	for name, m := range methodPaths {
		if got := api.MethodByName([]byte(name)); got != m {
			t.Errorf("MethodByName(%q) = %v, want %v", name, got, m)
		}
		if got := m.String(); got != name {
			t.Errorf("%d.String() = %q, want %q", m, got, name)
		}
	}
	// Names are exact: no case folding, no prefixes, no legacy/unknown aliases,
	// none of the map_* methods (out of scope, hence 404).
	for _, name := range []string{"", "Publish", "PUBLISH", "publis", "publish ", " publish", "publishx",
		"presence-stats", "presencestats", "legacy", "unknown", "map_publish", "shared_poll_publish", "connections", "publish\x00"} {
		if got := api.MethodByName([]byte(name)); got != api.MethodUnknown {
			t.Errorf("MethodByName(%q) = %v, want unknown", name, got)
		}
	}
	if api.MethodByName(nil) != api.MethodUnknown {
		t.Error("MethodByName(nil) is not unknown")
	}
	if s := api.MethodLegacy.String(); s != "legacy" {
		t.Errorf("MethodLegacy.String() = %q", s)
	}
	if s := api.MethodUnknown.String(); s != "unknown" {
		t.Errorf("MethodUnknown.String() = %q", s)
	}
	if s := api.Method(200).String(); s != "unknown" {
		t.Errorf("Method(200).String() = %q", s)
	}
}

func TestRoute(t *testing.T) {
	for name, m := range methodPaths {
		if got := api.Route("/api", []byte("/api/"+name)); got != m {
			t.Errorf("Route(/api/%s) = %v, want %v", name, got, m)
		}
		// Exact match, as Go's ServeMux: a trailing slash or suffix is 404 [33].
		for _, p := range []string{"/api/" + name + "/", "/api/" + name + "x", "/api//" + name, "/api/" + name + "/publish"} {
			if got := api.Route("/api", []byte(p)); got != api.MethodUnknown {
				t.Errorf("Route(%q) = %v, want unknown", p, got)
			}
		}
	}
	cases := []struct {
		prefix, path string
		want         api.Method
	}{
		{"/api", "/api", api.MethodLegacy},
		{"/api", "/api/", api.MethodUnknown},
		{"/api", "/api/foo", api.MethodUnknown}, // [33]
		{"/api", "/apipublish", api.MethodUnknown},
		{"/api", "/ap", api.MethodUnknown},
		{"/api", "", api.MethodUnknown},
		{"/api", "/", api.MethodUnknown},
		{"/api", "/API/publish", api.MethodUnknown},
		{"/api", "/x/api/publish", api.MethodUnknown},
		{"/api", "/api/Publish", api.MethodUnknown},
		{"/api", "/api/legacy", api.MethodUnknown},
		{"/api", "/api/unknown", api.MethodUnknown},
		{"/server/api", "/server/api", api.MethodLegacy},
		{"/server/api", "/server/api/publish", api.MethodPublish},
		{"/server/api", "/api/publish", api.MethodUnknown},
		{"/server/api", "/server/apix/publish", api.MethodUnknown},
	}
	for _, tc := range cases {
		if got := api.Route(tc.prefix, []byte(tc.path)); got != tc.want {
			t.Errorf("Route(%q, %q) = %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

func TestPublishesOnly(t *testing.T) {
	for m := api.MethodUnknown; m <= api.MethodBatch; m++ {
		want := m == api.MethodPublish || m == api.MethodBroadcast
		if api.PublishesOnly(m) != want {
			t.Errorf("PublishesOnly(%v) = %v, want %v", m, !want, want)
		}
	}
}

// TestAuthorized replays capture 31 and the precedence rules of Centrifugo's
// APIKeyAuth middleware: X-API-Key if present; otherwise Authorization with the
// "apikey" scheme; and api_key from the query whenever the header check failed.
func TestAuthorized(t *testing.T) {
	h, _ := newHandler(api.Config{})
	const k = apiKey
	cases := []struct {
		name               string
		xKey, auth, query  string
		queryPresent, want bool
	}{
		{name: "no credentials", want: false}, // [31]
		{name: "X-API-Key right", xKey: k, want: true},
		{name: "X-API-Key wrong", xKey: "wrong", want: false}, // [31]
		{name: "X-API-Key is a prefix of the key", xKey: k[:len(k)-1], want: false},
		{name: "X-API-Key extends the key", xKey: k + "x", want: false},
		{name: "X-API-Key differs in case", xKey: "Conformance-api-key", want: false},
		{name: "apikey scheme", auth: "apikey " + k, want: true},  // [31]
		{name: "APIKEY scheme", auth: "APIKEY " + k, want: true},  // [31]
		{name: "ApiKey scheme", auth: "ApiKey " + k, want: true},  // scheme case-insensitive
		{name: "Bearer scheme", auth: "Bearer " + k, want: false}, // [31]
		{name: "apikey wrong key", auth: "apikey wrong", want: false},
		{name: "apikey without key", auth: "apikey", want: false},
		{name: "apikey empty key", auth: "apikey ", want: false},
		{name: "bare key", auth: k, want: false},
		{name: "apikey key with suffix", auth: "apikey " + k + " x", want: false},
		{name: "apikeys scheme", auth: "apikeys " + k, want: false},
		{name: "query key", query: k, queryPresent: true, want: true}, // [31]
		{name: "query wrong", query: "wrong", queryPresent: true, want: false},
		{name: "query empty", query: "", queryPresent: true, want: false},
		{name: "X-API-Key wrong, query right", xKey: "wrong", query: k, queryPresent: true, want: true}, // [31]
		{name: "X-API-Key right, query wrong", xKey: k, query: "wrong", queryPresent: true, want: true},
		{name: "Authorization wrong, query right", auth: "Bearer x", query: k, queryPresent: true, want: true},
		{name: "Authorization right, X-API-Key right", xKey: k, auth: "apikey " + k, want: true},
		{name: "X-API-Key right, Authorization wrong", xKey: k, auth: "apikey wrong", want: true},
		// A present X-API-Key decides the header check: Authorization is not consulted.
		{name: "X-API-Key wrong, Authorization right", xKey: "wrong", auth: "apikey " + k, want: false},
		{name: "X-API-Key wrong, Authorization right, query right", xKey: "wrong", auth: "apikey " + k, query: k, queryPresent: true, want: true},
	}
	for _, tc := range cases {
		var q []byte
		if tc.queryPresent {
			q = []byte(tc.query)
		}
		if got := h.Authorized(bytesOrNil(tc.xKey), bytesOrNil(tc.auth), q); got != tc.want {
			t.Errorf("%s: Authorized(%q, %q, %q) = %v, want %v", tc.name, tc.xKey, tc.auth, q, got, tc.want)
		}
	}
}

// TestAuthorizedSchemeSeparator: Centrifugo splits the Authorization value
// with strings.Fields, so any run of spaces or tabs separates "apikey" from
// the key (internal/middleware/auth.go).
func TestAuthorizedSchemeSeparator(t *testing.T) {
	h, _ := newHandler(api.Config{})
	for _, auth := range []string{"apikey  " + apiKey, "apikey\t" + apiKey, "apikey \t " + apiKey} {
		if !h.Authorized(nil, []byte(auth), nil) {
			t.Errorf("Authorized(Authorization: %q) = false; Centrifugo accepts it", auth)
		}
	}
}

func TestAuthorizedEmptyKeyAndInsecure(t *testing.T) {
	// http_api.key empty and not insecure: every call is 401, even with an
	// empty key in every place.
	h := api.NewHandler(newFakeExec(), api.Config{})
	for _, tc := range [][3][]byte{
		{nil, nil, nil},
		{[]byte(""), []byte("apikey "), []byte("")},
		{[]byte("x"), nil, nil},
	} {
		if h.Authorized(tc[0], tc[1], tc[2]) {
			t.Errorf("empty key: Authorized(%q, %q, %q) = true", tc[0], tc[1], tc[2])
		}
	}
	// http_api.insecure: no check at all, whatever the key.
	for _, cfg := range []api.Config{{Insecure: true}, {Insecure: true, Key: apiKey}} {
		h := api.NewHandler(newFakeExec(), cfg)
		if !h.Authorized(nil, nil, nil) || !h.Authorized([]byte("wrong"), []byte("Bearer x"), []byte("y")) {
			t.Errorf("insecure %+v: a request was refused", cfg)
		}
	}
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}
