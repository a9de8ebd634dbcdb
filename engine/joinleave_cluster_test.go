package engine_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
	"github.com/unisse/unisse/engine/enginetest"
)

// TestRedisJoinLeaveAcrossNodes: with Redis, joins and leaves go through the
// broker as in Centrifugo. A uni_sse subscriber on node B of a channel with
// force_push_join_leave gets exactly one join and one leave for a client of
// node A and exactly one for a client of B itself (published through Redis
// and heard back, never also broadcast locally), in order with
// publications; each client gets its own join once.
func TestRedisJoinLeaveAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	testJoinLeaveAcrossNodes(t, redisNode(t, rs, "a", 0), redisNode(t, rs, "b", 0))
}

// TestNatsJoinLeaveAcrossNodes: the same over NATS, where joins and leaves
// travel as Centrifugo's NATS broker sends them.
func TestNatsJoinLeaveAcrossNodes(t *testing.T) {
	ns := natstest.Start(t)
	testJoinLeaveAcrossNodes(t, natsNode(t, ns, "a"), natsNode(t, ns, "b"))
}

// testJoinLeaveAcrossNodes checks join/leave pushes between nodes a and b
// sharing a broker (see TestRedisJoinLeaveAcrossNodes).
func testJoinLeaveAcrossNodes(t *testing.T, a, b *enginetest.Server) {
	api := a.DialAPI(t)
	const ch = "jl:across"
	connect := func(srv *enginetest.Server, user string) (*enginetest.Stream, string) {
		t.Helper()
		st := srv.Connect(t, map[string]any{"token": enginetest.Token(t, enginetest.Secret, map[string]any{
			"sub": user, "channels": []string{ch}, "info": map[string]any{"name": user}})})
		var push struct {
			Connect struct{ Client string }
		}
		if err := json.Unmarshal([]byte(st.ExpectPrefix(t, `{"connect":`)), &push); err != nil || push.Connect.Client == "" {
			t.Fatalf("connect push: %v", err)
		}
		return st, push.Connect.Client
	}
	info := func(user, client string) string {
		return fmt.Sprintf(`{"info":{"user":%q,"client":%q,"conn_info":{"name":%q}}}`, user, client, user)
	}
	join := func(user, client string) string {
		return fmt.Sprintf(`{"channel":%q,"join":%s}`, ch, info(user, client))
	}
	leave := func(user, client string) string {
		return fmt.Sprintf(`{"channel":%q,"leave":%s}`, ch, info(user, client))
	}
	marker := 0
	// publishMarker publishes a publication from node A; a stream that
	// receives it next got nothing twice before it (a second copy of a
	// push is queued no later than the publish that follows its first).
	publishMarker := func() string {
		t.Helper()
		marker++
		if reply := api.Call(t, "publish", fmt.Sprintf(`{"channel":%q,"data":{"m":%d}}`, ch, marker)); strings.Contains(reply, "error") {
			t.Fatalf("publish: %s", reply)
		}
		return fmt.Sprintf(`{"channel":%q,"pub":{"data":{"m":%d}}}`, ch, marker)
	}
	expect := func(st *enginetest.Stream, who string, want ...string) {
		t.Helper()
		for _, w := range want {
			ev, err := eventWithin(st, redisTimeout)
			if err != nil || ev != w {
				t.Fatalf("%s: got %q (%v), want %s", who, ev, err, w)
			}
		}
	}

	s, sID := connect(b, "subscriber")
	expect(s, "subscriber on B", join("subscriber", sID))

	x, xID := connect(a, "xa")
	expect(x, "client on A", join("xa", xID))
	expect(s, "subscriber on B", join("xa", xID))
	m := publishMarker()
	expect(x, "client on A", m)
	expect(s, "subscriber on B", m)
	x.Conn.Close()
	// The leave is awaited before the marker is published: the close
	// reaches the node some time after the client's.
	expect(s, "subscriber on B", leave("xa", xID))
	expect(s, "subscriber on B", publishMarker())

	y, yID := connect(b, "yb")
	expect(y, "client on B", join("yb", yID))
	expect(s, "subscriber on B", join("yb", yID))
	m = publishMarker()
	expect(y, "client on B", m)
	expect(s, "subscriber on B", m)
	y.Conn.Close()
	expect(s, "subscriber on B", leave("yb", yID))
	expect(s, "subscriber on B", publishMarker())
}
