package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/nats-io/nats.go"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker/natstest"
)

// event is what a recording handler saw, in order: a publication
// ("pub:<channel>:<data>") or a resubscribe ("resub:<channel>").
type rec struct {
	mu       sync.Mutex
	events   []string
	pubs     map[string][]broker.Publication
	controls []string
	joins    []string
}

func newRec() *rec { return &rec{pubs: make(map[string][]broker.Publication)} }

func (r *rec) HandlePublication(ch string, pub *broker.Publication, _ broker.StreamPosition) broker.Deferred {
	c := *pub
	c.Data = append([]byte(nil), pub.Data...)
	c.Info = append([]byte(nil), pub.Info...)
	r.mu.Lock()
	r.events = append(r.events, "pub:"+ch+":"+string(pub.Data))
	r.pubs[ch] = append(r.pubs[ch], c)
	r.mu.Unlock()
	return 0
}
func (r *rec) Flush(broker.Deferred) {}
func (r *rec) HandleJoinLeave(ch string, info *broker.ClientInfo, join bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "leave"
	if join {
		kind = "join"
	}
	r.joins = append(r.joins, ch+" "+kind+" "+info.ClientID+" "+info.UserID+" "+string(info.ConnInfo))
}
func (r *rec) HandleControl(data []byte) {
	r.mu.Lock()
	r.controls = append(r.controls, string(data))
	r.mu.Unlock()
}
func (r *rec) HandleResubscribed(chs []string) {
	r.mu.Lock()
	for _, ch := range chs {
		r.events = append(r.events, "resub:"+ch)
	}
	r.mu.Unlock()
}

func (r *rec) received(ch string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.pubs[ch] {
		out = append(out, string(p.Data))
	}
	return out
}

func (r *rec) snapshot() (events, controls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...), append([]string(nil), r.controls...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func node(t *testing.T, srv *natstest.Server, id string) (*Broker, *rec) {
	t.Helper()
	b, err := New(Options{URL: srv.URL(), NodeID: id, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	r := newRec()
	if err := b.Run(r); err != nil {
		t.Fatal(err)
	}
	return b, r
}

func call(t *testing.T, f func(done func(error))) error {
	t.Helper()
	ch := make(chan error, 1)
	f(func(err error) { ch <- err })
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not complete")
		return nil
	}
}

func publish(t *testing.T, b *Broker, ch, data string) error {
	t.Helper()
	return call(t, func(done func(error)) {
		b.Publish(context.Background(), ch, &broker.Publication{Data: []byte(data)}, broker.PublishOptions{},
			func(_ broker.StreamPosition, err error) { done(err) })
	})
}

func subscribe(t *testing.T, b *Broker, ch string) {
	t.Helper()
	if err := call(t, func(done func(error)) { b.Subscribe(context.Background(), ch, done) }); err != nil {
		t.Fatal(err)
	}
}

// TestSubscribeCompletesWhenServerHasIt: a publication made on another
// node right after Subscribe completes reaches this one, for a fresh
// channel each time (the engine sends a client's connect push then).
func TestSubscribeCompletesWhenServerHasIt(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	b, rb := node(t, srv, "b")
	const n = 100
	for i := range n {
		ch := fmt.Sprintf("fresh%d", i)
		subscribe(t, b, ch)
		if err := publish(t, a, ch, "1"); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a publication on every channel", func() bool {
		rb.mu.Lock()
		defer rb.mu.Unlock()
		return len(rb.pubs) == n
	})
	// Each once: a repeated Subscribe does not subscribe twice.
	subscribe(t, b, "fresh0")
	if err := publish(t, a, "fresh0", "2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "second on fresh0", func() bool { return len(rb.received("fresh0")) == 2 })
	for i := range n {
		if got := rb.received(fmt.Sprintf("fresh%d", i)); len(got) != 1 && i != 0 {
			t.Fatalf("fresh%d: %q", i, got)
		}
	}
}

func TestTwoNodesShareChannelsInOrder(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	b, rb := node(t, srv, "b")
	subscribe(t, b, "news")
	subscribe(t, b, "chat:index")
	const n = 200
	for i := range n {
		if err := publish(t, a, "news", fmt.Sprintf(`{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := publish(t, a, "chat:index", `"x"`); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventually(t, "200 publications on b", func() bool { return len(rb.received("news")) == n })
	got := rb.received("news")
	for i, d := range got {
		if want := fmt.Sprintf(`{"i":%d}`, i); d != want {
			t.Fatalf("publication %d: %s, want %s (order per channel)", i, d, want)
		}
	}
	eventually(t, "chat:index", func() bool { return len(rb.received("chat:index")) == n/10 })
}

func TestPublicationFieldsRoundTrip(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	b, rb := node(t, srv, "b")
	subscribe(t, b, "c")
	info := `{"user":"u1","client":"c1","conn_info":{"a":1},"chan_info":{"b":2}}`
	err := call(t, func(done func(error)) {
		a.Publish(context.Background(), "c", &broker.Publication{Data: []byte{0xff, 0x00}, Tags: map[string]string{"k": "v"}, Info: []byte(info)},
			broker.PublishOptions{}, func(_ broker.StreamPosition, err error) { done(err) })
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivery", func() bool { return len(rb.received("c")) == 1 })
	rb.mu.Lock()
	p := rb.pubs["c"][0]
	rb.mu.Unlock()
	if string(p.Data) != "\xff\x00" || !p.NotJSON || p.Tags["k"] != "v" || len(p.Tags) != 1 {
		t.Fatalf("publication %+v", p)
	}
	if !strings.Contains(string(p.Info), `"user":"u1"`) || !strings.Contains(string(p.Info), `"conn_info":{"a":1}`) {
		t.Fatalf("info %s", p.Info)
	}
}

// The wire format is Centrifugo's: a protobuf Push on
// <prefix>.client.<channel>, control data raw on <prefix>.control and
// <prefix>.node.<id>. A plain NATS client plays Centrifugo's part.
func TestWireFormatIsCentrifugos(t *testing.T) {
	srv := natstest.Start(t)
	a, ra := node(t, srv, "node-a")
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	raw, err := nc.SubscribeSync("centrifugo.client.news")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, a, "news", `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	m, err := raw.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var push cproto.Push
	if err := push.UnmarshalVT(m.Data); err != nil {
		t.Fatal(err)
	}
	if push.Channel != "news" || push.Pub == nil || string(push.Pub.Data) != `{"x":1}` || push.Pub.Time == 0 {
		t.Fatalf("push %+v", &push)
	}

	// Joins and leaves as Centrifugo's NATS broker sends them.
	info := &broker.ClientInfo{ClientID: "c1", UserID: "u1", ConnInfo: []byte(`{"a":1}`)}
	for _, join := range []bool{true, false} {
		pj := a.PublishLeave
		if join {
			pj = a.PublishJoin
		}
		if err := call(t, func(done func(error)) { pj(context.Background(), "news", info, done) }); err != nil {
			t.Fatal(err)
		}
		m, err := raw.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var p cproto.Push
		if err := p.UnmarshalVT(m.Data); err != nil {
			t.Fatal(err)
		}
		var ci *cproto.ClientInfo
		if join && p.Join != nil {
			ci = p.Join.Info
		} else if !join && p.Leave != nil {
			ci = p.Leave.Info
		}
		if p.Channel != "news" || p.Pub != nil || ci == nil || ci.Client != "c1" || ci.User != "u1" || string(ci.ConnInfo) != `{"a":1}` {
			t.Fatalf("join %v: push %+v", join, &p)
		}
	}

	// From "Centrifugo": a publication with a stream position (epoch tag
	// stripped), a join (delivered to HandleJoinLeave; conn_info that is not
	// JSON left out), garbage (dropped) and a leave.
	subscribe(t, a, "news")
	withPos, _ := (&cproto.Push{Channel: "news", Pub: &cproto.Publication{Data: []byte(`1`), Offset: 7, Tags: map[string]string{epochTag: "ep"}}}).MarshalVT()
	join, _ := (&cproto.Push{Channel: "news", Join: &cproto.Join{Info: &cproto.ClientInfo{Client: "c1", User: "u", ConnInfo: []byte(`{"n":1}`)}}}).MarshalVT()
	leave, _ := (&cproto.Push{Channel: "news", Leave: &cproto.Leave{Info: &cproto.ClientInfo{Client: "c1", User: "u", ConnInfo: []byte("not json")}}}).MarshalVT()
	plain, _ := (&cproto.Push{Channel: "news", Pub: &cproto.Publication{Data: []byte(`2`)}}).MarshalVT()
	for _, d := range [][]byte{withPos, join, []byte("\xff\xff\xff garbage"), plain, leave} {
		if err := nc.Publish("centrifugo.client.news", d); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("centrifugo.control", []byte("to-all")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("centrifugo.node.node-a", []byte("to-a")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two publications", func() bool { return len(ra.received("news")) == 2 })
	ra.mu.Lock()
	p0 := ra.pubs["news"][0]
	ra.mu.Unlock()
	if p0.Offset != 7 || p0.Tags != nil {
		t.Fatalf("offset %d tags %v: want 7 and the epoch tag stripped", p0.Offset, p0.Tags)
	}
	if got := ra.received("news"); got[0] != "1" || got[1] != "2" {
		t.Fatalf("got %q", got)
	}
	eventually(t, "two controls", func() bool { _, c := ra.snapshot(); return len(c) == 2 })
	eventually(t, "a join and a leave", func() bool { ra.mu.Lock(); defer ra.mu.Unlock(); return len(ra.joins) == 2 })
	ra.mu.Lock()
	joins := append([]string(nil), ra.joins...)
	ra.mu.Unlock()
	if joins[0] != `news join c1 u {"n":1}` || joins[1] != "news leave c1 u " {
		t.Fatalf("join/leave delivered as %q", joins)
	}
}

func TestControlToAllAndToOneNode(t *testing.T) {
	srv := natstest.Start(t)
	a, ra := node(t, srv, "a")
	_, rb := node(t, srv, "b")
	ctl := func(data, to string) {
		t.Helper()
		if err := call(t, func(done func(error)) { a.PublishControl(context.Background(), []byte(data), to, done) }); err != nil {
			t.Fatal(err)
		}
	}
	ctl("all", "")
	ctl("only-b", "b")
	ctl("only-a", "a")
	eventually(t, "controls", func() bool {
		_, ca := ra.snapshot()
		_, cb := rb.snapshot()
		return len(ca) == 2 && len(cb) == 2
	})
	_, ca := ra.snapshot()
	_, cb := rb.snapshot()
	if strings.Join(sorted(ca), ",") != "all,only-a" || strings.Join(sorted(cb), ",") != "all,only-b" {
		t.Fatalf("a got %v, b got %v", ca, cb)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	b, rb := node(t, srv, "b")
	subscribe(t, b, "c")
	if err := publish(t, a, "c", "1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first", func() bool { return len(rb.received("c")) == 1 })
	if err := call(t, func(done func(error)) { b.Unsubscribe(context.Background(), "c", done) }); err != nil {
		t.Fatal(err)
	}
	if err := b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// A marker on another channel, published after, proves delivery would
	// have happened by the time it arrives.
	subscribe(t, b, "marker")
	if err := publish(t, a, "c", "2"); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, a, "marker", "m"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "marker", func() bool { return len(rb.received("marker")) == 1 })
	if got := rb.received("c"); len(got) != 1 {
		t.Fatalf("after unsubscribe: %q", got)
	}
	// Subscribing again resumes.
	subscribe(t, b, "c")
	if err := publish(t, a, "c", "3"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "third", func() bool { return len(rb.received("c")) == 2 })
}

func TestRefusesWhatNATSCannotCarry(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	for _, ch := range []string{"a.*", "a.>", "a b", "a\r\nPUB x 1", "a..b", ".a", "a.", strings.Repeat("a", maxSubject)} {
		if err := publish(t, a, ch, "1"); !errors.Is(err, errBadChannel) {
			t.Errorf("publish %q: %v", ch, err)
		}
		if err := call(t, func(done func(error)) { a.Subscribe(context.Background(), ch, done) }); !errors.Is(err, errBadChannel) {
			t.Errorf("subscribe %q: %v", ch, err)
		}
	}
	// The connection survived all that: a publish still goes through.
	if err := publish(t, a, "ok", "1"); err != nil || a.Healthy() != nil {
		t.Fatalf("after refusals: %v %v", err, a.Healthy())
	}
	var herr error
	a.History(context.Background(), "c", broker.PublishOptions{}, broker.HistoryFilter{}, func(_ broker.HistoryResult, err error) { herr = err })
	if !errors.Is(herr, ErrHistoryNotAvailable) || !a.Inline(broker.OpHistory) || a.Inline(broker.OpPublish) {
		t.Fatalf("history: %v", herr)
	}
	if err := call(t, func(done func(error)) { a.RemoveHistory(context.Background(), "c", done) }); !errors.Is(err, ErrHistoryNotAvailable) {
		t.Fatalf("remove history: %v", err)
	}
}

func TestNATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	b, rb := node(t, srv, "b")
	subscribe(t, b, "c1")
	subscribe(t, b, "c2")
	if err := publish(t, a, "c1", "before"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "before", func() bool { return len(rb.received("c1")) == 1 })
	if a.Healthy() != nil || b.Healthy() != nil {
		t.Fatal("unhealthy while connected")
	}

	srv.Stop()
	eventually(t, "unhealthy", func() bool { return a.Healthy() != nil && b.Healthy() != nil })
	if err := a.Healthy(); !errors.Is(err, errNotConnected) {
		t.Fatalf("Healthy: %v", err)
	}
	if err := publish(t, a, "c1", "during"); err == nil {
		t.Fatal("publish while NATS is down succeeded")
	}
	if err := call(t, func(done func(error)) { b.Subscribe(context.Background(), "c3", done) }); err == nil {
		t.Fatal("subscribe while NATS is down succeeded")
	}

	srv.Restart()
	eventually(t, "healthy again", func() bool { return a.Healthy() == nil && b.Healthy() == nil })
	// Published until it arrives: the resent SUB may reach the server
	// after a's first publish.
	eventually(t, "delivery resumes", func() bool {
		if err := publish(t, a, "c1", "after"); err != nil {
			return false
		}
		return len(rb.received("c1")) >= 2
	})
	eventually(t, "c2 told", func() bool {
		ev, _ := rb.snapshot()
		return strings.Contains(strings.Join(ev, " "), "resub:c2")
	})
	ev, _ := rb.snapshot()
	// Each channel is told once, before anything from the new connection.
	told := map[string]int{}
	for i, e := range ev {
		if ch, ok := strings.CutPrefix(e, "resub:"); ok {
			told[ch]++
			continue
		}
		if strings.HasPrefix(e, "pub:c1:after") && told["c1"] == 0 {
			t.Fatalf("publication after the restart before the resubscribe: %v (event %d)", ev, i)
		}
	}
	if told["c1"] != 1 || told["c2"] != 1 {
		t.Fatalf("told %v, want each channel once: %v", told, ev)
	}
	for _, d := range rb.received("c1") {
		if d == "during" {
			t.Fatal("a failed publish was delivered")
		}
	}
}

func TestCloseFailsWaitingAndLaterCalls(t *testing.T) {
	srv := natstest.Start(t)
	a, _ := node(t, srv, "a")
	_ = a.Close()
	if err := publish(t, a, "c", "1"); err == nil {
		t.Fatal("publish after Close succeeded")
	}
	if err := call(t, func(done func(error)) { a.PublishControl(context.Background(), nil, "", done) }); err == nil {
		t.Fatal("control after Close succeeded")
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("nats://u:secret@h:4222,nats://h2:4222")
	if strings.Contains(got, "secret") || !strings.Contains(got, "h2:4222") {
		t.Fatal(got)
	}
}

// blockingRec is a rec whose first publication on "slow" waits for
// release: a burst that outruns the worker.
type blockingRec struct {
	*rec
	once    sync.Once
	release chan struct{}
}

func (r *blockingRec) HandlePublication(ch string, pub *broker.Publication, sp broker.StreamPosition) broker.Deferred {
	if ch == "slow" {
		r.once.Do(func() { <-r.release })
	}
	return r.rec.HandlePublication(ch, pub, sp)
}

// TestDroppedMessagesAreAGap: messages nats.go drops because a worker's
// queue is full make the channel's next delivery come after
// HandleResubscribed, as a reconnect does.
func TestDroppedMessagesAreAGap(t *testing.T) {
	srv := natstest.Start(t)
	b, err := New(Options{URL: srv.URL(), NodeID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r := &blockingRec{rec: newRec(), release: make(chan struct{})}
	if err := b.Run(r); err != nil {
		t.Fatal(err)
	}
	subscribe(t, b, "slow")
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = workerQueue + 2000
	for i := range n {
		d, _ := (&cproto.Push{Channel: "slow", Pub: &cproto.Publication{Data: []byte(fmt.Sprint(i))}}).MarshalVT()
		if err := nc.Publish("centrifugo.client.slow", d); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "drops", func() bool {
		b.mu.Lock()
		s := b.subs["slow"]
		b.mu.Unlock()
		d, _ := s.sub.Dropped()
		return d > 0
	})
	close(r.release)
	// One more after the drops: the gap is announced before it. It is
	// sent again until it arrives: while the worker still drains the full
	// queue, nats.go may drop it too (a gap announced all the same).
	last, _ := (&cproto.Push{Channel: "slow", Pub: &cproto.Publication{Data: []byte("last")}}).MarshalVT()
	sent := time.Time{}
	eventually(t, "last", func() bool {
		got := r.received("slow")
		if len(got) > 0 && got[len(got)-1] == "last" {
			return true
		}
		if time.Since(sent) > 100*time.Millisecond {
			if err := nc.Publish("centrifugo.client.slow", last); err != nil {
				t.Fatal(err)
			}
			sent = time.Now()
		}
		return false
	})
	ev, _ := r.snapshot()
	resub, lastAt := -1, -1
	for i, e := range ev {
		if e == "resub:slow" && resub < 0 {
			resub = i
		}
		if e == "pub:slow:last" && lastAt < 0 {
			lastAt = i
		}
	}
	delivered := 0
	for _, d := range r.received("slow") {
		if d != "last" {
			delivered++
		}
	}
	if resub < 0 || resub > lastAt || delivered >= n {
		t.Fatalf("resubscribed at %d, first last at %d, %d delivered of %d", resub, lastAt, delivered, n)
	}
}
