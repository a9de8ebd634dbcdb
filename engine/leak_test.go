package engine_test

// Leaks: after many streams and API connections come and go — closed by the
// client, ended by the server, evicted for being slow — nothing of them may
// remain: no counted client, no channel, no goroutine. These tests are not
// parallel, so that the process's goroutines are theirs to count (Go runs
// sequential tests one at a time, before the parallel ones).

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// lkTimeout bounds each wait of these tests.
const lkTimeout = 15 * time.Second

// lkExpectEmpty checks that the server holds no client and no channel: by
// NumClients, /api/channels and /api/info.
func lkExpectEmpty(t *testing.T, srv *enginetest.Server) {
	t.Helper()
	enginetest.Eventually(t, lkTimeout, "NumClients() == 0", func() bool { return srv.NumClients() == 0 })
	if got := srv.Call(t, "channels", `{}`); got != `{"result":{"channels":{}}}` {
		t.Errorf("/api/channels: %s", rbTrim(got))
	}
	if got := srv.Call(t, "info", `{}`); !strings.Contains(got, `"num_clients":0,"num_users":0,"num_channels":0,`) || !strings.Contains(got, `"num_subs":0`) {
		t.Errorf("/api/info: %s", got)
	}
}

// TestLeakStreamsAndAPIConnections opens 500 streams in three groups and 20
// slow streams, plus 20 keep-alive API connections; publishes to all of
// them; then ends every stream: group A by the client (half of them with
// RST), group B by /api/disconnect, the slow ones by eviction (3008, driven
// by a backlog on their own channel with client.queue_max_size 64 KiB), and
// group C by the client after a last publication. Then NumClients must be
// 0, /api/channels empty, and every goroutine started since the server came
// up gone.
func TestLeakStreamsAndAPIConnections(t *testing.T) {
	srv := rbStart(t, func(o *config.Options) { o.Client.QueueMaxSize = 64 << 10 })
	base := enginetest.SettledGoroutines(2 * time.Second)

	// API keep-alive connections, each used once now and once at the end.
	apis := make([]*enginetest.APIClient, 20)
	for i := range apis {
		apis[i] = srv.DialAPI(t)
		apis[i].Call(t, "publish", fmt.Sprintf(`{"channel":"lk-nobody","data":{"api":%d}}`, i))
	}

	// 500 streams: groups A, B, C; everyone on lk-all, plus a room each.
	const n = 500
	group := func(i int) string { return string("ABC"[i%3]) }
	tokens := make([]string, n)
	for i := range n {
		user := fmt.Sprintf("lk-%s-%d", group(i), i)
		if group(i) == "B" {
			user = "lk-B" // one user: one /api/disconnect ends the group
		}
		tokens[i] = rbToken(t, user, "lk-all", fmt.Sprintf("lk-room-%d", i%25))
	}
	streams := srv.ConnectMany(t, n, 4, func(i int) any { return map[string]any{"token": tokens[i]} })

	// 20 slow streams that never read after their connect push.
	const slowN = 20
	slowToken := rbToken(t, "lk-slow", "lk-slow", "lk-all")
	slow := make([]*enginetest.Stream, slowN)
	for i := range slow {
		slow[i] = rbDialSmallWindow(t, srv.Addr, srv.StreamRequest(map[string]any{"token": slowToken}))
		if err := slow[i].Open(); err != nil {
			t.Fatal(err)
		}
		slow[i].ExpectPrefix(t, `{"connect":`)
	}
	if got := srv.NumClients(); got != n+slowN {
		t.Fatalf("NumClients() = %d, want %d", got, n+slowN)
	}

	// Publish to everyone and to each room; every stream reads its two.
	apis[0].Call(t, "publish", `{"channel":"lk-all","data":"hello all"}`)
	for r := range 25 {
		apis[1+r%19].Call(t, "publish", fmt.Sprintf(`{"channel":"lk-room-%d","data":"hello room"}`, r))
	}
	enginetest.ForEach(t, n, 4, func(i int) error {
		for _, want := range []string{`{"channel":"lk-all","pub":{"data":"hello all"}}`, fmt.Sprintf(`{"channel":"lk-room-%d","pub":{"data":"hello room"}}`, i%25)} {
			if ev, err := streams[i].EventSkipPings(lkTimeout); err != nil || ev != want {
				return fmt.Errorf("got %q, %v; want %s", ev, err, want)
			}
		}
		return nil
	})

	// Group A: closed by the client, every other one with RST.
	closedA := 0
	for i := 0; i < n; i += 3 {
		if i%2 == 0 {
			streams[i].Conn.(*net.TCPConn).SetLinger(0)
		}
		streams[i].Conn.Close()
		closedA++
	}
	// Group B: /api/disconnect; each B stream reads the push and the end.
	apis[2].Call(t, "disconnect", `{"user":"lk-B"}`)
	closedB := 0
	for i := 1; i < n; i += 3 {
		closedB++
		if ev, err := streams[i].EventSkipPings(lkTimeout); err != nil || ev != `{"disconnect":{"code":3503,"reason":"force disconnect"}}` {
			t.Fatalf("group B stream %d: %q %v", i, ev, err)
		}
		if _, err := streams[i].Event(lkTimeout); err != io.EOF {
			t.Fatalf("group B stream %d: after the push %v", i, err)
		}
	}
	enginetest.Eventually(t, lkTimeout, "groups A and B gone", func() bool { return srv.NumClients() == n-closedA-closedB+slowN })

	// The slow ones: a backlog on their channel until all are evicted.
	pub := &rbPublisher{t: t, srv: srv, api: apis[3], channel: "lk-slow", size: 4096}
	for srv.NumClients() > n-closedA-closedB && pub.next < 5000 {
		pub.batch(10)
	}
	enginetest.Eventually(t, lkTimeout, "slow streams evicted", func() bool { return srv.NumClients() == n-closedA-closedB })
	if got := rbMetric(t, srv, `centrifugo_client_num_server_disconnects{code="3008"}`); got != slowN {
		t.Errorf("3008 disconnects: %v, want %d", got, slowN)
	}
	for i, st := range slow {
		st.Conn.SetReadDeadline(time.Now().Add(lkTimeout))
		if _, err := io.Copy(io.Discard, st.Conn); err != nil {
			t.Fatalf("slow stream %d: %v, want EOF", i, err)
		}
		st.Conn.Close()
	}

	// Group C: one more publication, then the clients leave.
	apis[4].Call(t, "publish", `{"channel":"lk-all","data":"bye"}`)
	for i := 2; i < n; i += 3 {
		if ev, err := streams[i].EventSkipPings(lkTimeout); err != nil || ev != `{"channel":"lk-all","pub":{"data":"bye"}}` {
			t.Fatalf("group C stream %d: %q %v", i, ev, err)
		}
		streams[i].Conn.Close()
	}
	for _, a := range apis {
		a.Call(t, "publish", `{"channel":"lk-all","data":"nobody left"}`)
		a.Conn.Close()
	}

	lkExpectEmpty(t, srv)
	enginetest.ExpectNoNewGoroutines(t, base, lkTimeout)
}

// TestLeakStartStop starts and stops a server five times. Each time it
// opens a stream, makes API calls (inline and off-loop) and a publication,
// then stops the server: the stream must get the 3001 shutdown push and the
// end of its body, the port must refuse connections, and every goroutine
// started since before the first Start must be gone.
func TestLeakStartStop(t *testing.T) {
	base := enginetest.SettledGoroutines(2 * time.Second)
	for cycle := range 5 {
		srv := rbStart(t, nil)
		st := srv.Connect(t, map[string]any{"token": rbToken(t, "ss", "ss")})
		st.ExpectPrefix(t, `{"connect":`)
		api := srv.DialAPI(t)
		api.Call(t, "publish", fmt.Sprintf(`{"channel":"ss","data":{"cycle":%d}}`, cycle))
		st.ExpectEvent(t, fmt.Sprintf(`{"channel":"ss","pub":{"data":{"cycle":%d}}}`, cycle))
		if got := api.Call(t, "info", `{}`); !strings.Contains(got, `"num_clients":1,`) {
			t.Fatalf("info: %s", got)
		}
		if got := rbMetric(t, srv, "centrifugo_node_num_clients"); got != 1 {
			t.Fatalf("cycle %d: centrifugo_node_num_clients = %v, want 1", cycle, got)
		}

		ctx, cancel := context.WithTimeout(context.Background(), lkTimeout)
		err := srv.Stop(ctx)
		cancel()
		if err != nil {
			t.Fatalf("cycle %d: stop: %v", cycle, err)
		}
		st.ExpectEvent(t, `{"disconnect":{"code":3001,"reason":"shutdown"}}`)
		if ev, err := st.Event(lkTimeout); err != io.EOF {
			t.Fatalf("cycle %d: after the shutdown push: %q %v", cycle, ev, err)
		}
		st.ExpectEOF(t, lkTimeout)
		api.Conn.SetReadDeadline(time.Now().Add(lkTimeout))
		if b, err := api.R.ReadByte(); err == nil {
			t.Fatalf("cycle %d: API connection still open after stop (read %q)", cycle, b)
		}
		if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("cycle %d: port still accepts connections after stop", cycle)
		}
		enginetest.ExpectNoNewGoroutines(t, base, lkTimeout)
	}
}
