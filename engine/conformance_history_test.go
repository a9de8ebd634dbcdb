package engine_test

// Conformance tests of history, recovery and join/leave/presence
// (captures 06, 07, 08, 14 and the history part of 35).

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// epochOf returns the epoch of a publish reply {"result":{"offset":N,"epoch":E}}.
func epochOf(t *testing.T, body string) string {
	t.Helper()
	var r struct {
		Result struct {
			Epoch string `json:"epoch"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Result.Epoch == "" {
		t.Fatalf("no epoch in publish reply %q (%v)", body, err)
	}
	return r.Result.Epoch
}

// TestConformanceHistoryPositioning replays [06]: subscriptions in a
// force_recovery namespace and in a force_positioning one; offsets on
// publications, the epoch only on offset 1; offsets in a later connect push.
func TestConformanceHistoryPositioning(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	connect := capture(t, 6, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImhpc3Q6aDE3OTU2NDA4MTkiLCJwb3M6cDE3OTU2NDA4MTkiXX0.t5ezGt73C6np7zyFe7OKU0rNts-_54KU5PnY2u8s6oA"}`)
	st := c.connect(srv, connect)
	st.expect(capture(t, 6, `data: {"connect":{"client":"c32213c5-834e-4d02-84b3-836873934e13","version":"0.0.0 OSS","subs":{"pos:p1795640819":{"epoch":"nRvljpxr","positioned":true},"hist:h1795640819":{"recoverable":true,"epoch":"rmxoJMcE","positioned":true}},"ping":4,"session":"fcc579c7-80b1-4f60-a676-fd0dfc1c3ff8"}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 6, `{"channel":"hist:h1795640819","data":{"n":1}}`), capture(t, 6, `{"result":{"offset":1,"epoch":"rmxoJMcE"}}`))
	c.expectAPI(srv, "publish", capture(t, 6, `{"channel":"hist:h1795640819","data":{"n":2}}`), capture(t, 6, `{"result":{"offset":2,"epoch":"rmxoJMcE"}}`))
	c.expectAPI(srv, "publish", capture(t, 6, `{"channel":"pos:p1795640819","data":{"n":1}}`), capture(t, 6, `{"result":{"offset":1,"epoch":"nRvljpxr"}}`))
	st.expect(capture(t, 6, `data: {"channel":"hist:h1795640819","pub":{"data":{"n":1},"offset":1,"epoch":"rmxoJMcE"}}`+"\n\n"))
	st.expect(capture(t, 6, `data: {"channel":"hist:h1795640819","pub":{"data":{"n":2},"offset":2}}`+"\n\n"))
	st.expect(capture(t, 6, `data: {"channel":"pos:p1795640819","pub":{"data":{"n":1},"offset":1,"epoch":"nRvljpxr"}}`+"\n\n"))

	again := c.connect(srv, connect)
	again.expect(capture(t, 6, `data: {"connect":{"client":"23fff2db-3d7a-4084-be14-5051418d8019","version":"0.0.0 OSS","subs":{"pos:p1795640819":{"epoch":"nRvljpxr","offset":1,"positioned":true},"hist:h1795640819":{"recoverable":true,"epoch":"rmxoJMcE","offset":2,"positioned":true}},"ping":4,"session":"7a959500-dc34-4791-b46b-f7e32b6dc07d"}}`+"\n\n"))
}

// TestConformanceRecoverFromOffset replays [07]: recovery in the connect
// request returns the missed publications with offset = the requested one;
// live publications continue the stream.
func TestConformanceRecoverFromOffset(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	const token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImhpc3Q6cjE3OTU2NDA4MjQiXX0.cK8iosOxZNBujUYZ2IYSaEIrkVcqnSRPDyA9NFBoNEo"
	var epoch string
	for n, want := range []string{`{"result":{"offset":1,"epoch":"WIeFIlAt"}}`, `{"result":{"offset":2,"epoch":"WIeFIlAt"}}`, `{"result":{"offset":3,"epoch":"WIeFIlAt"}}`} {
		res := c.api(srv, "publish", capture(t, 7, fmt.Sprintf(`{"channel":"hist:r1795640824","data":{"n":%d}}`, n+1)))
		c.same("publish", capture(t, 7, want), res.body)
		epoch = epochOf(t, res.body)
	}
	c.expectAPI(srv, "history", capture(t, 7, `{"channel":"hist:r1795640824"}`), capture(t, 7, `{"result":{"publications":[],"epoch":"WIeFIlAt","offset":3}}`))

	// The capture's request carries the capture's epoch; ours carries ours.
	recover := func(offset int) string {
		capture(t, 7, fmt.Sprintf(`{"token":"%s","subs":{"hist:r1795640824":{"recover":true,"offset":%d,"epoch":"WIeFIlAt"}}}`, token, offset))
		return fmt.Sprintf(`{"token":"%s","subs":{"hist:r1795640824":{"recover":true,"offset":%d,"epoch":%q}}}`, token, offset, epoch)
	}
	st := c.connect(srv, recover(1))
	st.expect(capture(t, 7, `data: {"connect":{"client":"144b73c7-24e5-4a34-8276-f100e216c6a6","version":"0.0.0 OSS","subs":{"hist:r1795640824":{"recoverable":true,"epoch":"WIeFIlAt","publications":[{"data":{"n":2},"offset":2},{"data":{"n":3},"offset":3}],"recovered":true,"offset":1,"positioned":true,"was_recovering":true}},"ping":4,"session":"46c77ed3-a6a6-449c-96db-dd91c3d4148a"}}`+"\n\n"))

	live := c.connect(srv, recover(3))
	live.expect(capture(t, 7, `data: {"connect":{"client":"7a876cb4-04b6-49d1-aa2c-e85276ee42d8","version":"0.0.0 OSS","subs":{"hist:r1795640824":{"recoverable":true,"epoch":"WIeFIlAt","recovered":true,"offset":3,"positioned":true,"was_recovering":true}},"ping":4,"session":"b309713b-0ec7-42ab-b3a1-0b721ee6c272"}}`+"\n\n"))
	c.expectAPI(srv, "publish", capture(t, 7, `{"channel":"hist:r1795640824","data":{"n":4}}`), capture(t, 7, `{"result":{"offset":4,"epoch":"WIeFIlAt"}}`))
	live.expect(capture(t, 7, `data: {"channel":"hist:r1795640824","pub":{"data":{"n":4},"offset":4}}`+"\n\n"))
}

// TestConformanceRecoverVariants replays [08]: recovery edge cases on a
// channel with offsets 1 and 2.
func TestConformanceRecoverVariants(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	const (
		token  = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSIsImNoYW5uZWxzIjpbImhpc3Q6djE3OTU2NDA4MjciXX0.lX2fRomBay_XdrvQMGfk2vUQjEpHwZOer2mI-WdG2DY"
		capEp  = "UJQHTUPF"
		prefix = `data: {"connect":{"client":"`
	)
	setup := newConformer(t)
	var epoch string
	for n := 1; n <= 2; n++ {
		epoch = epochOf(t, setup.api(srv, "publish", fmt.Sprintf(`{"channel":"hist:v1795640827","data":{"n":%d}}`, n)).body)
	}
	for _, tc := range []struct{ name, connect, push string }{
		{"offset 0", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":true,"offset":0,"epoch":"UJQHTUPF"}}}`,
			`a3703542-ba1e-4cb5-a3d9-22d5288d7c28","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","publications":[{"data":{"n":1},"offset":1,"epoch":"UJQHTUPF"},{"data":{"n":2},"offset":2}],"recovered":true,"positioned":true,"was_recovering":true}},"ping":4,"session":"15241999-4bf9-479a-a359-ee21d40978dd"}}`},
		{"offset top", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":true,"offset":2,"epoch":"UJQHTUPF"}}}`,
			`4ac18f65-9d5e-4100-9740-7cc4cd7a0dba","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","recovered":true,"offset":2,"positioned":true,"was_recovering":true}},"ping":4,"session":"673b3ee2-a0c2-4485-b619-250e2ee0ae5f"}}`},
		{"wrong epoch", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":true,"offset":1,"epoch":"wrong"}}}`,
			`3c847b7e-cf6f-4d16-b26a-26085938f145","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","offset":2,"positioned":true,"was_recovering":true}},"ping":4,"session":"c85c8797-7079-4972-a4d5-4519dff6671a"}}`},
		{"recover false", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":false,"offset":1,"epoch":"UJQHTUPF"}}}`,
			`8f8f5ec3-d510-4732-8b94-89b4c35a4341","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","offset":2,"positioned":true}},"ping":4,"session":"8b4e1515-5e60-41db-b69d-c7a23baec198"}}`},
		{"offset beyond top", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":true,"offset":5,"epoch":"UJQHTUPF"}}}`,
			`a87551f2-66c2-4671-b3d4-3faafa6180c8","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","offset":2,"positioned":true,"was_recovering":true}},"ping":4,"session":"e772b648-a955-4a90-b49d-1e8954c7fd20"}}`},
		{"no epoch", `{"token":"` + token + `","subs":{"hist:v1795640827":{"recover":true}}}`,
			`b74ca7cd-c2b8-465e-8276-636305a88eae","version":"0.0.0 OSS","subs":{"hist:v1795640827":{"recoverable":true,"epoch":"UJQHTUPF","publications":[{"data":{"n":1},"offset":1,"epoch":"UJQHTUPF"},{"data":{"n":2},"offset":2}],"recovered":true,"positioned":true,"was_recovering":true}},"ping":4,"session":"1263747c-56ee-44f1-9a60-d046bd1a8c77"}}`},
		{"not allowed", `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1MSJ9.RTujIZWaMifviak-KfGu_rAW0d6f3ovx6APkageM-cA","subs":{"hist:v1795640827":{"recover":true,"offset":0,"epoch":"UJQHTUPF"}}}`,
			`62db30c7-2872-4bd9-a3e2-dead610c7234","version":"0.0.0 OSS","ping":4,"session":"9efe64c4-d9b3-46b0-bd06-c0c48413cc1d"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConformer(t)
			// Map the capture's epoch to ours up front, in both normalisers.
			c.same("epoch", `"epoch":"`+capEp+`"`, `"epoch":"`+epoch+`"`)
			st := c.connect(srv, strings.ReplaceAll(capture(t, 8, tc.connect), `"epoch":"`+capEp+`"`, `"epoch":"`+epoch+`"`))
			st.expect(capture(t, 8, prefix+tc.push+"\n\n"))
		})
	}
}

// TestConformanceJoinLeavePresence replays [14]: join pushes (own join
// included) and leave pushes with force_push_join_leave, presence and
// presence_stats, 108 without presence.
func TestConformanceJoinLeavePresence(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	a := c.connect(srv, capture(t, 14, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1QSIsImNoYW5uZWxzIjpbImpsOnJvb20xNzk1NjQwODU5Il0sImluZm8iOnsibmFtZSI6IkEifX0.h-hOwO1ZhS2h-BZivqJpv5VoN2-O10Dz3SECFibvcXs"}`))
	idA := clientID(t, a.expect(capture(t, 14, `data: {"connect":{"client":"8babd10b-e35a-4ef6-94f7-ef726f936568","version":"0.0.0 OSS","subs":{"jl:room1795640859":{}},"ping":4,"session":"34ae39dd-78c6-42d1-abda-1611cc2f6db7"}}`+"\n\n")))
	a.expect(capture(t, 14, `data: {"channel":"jl:room1795640859","join":{"info":{"user":"uA","client":"8babd10b-e35a-4ef6-94f7-ef726f936568","conn_info":{"name":"A"}}}}`+"\n\n"))

	b := c.connect(srv, capture(t, 14, `{"token":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1QiIsImNoYW5uZWxzIjpbImpsOnJvb20xNzk1NjQwODU5Il19.u_dWbwgebRuuwLetkVQq5ZK9ypH5qxDFH3Zv3_dT8bI"}`))
	idB := clientID(t, b.expect(capture(t, 14, `data: {"connect":{"client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0","version":"0.0.0 OSS","subs":{"jl:room1795640859":{}},"ping":4,"session":"4abb6125-e58e-40c5-9658-64e1b7433175"}}`+"\n\n")))
	b.expect(capture(t, 14, `data: {"channel":"jl:room1795640859","join":{"info":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"}}}`+"\n\n"))
	a.expect(capture(t, 14, `data: {"channel":"jl:room1795640859","join":{"info":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"}}}`+"\n\n"))

	// The presence map is ordered by client id, which is random: compare the
	// entries of each user, then that the ids are the streams' and sorted.
	want := capture(t, 14, `{"result":{"presence":{"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"},"8babd10b-e35a-4ef6-94f7-ef726f936568":{"user":"uA","client":"8babd10b-e35a-4ef6-94f7-ef726f936568","conn_info":{"name":"A"}}}}}`)
	got := c.api(srv, "presence", capture(t, 14, `{"channel":"jl:room1795640859"}`))
	samePresence(t, want, got.body, map[string]string{"uA": idA, "uB": idB})
	c.expectAPI(srv, "presence_stats", capture(t, 14, `{"channel":"jl:room1795640859"}`), capture(t, 14, `{"result":{"num_clients":2,"num_users":2}}`))
	c.expectAPI(srv, "presence", capture(t, 14, `{"channel":"news1795640859"}`), capture(t, 14, `{"error":{"code":108,"message":"not available"}}`))

	// B goes away: A gets its leave.
	_ = b.s.Conn.Close()
	a.expect(capture(t, 14, `data: {"channel":"jl:room1795640859","leave":{"info":{"user":"uB","client":"7ce6c7d2-ede2-4f9f-be4f-90460fb47ce0"}}}`+"\n\n"))
}

// TestConformanceHistoryAPI replays the history part of [35]: limit, reverse,
// since, history_remove (offset and epoch survive).
func TestConformanceHistoryAPI(t *testing.T) {
	t.Parallel()
	srv := startCapture(t, "config.json")
	c := newConformer(t)
	var epoch string
	for n := 1; n <= 3; n++ {
		epoch = epochOf(t, c.api(srv, "publish", fmt.Sprintf(`{"channel":"hist:q1795640899","data":{"n":%d},"tags":{"i":"%d"}}`, n, n)).body)
	}
	c.same("epoch", `"epoch":"NzWaDpUT"`, `"epoch":"`+epoch+`"`)
	for _, tc := range []struct{ method, body, want string }{
		{"history", `{"channel":"hist:q1795640899"}`, `{"result":{"publications":[],"epoch":"NzWaDpUT","offset":3}}`},
		{"history", `{"channel":"hist:q1795640899","limit":-1}`, `{"result":{"publications":[{"data":{"n":1},"offset":1,"tags":{"i":"1"}},{"data":{"n":2},"offset":2,"tags":{"i":"2"}},{"data":{"n":3},"offset":3,"tags":{"i":"3"}}],"epoch":"NzWaDpUT","offset":3}}`},
		{"history", `{"channel":"hist:q1795640899","limit":2,"reverse":true}`, `{"result":{"publications":[{"data":{"n":3},"offset":3,"tags":{"i":"3"}},{"data":{"n":2},"offset":2,"tags":{"i":"2"}}],"epoch":"NzWaDpUT","offset":3}}`},
		{"history", `{"channel":"hist:q1795640899","limit":-1,"since":{"offset":1,"epoch":"NzWaDpUT"}}`, `{"result":{"publications":[{"data":{"n":2},"offset":2,"tags":{"i":"2"}},{"data":{"n":3},"offset":3,"tags":{"i":"3"}}],"epoch":"NzWaDpUT","offset":3}}`},
		{"history_remove", `{"channel":"hist:q1795640899"}`, `{"result":{}}`},
		{"history", `{"channel":"hist:q1795640899","limit":-1}`, `{"result":{"publications":[],"epoch":"NzWaDpUT","offset":3}}`},
	} {
		capture(t, 35, "-d '"+tc.body+"' http://127.0.0.1:18100/api/"+tc.method+"\n"+tc.want)
		c.expectAPI(srv, tc.method, strings.ReplaceAll(tc.body, "NzWaDpUT", epoch), tc.want)
	}
}

// samePresence compares two /api/presence replies entry by entry (keyed by
// user), checks that our client ids are the given streams' and that the map
// keys are in sorted order, as Go's encoding of a map writes them.
func samePresence(t *testing.T, want, got string, ids map[string]string) {
	t.Helper()
	type entry struct {
		User     string          `json:"user"`
		Client   string          `json:"client"`
		ConnInfo json.RawMessage `json:"conn_info"`
	}
	parse := func(s string) (map[string]entry, []string) {
		var r struct {
			Result struct {
				Presence map[string]entry `json:"presence"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			t.Fatalf("presence reply %q: %v", s, err)
		}
		byUser := map[string]entry{}
		for id, e := range r.Result.Presence {
			if id != e.Client {
				t.Fatalf("presence key %s holds client %s", id, e.Client)
			}
			byUser[e.User] = e
		}
		dec := json.NewDecoder(strings.NewReader(s))
		var keys []string
		depth := 0
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch v := tok.(type) {
			case json.Delim:
				if v == '{' {
					depth++
				} else if v == '}' {
					depth--
				}
			case string:
				if depth == 3 && dec.More() {
					keys = append(keys, v)
					var skip json.RawMessage
					_ = dec.Decode(&skip)
				}
			}
		}
		return byUser, keys
	}
	w, _ := parse(want)
	g, keys := parse(got)
	if len(w) != len(g) {
		t.Fatalf("presence: %d entries, want %d (%s)", len(g), len(w), got)
	}
	for user, we := range w {
		ge, ok := g[user]
		if !ok || ge.Client != ids[user] || string(ge.ConnInfo) != string(we.ConnInfo) {
			t.Fatalf("presence of %s: %+v, want client %s conn_info %s", user, ge, ids[user], we.ConnInfo)
		}
	}
	if !sort.StringsAreSorted(keys) || len(keys) != len(g) {
		t.Fatalf("presence keys %v not in sorted order", keys)
	}
}
