package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// stdQuote is the reference: encoding/json with HTML escaping, which is what
// Centrifugo's encoder produces for the strings the server writes.
func stdQuote(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "custom <reason> & more", "a<b>&c é",
		"x<&>1795640905", "ctl \x00\x01\x1f\x7f", "\b\f\n\r\t", "\u2028\u2029", "Привет, 世界 🎉",
		"bad utf8 \xff\xfe end", "\xed\xa0\x80 surrogate", "trailing \xe2\x82",
	} {
		want := stdQuote(t, s)
		if got := string(AppendString(nil, s)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got := string(AppendString(nil, []byte(s))); got != want {
			t.Errorf("AppendString([]byte %q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "<>&", "\u2028", "\xff", "é\x00", `"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendString(nil, s)), stdQuote(t, s); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestUUID(t *testing.T) {
	u := [16]byte{0x3a, 0x91, 0x7a, 0x70, 0x09, 0x4f, 0x44, 0x4b, 0xbb, 0x6f, 0xec, 0x0e, 0xa2, 0xfb, 0xb8, 0xaa}
	s := string(AppendUUID(nil, u))
	if s != "3a917a70-094f-444b-bb6f-ec0ea2fbb8aa" {
		t.Fatalf("AppendUUID = %s", s)
	}
	back, ok := ParseUUID(s)
	if !ok || back != u {
		t.Fatalf("ParseUUID round trip: %v %v", back, ok)
	}
	if upper, ok := ParseUUID("3A917A70-094F-444B-BB6F-EC0EA2FBB8AA"); !ok || upper != u {
		t.Fatal("ParseUUID must accept upper-case hex")
	}
	for _, bad := range []string{"", "3a917a70094f444bbb6fec0ea2fbb8aa", "3a917a70-094f-444b-bb6f-ec0ea2fbb8a", "3a917a70-094f-444b-bb6f-ec0ea2fbb8ag", "3a917a70+094f-444b-bb6f-ec0ea2fbb8aa",
		// Extra hyphens of the right total length: they used to shift the digits
		// (an even number parsed as a zero-padded UUID) or, in the last group,
		// read past the end of the string (a panic from one API field).
		"--917a70-094f-444b-bb6f-ec0ea2fbb8aa", "3a917a70-094f-444b-bb6f--c0ea2fbb8aa", "3a917a70-094f-444b-bb6f-ec0ea2fbb8a-",
		"3a917a70-094f-444b-bb6f-ec0ea2fbb--a"} {
		if _, ok := ParseUUID(bad); ok {
			t.Errorf("ParseUUID(%q) accepted", bad)
		}
	}
}

// FuzzParseUUID: no panic, and ParseUUID accepts exactly the strings that
// AppendUUID writes (up to hex case).
func FuzzParseUUID(f *testing.F) {
	for _, s := range []string{"3a917a70-094f-444b-bb6f-ec0ea2fbb8aa", "3a917a70-094f-444b-bb6f--c0ea2fbb8aa", "------------------------------------"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := ParseUUID(s)
		if ok != (len(s) == 36 && strings.EqualFold(string(AppendUUID(nil, u)), s)) {
			t.Fatalf("ParseUUID(%q) = %x %v", s, u, ok)
		}
	})
}

// AppendRawJSON drops every CR and LF, wherever they are and however many,
// and nothing else (spaces and tabs stay, as Centrifugo keeps them).
func TestAppendRawJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"{ \"a\" :\n  [1, 2] ,\t\"b\":\"x\"\n}", "{ \"a\" :  [1, 2] ,\t\"b\":\"x\"}"},
		{"{\"a\":1,\r\"b\":2}", "{\"a\":1,\"b\":2}"},
		{"{\"a\":\n\n1}", "{\"a\":1}"},
		{"{\"a\":\r\n1}", "{\"a\":1}"},
		{"\r\n\r\n", ""},
		{"\n\r{}\r", "{}"},
		{"\"plain\"", "\"plain\""},
		{"", ""},
	} {
		got := string(AppendRawJSON([]byte("x"), []byte(c.in)))
		if got != "x"+c.want {
			t.Errorf("AppendRawJSON(%q) = %q, want %q", c.in, got[1:], c.want)
		}
	}
}
