package httpparse

// Byte classes from RFC 9110 §5.6.2 and §5.5, as 256-entry tables so that the inner
// loops do one load per byte. The tables are filled once at package init and never
// written again, which keeps the package free of mutable globals.

var (
	// isTchar: token characters, the only bytes allowed in a method or a field name.
	isTchar [256]bool

	// isFieldByte: bytes allowed in a field value and the request-target: everything but
	// the control characters (0x00–0x1F, 0x7F), except that HTAB is allowed in values.
	// Bytes ≥ 0x80 are obs-text and allowed, as net/http and fasthttp allow them.
	isFieldByte [256]bool

	// hexValue maps a hex digit to its value and every other byte to 0xff, so that
	// "hi|lo > 0xf" checks two digits at once.
	hexValue [256]byte
)

func init() {
	for c := '0'; c <= '9'; c++ {
		isTchar[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		isTchar[c] = true
		isTchar[c-'a'+'A'] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		isTchar[c] = true
	}
	for c := 0x20; c < 0x100; c++ {
		isFieldByte[c] = c != 0x7f
	}
	isFieldByte['\t'] = true
	for c := range 256 {
		v, ok := unhex(byte(c))
		if !ok {
			v = 0xff
		}
		hexValue[c] = v
	}
}

// isCTL reports the bytes RFC 9112 forbids in a request-target: controls and DEL.
// Unlike field values, HTAB is not allowed there.
func isCTL(c byte) bool { return c < 0x20 || c == 0x7f }

// lower folds ASCII upper case only; HTTP names are ASCII-case-insensitive, never
// Unicode-case-insensitive.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s under ASCII case folding. It takes a string so
// that callers can pass constants and header names without converting (no allocation).
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// trimOWS strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// unhex returns the value of a hex digit and whether c is one.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
