package recovery

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unisse/unisse/bench/payload"
	"github.com/unisse/unisse/bench/ssestream"
)

// The fixtures are whole HTTP responses recorded from the servers with
// testdata/capture.go (bench/config.json's hist namespace): a recovering
// connect's headers, the chunked connect push, nothing after it.
var fixtures = []struct {
	file    string
	exp     Expect
	problem string
	pubs    int
}{
	// Centrifugo v6.9.1 and unisse, 300 publications of 100-byte payloads,
	// recovered from 0: one ~37 KB data line.
	{"centrifugo-300.http", Expect{Channel: "hist:capture1795652649345766606", Epoch: "zDjdxvGj", From: 0, Count: 300}, "", 300},
	{"unisse-300.http", Expect{Channel: "hist:capture1795652650017549843", Epoch: "QYWhMdJI", From: 0, Count: 300}, "", 300},
	// Three publications, recovered from offset 1: offsets 2 and 3.
	{"centrifugo-from1.http", Expect{Channel: "hist:capture1795652650670585467", Epoch: "mDOVxvJl", From: 1, Count: 2}, "", 2},
	{"centrifugo-from1.http", Expect{Channel: "hist:capture1795652650670585467", Epoch: "mDOVxvJl", From: 0, Count: 3}, "2 publications, want 3", 2},
	{"centrifugo-from1.http", Expect{Channel: "hist:capture1795652650670585467", Epoch: "mDOVxvJl", From: 0, Count: 2}, "first offset 2, want 1", 2},
	{"centrifugo-from1.http", Expect{Channel: "hist:other", Epoch: "mDOVxvJl", From: 1, Count: 2}, "no subscribe result for the channel", 0},
	{"centrifugo-300.http", Expect{Channel: "hist:capture1795652649345766606", Epoch: "zDjdxvGX", From: 0, Count: 300}, "other epoch", 300},
	// Asked with a wrong epoch: the server says where the stream is, no
	// "recovered".
	{"centrifugo-wrong-epoch.http", Expect{Channel: "hist:capture1795652651238225925", Epoch: "wrong", From: 0, Count: 3}, "not recovered", 0},
}

// handler feeds data lines to a Checker through the parser's pieces mode,
// the way the bench's subscriber loop does.
type handler struct {
	c        Checker
	exp      *Expect
	verdicts []Verdict
	heads    []string
}

func (h *handler) OnEvent([]byte, bool) {}

func (h *handler) OnPiece(data []byte, last bool) {
	h.c.Write(data)
	if last {
		h.verdicts = append(h.verdicts, h.c.Finish())
		h.heads = append(h.heads, string(h.c.Head()))
		h.c.Reset(h.exp)
	}
}

// feedSplit parses stream cut at random places (every byte when maxRead
// is 1) and returns the verdict on each data line.
func feedSplit(t *testing.T, stream []byte, exp *Expect, r *rand.Rand, maxRead int) *handler {
	t.Helper()
	h := &handler{exp: exp}
	h.c.Reset(exp)
	var p ssestream.Parser
	p.SetPieces(true)
	for in := stream; len(in) > 0; {
		n := min(1+r.IntN(maxRead), len(in))
		read := bytes.Clone(in[:n])
		in = in[n:]
		if err := p.Feed(read, h); err != nil && !errors.Is(err, ssestream.ErrEnd) {
			t.Fatalf("feed: %v", err)
		}
		clear(read) // a checker keeping slices of a read would be caught
	}
	return h
}

func TestFixturesInPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, fx := range fixtures {
		stream, err := os.ReadFile(filepath.Join("testdata", fx.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, maxRead := range []int{1, 7, 100, 1500, 16 << 10, 1 << 20} {
			exp := fx.exp
			h := feedSplit(t, stream, &exp, r, maxRead)
			if len(h.verdicts) != 1 {
				t.Fatalf("%s: %d data lines, want 1", fx.file, len(h.verdicts))
			}
			v := h.verdicts[0]
			if got := v.Problem(&exp); got != fx.problem {
				t.Fatalf("%s %+v (reads ≤ %d): problem %q, want %q; verdict %+v", fx.file, exp, maxRead, got, fx.problem, v)
			}
			if !v.Connect || !v.Valid || v.Pubs != fx.pubs || payload.Parse([]byte(h.heads[0])).Kind != payload.Connect {
				t.Fatalf("%s: verdict %+v, head %q", fx.file, v, h.heads[0])
			}
			if fx.pubs > 0 && (v.First != fx.exp.From+1 || v.Last != fx.exp.From+uint64(fx.pubs) || v.Gaps != 0) && fx.problem == "" {
				t.Fatalf("%s: offsets %d…%d, gaps %d", fx.file, v.First, v.Last, v.Gaps)
			}
		}
	}
}

// dataLine is the connect push's data line of a fixture.
func dataLine(t testing.TB, file string) string {
	t.Helper()
	stream, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	h := &lineCollector{}
	var p ssestream.Parser
	p.SetPieces(true)
	if err := p.Feed(stream, h); err != nil {
		t.Fatal(err)
	}
	if len(h.lines) != 1 {
		t.Fatalf("%d lines", len(h.lines))
	}
	return h.lines[0]
}

type lineCollector struct {
	cur   []byte
	lines []string
}

func (h *lineCollector) OnEvent([]byte, bool) {}
func (h *lineCollector) OnPiece(data []byte, last bool) {
	h.cur = append(h.cur, data...)
	if last {
		h.lines = append(h.lines, string(h.cur))
		h.cur = nil
	}
}

// check feeds line to a fresh Checker in random pieces.
func check(r *rand.Rand, line string, exp *Expect) Verdict {
	var c Checker
	c.Reset(exp)
	for in := []byte(line); len(in) > 0; {
		n := min(1+r.IntN(200), len(in))
		c.Write(in[:n])
		in = in[n:]
	}
	return c.Finish()
}

// TestDamagedPushes edits the real Centrifugo push into the failures the
// checker is there to catch.
func TestDamagedPushes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	line := dataLine(t, "centrifugo-300.http")
	exp := fixtures[0].exp
	if v := check(r, line, &exp); v.Problem(&exp) != "" || v.Bytes != int64(len(line)) || !v.EpochOK {
		t.Fatalf("intact push: %+v", v)
	}
	one := func(s, old, new string) string {
		t.Helper()
		if strings.Count(s, old) != 1 {
			t.Fatalf("%q occurs %d times", old, strings.Count(s, old))
		}
		return strings.Replace(s, old, new, 1)
	}
	// The publication with offset 150, whole.
	i := strings.Index(line, `,"offset":150}`)
	start := strings.LastIndex(line[:i], `{"data":`)
	pub150 := line[start : i+len(`,"offset":150}`)]
	for _, tc := range []struct {
		name, line, problem string
	}{
		{"not recovered", one(line, `"recovered":true`, `"recovered":false`), "not recovered"},
		{"recovered missing", one(line, `"recovered":true,`, ``), "not recovered"},
		{"one publication missing", one(line, pub150+",", ""), "299 publications, want 300"},
		{"one publication twice", one(line, pub150, pub150+","+pub150), "301 publications, want 300"},
		{"offset skipped", one(line, `"offset":150}`, `"offset":151}`), "publication offsets not consecutive"},
		{"offset missing", one(line, `,"offset":150}`, `}`), "publication offsets not consecutive"},
		{"offset not a number", one(line, `"offset":150}`, `"offset":"150"}`), "publication offsets not consecutive"},
		{"truncated", line[:len(line)/2], "malformed connect push"},
		{"mismatched brackets", one(line, `"recovered":true`, `"recovered":[true}`), "malformed connect push"},
		{"bad literal", one(line, `"recovered":true`, `"recovered":trxe`), "malformed connect push"},
		{"disconnect", `{"disconnect":{"code":3501,"reason":"bad request"}}`, "not a connect push"},
		{"publication", `{"channel":"hist:x","pub":{"data":{"s":1},"offset":1}}`, "not a connect push"},
		// Escapes and whitespace in strings do not confuse it.
		{"escapes", strings.Replace(line, `"p":"xxxx`, `"p":"\"}]],\\\u0022{[xx`, 1), ""},
		{"spaces", strings.ReplaceAll(strings.ReplaceAll(line, `":`, `" : `), `,`, "\t,\r\n "), ""},
	} {
		v := check(r, tc.line, &exp)
		if got := v.Problem(&exp); got != tc.problem {
			t.Errorf("%s: problem %q, want %q (verdict %+v)", tc.name, got, tc.problem, v)
		}
	}
	// The checker is reusable: a good push after a bad one.
	var c Checker
	c.Reset(&exp)
	c.Write([]byte(line[:1000]))
	c.Reset(&exp)
	c.Write([]byte(line))
	if v := c.Finish(); v.Problem(&exp) != "" {
		t.Fatalf("after Reset: %+v", v)
	}
}
