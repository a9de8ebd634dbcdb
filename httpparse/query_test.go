package httpparse

import (
	"net/url"
	"strings"
	"testing"
)

func TestAppendQuery(t *testing.T) {
	cfConnect := "cf_connect=" + encodeURIComponent(connectJSON)
	for _, tc := range []struct {
		name, query, param string
		want               string
		found              bool
	}{
		{"EventSource cf_connect", cfConnect, "cf_connect", connectJSON, true},
		{"cf_connect among other params", "v=1&" + cfConnect + "&_=1732570000000", "cf_connect", connectJSON, true},
		{"curl --data-urlencode style (+ for space)", "cf_connect=" + url.QueryEscape(`{"name":"a b"}`), "cf_connect", `{"name":"a b"}`, true},
		{"absent", "a=1&b=2", "cf_connect", "", false},
		{"empty query", "", "cf_connect", "", false},
		{"present and empty", "cf_connect=&a=1", "cf_connect", "", true},
		{"present without =", "a=1&cf_connect", "cf_connect", "", true},
		{"bad escape drops the pair", "cf_connect=%7B%ZZ", "cf_connect", "", false},
		{"truncated escape drops the pair", "cf_connect=%7", "cf_connect", "", false},
		{"lone % drops the pair", "cf_connect=%", "cf_connect", "", false},
		{"bad pair dropped, the next one counts", "cf_connect=%zz&cf_connect=ok", "cf_connect", "ok", true},
		{"bad escape in the key drops the pair", "cf_connect%=1&cf_connect=2", "cf_connect", "2", true},
		{"duplicate keys: first wins", "cf_connect=1&cf_connect=2", "cf_connect", "1", true},
		{"+ is a space in values", "a=b+c", "a", "b c", true},
		{"+ is a space in keys", "a+b=1", "a b", "1", true},
		{"%2B is a plus", "a=%2B", "a", "+", true},
		{"%20 is a space", "a=b%20c", "a", "b c", true},
		{"escaped key", "cf%5Fconnect=1", "cf_connect", "1", true},
		{"lower-case hex", "a=%7b%7d", "a", "{}", true},
		{"semicolon in the pair skips it", "cf_connect=1;x&b=2", "cf_connect", "", false},
		{"semicolon pair skipped, later one counts", "cf_connect=1;x&cf_connect=2", "cf_connect", "2", true},
		{"semicolon is not a separator", "a=1;cf_connect=2", "cf_connect", "", false},
		{"empty pairs skipped", "&&a=1&&", "a", "1", true},
		{"only the first = splits", "a=b=c", "a", "b=c", true},
		{"empty key", "=x", "", "x", true},
		{"keys are case-sensitive", "CF_CONNECT=1", "cf_connect", "", false},
		{"key must match fully", "cf_connectx=1&cf_conn=2", "cf_connect", "", false},
		{"non-ASCII passes through", "a=\xff%C3%A9", "a", "\xffé", true},
		{"decoded & and = inside a value", "a=%26b%3Dc", "a", "&b=c", true},
		{"10000 params are read", strings.Repeat("x=1&", 9999) + "a=1", "a", "1", true},
		{"10001 params are not (net/url's limit)", strings.Repeat("x=1&", 10000) + "a=1", "a", "", false},
		{"a trailing & counts toward the limit", "a=1" + strings.Repeat("&", 10000), "a", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The reference first, so that a wrong expectation fails here and not below.
			if want, found := queryGet(tc.query, tc.param); want != tc.want || found != tc.found {
				t.Fatalf("net/url says %q %v; the table says %q %v", want, found, tc.want, tc.found)
			}
			dst := []byte("prefix:")
			got, found := AppendQuery(dst, []byte(tc.query), tc.param)
			if found != tc.found || string(got) != "prefix:"+tc.want {
				t.Fatalf("AppendQuery = %q %v, want %q %v", got, found, "prefix:"+tc.want, tc.found)
			}
		})
	}
}

func TestRequestAppendQuery(t *testing.T) {
	var r Request
	if _, err := r.ParseHead([]byte(browserSSEGet), Limits{}); err != nil {
		t.Fatal(err)
	}
	got, found := r.AppendQuery(nil, "cf_connect")
	if !found || string(got) != connectJSON {
		t.Fatalf("cf_connect = %q %v", got, found)
	}
}

func TestAppendUnescape(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{"", "", nil},
		{"plain", "plain", nil},
		{"%41%62c", "Abc", nil},
		{"a+b", "a b", nil},
		{"%2b%2B", "++", nil},
		{"%00", "\x00", nil},
		{"%ff\xff", "\xff\xff", nil},
		{"100%", "", ErrBadEscape},
		{"%4", "", ErrBadEscape},
		{"%4g", "", ErrBadEscape},
		{"%g4", "", ErrBadEscape},
		{"ok%2", "", ErrBadEscape},
	} {
		dst := make([]byte, 3, 64)
		copy(dst, "dst")
		got, err := AppendUnescape(dst, []byte(tc.in))
		if err != tc.err {
			t.Errorf("AppendUnescape(%q) err = %v, want %v", tc.in, err, tc.err)
			continue
		}
		if string(got) != "dst"+tc.want {
			t.Errorf("AppendUnescape(%q) = %q, want %q", tc.in, got, "dst"+tc.want)
		}
		if err == nil {
			if ref, _ := url.QueryUnescape(tc.in); ref != tc.want {
				t.Errorf("url.QueryUnescape(%q) = %q, table says %q", tc.in, ref, tc.want)
			}
		} else if _, refErr := url.QueryUnescape(tc.in); refErr == nil {
			t.Errorf("url.QueryUnescape(%q) accepts it", tc.in)
		}
	}
}
