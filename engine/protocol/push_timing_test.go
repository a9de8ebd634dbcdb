package protocol

import "testing"

// BenchmarkPublicationPush encodes a 100-byte publication push.
func BenchmarkPublicationPush(b *testing.B) {
	p := Publication{Data: []byte(`{"text":"0123456789012345678901234567890123456789012345678901234567890123456789012345678"}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPublicationPush(buf[:0], "news", &p)
	}
}

// BenchmarkDecodeConnectRequest decodes a typical cf_connect.
func BenchmarkDecodeConnectRequest(b *testing.B) {
	in := []byte(`{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImV4cCI6MTc5NTY0NDM5OCwiaW5mbyI6eyJuYW1lIjoiQWxpY2UifX0.ubSMlzCmhndQXnAZHkohZO4El-PXSw-MCjjMvxHnmsw","name":"js","version":"1.0"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeConnectRequest(in); err != nil {
			b.Fatal(err)
		}
	}
}
