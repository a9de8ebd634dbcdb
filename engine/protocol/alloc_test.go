//go:build !race

package protocol

import "testing"

func TestEncodeAllocs(t *testing.T) {
	p := Publication{Data: []byte(`{"text":"hello"}`), Offset: 7, Tags: map[string]string{"a": "1", "b": "2"}, Epoch: "EEE"}
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(1000, func() { buf = AppendPublicationPush(buf[:0], "news<&>", &p) }); n != 0 {
		t.Fatalf("AppendPublicationPush: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { buf = AppendDisconnectPush(buf[:0], DisconnectSlow) }); n != 0 {
		t.Fatalf("AppendDisconnectPush: %v allocs", n)
	}
}
