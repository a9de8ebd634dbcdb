package redisbroker

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/redisbroker/redistest"
)

// BenchmarkPublish measures publish throughput with history, many
// publishes in flight at once (auto-pipelined into shared round trips), on
// 64 channels; another node subscribed to all of them receives every one.
//
//	go test -run '^$' -bench Publish -benchtime 20000x ./engine/broker/redisbroker/
func BenchmarkPublish(b *testing.B) {
	srv := redistest.Start(b)
	opts := Options{NodeID: "a", Addresses: []string{srv.Addr()}}
	pubNode, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer pubNode.Close()
	if err := pubNode.Run(newRec()); err != nil {
		b.Fatal(err)
	}
	opts.NodeID = "b"
	subNode, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer subNode.Close()
	counter := &countingHandler{}
	if err := subNode.Run(counter); err != nil {
		b.Fatal(err)
	}
	const channels = 64
	names := make([]string, channels)
	for i := range names {
		names[i] = "bench" + strconv.Itoa(i)
		errc := make(chan error, 1)
		subNode.Subscribe(context.Background(), names[i], func(err error) { errc <- err })
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	pub := &broker.Publication{Data: []byte(`{"benchmark":"publish","n":12345}`)}
	popts := broker.PublishOptions{HistorySize: 10, HistoryTTL: time.Minute}
	const inFlight = 256
	sem := make(chan struct{}, inFlight)
	var failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		pubNode.Publish(context.Background(), names[i%channels], pub, popts, func(_ broker.StreamPosition, err error) {
			if err != nil {
				failed.Add(1)
			}
			<-sem
		})
	}
	for range inFlight {
		sem <- struct{}{}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d publishes failed", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "publishes/s")
	deadline := time.Now().Add(30 * time.Second)
	for counter.n.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := counter.n.Load(); got != int64(b.N) {
		b.Fatalf("subscriber received %d of %d", got, b.N)
	}
}

type countingHandler struct{ n atomic.Int64 }

func (h *countingHandler) HandlePublication(string, *broker.Publication, broker.StreamPosition) broker.Deferred {
	h.n.Add(1)
	return 0
}
func (h *countingHandler) Flush(broker.Deferred)                            {}
func (h *countingHandler) HandleControl([]byte)                             {}
func (h *countingHandler) HandleResubscribed([]string)                      {}
func (h *countingHandler) HandleJoinLeave(string, *broker.ClientInfo, bool) {}
