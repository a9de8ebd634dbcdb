package httpparse

import (
	"bytes"
	"slices"
)

// maxQueryParams mirrors net/url's defaultMaxParams (Go 1.26): url.ParseQuery refuses a
// query with more than this many '&'-separated parts, and URL.Query() then returns no
// values at all. We do the same so that a parameter is found exactly when Centrifugo
// would find it. (The GODEBUG urlmaxqueryparams override is not consulted.)
const maxQueryParams = 10000

// AppendQuery looks up query parameter name in rawQuery (the query without '?') the way
// Go's r.URL.Query().Get(name) does, and appends its decoded value to dst:
//
//   - rawQuery is split on '&'; a part containing ';' is skipped (Go refuses ';' as a
//     separator since 1.17), as is an empty part;
//   - each part is split at its first '=' (no '=' means an empty value);
//   - key and value are percent-decoded with '+' as space; a part whose key or value
//     does not decode is skipped, silently, as Go drops it;
//   - the first part whose decoded key equals name wins;
//   - a query with more than 10000 parts has no parameters (net/url's limit).
//
// found reports whether the parameter exists: "cf_connect=" and "cf_connect" are found
// with nothing appended. When not found, out is dst unchanged. The caller owns dst, so
// the decoded value lives as long as the caller wants. Safe from any goroutine; zero
// allocations when dst has spare capacity for the value as sent (still encoded).
func AppendQuery(dst, rawQuery []byte, name string) (out []byte, found bool) {
	if bytes.Count(rawQuery, []byte{'&'})+1 > maxQueryParams {
		return dst, false
	}
	for q := rawQuery; len(q) > 0; {
		part := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			part, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		if len(part) == 0 || bytes.IndexByte(part, ';') >= 0 {
			continue
		}
		key, value := part, part[len(part):]
		if i := bytes.IndexByte(part, '='); i >= 0 {
			key, value = part[:i], part[i+1:]
		}
		if !unescapedEquals(key, name) {
			continue
		}
		out, err := AppendUnescape(dst, value)
		if err != nil {
			continue // Go drops the pair; a later one with the same key may still count
		}
		return out, true
	}
	return dst, false
}

// unescapedEquals reports whether escaped decodes (query rules) to exactly name. A key
// with a bad escape never equals anything, which is Go's "drop the pair". It decodes on
// the fly so that comparing keys costs no buffer.
func unescapedEquals(escaped []byte, name string) bool {
	j := 0
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		switch c {
		case '%':
			if i+2 >= len(escaped) {
				return false
			}
			hi, lo := hexValue[escaped[i+1]], hexValue[escaped[i+2]]
			if hi|lo > 0xf {
				return false
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		if j >= len(name) || name[j] != c {
			return false
		}
		j++
	}
	return j == len(name)
}

// AppendUnescape appends src to dst with percent-decoding under query rules (as
// url.QueryUnescape): "%XX" with two hex digits is byte XX and '+' is a space; every
// other byte is copied. A '%' not followed by two hex digits is ErrBadEscape, and then
// out is dst unchanged (bytes past len(dst) may have been overwritten). Safe from any
// goroutine; zero allocations when cap(dst)-len(dst) >= len(src).
func AppendUnescape(dst, src []byte) (out []byte, err error) {
	// The decoded form is never longer than src: grow once, then write by index, which
	// for JSON in a URL (every other byte escaped) is far cheaper than an append per
	// byte.
	n := len(dst)
	out = slices.Grow(dst, len(src))[:n+len(src)]
	j := n
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '%':
			if i+2 >= len(src) {
				return dst, ErrBadEscape
			}
			hi, lo := hexValue[src[i+1]], hexValue[src[i+2]]
			if hi|lo > 0xf {
				return dst, ErrBadEscape
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		out[j] = c
		j++
	}
	return out[:j], nil
}
