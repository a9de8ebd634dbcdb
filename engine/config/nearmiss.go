package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// NearMissError is an unknown key that is probably a misspelling of a secret
// setting (a key whose name has "secret", "key" or "password" in it), e.g.
// client.token.hmac_secret for client.token.hmac_secret_key. Load refuses to
// load such a config: the real setting stays empty, the server generates a
// secret of its own, and every genuine token fails with 3500 with nothing to
// say why.
type NearMissError struct {
	Key   string // as written: a dotted key or an environment variable
	Meant string // the known key (or variable) it probably means
}

func (e *NearMissError) Error() string {
	return "config: unknown key " + e.Key + ": did you mean " + e.Meant + "? (a misspelt secret setting leaves the real one unset)"
}

// isSecretKey reports whether the last segment of a key or env name names a
// credential.
func isSecretKey(key string) bool {
	last := strings.ToLower(key[strings.LastIndexAny(key, ".")+1:])
	return strings.Contains(last, "secret") || strings.Contains(last, "key") || strings.Contains(last, "password")
}

// knownPaths are every dotted key of Options down to its scalar leaves,
// inside slices of structs too ("channel.namespaces[].presence"): the
// candidates an unknown key from a file is compared with.
var knownPaths = func() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for name, ft := range structFields(t) {
			p := prefix + name
			switch {
			case ft == durationType:
				out = append(out, p)
			case ft.Kind() == reflect.Struct:
				walk(ft, p+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[].")
			default:
				out = append(out, p)
			}
		}
	}
	walk(reflect.TypeFor[Options](), "")
	sort.Strings(out)
	return out
}()

// knownEnv are the env names (without prefix) of every leaf.
var knownEnv = func() []string {
	out := make([]string, 0, len(keys.leaves))
	for _, l := range keys.leaves {
		out = append(out, l.env)
	}
	sort.Strings(out)
	return out
}()

// didYouMean returns the known key that unknown (a dotted key as unknownKeys
// reports it, or a prefixed env variable name) is probably a misspelling of,
// or "" when none is close. Close means within two edits of the whole key,
// or the same key with a '_'-separated word added or dropped at either end
// of its last segment (hmac_secret, secret_key → hmac_secret_key).
func didYouMean(unknown string) string {
	for _, prefix := range []string{EnvPrefix, CentrifugoEnvPrefix} {
		if short, ok := strings.CutPrefix(unknown, prefix); ok && strings.ToUpper(unknown) == unknown {
			if strings.HasPrefix(short, "CHANNEL_NAMESPACES_") {
				return "" // per-namespace variables name the namespace too
			}
			if m := closest(short, knownEnv, "_"); m != "" {
				return prefix + m
			}
			return ""
		}
	}
	norm := indexRe.ReplaceAllString(strings.ToLower(unknown), "[]")
	m := closest(norm, knownPaths, ".")
	if m == "" {
		return ""
	}
	// Put the unknown key's indexes back: channel.namespaces[2].presense →
	// channel.namespaces[2].presence.
	idx := indexRe.FindAllString(unknown, -1)
	var b strings.Builder
	for i, part := range strings.Split(m, "[]") {
		if i > 0 {
			if i-1 < len(idx) {
				b.WriteString(idx[i-1])
			} else {
				b.WriteString("[]")
			}
		}
		b.WriteString(part)
	}
	return b.String()
}

// closest returns the candidate nearest to u by the rules of didYouMean; sep
// separates the path's segments ("." for keys, "_" for env names, where
// only the prefix and suffix rules' word boundaries apply).
func closest(u string, candidates []string, sep string) string {
	best, bestD := "", 1<<30
	for _, k := range candidates {
		d := editDistance(u, k)
		if d > 2 && !affixOf(u, k, sep) {
			continue
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// affixOf reports whether u and k differ by whole '_'-words at the start or
// end of the last segment: one's last segment is the other's plus "_word…"
// or "…word_", with the same parent path. The shorter one must be at least
// 4 characters, so that "key" does not match every *_key.
func affixOf(u, k, sep string) bool {
	up, us := splitLast(u, sep)
	kp, ks := splitLast(k, sep)
	if sep == "_" {
		// Env names have no parent boundary: compare whole names.
		up, us, kp, ks = "", u, "", k
	}
	if up != kp || us == ks {
		return false
	}
	short, long := us, ks
	if len(short) > len(long) {
		short, long = long, short
	}
	if len(short) < 4 {
		return false
	}
	return strings.HasPrefix(long, short+"_") || strings.HasSuffix(long, "_"+short)
}

func splitLast(s, sep string) (parent, last string) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

// editDistance is the Levenshtein distance between a and b (bytes: keys are
// ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nearMisses fills rep.DidYouMean from rep.Unknown and returns a
// *NearMissError for each unknown key that probably means a secret setting.
func nearMisses(rep *Report) []error {
	var errs []error
	for _, u := range rep.Unknown {
		m := didYouMean(u)
		if m == "" {
			continue
		}
		if rep.DidYouMean == nil {
			rep.DidYouMean = map[string]string{}
		}
		rep.DidYouMean[u] = m
		if isSecretKey(m) {
			errs = append(errs, &NearMissError{Key: u, Meant: m})
		}
	}
	return errs
}

// Hint returns " (did you mean K?)" for an unknown key with a suggestion, or "".
func (r *Report) Hint(key string) string {
	if m, ok := r.DidYouMean[key]; ok {
		return fmt.Sprintf(" (did you mean %s?)", m)
	}
	return ""
}
