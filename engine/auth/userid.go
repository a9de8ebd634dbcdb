package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Centrifugo reads user_id_claim with gjson (gjson.GetBytes(claims,
// path).String()). This file reproduces the subset of gjson that a claim
// path needs — dot-separated components, backslash escapes, numeric indexes
// into arrays — and refuses the rest at construction, so a config is either
// evaluated exactly like Centrifugo or not accepted at all.

// parseUserIDPath splits a gjson path into literal components.
func parseUserIDPath(p string) ([]string, error) {
	var (
		parts []string
		cur   strings.Builder
		start = true // at the first byte of a component
	)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("auth: user_id_claim %q: trailing backslash", p)
			}
			i++
			cur.WriteByte(p[i])
			start = false
			continue
		case c == '.':
			if cur.Len() == 0 {
				return nil, fmt.Errorf("auth: user_id_claim %q: empty path component", p)
			}
			parts = append(parts, cur.String())
			cur.Reset()
			start = true
			continue
		case c == '*' || c == '?' || c == '|':
			// Wildcards and pipes select differently from a plain lookup.
			return nil, fmt.Errorf("auth: user_id_claim %q: gjson syntax %q is not supported", p, c)
		case start && (c == '@' || c == '#' || c == '[' || c == '{' || c == '!'):
			// Modifiers, array queries, multipaths and literals.
			return nil, fmt.Errorf("auth: user_id_claim %q: gjson syntax %q is not supported", p, c)
		}
		cur.WriteByte(c)
		start = false
	}
	if cur.Len() == 0 {
		return nil, fmt.Errorf("auth: user_id_claim %q: empty path component", p)
	}
	return append(parts, cur.String()), nil
}

// lookupUserID returns what gjson.GetBytes(payload, path).String() returns
// for a plain path: the first key that matches exactly (gjson scans; it does
// not fold case or keep the last duplicate the way encoding/json does), then
// the value rendered as a string. A missing value or null is "".
func lookupUserID(payload []byte, path []string) string {
	dec := json.NewDecoder(bytes.NewReader(payload))
	for _, comp := range path {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch tok {
		case json.Delim('{'):
			found := false
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return ""
				}
				if k == comp {
					found = true
					break
				}
				if skipValue(dec) != nil {
					return ""
				}
			}
			if !found {
				return ""
			}
		case json.Delim('['):
			idx, ok := arrayIndex(comp)
			if !ok {
				return ""
			}
			for ; idx > 0 && dec.More(); idx-- {
				if skipValue(dec) != nil {
					return ""
				}
			}
			if !dec.More() {
				return ""
			}
		default:
			return "" // a scalar cannot be descended into
		}
	}
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return ""
	}
	return gjsonString(raw)
}

func skipValue(dec *json.Decoder) error {
	var skip json.RawMessage
	return dec.Decode(&skip)
}

// arrayIndex accepts what gjson accepts as an array index: ASCII digits only.
func arrayIndex(s string) (int, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// gjsonString renders a raw JSON value like gjson's Result.String: strings
// unescaped, integers verbatim, other numbers through FormatFloat('f', -1),
// booleans as "true"/"false", null as "", objects and arrays as raw JSON.
// So a numeric user ID (42) becomes "42", as in Centrifugo.
func gjsonString(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		// gjson returns the bytes between the quotes untouched when there is
		// nothing to unescape, even if they are not valid UTF-8.
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1])
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case 't':
		return "true"
	case 'f':
		return "false"
	case 'n':
		return ""
	case '{', '[':
		return string(raw)
	}
	digits := raw
	if digits[0] == '-' {
		digits = digits[1:]
	}
	integer := len(digits) > 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			integer = false
			break
		}
	}
	if integer {
		return string(raw)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
