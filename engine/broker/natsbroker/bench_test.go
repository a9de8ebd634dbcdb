package natsbroker

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
)

// BenchmarkPublishAcrossNodes: API-style publishes on one node (each
// waiting for its flush round trip, many in flight) delivered to a
// subscribed second node, on an embedded nats-server.
func BenchmarkPublishAcrossNodes(b *testing.B) {
	srv := natstest.Start(b)
	pubNode, err := New(Options{URL: srv.URL(), NodeID: "a"})
	if err != nil {
		b.Fatal(err)
	}
	defer pubNode.Close()
	_ = pubNode.Run(newRec())
	sub, err := New(Options{URL: srv.URL(), NodeID: "b"})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	var got atomic.Int64
	_ = sub.Run(countRec{&got})
	done := make(chan error, 1)
	sub.Subscribe(context.Background(), "bench", func(err error) { done <- err })
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	pub := &broker.Publication{Data: []byte(`{"price":42.5,"symbol":"ABC"}`)}
	b.ReportAllocs()
	b.SetParallelism(32) // 32×GOMAXPROCS publishes in flight, as from many API requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		wait := make(chan error, 1)
		for pb.Next() {
			pubNode.Publish(context.Background(), "bench", pub, broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { wait <- err })
			if err := <-wait; err != nil {
				b.Error(err)
				return
			}
		}
	})
	for got.Load() < int64(b.N) {
		// The last deliveries are in flight; published ones all arrive.
		if err := sub.nc.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

type countRec struct{ n *atomic.Int64 }

func (c countRec) HandlePublication(string, *broker.Publication, broker.StreamPosition) broker.Deferred {
	c.n.Add(1)
	return 0
}
func (countRec) Flush(broker.Deferred)                            {}
func (countRec) HandleControl([]byte)                             {}
func (countRec) HandleResubscribed([]string)                      {}
func (countRec) HandleJoinLeave(string, *broker.ClientInfo, bool) {}
