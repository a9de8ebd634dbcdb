package eventid

import "errors"

const (
	// Version prefixes every token.
	Version = "u1"
	// MaxSubs is the most recoverable subscriptions a token lists; a
	// connection with more gets no ids.
	MaxSubs = 16
	// MaxEpoch is the longest epoch a token carries (Centrifugo's and
	// unisse's epochs are 8 letters).
	MaxEpoch = 32
	// MaxLen bounds what Decode looks at: a longer token is rejected
	// without being read.
	MaxLen = 2048
	// maxDigits is the most base64url digits of a uint64.
	maxDigits = 11
)

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// digit is each byte's value in alphabet, or 0xff.
var digit = func() (d [256]byte) {
	for i := range d {
		d[i] = 0xff
	}
	for i := range len(alphabet) {
		d[alphabet[i]] = byte(i)
	}
	return d
}()

// Position is one entry of a token: where a client is in a channel's stream.
type Position struct {
	Hash   uint32 // Hash of the channel name
	Offset uint64
	Epoch  string
}

// ErrMalformed means a token was not one this package writes (or too long).
var ErrMalformed = errors.New("eventid: malformed token")

// Hash is the channel name's hash in a token (FNV-1a, 32 bits): the same on
// every node, so a client reconnecting to another node resumes there too.
func Hash(channel string) uint32 {
	h := uint32(2166136261)
	for i := range len(channel) {
		h ^= uint32(channel[i])
		h *= 16777619
	}
	return h
}

// ValidEpoch reports whether epoch can be written into a token.
func ValidEpoch(epoch string) bool {
	if len(epoch) > MaxEpoch {
		return false
	}
	for i := range len(epoch) {
		if digit[epoch[i]] == 0xff {
			return false
		}
	}
	return true
}

// AppendVersion starts a token.
func AppendVersion(dst []byte) []byte { return append(dst, Version...) }

// AppendEntry appends one position to a token started by AppendVersion.
// The epoch must be ValidEpoch; if it is not, an empty epoch is written
// (which a recovery treats as any epoch).
func AppendEntry(dst []byte, hash uint32, offset uint64, epoch string) []byte {
	dst = append(dst, '.')
	dst = appendNumber(dst, uint64(hash))
	dst = append(dst, '.')
	dst = appendNumber(dst, offset)
	dst = append(dst, '.')
	if ValidEpoch(epoch) {
		dst = append(dst, epoch...)
	}
	return dst
}

func appendNumber(dst []byte, v uint64) []byte {
	var tmp [maxDigits]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = alphabet[v&63]
		v >>= 6
		if v == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// Decode appends the positions token lists to dst. It rejects the whole
// token (ErrMalformed, dst unchanged) unless it is well formed, at most
// MaxLen bytes and lists at most MaxSubs entries.
func Decode(dst []Position, token []byte) ([]Position, error) {
	if len(token) > MaxLen || len(token) < len(Version) || string(token[:len(Version)]) != Version {
		return dst, ErrMalformed
	}
	start := len(dst)
	rest := token[len(Version):]
	for len(rest) > 0 {
		if len(dst)-start == MaxSubs {
			return dst[:start], ErrMalformed
		}
		var h, o, e []byte
		var ok bool
		if h, rest, ok = field(rest); !ok {
			return dst[:start], ErrMalformed
		}
		if o, rest, ok = field(rest); !ok {
			return dst[:start], ErrMalformed
		}
		if e, rest, ok = field(rest); !ok {
			return dst[:start], ErrMalformed
		}
		hash, ok1 := parseNumber(h)
		offset, ok2 := parseNumber(o)
		if !ok1 || !ok2 || hash > 0xffffffff || len(e) > MaxEpoch {
			return dst[:start], ErrMalformed
		}
		for _, b := range e {
			if digit[b] == 0xff {
				return dst[:start], ErrMalformed
			}
		}
		dst = append(dst, Position{Hash: uint32(hash), Offset: offset, Epoch: string(e)})
	}
	return dst, nil
}

// field takes ".value" off the front of b: value runs to the next '.' or the
// end.
func field(b []byte) (value, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '.' {
		return nil, nil, false
	}
	b = b[1:]
	for i, c := range b {
		if c == '.' {
			return b[:i], b[i:], true
		}
	}
	return b, nil, true
}

// parseNumber reads base64url digits: 1 to maxDigits, no leading zero
// digit, no overflow.
func parseNumber(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > maxDigits || (len(b) > 1 && b[0] == alphabet[0]) {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d := digit[c]
		if d == 0xff || v > (^uint64(0))>>6 {
			return 0, false
		}
		v = v<<6 | uint64(d)
	}
	return v, true
}

// Find returns the position for the channel whose Hash is hash.
func Find(ps []Position, hash uint32) (Position, bool) {
	for _, p := range ps {
		if p.Hash == hash {
			return p, true
		}
	}
	return Position{}, false
}
