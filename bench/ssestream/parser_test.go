package ssestream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

type recorder struct{ events []string }

func (r *recorder) OnEvent(data []byte, truncated bool) {
	s := string(data)
	if truncated {
		s += "…"
	}
	r.events = append(r.events, s)
}

const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n" +
	"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"

// chunked frames body as HTTP chunks cut at random places, upper- or
// lower-case hex, some with extensions.
func chunked(r *rand.Rand, body string) string {
	var b strings.Builder
	b.WriteString("2\r\n\r\n\r\n") // the primer uni_sse sends first
	for len(body) > 0 {
		n := min(1+r.IntN(40), len(body))
		size := fmt.Sprintf("%x", n)
		if r.IntN(2) == 0 {
			size = strings.ToUpper(size)
		}
		if r.IntN(5) == 0 {
			size += ";ext=1"
		}
		b.WriteString(size + "\r\n" + body[:n] + "\r\n")
		body = body[n:]
	}
	b.WriteString("0\r\nTrailer: x\r\n\r\n")
	return b.String()
}

func events(n int) (body string, want []string) {
	var b strings.Builder
	for i := range n {
		var e string
		switch i % 4 {
		case 0:
			e = fmt.Sprintf(`{"channel":"bench","pub":{"data":{"s":%d,"t":1700000000000000000,"p":"xxxxxxxx"}}}`, i)
		case 1:
			e = "{}"
		case 2:
			e = `{"connect":{"client":"c","version":"0.0.0 OSS","ping":25}}`
		case 3:
			e = fmt.Sprintf(`{"channel":"b","pub":{"data":{"s":%d}}}`, i)
			b.WriteString(": comment line\nevent: ignored\n")
		}
		want = append(want, e)
		b.WriteString("data: " + e + "\n\n")
	}
	return b.String(), want
}

// feed splits stream at random points (or byte by byte) and parses it.
func feed(t *testing.T, r *rand.Rand, stream string, byteByByte bool) ([]string, error) {
	t.Helper()
	var p Parser
	var rec recorder
	in := []byte(stream)
	for len(in) > 0 {
		n := 1
		if !byteByByte {
			n = min(1+r.IntN(64), len(in))
		}
		// Copy each read into a fresh buffer so that a parser keeping
		// slices of an earlier read would be caught.
		read := slices.Clone(in[:n])
		in = in[n:]
		if err := p.Feed(read, &rec); err != nil {
			clear(read)
			return rec.events, err
		}
		clear(read)
	}
	return rec.events, nil
}

func TestParseChunkedStreamAnySplit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	body, want := events(40)
	for round := range 200 {
		stream := head + chunked(r, body)
		got, err := feed(t, r, stream, round%10 == 0)
		if !errors.Is(err, ErrEnd) {
			t.Fatalf("round %d: err %v, want ErrEnd", round, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: events\n%q\nwant\n%q", round, got, want)
		}
	}
}

func TestParseOneChunkPerEvent(t *testing.T) {
	// The way both servers write: each flush is one chunk, events whole.
	body, want := events(5)
	var b strings.Builder
	b.WriteString(head + "2\r\n\r\n\r\n")
	for _, e := range strings.SplitAfter(body, "\n\n") {
		if e != "" {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(e), e)
		}
	}
	var p Parser
	var rec recorder
	if err := p.Feed([]byte(b.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if !p.Streaming() || p.Status() != 200 {
		t.Fatalf("streaming %v status %d", p.Streaming(), p.Status())
	}
	if !slices.Equal(rec.events, want) {
		t.Fatalf("events %q, want %q", rec.events, want)
	}
	if p.line != nil {
		t.Fatal("line buffer allocated although no line was split")
	}
}

func TestSplitLongLineIsTruncated(t *testing.T) {
	long := `{"s":1,"p":"` + strings.Repeat("x", 3*MaxLine) + `"}`
	stream := head + fmt.Sprintf("%x\r\ndata: %s\n\n\r\n", len(long)+8, long)
	var p Parser
	var rec recorder
	mid := len(head) + 20
	if err := p.Feed([]byte(stream[:mid]), &rec); err != nil {
		t.Fatal(err)
	}
	if err := p.Feed([]byte(stream[mid:]), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || !strings.HasSuffix(rec.events[0], "…") ||
		!strings.HasPrefix(long, strings.TrimSuffix(rec.events[0], "…")) {
		t.Fatalf("events %q", rec.events)
	}
	// A whole long line in one read is delivered whole.
	p.Reset()
	rec.events = nil
	if err := p.Feed([]byte(stream), &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.events) != 1 || rec.events[0] != long {
		t.Fatalf("whole long line not delivered whole")
	}
}

func TestNotChunked(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	body, want := events(10)
	got, err := feed(t, r, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"+body, false)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q err %v", got, err)
	}
	got, err = feed(t, r, fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sjunk", len(body), body), false)
	if !errors.Is(err, ErrEnd) || !slices.Equal(got, want) {
		t.Fatalf("content-length body: got %q err %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		stream string
		want   error
		status int
	}{
		{"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n", ErrStatus, 401},
		{"HTTP/1.1 404 Not Found\r\n\r\n404 page not found\n", ErrStatus, 404},
		{"SSH-2.0-OpenSSH\r\n", ErrFraming, 0},
		{head + "zz\r\n", ErrFraming, 200},
		{head + "\r\n", ErrFraming, 200},
		{head + "2\r\nabXY", ErrFraming, 200},
		{head + "2\rX", ErrFraming, 200},
		{"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", ErrFraming, 200},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", ErrEnd, 200},
	} {
		var p Parser
		err := p.Feed([]byte(tc.stream), &recorder{})
		if !errors.Is(err, tc.want) || p.Status() != tc.status {
			t.Errorf("%q: err %v status %d, want %v %d", tc.stream, err, p.Status(), tc.want, tc.status)
		}
	}
}

// pieceRecorder joins the pieces of each data line; after offAfter lines
// (0: never) it switches pieces mode off, from the last OnPiece.
type pieceRecorder struct {
	recorder
	p        *Parser
	cur      []byte
	lines    []string
	offAfter int
}

func (r *pieceRecorder) OnPiece(data []byte, last bool) {
	r.cur = append(r.cur, data...)
	if !last {
		return
	}
	r.lines = append(r.lines, string(r.cur))
	r.cur = r.cur[:0]
	if len(r.lines) == r.offAfter {
		r.p.SetPieces(false)
	}
}

// TestPiecesAnySplit: in pieces mode every data line arrives whole however
// long it is and wherever reads and chunks cut it (the "data:" prefix
// included), other lines are skipped, and switching the mode off from the
// last piece hands the following lines to OnEvent.
func TestPiecesAnySplit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	long := `{"connect":{"subs":{"h":{"publications":[` + strings.Repeat(`{"data":{"s":1,"p":"xxxxxxxx"},"offset":1},`, 200) + `{}]}}}}`
	body, want := events(12)
	body = "data: " + long + "\r\n\r\ndata:no-space\n" + ": da\nda\nevent: x\ndata:\ndata: a\rb\r\n" + body
	want = append([]string{long, "no-space", "", "a\rb"}, want...)
	for round := range 100 {
		stream := head + chunked(r, body)
		var p Parser
		offAfter := 0
		if round%2 == 1 {
			offAfter = 5
		}
		rec := &pieceRecorder{p: &p, offAfter: offAfter}
		p.SetPieces(true)
		in := []byte(stream)
		var err error
		for len(in) > 0 && err == nil {
			n := min(1+r.IntN(300), len(in))
			if round%10 == 0 {
				n = 1
			}
			read := slices.Clone(in[:n])
			in = in[n:]
			err = p.Feed(read, rec)
			clear(read)
		}
		if !errors.Is(err, ErrEnd) {
			t.Fatalf("round %d: err %v", round, err)
		}
		got := append(rec.lines, rec.events...)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (off after %d): got %d lines %.200q, want %d", round, offAfter, len(got), got, len(want))
		}
		if offAfter > 0 && (len(rec.lines) != offAfter || len(rec.events) != len(want)-offAfter) {
			t.Fatalf("round %d: %d lines in pieces, %d events", round, len(rec.lines), len(rec.events))
		}
	}
}
