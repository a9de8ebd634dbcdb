package cluster_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/cluster"
)

func TestSurveyChannelsAcrossNodes(t *testing.T) {
	clock := newFakeClock()
	b := newBus()
	a := b.join("a", &handler{channels: map[string]int{"news": 1, "chat": 2}}, clock)
	b.join("b", &handler{channels: map[string]int{"news": 3, "empty": 0}}, clock)
	b.join("c", &handler{channels: map[string]int{"solo": 4}}, clock)
	b.announce(t)

	got, err := a.Channels(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint32{"news": 4, "chat": 2, "solo": 4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("channels %v, want %v", got, want)
	}
	got, err = a.Channels(context.Background(), "news")
	if err != nil || !reflect.DeepEqual(got, map[string]uint32{"news": 4}) {
		t.Fatalf("pattern: %v, %v", got, err)
	}
	// A pattern a node cannot compile fails the call, as in Centrifugo.
	if _, err := a.Channels(context.Background(), "["); err == nil {
		t.Fatal("bad pattern answered")
	}
}

func TestSurveyAloneDoesNotPublish(t *testing.T) {
	var pub recorder
	nodes := cluster.NewRegistry("a", newFakeClock().Now)
	s := cluster.NewSurveys("a", nodes, pub.publish, &handler{channels: map[string]int{"x": 1}})
	got, err := cluster.SurveyChannels(context.Background(), s, "")
	if err != nil || !reflect.DeepEqual(got, map[string]uint32{"x": 1}) {
		t.Fatalf("%v, %v", got, err)
	}
	if len(pub.sent()) != 0 {
		t.Fatal("a lone node published its survey")
	}
}

func TestSurveyTimesOutOnSilentNode(t *testing.T) {
	clock := newFakeClock()
	b := newBus()
	a := b.join("a", &handler{}, clock)
	b.join("b", &handler{}, clock)
	b.join("quiet", &handler{silent: true}, clock)
	b.announce(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := a.Surveys.Ask(ctx, cluster.ChannelsOp, nil)
	if !errors.Is(err, cluster.ErrSurveyIncomplete) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if len(res) != 2 || res["a"].Code != 0 || res["b"].Code != 0 {
		t.Fatalf("partial results %v", res)
	}
	if _, err := a.Channels(ctx, ""); err == nil {
		t.Fatal("channels survey succeeded with a node missing")
	}

	// Once the silent node stops announcing, surveys no longer wait for it.
	clock.Advance(cluster.NodeMaxDelay + time.Second)
	b.silence("quiet")
	b.announce(t)
	if _, err := a.Channels(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

func TestSurveyUnknownOpAnsweredMethodNotFound(t *testing.T) {
	clock := newFakeClock()
	b := newBus()
	a := b.join("a", &handler{}, clock)
	b.join("b", &handler{}, clock)
	b.announce(t)
	// An op nobody knows is answered SurveyMethodNotFound by every node.
	res, err := a.Surveys.Ask(context.Background(), "nope", nil)
	if err != nil || len(res) != 2 || res["b"].Code != cluster.SurveyMethodNotFound {
		t.Fatalf("%v, %v", res, err)
	}
}

func TestSurveyPublishError(t *testing.T) {
	clock := newFakeClock()
	nodes := cluster.NewRegistry("a", clock.Now)
	nodes.Add(&cluster.Node{UID: "b"})
	pub := recorder{err: errors.New("redis down")}
	s := cluster.NewSurveys("a", nodes, pub.publish, &handler{})
	if _, err := s.Ask(context.Background(), cluster.ChannelsOp, nil); err == nil || errors.Is(err, cluster.ErrSurveyIncomplete) {
		t.Fatalf("err %v", err)
	}
}

func TestSurveyIgnoresStrayResponses(t *testing.T) {
	// A response to no pending survey (late, or from a node that answered
	// twice) is dropped without blocking.
	clock := newFakeClock()
	b := newBus()
	a := b.join("a", &handler{}, clock)
	for id := range uint64(100) {
		resp := cluster.Encode(&cluster.Command{UID: "b", SurveyResponse: &cluster.SurveyResponse{ID: id}})
		if err := a.HandleControl(resp); err != nil {
			t.Fatal(err)
		}
	}
}
