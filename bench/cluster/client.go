package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Credentials every node of a test cluster shares.
const (
	Secret = "cluster-secret"
	APIKey = "cluster-api-key"
)

// NodeConfig is a Centrifugo v6 JSON config (which unisse reads unchanged)
// for a node on port, named name: HMAC tokens, the HTTP API, uni_sse,
// /health, and namespaces "hist" (history 100 for 300 s, force_recovery)
// and "pres" (presence, join/leave pushed). redisURL, when not empty, makes
// it a Redis engine node with key prefix prefix.
func NodeConfig(name string, port int, redisURL, prefix string) map[string]any {
	cfg := map[string]any{
		"http_server": map[string]any{"port": port, "address": "127.0.0.1"},
		"log":         map[string]any{"level": "warn"},
		"usage_stats": map[string]any{"disabled": true},
		"node":        map[string]any{"name": name},
		"client": map[string]any{
			"token": map[string]any{"hmac_secret_key": Secret},
		},
		"http_api": map[string]any{"key": APIKey},
		"uni_sse":  map[string]any{"enabled": true},
		"health":   map[string]any{"enabled": true},
		"channel": map[string]any{
			"namespaces": []any{
				map[string]any{"name": "hist", "history_size": 100, "history_ttl": "300s", "force_recovery": true},
				map[string]any{"name": "pres", "presence": true, "join_leave": true, "force_push_join_leave": true},
			},
		},
		"unisse": map[string]any{"shutdown_spread": "0s"},
	}
	if redisURL != "" {
		cfg["engine"] = map[string]any{"type": "redis", "redis": map[string]any{"address": redisURL, "prefix": prefix}}
	}
	return cfg
}

// CentrifugoConfig is NodeConfig without unisse's own section, which
// Centrifugo would warn about.
func CentrifugoConfig(name string, port int, redisURL, prefix string) map[string]any {
	cfg := NodeConfig(name, port, redisURL, prefix)
	delete(cfg, "unisse")
	return cfg
}

// Token signs a connection token for user subscribed to channels.
func Token(t testing.TB, user string, channels ...string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}
	if len(channels) > 0 {
		claims["channels"] = channels
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(Secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// API calls a node's server HTTP API.
type API struct{ Addr string }

var apiClient = &http.Client{Timeout: 5 * time.Second}

// Call posts body to /api/method and decodes the reply's result into out
// (when not nil). A transport failure, a non-200 status or a reply error is
// returned as an error.
func (a API) Call(method string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+a.Addr+"/api/"+method, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", APIKey)
	resp, err := apiClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, raw)
	}
	var reply struct {
		Error *struct {
			Code    int
			Message string
		} `json:"error"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil {
		return fmt.Errorf("%s: reply %q: %w", method, raw, err)
	}
	if reply.Error != nil {
		return fmt.Errorf("%s: error %d %s", method, reply.Error.Code, reply.Error.Message)
	}
	if out != nil && len(reply.Result) > 0 {
		return json.Unmarshal(reply.Result, out)
	}
	return nil
}

// Position is a stream position.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// Publish publishes data to channel and returns the position it got (zero
// for a channel without history).
func (a API) Publish(channel string, data any) (Position, error) {
	var pos Position
	err := a.Call("publish", map[string]any{"channel": channel, "data": data}, &pos)
	return pos, err
}

// Pub is one publication as a subscriber or history sees it.
type Pub struct {
	Data   json.RawMessage `json:"data"`
	Offset uint64          `json:"offset"`
	Epoch  string          `json:"epoch,omitempty"`
}

// History returns up to limit publications of channel, oldest first, and
// the stream's position.
func (a API) History(channel string, limit int) ([]Pub, Position, error) {
	var r struct {
		Publications []Pub  `json:"publications"`
		Offset       uint64 `json:"offset"`
		Epoch        string `json:"epoch"`
	}
	err := a.Call("history", map[string]any{"channel": channel, "limit": limit}, &r)
	return r.Publications, Position{r.Offset, r.Epoch}, err
}

// PresenceStats returns the number of clients and users in channel.
func (a API) PresenceStats(channel string) (clients, users int, err error) {
	var r struct {
		NumClients int `json:"num_clients"`
		NumUsers   int `json:"num_users"`
	}
	err = a.Call("presence_stats", map[string]any{"channel": channel}, &r)
	return r.NumClients, r.NumUsers, err
}

// Disconnect disconnects every connection of user, on whatever node it is.
func (a API) Disconnect(user string) error {
	return a.Call("disconnect", map[string]any{"user": user}, nil)
}

// Subscriber is one uni_sse connection read by a goroutine that records
// every push: publications per channel in arrival order (with offsets),
// the connect push, and the disconnect push.
type Subscriber struct {
	Node string // the node's name, for messages
	mu   sync.Mutex
	// Connect is the connect push's body; Subs its subs (position per channel).
	connect    json.RawMessage
	subs       map[string]SubResult
	pubs       map[string][]Pub
	joinLeave  map[string][]string // per channel: "join:<user>", "leave:<user>", "pub"
	disconnect *Disconnect
	ended      error
	done       chan struct{}
	cancel     context.CancelFunc
	changed    chan struct{} // closed and replaced at every push
}

// Disconnect is a disconnect push.
type Disconnect struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// streamClient never keeps a stream's connection for another request: the
// client closes it as soon as the stream ends.
var streamClient = &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}

// Subscribe opens a uni_sse stream on addr with the connect request req
// (e.g. {"token": ...} plus "subs" with recovery positions) and waits
// for its connect push. t's cleanup closes it.
func Subscribe(t testing.TB, node, addr string, req map[string]any) *Subscriber {
	t.Helper()
	s, err := Dial(node, addr, req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if !s.WaitFor(10*time.Second, func() bool { return s.connect != nil || s.ended != nil }) || s.Connected() == nil {
		t.Fatalf("%s: no connect push (disconnect %+v, end %v)", node, s.Disconnected(), s.Ended())
	}
	return s
}

// Dial opens the stream without waiting for anything.
func Dial(node, addr string, req map[string]any) (*Subscriber, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/connection/uni_sse?cf_connect="+url.QueryEscape(string(b)), nil)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Subscriber{Node: node, subs: map[string]SubResult{}, pubs: map[string][]Pub{}, joinLeave: map[string][]string{}, done: make(chan struct{}), cancel: cancel, changed: make(chan struct{})}
	go s.read(hreq)
	return s, nil
}

// maxEvent bounds one SSE line: far above any test publication.
const maxEvent = 1 << 20

func (s *Subscriber) read(req *http.Request) {
	defer close(s.done)
	resp, err := streamClient.Do(req)
	if err != nil {
		s.end(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.end(fmt.Errorf("HTTP %d", resp.StatusCode))
		return
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxEvent)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		var push struct {
			Connect *struct {
				Subs map[string]SubResult `json:"subs"`
			} `json:"connect"`
			Channel    string      `json:"channel"`
			Pub        *Pub        `json:"pub"`
			Join       *joinLeave  `json:"join"`
			Leave      *joinLeave  `json:"leave"`
			Disconnect *Disconnect `json:"disconnect"`
		}
		if err := json.Unmarshal(data, &push); err != nil {
			s.end(fmt.Errorf("bad push %q: %w", data, err))
			return
		}
		s.mu.Lock()
		switch {
		case push.Connect != nil:
			s.connect = append(json.RawMessage(nil), data...)
			for ch, r := range push.Connect.Subs {
				s.subs[ch] = r
				// Recovered publications come first, as a client sees them.
				s.pubs[ch] = append(s.pubs[ch], r.Publications...)
			}
		case push.Pub != nil:
			s.pubs[push.Channel] = append(s.pubs[push.Channel], *push.Pub)
			s.joinLeave[push.Channel] = append(s.joinLeave[push.Channel], "pub")
		case push.Join != nil:
			s.joinLeave[push.Channel] = append(s.joinLeave[push.Channel], "join:"+push.Join.Info.User)
		case push.Leave != nil:
			s.joinLeave[push.Channel] = append(s.joinLeave[push.Channel], "leave:"+push.Leave.Info.User)
		case push.Disconnect != nil:
			s.disconnect = push.Disconnect
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
	err = sc.Err()
	if err == nil {
		err = io.EOF
	}
	s.end(err)
}

func (s *Subscriber) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Subscriber) end(err error) {
	s.mu.Lock()
	s.ended = err
	s.notifyLocked()
	s.mu.Unlock()
}

// Close ends the stream and waits for the reading goroutine.
func (s *Subscriber) Close() {
	s.cancel()
	<-s.done
}

// WaitFor waits until cond (called with the subscriber's lock held, so it
// may read its fields) holds, or timeout passes; it reports cond's last value.
func (s *Subscriber) WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			return cond()
		}
	}
}

// Connected returns the connect push, nil before it.
func (s *Subscriber) Connected() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connect
}

// SubResult is one channel's entry in the connect push.
type SubResult struct {
	Offset       uint64 `json:"offset"`
	Epoch        string `json:"epoch"`
	Recoverable  bool   `json:"recoverable"`
	Recovered    bool   `json:"recovered"`
	Publications []Pub  `json:"publications"`
}

// Sub returns the connect push's entry for channel.
func (s *Subscriber) Sub(channel string) (SubResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.subs[channel]
	return p, ok
}

type joinLeave struct {
	Info struct {
		User   string `json:"user"`
		Client string `json:"client"`
	} `json:"info"`
}

// JoinLeave returns channel's join and leave pushes so far, in order with
// its publications: "join:<user>", "leave:<user>" and "pub".
func (s *Subscriber) JoinLeave(channel string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.joinLeave[channel]...)
}

// Pubs returns a copy of channel's publications so far.
func (s *Subscriber) Pubs(channel string) []Pub {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Pub(nil), s.pubs[channel]...)
}

// WaitPubs waits until channel has at least n publications and returns them.
func (s *Subscriber) WaitPubs(t testing.TB, channel string, n int, timeout time.Duration) []Pub {
	t.Helper()
	if !s.WaitFor(timeout, func() bool { return len(s.pubs[channel]) >= n || s.ended != nil }) || len(s.Pubs(channel)) < n {
		t.Fatalf("%s: %d of %d publications in %s within %s (disconnect %+v, end %v)",
			s.Node, len(s.Pubs(channel)), n, channel, timeout, s.Disconnected(), s.Ended())
	}
	return s.Pubs(channel)
}

// Disconnected returns the disconnect push, nil when none came.
func (s *Subscriber) Disconnected() *Disconnect {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disconnect
}

// Ended returns why the stream ended (io.EOF for a clean end), nil while open.
func (s *Subscriber) Ended() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// CheckSequence checks that pubs carry data {"n": first}, {"n": first+1},
// ... with no gap or repeat and, when offsets is set, offsets equal to n;
// it returns a description of the first fault ("" when none).
func CheckSequence(pubs []Pub, first uint64, offsets bool) string {
	for i, p := range pubs {
		want := first + uint64(i)
		var d struct{ N uint64 }
		if err := json.Unmarshal(p.Data, &d); err != nil || d.N != want {
			return fmt.Sprintf("publication %d has data %s, want n=%d", i, p.Data, want)
		}
		if offsets && p.Offset != want {
			return fmt.Sprintf("publication %d has offset %d, want %d", i, p.Offset, want)
		}
	}
	return ""
}
