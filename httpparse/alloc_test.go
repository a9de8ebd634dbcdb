package httpparse

import "testing"

// Zero allocations in steady state is a hot-path rule (DESIGN.md rule 7). Each test
// asserts exactly 0 per operation. Under -race they return early: the race runtime
// allocates for its own bookkeeping, so the numbers would measure it, not us. The
// guard is a build-tagged constant, so a normal run can never skip them.

func assertNoAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(200, f); n != 0 {
		t.Errorf("%s: %v allocs/op, want 0", name, n)
	}
}

func TestAllocsParseHead(t *testing.T) {
	var r Request
	for _, in := range []string{browserSSEGet, apiPost, "GET http://h?x HTTP/1.0\r\n\r\n"} {
		buf := []byte(in)
		assertNoAllocs(t, "ParseHead", func() {
			if _, err := r.ParseHead(buf, Limits{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := []byte("GET / HTTP/1.1\r\nHost: h\r\nX : 1\r\n\r\n")
	assertNoAllocs(t, "ParseHead error", func() {
		if _, err := r.ParseHead(bad, Limits{}); err != ErrBadRequest {
			t.Fatal(err)
		}
	})
}

// TestAllocsHeadEndIncremental covers a head arriving in pieces: framed by
// HeadEnd, then parsed once.
func TestAllocsHeadEndIncremental(t *testing.T) {
	var r Request
	buf := []byte(browserSSEGet)
	assertNoAllocs(t, "HeadEnd in pieces", func() {
		resume := 0
		for k := 0; k < len(buf); k += 97 {
			var end int
			if end, resume = HeadEnd(buf[:k], resume); end >= 0 {
				t.Fatal(end)
			}
		}
		end, _ := HeadEnd(buf, resume)
		if _, err := r.ParseHead(buf[:end], Limits{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAllocsAccessors(t *testing.T) {
	var r Request
	if _, err := r.ParseHead([]byte(browserSSEGet), Limits{}); err != nil {
		t.Fatal(err)
	}
	sink := 0
	assertNoAllocs(t, "accessors", func() {
		sink += len(r.Header("origin")) + len(r.Header("Last-Event-ID")) + len(r.Path()) + len(r.RawQuery())
		if r.HasHeader("Cookie") || !r.IsGet() || !r.KeepAlive() || r.ContentLength() != -1 || r.Chunked() {
			t.Fatal("wrong head")
		}
		r.VisitHeaders(func(name, value []byte) { sink += len(name) })
	})
	_ = sink
}

func TestAllocsQuery(t *testing.T) {
	var r Request
	if _, err := r.ParseHead([]byte(browserSSEGet), Limits{}); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 1024)
	assertNoAllocs(t, "AppendQuery", func() {
		out, found := r.AppendQuery(dst[:0], "cf_connect")
		if !found || len(out) != len(connectJSON) {
			t.Fatal("cf_connect not found")
		}
		if _, found := AppendQuery(dst[:0], r.RawQuery(), "missing"); found {
			t.Fatal("found missing")
		}
	})
	src := []byte("%7B%22a%22%3A+1%7D")
	assertNoAllocs(t, "AppendUnescape", func() {
		if _, err := AppendUnescape(dst[:0], src); err != nil {
			t.Fatal(err)
		}
		if _, err := AppendUnescape(dst[:0], []byte("%zz")); err != ErrBadEscape {
			t.Fatal(err)
		}
	})
}

func TestAllocsChunkedBody(t *testing.T) {
	in := []byte("5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
	dst := make([]byte, 0, 64)
	assertNoAllocs(t, "ChunkedBody", func() {
		if _, _, err := ChunkedBody(dst[:0], in, 64); err != nil {
			t.Fatal(err)
		}
		if _, _, err := ChunkedBody(dst[:0], in[:20], 64); err != ErrIncomplete {
			t.Fatal(err)
		}
	})
}
