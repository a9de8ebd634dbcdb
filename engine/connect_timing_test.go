package engine_test

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/enginetest"
)

// BenchmarkConnect is the connect path end to end over loopback TCP: dial,
// GET with a cf_connect HS256 token subscribing to one channel, read the
// response head and the connect push, close. Client and server share the
// process and its CPUs, so ns/op is an upper bound on the server's share.
func BenchmarkConnect(b *testing.B) {
	opts := enginetest.LoadCaptureConfig(b, "config.json")
	srv := enginetest.Start(b, opts)
	token := enginetest.Token(b, enginetest.Secret, map[string]any{"sub": "bench", "channels": []string{"news"}})
	req := []byte(srv.StreamRequest(map[string]string{"token": token}))
	marker := []byte(`{"connect":`)
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReaderSize(c, 4096)
		got := buf[:0]
		for !bytes.Contains(got, marker) {
			n, err := r.Read(buf[len(got):cap(buf)])
			if err != nil {
				b.Fatalf("reading the connect push: %v (got %q)", err, got)
			}
			got = buf[:len(got)+n]
		}
		c.Close()
	}
}
