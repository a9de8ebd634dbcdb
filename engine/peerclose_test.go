package engine_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// TestPeerClosedStreamIsReset: when a subscriber closes its stream, the
// server ends the connection with a reset instead of the FIN exchange
// (nothing more can reach the client, and on a storm of hang-ups the
// exchange is most of what each close costs the loop). Seen from the client:
// its socket, the active closer, goes away at once instead of sitting in
// TIME_WAIT for a minute.
func TestPeerClosedStreamIsReset(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, nil)
	st := srv.Connect(t, map[string]any{"token": rbToken(t, "u", "reset")})
	st.ExpectPrefix(t, `{"connect":`)
	port := st.Conn.LocalAddr().(*net.TCPAddr).Port
	serverPort := st.Conn.RemoteAddr().(*net.TCPAddr).Port
	if !socketListed(t, port, serverPort) {
		t.Fatalf("client socket :%d -> :%d not found in /proc/net/tcp", port, serverPort)
	}
	st.Conn.Close()
	enginetest.Eventually(t, 5*time.Second, "the client's socket gone (reset, no TIME_WAIT)", func() bool {
		return !socketListed(t, port, serverPort)
	})
}

// socketListed reports whether /proc/net/tcp has a socket from local port
// port to remote port remote (in any state, TIME_WAIT included). Both ports
// count: the client's port is free again the moment its socket is gone, and
// the package's parallel tests open thousands of connections, one of which
// may get it at once.
func socketListed(t *testing.T, port, remote int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local, peer := fmt.Sprintf(":%04X", port), fmt.Sprintf(":%04X", remote)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && strings.HasSuffix(f[1], local) && strings.HasSuffix(f[2], peer) {
			return true
		}
	}
	return false
}

// TestAPIAmidHangups: an API client keeps publishing on one keep-alive
// connection while hundreds of subscribers on the same loop hang up at once
// (the loop then reads that connection itself between hang-ups, ahead of
// gnet: delivery/watch.go). Every call gets its own reply, in order, and a
// subscriber that stays gets every publication, in order.
func TestAPIAmidHangups(t *testing.T) {
	t.Parallel()
	srv := rbStart(t, func(o *config.Options) { o.Own.EventLoops = 1 })
	stay := srv.Connect(t, map[string]any{"token": rbToken(t, "stay", "amid")})
	stay.ExpectPrefix(t, `{"connect":`)
	const leaving, publishes = 400, 40
	streams := srv.ConnectMany(t, leaving, 8, func(i int) any {
		return map[string]any{"token": rbToken(t, fmt.Sprint("u", i), "amid-quiet")}
	})
	api := srv.DialAPI(t)
	api.Call(t, "publish", `{"channel":"amid","data":{"n":0}}`) // served whole: watched from now on

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, st := range streams {
			st.Conn.Close()
		}
	}()
	for n := 1; n <= publishes; n++ {
		// Two calls in one write now and then: the second may be split
		// between the loop's own read and gnet's.
		if n%8 == 0 && n < publishes {
			raw := srv.APIRequest("publish", fmt.Sprintf(`{"channel":"amid","data":{"n":%d}}`, n)) +
				srv.APIRequest("info", `{}`)
			if err := api.Send(raw); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`{"result":{}}`, `"nodes"`} {
				r, err := api.Read()
				if err != nil || r.Status != 200 || !strings.Contains(r.Body, want) {
					t.Fatalf("call %d: %v, status %d, body %q; want 200 with %s", n, err, r.Status, r.Body, want)
				}
			}
			continue
		}
		if body := api.Call(t, "publish", fmt.Sprintf(`{"channel":"amid","data":{"n":%d}}`, n)); body != `{"result":{}}` {
			t.Fatalf("publish %d: body %q", n, body)
		}
	}
	<-done
	for n := 0; n <= publishes; n++ {
		ev, err := stay.EventSkipPings(5 * time.Second)
		if err != nil {
			t.Fatalf("publication %d: %v", n, err)
		}
		if want := fmt.Sprintf(`"data":{"n":%d}`, n); !strings.Contains(ev, want) {
			t.Fatalf("publication %d: got %s", n, ev)
		}
	}
}
