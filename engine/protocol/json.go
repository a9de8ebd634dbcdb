package protocol

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// safe[b] is true for ASCII bytes that go into a JSON string unescaped with
// HTML escaping on: everything printable except '"', '\\', '<', '>' and '&'.
var safe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// AppendString appends s as a quoted JSON string, escaped exactly as Go's
// encoding/json does with HTML escaping: quotes, backslash and control bytes
// escaped, <, > and & as \u003c, \u003e, \u0026, U+2028/U+2029 escaped, invalid
// UTF-8 replaced by \ufffd. Other non-ASCII text stays UTF-8.
func AppendString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeRune decodes the first rune of s without converting s (which would
// allocate for one of the two type arguments).
func decodeRune[T ~string | ~[]byte](s T) (rune, int) {
	var buf [utf8.UTFMax]byte
	n := copy(buf[:], s)
	return utf8.DecodeRune(buf[:n])
}

// AppendKey appends `"key":` for a key known to need no escaping.
func appendKey(dst []byte, key string) []byte {
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// AppendRawJSON appends raw JSON with every CR and LF byte removed, so that
// a push is always a single SSE "data:" line: an EventSource ends a line at
// either byte, and a blank line inside the data would cut the event in two.
// In valid JSON both bytes can only be whitespace between tokens (inside a
// string they must be escaped), so the value is unchanged; raw bytes that are
// not JSON (b64info) lose them too, which is what keeps the stream framed.
// Centrifugo removes '\n' from publication data only and keeps '\r' (and
// every byte of infos and subscribe data); ordinary JSON comes out byte for
// byte the same. Every raw value written into a push goes through here.
func AppendRawJSON(dst, raw []byte) []byte {
	for {
		i := indexLineBreak(raw)
		if i < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:i]...)
		raw = raw[i+1:]
	}
}

// indexLineBreak returns the index of the first CR or LF in b, or -1. Two
// vectorised scans beat a byte loop on the large payloads this mostly sees.
func indexLineBreak(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf >= 0 {
		b = b[:lf]
	}
	if cr := bytes.IndexByte(b, '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// AppendUUID appends the canonical 36-character text form of a 16-byte UUID.
func AppendUUID(dst []byte, u [16]byte) []byte {
	for i, b := range u {
		switch i {
		case 4, 6, 8, 10:
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xF])
	}
	return dst
}

// ParseUUID parses the canonical 36-character form (hex digits in either
// case, hyphens at 8, 13, 18 and 23 only); ok is false otherwise. The input is
// hostile (API client/session/whitelist fields): every byte is checked at its
// fixed position, so a misplaced hyphen can neither shift the digits nor read
// past the end.
func ParseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	i := 0
	for j := range u {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		u[j] = hi<<4 | lo
		i += 2
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }
