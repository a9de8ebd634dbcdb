//go:build !race

package api_test

import (
	"testing"

	"github.com/unisse/unisse/engine/api"
)

// The zero-allocation checks run without the race detector (it allocates);
// `make allocs` runs them.

func TestMethodByNameAllocs(t *testing.T) {
	name := []byte("history_remove")
	if n := testing.AllocsPerRun(100, func() { _ = api.MethodByName(name) }); n != 0 {
		t.Errorf("MethodByName allocates %v times", n)
	}
	path := []byte("/api/presence_stats")
	if n := testing.AllocsPerRun(100, func() { _ = api.Route("/api", path) }); n != 0 {
		t.Errorf("Route allocates %v times", n)
	}
}

func TestAuthorizedAllocs(t *testing.T) {
	h, _ := newHandler(api.Config{})
	x, a, q := []byte("wrong"), []byte("APIKEY "+apiKey), []byte(apiKey)
	if n := testing.AllocsPerRun(100, func() {
		_ = h.Authorized(x, nil, q)
		_ = h.Authorized(nil, a, nil)
	}); n != 0 {
		t.Errorf("Authorized allocates %v times", n)
	}
}
