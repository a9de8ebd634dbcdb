package protocol

import (
	"errors"
	"testing"
)

func TestDecodeConnectRequest(t *testing.T) {
	// Bodies that Centrifugo answers 400 [19][24].
	for _, bad := range []string{`{bad`, `{"token":123}`, `[]`, `""`, `{"subs":"bad"}`, `{"token`, ``, `   `, `{"subs":{"a":{"offset":"x"}}}`, `{"token":"a",}`} {
		if _, err := DecodeConnectRequest([]byte(bad)); !errors.Is(err, ErrBadConnectRequest) {
			t.Errorf("%q: err = %v, want ErrBadConnectRequest", bad, err)
		}
	}
	// null is an empty request [20][24]; unknown fields and trailing bytes are ignored [21].
	for _, ok := range []string{`null`, `{}`, ` {"token":"x"}`, `{"token":"x"} trailing garbage`, `{"token":"x"}{"token":"y"}`,
		`{"token":"x","foo":1,"bar":{"x":[1]},"data":{"a":1},"headers":{"x":"y"},"name":"n","version":"v"}`} {
		if _, err := DecodeConnectRequest([]byte(ok)); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	r, err := DecodeConnectRequest([]byte(`{"token":"x"}{"token":"y"}`))
	if err != nil || r.Token != "x" {
		t.Fatalf("first value wins: %+v %v", r, err)
	}
	r, err = DecodeConnectRequest([]byte(`{"token":"T","name":"js","subs":{"hist:r":{"recover":true,"offset":1,"epoch":"WIeFIlAt"}}}`))
	if err != nil || r.Token != "T" || r.Name != "js" {
		t.Fatalf("%+v %v", r, err)
	}
	if s := r.Subs["hist:r"]; !s.Recover || s.Offset != 1 || s.Epoch != "WIeFIlAt" {
		t.Fatalf("subs: %+v", r.Subs)
	}
	// Decoded strings must not alias the input (the server reuses its buffers).
	in := []byte(`{"token":"abcdef","subs":{"chan1":{}}}`)
	r, _ = DecodeConnectRequest(in)
	for i := range in {
		in[i] = 'Z'
	}
	if _, ok := r.Subs["chan1"]; r.Token != "abcdef" || !ok {
		t.Fatalf("decoded values alias the input: %+v", r)
	}
	// Invalid UTF-8 does not fail or panic.
	if _, err := DecodeConnectRequest([]byte("{\"token\":\"\xff\xfe\"}")); err != nil {
		t.Fatalf("invalid utf-8: %v", err)
	}
}

func FuzzDecodeConnectRequest(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"token":"x","subs":{"a":{"recover":true}}}`, `[`, "{\"a\":\"\xff\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeConnectRequest(b) // must not panic
	})
}
