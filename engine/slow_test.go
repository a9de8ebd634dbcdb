package engine_test

import (
	"io"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

// heapInUse is the test process's live heap after a full collection (the
// server runs in this process). Frames are pooled; two collections empty the
// pools.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestSlowReaderStallGets3008: a subscriber with a 4 KiB receive buffer stops
// reading while three healthy subscribers on the same channel read
// everything. After a backlog that its socket cannot hold, publishing stops:
// no further write happens, so only the stall timer (write_stall_timeout 1s;
// queue_max_size is far away) can disconnect it, and it must, within the
// timeout plus slack. When it reads again it gets whole frames, a gap-free
// prefix, then exactly the 3008 push and the terminating chunk. The healthy
// subscribers get every publication, and once the slow client is gone the
// server's heap is back near where it was before it came.
//
// Not parallel: the heap is the process's, and parallel tests only start
// once the sequential ones are done.
func TestSlowReaderStallGets3008(t *testing.T) {
	const stall = time.Second
	srv := rbStart(t, func(o *config.Options) {
		o.Client.QueueMaxSize = 32 << 20
		o.Own.WriteStallTimeout = stall
	})
	token := rbToken(t, "stall", "stall")
	healthy := make([]*rbCollector, 3)
	for i := range healthy {
		st := srv.Connect(t, map[string]any{"token": token})
		st.ExpectPrefix(t, `{"connect":`)
		healthy[i] = rbCollect(st, "stall")
	}
	api := srv.DialAPI(t)
	before := heapInUse()

	slow := rbDialSmallWindow(t, srv.Addr, srv.StreamRequest(map[string]any{"token": token}))
	if err := slow.Open(); err != nil {
		t.Fatal(err)
	}
	slow.ExpectPrefix(t, `{"connect":`)
	enginetest.Eventually(t, rbTimeout, "4 clients", func() bool { return srv.NumClients() == 4 })

	// 6 MB: more than the loopback socket pair holds (about 2.6 MB here).
	pub := &rbPublisher{t: t, srv: srv, api: api, channel: "stall", size: 1024}
	for pub.next < 6000 && srv.NumClients() == 4 {
		pub.batch(50)
	}
	stopped := time.Now()
	enginetest.Eventually(t, stall+5*time.Second, "the stalled reader disconnected", func() bool { return srv.NumClients() == 3 })
	t.Logf("stalled reader closed %v after the last publication (%d publications)", time.Since(stopped).Round(time.Millisecond), pub.next)
	if got := rbMetric(t, srv, `centrifugo_client_num_server_disconnects{code="3008"}`); got != 1 {
		t.Errorf("3008 disconnects: %v, want 1", got)
	}

	n, last, end := rbReadToEnd(t, slow)
	if last != `{"disconnect":{"code":3008,"reason":"slow"}}` || end != io.EOF {
		t.Fatalf("slow client: %d publications, then %q and %v; want the 3008 push and the terminating chunk", n, last, end)
	}
	if n == 0 || n >= pub.next {
		t.Fatalf("slow client read %d of %d publications: it was never behind", n, pub.next)
	}
	slow.Conn.Close()
	for _, h := range healthy {
		h.expectAll(t, "healthy client", pub.next)
	}

	// Memory back: what the backlog held is released.
	var after uint64
	enginetest.Eventually(t, 10*time.Second, "heap back near the baseline", func() bool {
		after = heapInUse()
		return after < before+8<<20
	})
	t.Logf("heap in use: %d KiB before the slow reader, %d KiB after", before>>10, after>>10)
	rbExpectHealthy(t, srv, 3)
}

// rbReadToEnd reads a stream to its end: how many publications came (they
// must be numbered 1, 2, … without gaps), the last event that is not a
// publication or a ping, and the error that ended the stream.
func rbReadToEnd(t *testing.T, st *enginetest.Stream) (pubs int, last string, end error) {
	t.Helper()
	for {
		ev, err := st.Event(rbTimeout)
		if err != nil {
			return pubs, last, err
		}
		if last != "" {
			t.Fatalf("event after %q: %s", last, rbTrim(ev))
		}
		if n, ok := rbPubNumber(ev, "stall"); ok {
			if n != pubs+1 {
				t.Fatalf("publication #%d is n=%d (gap)", pubs+1, n)
			}
			pubs++
			continue
		}
		if ev != enginetest.Ping {
			last = ev
		}
	}
}
