package engine_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

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
	if !socketListed(t, port) {
		t.Fatalf("client port %d not found in /proc/net/tcp", port)
	}
	st.Conn.Close()
	enginetest.Eventually(t, 5*time.Second, "the client's socket gone (reset, no TIME_WAIT)", func() bool {
		return !socketListed(t, port)
	})
}

// socketListed reports whether /proc/net/tcp has a socket whose local port
// is port (in any state, TIME_WAIT included).
func socketListed(t *testing.T, port int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}
