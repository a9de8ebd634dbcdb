package cluster_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/unisse/unisse/engine/cluster"
)

func newDispatcher(uid string, h cluster.Handler, pub cluster.PublishFunc) (*cluster.Dispatcher, *cluster.Registry) {
	nodes := cluster.NewRegistry(uid, newFakeClock().Now)
	return &cluster.Dispatcher{
		UID:     uid,
		Nodes:   nodes,
		Surveys: cluster.NewSurveys(uid, nodes, pub, h),
		Handler: h,
		Publish: pub,
	}, nodes
}

func TestDispatchCentrifugoCommands(t *testing.T) {
	// Commands as a Centrifugo node sends them reach the handler intact.
	for _, name := range []string{"disconnect_api", "disconnect_full", "unsubscribe_api", "unsubscribe_full",
		"subscribe_api", "subscribe_full", "refresh_api", "refresh_full"} {
		t.Run(name, func(t *testing.T) {
			h := &handler{}
			d, _ := newDispatcher("unisse-1", h, (&recorder{}).publish)
			if err := d.Dispatch(readGolden(t, "control_"+name)); err != nil {
				t.Fatal(err)
			}
			want := goldenCommands[name]
			var payload any
			switch {
			case want.Disconnect != nil:
				payload = want.Disconnect
			case want.Unsubscribe != nil:
				payload = want.Unsubscribe
			case want.Subscribe != nil:
				payload = want.Subscribe
			case want.Refresh != nil:
				payload = want.Refresh
			}
			if got := h.recorded(); len(got) != 1 || !reflect.DeepEqual(got[0], payload) {
				t.Fatalf("handler got %#v, want %#v", got, payload)
			}
		})
	}
}

func TestDispatchIgnoresOwnAndOtherCommands(t *testing.T) {
	h := &handler{}
	var pub recorder
	d, nodes := newDispatcher("u", h, pub.publish) // the golden commands' sender is "u"
	for _, name := range []string{"disconnect_api", "subscribe_full", "refresh_api", "unsubscribe_api"} {
		if err := d.Dispatch(readGolden(t, "control_"+name)); err != nil {
			t.Fatal(err)
		}
	}
	// Notifications are not for unisse; responses to no survey are dropped.
	for _, name := range []string{"notification", "survey_response"} {
		if err := d.Dispatch(readGolden(t, "control_"+name)); err != nil {
			t.Fatal(err)
		}
	}
	// A command with no payload this version knows.
	if err := d.Dispatch(cluster.Encode(&cluster.Command{UID: "x"})); err != nil {
		t.Fatal(err)
	}
	if got := h.recorded(); len(got) != 0 {
		t.Fatalf("handler called: %#v", got)
	}
	if len(pub.sent()) != 0 || nodes.Len() != 0 {
		t.Fatal("ignored commands had effects")
	}
}

func TestDispatchMalformed(t *testing.T) {
	h := &handler{}
	d, _ := newDispatcher("me", h, (&recorder{}).publish)
	if err := d.Dispatch([]byte{0x32, 0x05, 0x0a}); err == nil {
		t.Fatal("truncated command dispatched")
	}
	if len(h.recorded()) != 0 {
		t.Fatal("handler called for a malformed command")
	}
}

func TestDispatchNodeAndShutdown(t *testing.T) {
	d, nodes := newDispatcher("me", &handler{}, (&recorder{}).publish)
	if err := d.Dispatch(readGolden(t, "control_node")); err != nil {
		t.Fatal(err)
	}
	list := nodes.List(cluster.Node{UID: "me"})
	if len(list) != 2 || !reflect.DeepEqual(list[1], *goldenCommands["node"].Node) {
		t.Fatalf("registry %+v", list)
	}
	if err := d.Dispatch(readGolden(t, "control_shutdown")); err != nil {
		t.Fatal(err)
	}
	if nodes.Len() != 0 {
		t.Fatal("node still listed after its shutdown")
	}
}

func TestDispatchIntroducesThisNodeToNewcomers(t *testing.T) {
	var pub recorder
	clock := newFakeClock()
	nodes := cluster.NewRegistry("me", clock.Now)
	a := cluster.NewAnnouncer(cluster.Identity{UID: "me"}, func() cluster.Counts { return cluster.Counts{} }, pub.publish, nodes)
	d := &cluster.Dispatcher{UID: "me", Nodes: nodes, Announcer: a, Handler: &handler{}, Publish: pub.publish}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx, make(chan time.Time))
	pub.waitSent(t, 1) // the first announcement

	node := readGolden(t, "control_node")
	for range 3 { // only the first announcement of a node is new
		if err := d.Dispatch(node); err != nil {
			t.Fatal(err)
		}
	}
	s := pub.waitSent(t, 2)
	if s[1].node != "6d3a1c2e-node-a" || mustDecode(t, s[1].data).Node.UID != "me" {
		t.Fatalf("introduction %+v", s[1])
	}
	// Introductions are sent in order: a repeated one would come before
	// this marker.
	a.Introduce("marker")
	if s = pub.waitSent(t, 3); s[2].node != "marker" {
		t.Fatalf("known node introduced again: %+v", s[2])
	}
}

func TestDispatchAnswersCentrifugoSurvey(t *testing.T) {
	// Centrifugo's /api/channels survey (golden: id 7, pattern "news:*")
	// gets an answer addressed to the asking node, under the same id, whose
	// data Centrifugo's ChannelsResult decoding reads.
	var pub recorder
	h := &handler{channels: map[string]int{"news:*": 2, "other": 5}}
	d, _ := newDispatcher("unisse-1", h, pub.publish)
	if err := d.Dispatch(readGolden(t, "control_survey_request")); err != nil {
		t.Fatal(err)
	}
	s := pub.sent()
	if len(s) != 1 || s[0].node != "6d3a1c2e-node-a" {
		t.Fatalf("published %+v", s)
	}
	c := mustDecode(t, s[0].data)
	if c.UID != "unisse-1" || c.SurveyResponse == nil || c.SurveyResponse.ID != 7 || c.SurveyResponse.Code != 0 {
		t.Fatalf("response %+v", c)
	}
	ch, err := cluster.DecodeChannelsResult(c.SurveyResponse.Data)
	if err != nil || !reflect.DeepEqual(ch, map[string]uint32{"news:*": 2}) {
		t.Fatalf("channels %v, %v", ch, err)
	}
	if want := cluster.AppendChannel(nil, "news:*", 2); string(c.SurveyResponse.Data) != string(want) {
		t.Fatalf("data %x", c.SurveyResponse.Data)
	}
}

func TestBroadcastReachesOtherNodes(t *testing.T) {
	clock := newFakeClock()
	b := newBus()
	ha, hb := &handler{}, &handler{}
	a := b.join("a", ha, clock)
	b.join("b", hb, clock)
	d := &cluster.Disconnect{User: "42", Code: 3503, Reason: "force disconnect"}
	var err error = errString("not done")
	a.Broadcast(context.Background(), cluster.Command{Disconnect: d}, func(e error) { err = e })
	if err != nil {
		t.Fatal(err)
	}
	if got := hb.recorded(); len(got) != 1 || !reflect.DeepEqual(got[0], d) {
		t.Fatalf("b got %#v", got)
	}
	if got := ha.recorded(); len(got) != 0 {
		t.Fatalf("a acted on its own broadcast: %#v", got)
	}
}

func TestInfoListsEveryLiveNode(t *testing.T) {
	clock := newFakeClock()
	b := newBus()
	a := b.join("a", &handler{}, clock)
	b.join("bb", &handler{}, clock)
	b.announce(t)
	clock.Advance(5 * time.Second)
	info := a.Info()
	if len(info) != 2 || info[0].UID != "a" || info[0].Uptime != 5 || info[1].UID != "bb" || info[1].NumClients != 2 {
		t.Fatalf("info %+v", info)
	}
	clock.Advance(cluster.NodeMaxDelay)
	if info = a.Info(); len(info) != 1 {
		t.Fatalf("silent node still listed: %+v", info)
	}
}
