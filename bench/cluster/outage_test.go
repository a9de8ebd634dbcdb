//go:build cluster || interop

package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Redis outage scenario (runOutage): two nodes on one Redis, subscribers
// on a recoverable channel and on a plain one, a publisher at a steady rate
// through the first node, and Redis killed (kill -9) and restarted, empty,
// under that load. It measures what every subscriber got and classifies
// every accepted publication it did not get, so that the unisse test can
// assert "never a silent gap" and the interop test can show Centrifugo's
// behaviour beside it.

// Phases and load of the scenario, short enough for a bounded test.
const (
	outageSteady  = 2 * time.Second
	outageDown    = 2 * time.Second
	outageAfter   = 3 * time.Second
	outageRate    = 10 * time.Millisecond // per channel: ~100 publishes/s each
	outageHistCh  = "hist:out"
	outagePlainCh = "out"
)

// outageSubs: subscribers per node (first node, second node) and channel.
var outageSubs = [2]int{25, 100}

// attempt is one publish call.
type attempt struct {
	n          int
	start, end time.Time
	pos        Position
	err        error
}

// publisher publishes {"n": 1, 2, ...} to one channel at outageRate until
// stop closes, recording every attempt.
type publisher struct {
	channel  string
	api      API
	mu       sync.Mutex
	attempts []attempt
}

func (p *publisher) run(stop <-chan struct{}) {
	tick := time.NewTicker(outageRate)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		a := attempt{n: n, start: time.Now()}
		a.pos, a.err = p.api.Publish(p.channel, map[string]any{"n": n})
		a.end = time.Now()
		p.mu.Lock()
		p.attempts = append(p.attempts, a)
		p.mu.Unlock()
	}
}

func (p *publisher) snapshot() []attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]attempt(nil), p.attempts...)
}

// session is one stream of a reconnecting subscriber.
type session struct {
	s            *Subscriber
	opened, done time.Time // done: when the stream ended (zero while open)
}

// reconnecter is one subscriber that, like a Centrifugo client, reconnects
// at once after a disconnect with a reconnect code (3000–3499), recovering
// from its last position on a recoverable channel.
type reconnecter struct {
	node     *node
	channel  string
	user     string
	recovers bool
	mu       sync.Mutex
	sessions []*session
	fault    string // why it gave up (a terminal disconnect, a failed connect)
}

func (r *reconnecter) current() *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[len(r.sessions)-1]
}

// all returns copies of its sessions, and why it gave up ("" if it did not).
func (r *reconnecter) all() ([]session, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]session, len(r.sessions))
	for i, s := range r.sessions {
		out[i] = *s
	}
	return out, r.fault
}

// dial opens a stream and waits for its connect push.
func (r *reconnecter) dial(t testing.TB, prev *session) (*session, error) {
	req := map[string]any{"token": Token(t, r.user, r.channel)}
	if r.recovers && prev != nil {
		sub, _ := prev.s.Sub(r.channel)
		offset := sub.Offset
		if pubs := prev.s.Pubs(r.channel); len(pubs) > 0 {
			offset = pubs[len(pubs)-1].Offset
		}
		req["subs"] = map[string]any{r.channel: map[string]any{"recover": true, "offset": offset, "epoch": sub.Epoch}}
	}
	s, err := Dial(r.node.Name, r.node.Addr(), req)
	if err != nil {
		return nil, err
	}
	ss := &session{s: s, opened: time.Now()}
	if !s.WaitFor(10*time.Second, func() bool { return s.connect != nil || s.ended != nil }) || s.Connected() == nil {
		s.Close()
		return nil, fmt.Errorf("no connect push (disconnect %+v, end %v)", s.Disconnected(), s.Ended())
	}
	return ss, nil
}

// run keeps the subscriber connected until quit closes, reconnecting
// after each reconnect-code disconnect; its first session is already open.
func (r *reconnecter) run(t testing.TB, quit <-chan struct{}) {
	for {
		cur := r.current()
		select {
		case <-quit:
			return
		case <-cur.s.done:
		}
		now := time.Now()
		r.mu.Lock()
		cur.done = now
		r.mu.Unlock()
		d := cur.s.Disconnected()
		if d == nil || d.Code < 3000 || d.Code >= 3500 {
			r.mu.Lock()
			r.fault = fmt.Sprintf("stream ended without a reconnect code: disconnect %+v, end %v", d, cur.s.Ended())
			r.mu.Unlock()
			return
		}
		var next *session
		var err error
		// A connect can be refused (3004) while the node's Redis link is
		// still down: retry briefly, as a client's backoff would.
		for try := 0; try < 50; try++ {
			if next, err = r.dial(t, cur); err == nil {
				break
			}
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err != nil {
			r.mu.Lock()
			r.fault = "reconnect failed: " + err.Error()
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		r.sessions = append(r.sessions, next)
		r.mu.Unlock()
	}
}

// healthSample is one /health answer.
type healthSample struct {
	start, end time.Time
	code       int
}

// watchHealth polls nd's /health until stop closes; out is read only
// after wg is done.
func watchHealth(nd *node, stop <-chan struct{}, out *[]healthSample, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		s := healthSample{start: time.Now()}
		s.code, _ = nd.Health()
		s.end = time.Now()
		*out = append(*out, s)
		time.Sleep(25 * time.Millisecond)
	}
}

// outageReport is what the scenario measured.
type outageReport struct {
	killAt, restartAt, stopAt time.Time
	// Per node: the first /health answer that was 503 after the kill, and
	// the first 200 after the restart (zero when none).
	health503, health200 []time.Time
	// health200WhileDown: /health answers 200 wholly inside the time a
	// node had already answered 503 and Redis was still down.
	health200WhileDown []int
	// First 3010 (or other reconnect-code disconnect) per node after the
	// restart: the node's resubscribe.
	firstReconnect []time.Time
	channels       []*channelReport
	epochBefore    string
	histAfter      []Pub
	posAfter       Position
}

type channelReport struct {
	channel string
	// Publishes: all, accepted, and errored; the same while Redis was
	// down (a start in [kill, restart)); accepted after the restart.
	attempted, accepted, errored                   int
	downAttempted, downAccepted, downErrored       int
	afterAccepted                                  int
	erroredButDelivered                            int
	afterRestartReachedNobody, afterRestartReached int           // accepted after the restart, live in the first sessions
	afterRestartNeverDelivered                     int           // accepted after the restart, in no session of any subscriber
	firstAcceptedAfterRestart                      time.Duration // from the restart to the first accepted publish's answer
	acceptedBeforeResubscribe                      int           // accepted after the restart, answered before both nodes resubscribed
	slowestError                                   time.Duration // the longest an errored publish took to answer
	slowestAccepted                                time.Duration // the longest an accepted one took
	disconnects                                    map[int]int   // code → streams ended with it
	droppedBeforeRestart                           int           // streams ended before the restart
	recovered, unrecoverable                       int           // reconnects with recovered true / false
	delivered, lostTold, silent, dup               int
	// toldLate: missing from a stream that got later publications (all
	// accepted after the restart) before its reconnect-code disconnect:
	// the node delivered from its new Redis subscription before it ended
	// the stream. pastGap: the most publications a stream got past such a
	// gap before its disconnect.
	toldLate, pastGap int
	faults            []string
}

// runOutage runs the scenario on two started nodes (the publisher uses the
// first) and returns what it measured.
func runOutage(t *testing.T, redis *Redis, nodes []*node) *outageReport {
	rep := &outageReport{health503: make([]time.Time, len(nodes)), health200: make([]time.Time, len(nodes)),
		health200WhileDown: make([]int, len(nodes)), firstReconnect: make([]time.Time, len(nodes))}
	var subs []*reconnecter
	for i, nd := range nodes {
		for _, ch := range []string{outageHistCh, outagePlainCh} {
			for j := 0; j < outageSubs[i]; j++ {
				r := &reconnecter{node: nd, channel: ch, user: fmt.Sprintf("o-%s-%s-%d", nd.Name, ch, j), recovers: ch == outageHistCh}
				first, err := r.dial(t, nil)
				if err != nil {
					t.Fatalf("subscriber on %s, %s: %v", nd.Name, ch, err)
				}
				r.sessions = []*session{first}
				subs = append(subs, r)
			}
		}
	}
	quit := make(chan struct{})
	var subWG sync.WaitGroup
	for _, r := range subs {
		subWG.Add(1)
		go func() { defer subWG.Done(); r.run(t, quit) }()
	}
	t.Cleanup(func() {
		close(quit)
		subWG.Wait()
		for _, r := range subs {
			ss, _ := r.all()
			for _, s := range ss {
				s.s.Close()
			}
		}
	})
	if sub, ok := subs[0].current().s.Sub(outageHistCh); ok {
		rep.epochBefore = sub.Epoch
	}

	stopHealth := make(chan struct{})
	samples := make([][]healthSample, len(nodes))
	var healthWG sync.WaitGroup
	for i, nd := range nodes {
		healthWG.Add(1)
		go watchHealth(nd, stopHealth, &samples[i], &healthWG)
	}
	pubs := []*publisher{{channel: outageHistCh, api: nodes[0].api}, {channel: outagePlainCh, api: nodes[0].api}}
	stopPub := make(chan struct{})
	var pubWG sync.WaitGroup
	for _, p := range pubs {
		pubWG.Add(1)
		go func() { defer pubWG.Done(); p.run(stopPub) }()
	}

	time.Sleep(outageSteady) // the load's phases are wall-clock by design
	rep.killAt = time.Now()
	redis.Kill()
	time.Sleep(outageDown)
	rep.restartAt = time.Now()
	redis.Restart(t)
	time.Sleep(outageAfter)
	close(stopPub)
	pubWG.Wait()
	rep.stopAt = time.Now()

	// Every subscriber's current stream must get the last accepted
	// publication of its channel: then nothing is still in flight.
	last := map[string]int{}
	for _, p := range pubs {
		for _, a := range p.snapshot() {
			if a.err == nil {
				last[p.channel] = a.n
			}
		}
	}
	deadline := time.Now().Add(wait)
	for _, r := range subs {
		for time.Now().Before(deadline) {
			_, fault := r.all()
			cur := r.current()
			if fault != "" || cur.s.WaitFor(100*time.Millisecond, func() bool { return hasN(cur.s.pubs[r.channel], last[r.channel]) }) {
				break
			}
		}
	}
	close(stopHealth)
	healthWG.Wait()
	rep.histAfter, rep.posAfter, _ = nodes[0].api.History(outageHistCh, 100)

	for i := range nodes {
		for _, s := range samples[i] {
			if s.start.After(rep.killAt) && s.code == http.StatusServiceUnavailable && rep.health503[i].IsZero() {
				rep.health503[i] = s.end
			}
			if !rep.health503[i].IsZero() && s.start.After(rep.health503[i]) && s.end.Before(rep.restartAt) && s.code == http.StatusOK {
				rep.health200WhileDown[i]++
			}
			if s.start.After(rep.restartAt) && s.code == http.StatusOK && rep.health200[i].IsZero() {
				rep.health200[i] = s.end
			}
		}
	}
	for _, r := range subs {
		i := 0
		if r.node == nodes[1] {
			i = 1
		}
		ss, _ := r.all()
		for _, s := range ss {
			if !s.done.IsZero() && s.done.After(rep.restartAt) && (rep.firstReconnect[i].IsZero() || s.done.Before(rep.firstReconnect[i])) {
				rep.firstReconnect[i] = s.done
			}
		}
	}
	for _, p := range pubs {
		var chSubs []*reconnecter
		for _, r := range subs {
			if r.channel == p.channel {
				chSubs = append(chSubs, r)
			}
		}
		rep.channels = append(rep.channels, classify(p, chSubs, rep))
	}
	return rep
}

// dataN returns the n of a publication's {"n": n} data.
func dataN(p Pub) int {
	var d struct{ N int }
	_ = json.Unmarshal(p.Data, &d)
	return d.N
}

// classify accounts, for every subscriber of p's channel, for every
// accepted publication: delivered; lost but told (it fell between a stream
// ended with a reconnect code and the next one, which did not recover it
// and said so: recovered false, or no recovery on the channel); or silent
// (missing from a stream that got a later one, or from the last stream).
func classify(p *publisher, subs []*reconnecter, rep *outageReport) *channelReport {
	c := &channelReport{channel: p.channel, disconnects: map[int]int{}}
	attempts := p.snapshot()
	accepted := map[int]bool{}
	afterRestart := map[int]bool{}
	var acceptedNs []int
	for _, a := range attempts {
		c.attempted++
		down := !a.start.Before(rep.killAt) && a.start.Before(rep.restartAt)
		if down {
			c.downAttempted++
		}
		if a.err != nil {
			c.slowestError = max(c.slowestError, a.end.Sub(a.start))
			c.errored++
			if down {
				c.downErrored++
			}
			continue
		}
		c.accepted++
		c.slowestAccepted = max(c.slowestAccepted, a.end.Sub(a.start))
		accepted[a.n] = true
		afterRestart[a.n] = !a.start.Before(rep.restartAt)
		acceptedNs = append(acceptedNs, a.n)
		if down {
			c.downAccepted++
		}
		if !a.start.Before(rep.restartAt) {
			c.afterAccepted++
			if c.firstAcceptedAfterRestart == 0 {
				c.firstAcceptedAfterRestart = a.end.Sub(rep.restartAt)
			}
			resubscribed := true
			for _, at := range rep.firstReconnect {
				resubscribed = resubscribed && !at.IsZero() && at.Before(a.end)
			}
			if !resubscribed {
				c.acceptedBeforeResubscribe++
			}
		}
	}
	reached := map[int]bool{} // accepted after the restart, live in a first session
	everGot := map[int]bool{}
	erroredSeen := map[int]bool{}
	for _, r := range subs {
		ss, fault := r.all()
		if fault != "" {
			c.faults = append(c.faults, fmt.Sprintf("%s on %s: %s", r.user, r.node.Name, fault))
		}
		type span struct{ first, last int }
		spans := make([]span, len(ss))
		got := map[int]int{} // n → session index
		streamNs := make([][]int, len(ss))
		prev := 0
		for k, s := range ss {
			if d := s.s.Disconnected(); d != nil {
				c.disconnects[d.Code]++
			}
			if !s.done.IsZero() && s.done.Before(rep.restartAt) {
				c.droppedBeforeRestart++
			}
			if k > 0 && r.recovers {
				if sub, _ := s.s.Sub(r.channel); sub.Recovered {
					c.recovered++
				} else {
					c.unrecoverable++
				}
			}
			spans[k] = span{-1, -1}
			for _, pub := range s.s.Pubs(r.channel) {
				n := dataN(pub)
				if !accepted[n] {
					erroredSeen[n] = true
				}
				if n <= prev {
					c.dup++
					if len(c.faults) < 10 {
						c.faults = append(c.faults, fmt.Sprintf("%s on %s: n=%d after n=%d (duplicate or out of order)", r.user, r.node.Name, n, prev))
					}
					continue
				}
				prev = n
				got[n] = k
				everGot[n] = true
				streamNs[k] = append(streamNs[k], n)
				if spans[k].first < 0 {
					spans[k].first = n
				}
				spans[k].last = n
				if k == 0 {
					reached[n] = true
				}
			}
		}
		for _, n := range acceptedNs {
			if _, ok := got[n]; ok {
				c.delivered++
				continue
			}
			// The session it fell in: the last one that started before it.
			k := -1
			for j, sp := range spans {
				if sp.first >= 0 && sp.first < n {
					k = j
				}
			}
			silent := ""
			switch {
			case k < 0:
				silent = "missing before the first publication of the first stream"
			case spans[k].last > n:
				past := 0
				for _, m := range streamNs[k] {
					if m > n {
						past++
						if !afterRestart[m] {
							past = -1
							break
						}
					}
				}
				if k == len(ss)-1 || past < 0 {
					silent = fmt.Sprintf("missing from stream %d, which got %d..%d", k, spans[k].first, spans[k].last)
					break
				}
				c.toldLate++
				c.pastGap = max(c.pastGap, past)
				continue
			case k == len(ss)-1:
				silent = fmt.Sprintf("missing from the last stream (%d), which got %d..%d", k, spans[k].first, spans[k].last)
			default:
				// Ended with a reconnect code (else run recorded a
				// fault); the next stream must not claim recovery.
				if sub, _ := ss[k+1].s.Sub(r.channel); r.recovers && sub.Recovered {
					silent = fmt.Sprintf("missing though stream %d said recovered", k+1)
				}
			}
			if silent == "" {
				c.lostTold++
				continue
			}
			c.silent++
			if len(c.faults) < 10 {
				c.faults = append(c.faults, fmt.Sprintf("%s on %s: n=%d %s", r.user, r.node.Name, n, silent))
			}
		}
	}
	c.erroredButDelivered = len(erroredSeen)
	for _, a := range attempts {
		if a.err == nil && !a.start.Before(rep.restartAt) {
			if reached[a.n] {
				c.afterRestartReached++
			} else {
				c.afterRestartReachedNobody++
			}
			if !everGot[a.n] {
				c.afterRestartNeverDelivered++
			}
		}
	}
	return c
}

// log writes the figures.
func (rep *outageReport) log(t *testing.T, nodes []*node) {
	since := func(from, at time.Time) string {
		if at.IsZero() {
			return "never"
		}
		return at.Sub(from).Round(time.Millisecond).String()
	}
	for i, nd := range nodes {
		t.Logf("%s (%d+%d subscribers): /health 503 %s after the kill, 200 %s after the restart (200 while down: %d answers); first reconnect-code disconnect (resubscribe) %s after the restart",
			nd.Name, outageSubs[i], outageSubs[i], since(rep.killAt, rep.health503[i]), since(rep.restartAt, rep.health200[i]), rep.health200WhileDown[i], since(rep.restartAt, rep.firstReconnect[i]))
	}
	for _, c := range rep.channels {
		codes := make([]string, 0, len(c.disconnects))
		for code, k := range c.disconnects {
			codes = append(codes, fmt.Sprintf("%d×%d", code, k))
		}
		sort.Strings(codes)
		t.Logf("%s: publishes %d attempted, %d accepted, %d errored (slowest answer: accepted %s, error %s); while Redis was down %d attempted, %d accepted, %d errored; errored but delivered: %d",
			c.channel, c.attempted, c.accepted, c.errored, c.slowestAccepted.Round(time.Millisecond), c.slowestError.Round(time.Millisecond), c.downAttempted, c.downAccepted, c.downErrored, c.erroredButDelivered)
		t.Logf("%s: after the restart the first publish accepted %s after it; %d accepted, %d of them before both nodes had resubscribed; %d reached no subscriber's pre-outage stream (%d some), %d reached no subscriber at all",
			c.channel, c.firstAcceptedAfterRestart.Round(time.Millisecond), c.afterAccepted, c.acceptedBeforeResubscribe, c.afterRestartReachedNobody, c.afterRestartReached, c.afterRestartNeverDelivered)
		t.Logf("%s: disconnects [%s], %d streams ended before the restart; reconnects recovered %d, told unrecoverable %d; accepted publication × subscriber: %d delivered, %d lost but told, %d lost and told only after later ones were delivered (at most %d past the gap before the 3010), %d silently missing, %d duplicate/out of order",
			c.channel, strings.Join(codes, " "), c.droppedBeforeRestart, c.recovered, c.unrecoverable, c.delivered, c.lostTold, c.toldLate, c.pastGap, c.silent, c.dup)
		for _, f := range c.faults {
			t.Logf("%s: %s", c.channel, f)
		}
	}
	first := "none"
	if len(rep.histAfter) > 0 {
		first = fmt.Sprintf("offset %d n=%d", rep.histAfter[0].Offset, dataN(rep.histAfter[0]))
	}
	t.Logf("%s history after the restart: epoch %q (before the kill %q), top offset %d, first kept %s", outageHistCh, rep.posAfter.Epoch, rep.epochBefore, rep.posAfter.Offset, first)
}
