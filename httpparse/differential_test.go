package httpparse

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// Differential fuzzing: the same bytes through our parser and a reference. Against
// fasthttp's RequestHeader.Read, agreement is required except in the divergence
// classes below, each a deliberate choice listed in doc.go. Against net/url, AppendQuery
// must agree exactly.

// divergence is one documented reason for our parser and fasthttp to disagree.
type divergence struct {
	name string
	// weAccept is true when we accept what fasthttp refuses, false for the reverse.
	weAccept bool
	// example is an input on which the parsers disagree this way (TestDivergenceClasses).
	example string
	// applies reports whether the input has the shape this class is about.
	applies func(h rawHead) bool
}

// divergences is the complete list. A disagreement that none of these explains fails
// the fuzzer: either a bug, or a new deliberate choice to name here and in doc.go.
var divergences = []divergence{
	// We accept; fasthttp refuses.
	{
		"bare LF ends the head (RFC 9112 §2.2 allows it; fasthttp waits for a CRLFCRLF)", true,
		"GET / HTTP/1.1\r\nHost: h\r\n\n",
		func(h rawHead) bool { return h.bareLFEnd },
	},
	{
		"repeated identical Content-Length (RFC 9110 §8.6 allows it, as net/http does)", true,
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		func(h rawHead) bool { return h.count("content-length") > 1 },
	},
	{
		"empty Host value (RFC 9110 §7.2 allows it; fasthttp wants a non-empty Host)", true,
		"GET / HTTP/1.1\r\nHost:\r\n\r\n",
		func(h rawHead) bool { v, ok := h.first("host"); return ok && v == "" },
	},
	{
		"Trailer header naming a forbidden field (we do not read Trailer; fasthttp validates it)", true,
		"POST / HTTP/1.1\r\nHost: h\r\nTrailer: Content-Length\r\nContent-Length: 0\r\n\r\n",
		func(h rawHead) bool { return h.count("trailer") > 0 },
	},

	// We refuse; fasthttp accepts.
	{
		"whitespace inside a field name (RFC 9112 §5.1; fasthttp tolerates it)", false,
		"GET / HTTP/1.1\r\nHost: h\r\nX A: 1\r\n\r\n",
		func(h rawHead) bool { return h.any(nameHasSpace) },
	},
	{
		"obs-fold (RFC 9112 §5.2 lets a server reject it; fasthttp joins the lines)", false,
		"GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n 2\r\n\r\n",
		func(h rawHead) bool {
			return h.any(func(l string) bool { return l != "" && (l[0] == ' ' || l[0] == '\t') })
		},
	},
	{
		"HTTP version other than 1.0 and 1.1 (505; fasthttp accepts any HTTP/d.d)", false,
		"GET / HTTP/1.2\r\nHost: h\r\n\r\n",
		func(h rawHead) bool { return h.version() != "HTTP/1.0" && h.version() != "HTTP/1.1" },
	},
	{
		"more than 64 headers (431; our fixed-size Request)", false,
		"GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: 1\r\n", MaxHeaders) + "\r\n",
		func(h rawHead) bool { return len(h.fields) > MaxHeaders },
	},
	{
		"authority-form target (CONNECT host:port; we are not a proxy)", false,
		"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
		func(h rawHead) bool { t := h.target(); return t != "" && t[0] != '/' && !strings.Contains(t, "://") },
	},
	{
		"absolute-form with an empty authority (RFC 9110 §4.2.1 MUST reject)", false,
		"GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n",
		func(h rawHead) bool {
			_, rest, ok := strings.Cut(h.target(), "://")
			return ok && (rest == "" || rest[0] == '/' || rest[0] == '?')
		},
	},
	{
		"Content-Length and Transfer-Encoding together (RFC 9112 §6.3; fasthttp reads chunked and closes)", false,
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		func(h rawHead) bool { return h.count("content-length") > 0 && h.count("transfer-encoding") > 0 },
	},
	{
		"Transfer-Encoding other than chunked (501; fasthttp ignores identity)", false,
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
		func(h rawHead) bool {
			v, ok := h.first("transfer-encoding")
			return ok && !strings.EqualFold(strings.Trim(v, " \t"), "chunked")
		},
	},
}

// rawHead is a deliberately naive split of the first head in the input, used only to
// decide which divergence class an input falls in. It must not share code with the
// parser under test.
type rawHead struct {
	requestLine string
	fields      []string // field lines as received, without line endings
	bareLFEnd   bool     // the blank line ending the head is a bare LF, or no CRLFCRLF occurs
}

func splitRawHead(data []byte) rawHead {
	var h rawHead
	s := string(data)
	for len(s) > 0 && (s[0] == '\n' || strings.HasPrefix(s, "\r\n")) {
		s = s[strings.IndexByte(s, '\n')+1:]
	}
	first := true
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		line := s[:i]
		crlf := strings.HasSuffix(line, "\r")
		line = strings.TrimSuffix(line, "\r")
		s = s[i+1:]
		if first {
			h.requestLine, first = line, false
			continue
		}
		if line == "" {
			h.bareLFEnd = !crlf
			break
		}
		h.fields = append(h.fields, line)
	}
	if !bytes.Contains(data, []byte("\r\n\r\n")) {
		h.bareLFEnd = true
	}
	return h
}

func (h rawHead) target() string {
	parts := strings.SplitN(h.requestLine, " ", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func (h rawHead) version() string {
	parts := strings.SplitN(h.requestLine, " ", 3)
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

func (h rawHead) any(f func(line string) bool) bool {
	for _, l := range h.fields {
		if f(l) {
			return true
		}
	}
	return false
}

func (h rawHead) values(name string) []string {
	var vs []string
	for _, l := range h.fields {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimRight(k, " \t"), name) {
			vs = append(vs, strings.Trim(v, " \t"))
		}
	}
	return vs
}

func (h rawHead) count(name string) int { return len(h.values(name)) }

func (h rawHead) first(name string) (string, bool) {
	if vs := h.values(name); len(vs) > 0 {
		return vs[0], true
	}
	return "", false
}

func nameHasSpace(line string) bool {
	k, _, ok := strings.Cut(line, ":")
	return ok && strings.ContainsAny(k, " \t")
}

// explain returns the first divergence class that covers a disagreement, or "".
func explain(data []byte, weAccept bool) string {
	h := splitRawHead(data)
	for _, d := range divergences {
		if d.weAccept == weAccept && d.applies(h) {
			return d.name
		}
	}
	return ""
}

// TestDivergenceClasses pins each class to an example on which the two parsers really
// disagree in the stated direction, so that a class fasthttp stops needing (or one that
// never was real) shows up as a failure instead of silently widening the fuzzer's
// tolerance.
func TestDivergenceClasses(t *testing.T) {
	for _, d := range divergences {
		in := []byte(d.example)
		var r Request
		_, err := r.ParseHead(in, Limits{})
		var h fasthttp.RequestHeader
		ferr := h.Read(bufio.NewReaderSize(bytes.NewReader(in), max(len(in), 16)))
		if (err == nil) != d.weAccept || (ferr == nil) == d.weAccept {
			t.Errorf("%s: ours %v, fasthttp %v: not a divergence in the stated direction", d.name, err, ferr)
		}
		if got := explain(in, d.weAccept); got != d.name {
			t.Errorf("%s: explained as %q", d.name, got)
		}
	}
}

func FuzzDifferentialFasthttp(f *testing.F) {
	for _, tc := range headCases {
		if len(tc.in) <= 64<<10 {
			f.Add([]byte(tc.in))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		n, err := r.ParseHead(data, Limits{})

		var h fasthttp.RequestHeader
		br := bufio.NewReaderSize(bytes.NewReader(data), max(len(data), 16))
		ferr := h.Read(br)
		fastLen := len(data) - br.Buffered()

		switch {
		case err != nil && ferr != nil:
			return // both refuse; the reasons may differ, the answer does not
		case err == nil && ferr != nil:
			if explain(data, true) == "" {
				t.Fatalf("we accept, fasthttp refuses (%v), no divergence class covers it:\n%q", ferr, data)
			}
			return
		case err != nil && ferr == nil:
			if explain(data, false) == "" {
				t.Fatalf("we refuse (%v), fasthttp accepts, no divergence class covers it:\n%q", err, data)
			}
			return
		}
		compareWithFasthttp(t, data, &r, n, &h, fastLen)
	})
}

// compareWithFasthttp checks every field both parsers report.
func compareWithFasthttp(t *testing.T, data []byte, r *Request, n int, h *fasthttp.RequestHeader, fastLen int) {
	t.Helper()
	fail := func(what string, ours, theirs any) {
		t.Helper()
		t.Fatalf("%s: ours %q, fasthttp %q\ninput %q", what, ours, theirs, data)
	}
	if n != fastLen {
		fail("head length", n, fastLen)
	}
	if !bytes.Equal(r.Method(), h.Method()) {
		fail("method", r.Method(), h.Method())
	}
	if !bytes.Equal(r.Target(), h.RequestURI()) {
		fail("request-target", r.Target(), h.RequestURI())
	}
	// Path and query through fasthttp's URI parser, with two field-level divergences:
	//   - it splits off a "#fragment"; we keep '#' as a literal byte as net/http does (a
	//     fragment is never sent in a request-target, RFC 9112 §3.2), so such targets
	//     are compared up to the '#';
	//   - it reads "//a://b" as scheme-less absolute-form with authority "a:"; net/http
	//     and we read origin-form path "//a://b", so targets starting with "//" are not
	//     compared (our reading is pinned by the table tests).
	target := r.Target()
	if string(target) != "*" && !bytes.HasPrefix(target, []byte("//")) {
		var u fasthttp.URI
		if err := u.Parse([]byte("h"), target); err == nil {
			path, query := r.Path(), r.RawQuery()
			if i := bytes.IndexByte(target, '#'); i >= 0 {
				path, query = cutAtHash(path), cutAtHash(query)
				if q := bytes.IndexByte(target, '?'); q < 0 || q > i {
					query = nil
				}
			}
			fastPath := u.PathOriginal()
			if len(fastPath) == 0 {
				fastPath = []byte("/")
			}
			if !bytes.Equal(path, fastPath) {
				fail("path", path, fastPath)
			}
			if !bytes.Equal(query, u.QueryString()) {
				fail("query", query, u.QueryString())
			}
		}
	}
	wantCL := int64(h.ContentLength())
	if wantCL < 0 {
		wantCL = -1 // fasthttp: -1 chunked, -2 none
	}
	if r.ContentLength() != wantCL || r.Chunked() != (h.ContentLength() == -1) {
		fail("content length", r.ContentLength(), h.ContentLength())
	}
	if r.KeepAlive() == h.ConnectionClose() {
		fail("keep-alive", r.KeepAlive(), !h.ConnectionClose())
	}
	r.VisitHeaders(func(name, _ []byte) {
		switch strings.ToLower(string(name)) {
		case "content-length", "transfer-encoding", "connection", "trailer", "cookie":
			return // compared above, or re-serialized by fasthttp
		}
		ours := r.Header(string(name))
		theirs := h.Peek(string(name))
		if !bytes.Equal(ours, theirs) {
			fail("header "+string(name), ours, theirs)
		}
	})
}

func cutAtHash(b []byte) []byte {
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		return b[:i]
	}
	return b
}

func FuzzDifferentialQuery(f *testing.F) {
	f.Add("cf_connect="+encodeURIComponent(connectJSON), "cf_connect")
	f.Add("a=1&a=2&b=%zz&b=3;&c", "b")
	f.Add("a%=1&a=2", "a")
	f.Add("+=%20", " ")
	f.Add("=", "")
	f.Fuzz(func(t *testing.T, query, name string) {
		want, wantFound := queryGet(query, name)
		got, found := AppendQuery(nil, []byte(query), name)
		if found != wantFound || string(got) != want {
			t.Fatalf("AppendQuery(%q, %q) = %q %v; net/url: %q %v", query, name, got, found, want, wantFound)
		}
	})
}
