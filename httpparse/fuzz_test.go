package httpparse

import (
	"bytes"
	"io"
	"net/http/httputil"
	"net/url"
	"testing"
)

// Native fuzzers for every parser in the package. The table inputs are added as seeds
// in code; hostile seeds (smuggling shapes, limits, odd line endings) are committed
// under testdata/fuzz/<FuzzName>/ so that every `go test` run replays them.

func FuzzParseHead(f *testing.F) {
	for _, tc := range headCases {
		if len(tc.in) <= 64<<10 {
			f.Add([]byte(tc.in), uint16(tc.lim.MaxHeadSize))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		lim := Limits{MaxHeadSize: int(limit)}
		var r Request
		n, err := r.ParseHead(data, lim)
		checkHeadInvariants(t, &r, data, lim, n, err)

		// The same bytes delivered one byte per call, in one array, must give the same
		// answer: no decision may depend on where packets were split.
		var inc Request
		var n2 int
		var err2 error
		for k := 0; k <= len(data); k++ {
			n2, err2 = inc.ParseHead(data[:k], lim)
			if err2 != ErrIncomplete {
				break
			}
		}
		if err2 != err || n2 != n {
			t.Fatalf("byte by byte: n=%d err=%v; one shot: n=%d err=%v", n2, err2, n, err)
		}
		if err == nil && headSummary(&inc) != headSummary(&r) {
			t.Fatalf("byte by byte:\n%s\none shot:\n%s", headSummary(&inc), headSummary(&r))
		}
	})
}

func checkHeadInvariants(t *testing.T, r *Request, data []byte, lim Limits, n int, err error) {
	t.Helper()
	if err != nil {
		if n != 0 {
			t.Fatalf("headLen %d with error %v", n, err)
		}
		switch Status(err) {
		case 0:
			if len(data) >= lim.maxHeadSize() {
				t.Fatalf("ErrIncomplete with %d bytes buffered, limit %d", len(data), lim.maxHeadSize())
			}
		case 400, 431, 501, 505:
		default:
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if n <= 0 || n > len(data) || n > lim.maxHeadSize() {
		t.Fatalf("headLen %d of %d bytes, limit %d", n, len(data), lim.maxHeadSize())
	}
	if data[n-1] != '\n' {
		t.Fatalf("head does not end in LF: %q", data[:n])
	}
	path := r.Path()
	if len(path) == 0 || path[0] != '/' && !(string(path) == "*" && string(r.Method()) == "OPTIONS") {
		t.Fatalf("Path %q", path)
	}
	if len(r.Method()) == 0 || r.ProtoMinor() > 1 || r.ContentLength() < -1 || (r.Chunked() && r.ContentLength() != -1) {
		t.Fatalf("bad head: %s", headSummary(r))
	}
	for _, c := range r.Target() {
		if isCTL(c) || c == ' ' {
			t.Fatalf("control byte or space in target %q", r.Target())
		}
	}
	first := map[string]string{}
	r.VisitHeaders(func(name, value []byte) {
		for _, c := range name {
			if !isTchar[c] {
				t.Fatalf("bad name %q", name)
			}
		}
		if len(value) > 0 && (trimOWS(value)[0] != value[0] || len(trimOWS(value)) != len(value)) {
			t.Fatalf("untrimmed value %q", value)
		}
		for _, c := range value {
			if !isFieldByte[c] {
				t.Fatalf("bad value %q", value)
			}
		}
		key := string(bytes.ToLower(name))
		if _, ok := first[key]; !ok {
			first[key] = string(value)
		}
	})
	for key, value := range first {
		if got := r.Header(key); got == nil || string(got) != value {
			t.Fatalf("Header(%q) = %q, want first value %q", key, got, value)
		}
	}
	// Re-parsing exactly the head gives the same head.
	var again Request
	n2, err2 := again.ParseHead(data[:n], lim)
	if err2 != nil || n2 != n || headSummary(&again) != headSummary(r) {
		t.Fatalf("reparse of head: n=%d err=%v\n%s\nwant\n%s", n2, err2, headSummary(&again), headSummary(r))
	}
}

func FuzzAppendQuery(f *testing.F) {
	f.Add([]byte("cf_connect="+encodeURIComponent(connectJSON)), "cf_connect")
	f.Add([]byte("a=1&a=2&b=%zz&b=3;&c"), "b")
	f.Add([]byte("%"), "")
	f.Fuzz(func(t *testing.T, query []byte, name string) {
		prefix := []byte("pre")
		out, found := AppendQuery(prefix, query, name)
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("dst prefix lost: %q", out)
		}
		if !found && len(out) != len(prefix) {
			t.Fatalf("not found but appended %q", out[len(prefix):])
		}
		bare, found2 := AppendQuery(nil, query, name)
		if found2 != found || !bytes.Equal(bare, out[len(prefix):]) {
			t.Fatalf("result depends on dst: %q vs %q", bare, out[len(prefix):])
		}
		// AppendUnescape must agree with url.QueryUnescape on any input.
		un, err := AppendUnescape(prefix, query)
		ref, refErr := url.QueryUnescape(string(query))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("AppendUnescape(%q) err=%v, url.QueryUnescape err=%v", query, err, refErr)
		}
		if err == nil && string(un[len(prefix):]) != ref {
			t.Fatalf("AppendUnescape(%q) = %q, url.QueryUnescape = %q", query, un[len(prefix):], ref)
		}
		if err != nil && len(un) != len(prefix) {
			t.Fatalf("error but dst grew to %q", un)
		}
	})
}

func FuzzChunkedBody(f *testing.F) {
	for _, tc := range chunkCases {
		f.Add([]byte(tc.in), uint16(tc.max))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxBody uint16) {
		limit := int(maxBody)
		body, consumed, err := ChunkedBody(nil, data, limit)

		// Fed one byte longer per call, the first decided answer is the one-shot one.
		// Each call rewalks the chunks, so inputs over 256 bytes are fed in 64 steps
		// rather than byte by byte; that keeps minimizing a large input from stalling
		// the fuzzer, and any decided prefix must still agree.
		step := 1
		if len(data) > 256 {
			step = len(data)/64 + 1
		}
		for k := 0; ; k = min(k+step, len(data)) {
			b2, c2, err2 := ChunkedBody(nil, data[:k], limit)
			if err2 == ErrIncomplete {
				if k == len(data) {
					break
				}
				continue
			}
			if err2 != err || c2 != consumed || !bytes.Equal(b2, body) {
				t.Fatalf("after %d bytes: %v %d %q; one shot: %v %d %q", k, err2, c2, b2, err, consumed, body)
			}
			break
		}
		if err != nil {
			if consumed != 0 || len(body) != 0 || Status(err) == 500 {
				t.Fatalf("err %v with consumed %d body %q", err, consumed, body)
			}
			return
		}
		if consumed <= 0 || consumed > len(data) || len(body) > limit {
			t.Fatalf("consumed %d of %d, body %d bytes of max %d", consumed, len(data), len(body), limit)
		}
		// Exactly the body's bytes decode the same; any shorter prefix is incomplete
		// (an accepted body has nothing in it to reject early).
		again, consumed2, err := ChunkedBody([]byte("x"), data[:consumed], limit)
		if err != nil || consumed2 != consumed || string(again) != "x"+string(body) {
			t.Fatalf("re-decode: %v %d %q", err, consumed2, again)
		}
		for _, k := range []int{0, consumed / 2, consumed - 1} {
			if _, _, err := ChunkedBody(nil, data[:k], limit); err != ErrIncomplete {
				t.Fatalf("prefix of %d bytes: %v", k, err)
			}
		}
		// Where net/http's own chunked reader also accepts the bytes, it must read the
		// same payload. (It is stricter in places — no whitespace before ';', at most 16
		// hex digits — so a refusal there is not a failure.)
		ref, refErr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:consumed])))
		if refErr == nil && !bytes.Equal(ref, body) {
			t.Fatalf("net/http reads %q, we read %q", ref, body)
		}
	})
}
