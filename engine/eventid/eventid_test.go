package eventid

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func encode(ps []Position) []byte {
	b := AppendVersion(nil)
	for _, p := range ps {
		b = AppendEntry(b, p.Hash, p.Offset, p.Epoch)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	cases := [][]Position{
		nil,
		{{Hash: 0, Offset: 0, Epoch: ""}},
		{{Hash: Hash("news"), Offset: 1, Epoch: "AbCdEfGh"}},
		{{Hash: math.MaxUint32, Offset: math.MaxUint64, Epoch: strings.Repeat("z", MaxEpoch)}},
		{{Hash: 1, Offset: 63}, {Hash: 2, Offset: 64, Epoch: "a-b_c9"}, {Hash: 3, Offset: 1 << 40, Epoch: "x"}},
	}
	var full []Position
	for i := range MaxSubs {
		full = append(full, Position{Hash: uint32(i * 7919), Offset: uint64(i) << 50, Epoch: strings.Repeat("Q", MaxEpoch)})
	}
	cases = append(cases, full)
	for _, ps := range cases {
		tok := encode(ps)
		if len(tok) > MaxLen {
			t.Fatalf("token of %d entries is %d bytes, over MaxLen", len(ps), len(tok))
		}
		for _, b := range tok {
			if b == '\r' || b == '\n' || b == 0 || b == ' ' || b == ':' {
				t.Fatalf("token %q has a byte not legal in an SSE id", tok)
			}
		}
		got, err := Decode(nil, tok)
		if err != nil {
			t.Fatalf("Decode(%q): %v", tok, err)
		}
		if len(got) != len(ps) {
			t.Fatalf("Decode(%q) = %d entries, want %d", tok, len(got), len(ps))
		}
		for i := range ps {
			if got[i] != ps[i] {
				t.Fatalf("Decode(%q)[%d] = %+v, want %+v", tok, i, got[i], ps[i])
			}
		}
	}
}

func TestFormat(t *testing.T) {
	// Pinned: tokens outlive a deploy (a browser keeps its last id).
	got := string(encode([]Position{{Hash: 0, Offset: 64, Epoch: "AbCd"}, {Hash: 63, Offset: 0}}))
	if want := "u1.A.BA.AbCd._.A."; got != want {
		t.Fatalf("token %q, want %q", got, want)
	}
	if Hash("") != 2166136261 || Hash("a") != 0xe40c292c {
		t.Fatalf("Hash is not FNV-1a 32")
	}
}

func TestInvalidEpochIsWrittenEmpty(t *testing.T) {
	for _, e := range []string{"has space", "a.b", "é", strings.Repeat("a", MaxEpoch+1), "a\nb"} {
		if ValidEpoch(e) {
			t.Fatalf("ValidEpoch(%q) = true", e)
		}
		got, err := Decode(nil, encode([]Position{{Hash: 5, Offset: 9, Epoch: e}}))
		if err != nil || len(got) != 1 || got[0].Epoch != "" || got[0].Offset != 9 {
			t.Fatalf("epoch %q: got %+v, %v", e, got, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	over := AppendVersion(nil)
	for i := range MaxSubs + 1 {
		over = AppendEntry(over, uint32(i), 1, "e")
	}
	bad := []string{
		"", "u", "u2", "u2.A.A.", "U1.A.A.", "u1.", "u1.A", "u1.A.A", "u1..A.", "u1.A..", "u1.A.A.x.",
		"u1.AA.A.", // leading zero digit
		"u1.A.AB.", // leading zero digit
		"u1.A.A.a b",
		"u1.A.A.a:b",
		"u1.A.A." + strings.Repeat("e", MaxEpoch+1),
		"u1.A.Q__________.",  // 11 digits over 64 bits
		"u1.A.BAAAAAAAAAAA.", // 12 digits
		"u1.EAAAAA.A.",       // hash over 32 bits
		"u1.A.A.\x00",
		"u1.A.A.e\r",
		string(over),
		"u1" + strings.Repeat(".A.A.", 500), // over MaxLen
	}
	for _, s := range bad {
		dst := []Position{{Hash: 42}}
		got, err := Decode(dst, []byte(s))
		if err == nil {
			t.Fatalf("Decode(%q) accepted: %+v", s, got)
		}
		if len(got) != 1 || got[0].Hash != 42 {
			t.Fatalf("Decode(%q) changed dst: %+v", s, got)
		}
	}
	// The largest legal values are accepted.
	if _, err := Decode(nil, []byte("u1.D_____.P__________.")); err != nil {
		t.Fatalf("max values rejected: %v", err)
	}
}

func TestFind(t *testing.T) {
	ps := []Position{{Hash: 1, Offset: 10}, {Hash: 2, Offset: 20}}
	if p, ok := Find(ps, 2); !ok || p.Offset != 20 {
		t.Fatalf("Find(2) = %+v, %v", p, ok)
	}
	if _, ok := Find(ps, 3); ok {
		t.Fatal("Find(3) found something")
	}
}

func TestAppendAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendVersion(buf[:0])
		for i := range 3 {
			b = AppendEntry(b, uint32(i), uint64(i)*1000, "AbCdEfGh")
		}
		buf = b
	})
	if allocs != 0 {
		t.Fatalf("encoding allocates %.1f per token", allocs)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("u1.A.BA.AbCd._.A."))
	f.Add([]byte("u1"))
	f.Add([]byte("u1.D_____.P__________." + strings.Repeat("z", 32)))
	f.Add([]byte("u1.A.A.x.y"))
	f.Fuzz(func(t *testing.T, tok []byte) {
		ps, err := Decode(nil, tok)
		if err != nil {
			if len(ps) != 0 {
				t.Fatalf("rejected token left %d entries", len(ps))
			}
			return
		}
		if len(tok) > MaxLen || len(ps) > MaxSubs {
			t.Fatalf("accepted %d bytes, %d entries", len(tok), len(ps))
		}
		// What is accepted is canonical: it encodes back to the same bytes.
		if again := encode(ps); !bytes.Equal(again, tok) {
			t.Fatalf("Decode(%q) re-encodes as %q", tok, again)
		}
	})
}
