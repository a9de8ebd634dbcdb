//go:build soak

package engine_test

// The soak: churn, broadcast and slow readers together for SOAK_DURATION
// (default 60s), then everything is closed and the server must be back
// where it started. Run with `make soak`; not part of the default run.
//
//   - healthy streams (connected for the whole run) must receive every
//     publication, in order: no gap in the sequence numbers;
//   - churning streams connect, read a few publications (also without gaps)
//     and leave — closing, resetting (RST) or leaving mid-event;
//   - slow readers subscribe to a channel of large publications and do not
//     read: the server must close them (3008, once the queue limit is
//     passed), which the reader sees as the end of its stream once it reads;
//   - at the end: no client counted, no channel left, no goroutine, no file
//     descriptor more than before the load, and the live heap during the
//     run does not grow from its first quarter to its end beyond a bound.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/config"
	"github.com/unisse/unisse/engine/enginetest"
)

const (
	soakHealthy     = 20
	soakChurners    = 4
	soakSlow        = 3
	soakSlowHold    = 5 * time.Second // a slow reader's silence; bulk fills its buffers in well under 1 s
	soakPublishTick = 2 * time.Millisecond
	soakBulkEvery   = 5 // ticks between bulk publications (64 KiB each: ~6 MB/s per slow reader)
)

func soakDuration(t *testing.T) time.Duration {
	d := 60 * time.Second
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			t.Fatalf("SOAK_DURATION=%q: want a positive Go duration", v)
		}
	}
	return d
}

// soakSeq is the sequence number in a publication event of channel "soak".
func soakSeq(ev string) (int, error) {
	if !strings.HasPrefix(ev, `{"channel":"soak","pub":{"data":{"n":`) {
		return 0, fmt.Errorf("not a soak publication: %.80q", ev)
	}
	rest := ev[len(`{"channel":"soak","pub":{"data":{"n":`):]
	end := strings.IndexByte(rest, ',')
	if end < 0 {
		return 0, fmt.Errorf("no sequence number: %.80q", ev)
	}
	return strconv.Atoi(rest[:end])
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(ents)
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// soakDialSlow opens a stream whose socket has a small receive buffer, so
// that the server's buffers, not the client's, fill up when it does not read.
func soakDialSlow(srv *enginetest.Server, token string) (*enginetest.Stream, error) {
	d := net.Dialer{Timeout: enginetest.IOTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", srv.Addr)
	if err != nil {
		return nil, err
	}
	st := &enginetest.Stream{Conn: c, R: bufio.NewReaderSize(c, 4096)}
	c.SetWriteDeadline(time.Now().Add(enginetest.IOTimeout))
	if _, err := io.WriteString(c, srv.StreamRequest(map[string]any{"token": token})); err != nil {
		c.Close()
		return nil, err
	}
	if err := st.Open(); err != nil {
		c.Close()
		return nil, err
	}
	return st, nil
}

// soakDrainClosed reads a stream as fast as it can and reports whether the
// server had closed it: the stream ends (EOF or reset) within 64 MiB and 10 s.
func soakDrainClosed(st *enginetest.Stream) bool {
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	st.Conn.SetReadDeadline(deadline)
	for total := 0; total < 64<<20; {
		n, err := st.R.Read(buf)
		total += n
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
	return false
}

func TestSoak(t *testing.T) {
	duration := soakDuration(t)
	srv := rbStart(t, func(o *config.Options) {
		o.Own.EventLoops = 2
		o.Client.QueueMaxSize = 256 << 10
	})
	healthyToken := rbToken(t, "healthy", "soak")
	churnToken := rbToken(t, "churn", "soak")
	slowToken := rbToken(t, "slow", "soak", "bulk")

	// Warm up: a stream on every loop registers the loops' kick sockets, so
	// that the baseline counts them.
	warm := srv.ConnectMany(t, 4, 4, func(int) any { return map[string]any{"token": churnToken} })
	for _, st := range warm {
		st.Conn.Close()
	}
	enginetest.Eventually(t, rbTimeout, "warm-up streams gone", func() bool { return srv.NumClients() == 0 })
	baseGoroutines := enginetest.SettledGoroutines(2 * time.Second)
	baseFDs := openFDs(t)
	baseHeap := liveHeap()

	var (
		stop     atomic.Bool // churn and slow readers start no new cycle
		failures = make(chan error, 64)
		fail     = func(err error) {
			select {
			case failures <- err:
			default:
			}
		}
		lastSent  atomic.Int64
		churned   atomic.Int64
		slowTotal atomic.Int64
		slowShut  atomic.Int64
	)

	// Healthy streams, connected before the first publication: each must
	// see 1, 2, 3, … up to the last one sent.
	healthy := srv.ConnectMany(t, soakHealthy, 4, func(int) any { return map[string]any{"token": healthyToken} })
	var healthyWG sync.WaitGroup
	healthyDone := make(chan struct{})
	received := make([]atomic.Int64, soakHealthy)
	for i, st := range healthy {
		healthyWG.Add(1)
		go func() {
			defer healthyWG.Done()
			for {
				ev, err := st.EventSkipPings(30 * time.Second)
				if err != nil {
					select {
					case <-healthyDone:
					default:
						fail(fmt.Errorf("healthy %d after %d: %w", i, received[i].Load(), err))
					}
					return
				}
				n, err := soakSeq(ev)
				if err != nil {
					fail(fmt.Errorf("healthy %d: %w", i, err))
					return
				}
				if want := received[i].Load() + 1; int64(n) != want {
					fail(fmt.Errorf("healthy %d: publication %d after %d: lost %d", i, n, want-1, int64(n)-want))
					return
				}
				received[i].Store(int64(n))
			}
		}()
	}

	// The broadcaster: "soak" every tick (sequence numbers, ~1 KiB), "bulk"
	// (64 KiB, for the slow readers) every soakBulkEvery ticks.
	api := srv.DialAPI(t)
	pad := strings.Repeat("x", 1000)
	bulk := `{"channel":"bulk","data":{"b":"` + strings.Repeat("y", 64<<10) + `"}}`
	pubStop := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		tick := time.NewTicker(soakPublishTick)
		defer tick.Stop()
		for k := 1; ; k++ {
			select {
			case <-pubStop:
				return
			case <-tick.C:
			}
			n := lastSent.Load() + 1
			if r, err := api.Do("publish", fmt.Sprintf(`{"channel":"soak","data":{"n":%d,"p":"%s"}}`, n, pad)); err != nil || r.Status != 200 || r.Body != `{"result":{}}` {
				fail(fmt.Errorf("publish %d: %v %d %.80q", n, err, r.Status, r.Body))
				return
			}
			lastSent.Store(n)
			if k%soakBulkEvery == 0 {
				if r, err := api.Do("publish", bulk); err != nil || r.Status != 200 {
					fail(fmt.Errorf("bulk publish: %v %d", err, r.Status))
					return
				}
			}
		}
	}()

	// Churn: connect, read a few publications in order, leave in one of
	// three ways.
	var workers sync.WaitGroup
	for w := range soakChurners {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for cycle := 0; !stop.Load(); cycle++ {
				st, err := srv.ConnectE(map[string]any{"token": churnToken})
				if err != nil {
					fail(fmt.Errorf("churn %d: connect: %w", w, err))
					return
				}
				if ev, err := st.Event(enginetest.IOTimeout); err != nil || !strings.HasPrefix(ev, `{"connect":`) {
					fail(fmt.Errorf("churn %d: connect push: %q %v", w, ev, err))
					st.Conn.Close()
					return
				}
				prev := 0
				for range 1 + cycle%7 {
					ev, err := st.EventSkipPings(enginetest.IOTimeout)
					if err != nil {
						fail(fmt.Errorf("churn %d: %w", w, err))
						st.Conn.Close()
						return
					}
					n, err := soakSeq(ev)
					if err == nil && prev != 0 && n != prev+1 {
						err = fmt.Errorf("publication %d after %d", n, prev)
					}
					if err != nil {
						fail(fmt.Errorf("churn %d: %w", w, err))
						st.Conn.Close()
						return
					}
					prev = n
				}
				switch cycle % 3 {
				case 1: // reset
					_ = st.Conn.(*net.TCPConn).SetLinger(0)
				case 2: // half-close first, as a proxy might
					_ = st.Conn.(*net.TCPConn).CloseWrite()
				}
				st.Conn.Close()
				churned.Add(1)
			}
		}()
	}

	// Slow readers: subscribe to bulk, stay silent, then check that the
	// server closed the stream.
	for w := range soakSlow {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for !stop.Load() {
				st, err := soakDialSlow(srv, slowToken)
				if err != nil {
					fail(fmt.Errorf("slow %d: connect: %w", w, err))
					return
				}
				time.Sleep(soakSlowHold) // the point: a client that does not read
				closed := soakDrainClosed(st)
				st.Conn.Close()
				slowTotal.Add(1)
				if closed {
					slowShut.Add(1)
				} else {
					fail(fmt.Errorf("slow %d: still open after %v without reading", w, soakSlowHold))
				}
			}
		}()
	}

	// Run, sampling the live heap once the load is established.
	start := time.Now()
	time.Sleep(duration / 4)
	warmHeap := liveHeap()
	warmGoroutines := runtime.NumGoroutine()
	time.Sleep(time.Until(start.Add(duration)))
	lateHeap := liveHeap()
	lateGoroutines := runtime.NumGoroutine()
	stop.Store(true)
	workers.Wait()
	close(pubStop)
	<-pubDone

	// Every healthy stream gets everything that was sent.
	last := lastSent.Load()
	for i := range healthy {
		if !enginetest.Poll(30*time.Second, func() bool { return received[i].Load() >= last || len(failures) > 0 }) {
			fail(fmt.Errorf("healthy %d: got %d of %d publications", i, received[i].Load(), last))
		}
	}
	close(healthyDone)
	for _, st := range healthy {
		st.Conn.Close()
	}
	healthyWG.Wait()
	api.Conn.Close()
	close(failures)
	for err := range failures {
		t.Error(err)
	}

	// Back to the start. Descriptors first: lkExpectEmpty's and rbMetric's
	// API connections stay open until the test ends.
	var fds int
	enginetest.Poll(10*time.Second, func() bool { fds = openFDs(t); return fds <= baseFDs })
	enginetest.ExpectNoNewGoroutines(t, baseGoroutines, 10*time.Second)
	endHeap := liveHeap()
	lkExpectEmpty(t, srv)
	slowMetric := rbMetric(t, srv, `centrifugo_client_num_server_disconnects{code="3008"}`)

	t.Logf("soak %v: %d publications to %d healthy streams (+%d bulk), %d churn cycles, %d slow readers closed of %d (server 3008 count %v)",
		duration, last, soakHealthy, last/soakBulkEvery, churned.Load(), slowShut.Load(), slowTotal.Load(), slowMetric)
	t.Logf("fds %d → %d; goroutines under load %d → %d; live heap: before %d KiB, at 1/4 %d KiB, at end %d KiB, after %d KiB",
		baseFDs, fds, warmGoroutines, lateGoroutines, baseHeap>>10, warmHeap>>10, lateHeap>>10, endHeap>>10)

	if fds > baseFDs {
		t.Errorf("file descriptors: %d before the load, %d after", baseFDs, fds)
	}
	if slowTotal.Load() == 0 || slowShut.Load() != slowTotal.Load() {
		t.Errorf("slow readers: %d of %d closed by the server", slowShut.Load(), slowTotal.Load())
	}
	if float64(slowShut.Load()) > slowMetric {
		t.Errorf("slow readers saw %d closes, server counted %v 3008 disconnects", slowShut.Load(), slowMetric)
	}
	if churned.Load() == 0 {
		t.Error("no churn cycle completed")
	}
	// Under the same load the live heap must not keep growing: from a
	// quarter into the run to its end it may move by noise (frames in
	// flight, 64 KiB bulk frames queued for slow readers) but not grow with
	// time or with the number of connections that came and went.
	if bound := warmHeap + max(warmHeap/2, 32<<20); lateHeap > bound {
		t.Errorf("live heap grew under steady load: %d KiB at 1/4, %d KiB at the end (bound %d KiB)", warmHeap>>10, lateHeap>>10, bound>>10)
	}
	if bound := baseHeap + 32<<20; endHeap > bound {
		t.Errorf("live heap after the load: %d KiB, %d KiB before (bound %d KiB)", endHeap>>10, baseHeap>>10, bound>>10)
	}
	if lateGoroutines > warmGoroutines+soakChurners+soakSlow+16 {
		t.Errorf("goroutines grew under steady load: %d at 1/4, %d at the end", warmGoroutines, lateGoroutines)
	}
}
