package session

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/unisse/unisse/engine/auth"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/eventid"
	"github.com/unisse/unisse/engine/httpwrite"
	"github.com/unisse/unisse/engine/namespace"
	"github.com/unisse/unisse/engine/protocol"
	"github.com/unisse/unisse/httpparse"
	"github.com/unisse/unisse/sse"
)

// connectFailure is why a connect was refused: a disconnect sent as is, or an
// error that is first mapped to a disconnect (or an HTTP response).
type connectFailure struct {
	disconnect protocol.Disconnect
	err        *protocol.Error // nil when disconnect applies
	user       string          // for the log, when known
	cause      error           // for the log: why a token did not verify
}

func failWith(d protocol.Disconnect) *connectFailure { return &connectFailure{disconnect: d} }

// keysPending is connect's answer when the token's JWKS key is not cached: the
// verdict needs an HTTP fetch, which happens off the loop (see
// connectAfterKeyFetch).
var keysPending = &connectFailure{}

func failErr(e *protocol.Error) *connectFailure { return &connectFailure{err: e} }

// serveConnect handles a request to the uni_sse endpoint: method and body
// checks, the connect request, authentication and subscriptions, then either
// the stream's headers with the connect push, or a refusal. Only on c's loop.
func (s *Node) serveConnect(c *delivery.Conn, req *httpparse.Request, body []byte, cr *httpwrite.CORS) {
	l := s.loops[c.LoopIdx]
	keepAlive := req.KeepAlive()
	if !req.IsGet() && !req.IsPost() {
		// No stream: the client.connection_limit slot is free before the
		// client reads the answer (as in refuseConnect), not only once the
		// connection closes, which a new connect on another loop can outrun.
		s.releaseNodeSlot(c)
		s.logRefusal(c, "connect refused", "", 405, httpReason(405))
		l.Out = httpwrite.AppendEmpty(l.Out[:0], 405, cr, !keepAlive, req.IsHead())
		_ = sendResponse(c, l.Out)
		return
	}
	var raw []byte
	if req.IsPost() {
		if len(body) == 0 {
			s.badConnectRequest(c, cr, keepAlive, "empty POST body")
			return
		}
		raw = body
	} else {
		// A cf_connect that fails to percent-decode is dropped, as Go's
		// url.Values does, so the request counts as empty.
		l.Tmp, _ = httpparse.AppendQuery(l.Tmp[:0], req.RawQuery(), "cf_connect")
		raw = l.Tmp
	}
	var creq protocol.ConnectRequest
	if len(raw) > 0 {
		var err error
		if creq, err = protocol.DecodeConnectRequest(raw); err != nil {
			s.badConnectRequest(c, cr, keepAlive, "malformed connect request")
			return
		}
	}
	chunked := req.ProtoMinor() == 1
	var resume lastEventID
	if s.opts.Own.SSEEventIDs {
		resume = s.lastEventPositions(l, req)
	}
	res, qs, fail := s.connect(l, c, &creq, resume, false)
	if fail == keysPending {
		s.connectAfterKeyFetch(c, &creq, resume, cr, keepAlive, chunked)
		return
	}
	s.answerConnect(l, c, res, qs, fail, cr, keepAlive, chunked)
}

// lastEventID is a connect's Last-Event-ID (unisse.sse_event_ids): the
// positions it carries, and whether the request carried a non-empty one at
// all (sent), so that connect can count it used or ignored
// (unisse_last_event_id_total) once it knows its channels.
type lastEventID struct {
	positions []eventid.Position
	sent      bool
}

// lastEventPositions reads the positions a reconnecting EventSource sends
// back (unisse.sse_event_ids): the Last-Event-ID header, or for polyfills
// that cannot set headers the lastEventId or last_event_id query parameter.
// A token that does not decode is ignored whole (the connect goes on as if
// it were absent) and logged at debug: it is the client's to send, and it
// never grants more than the connect's own subscriptions (see connect).
// The positions are the loop's scratch, valid until its next connect. On
// the loop.
func (s *Node) lastEventPositions(l *delivery.Loop, req *httpparse.Request) lastEventID {
	sc := &s.scratch[l.Idx]
	id := req.Header("Last-Event-ID")
	if id == nil {
		var found bool
		if sc.lastID, found = httpparse.AppendQuery(sc.lastID[:0], req.RawQuery(), "lastEventId"); !found {
			sc.lastID, found = httpparse.AppendQuery(sc.lastID[:0], req.RawQuery(), "last_event_id")
		}
		if !found {
			return lastEventID{}
		}
		id = sc.lastID
		if cap(sc.lastID) > eventid.MaxLen {
			sc.lastID = nil // a hostile URL should not pin its size
		}
	}
	if len(id) == 0 {
		return lastEventID{}
	}
	ps, err := eventid.Decode(sc.resume[:0], id)
	if err != nil {
		s.log.Debug("last event id ignored", "len", len(id), "err", err)
		return lastEventID{sent: true}
	}
	clear(ps[len(ps):cap(ps)]) // epochs of an earlier connect
	sc.resume = ps
	return lastEventID{positions: ps, sent: true}
}

func (s *Node) badConnectRequest(c *delivery.Conn, cr *httpwrite.CORS, keepAlive bool, reason string) {
	l := s.loops[c.LoopIdx]
	// The reason only, never the request itself: it may hold a token.
	s.logRefusal(c, "connect refused", "", 400, reason)
	s.releaseNodeSlot(c) // no stream: see the 405 in serveConnect
	l.Out = httpwrite.AppendEmpty(l.Out[:0], 400, cr, !keepAlive, false)
	_ = sendResponse(c, l.Out)
}

// connectChannel is one server-side subscription being set up.
type connectChannel struct {
	name     string
	co       chanOpts
	chanInfo []byte
	result   protocol.SubscribeResult
}

// chanOpts are a subscription's effective channel options: its namespace's,
// with the overrides a token subs claim or an API subscribe may carry.
type chanOpts struct {
	ns          *namespace.Options
	flags       delivery.SubFlags
	recoverable bool // force_recovery: positioned, and recovers on request
	positioned  bool // force_positioning or force_recovery (needs history)
}

// override is the part of a subscribe override that unisse applies.
type override struct {
	presence, joinLeave, pushJoinLeave, recovery, positioning *bool
}

func resolveChanOpts(ns *namespace.Options, ov override) chanOpts {
	pick := func(def bool, o *bool) bool {
		if o != nil {
			return *o
		}
		return def
	}
	co := chanOpts{ns: ns}
	if pick(ns.Presence, ov.presence) {
		co.flags |= delivery.SubPresence
	}
	if pick(ns.JoinLeave, ov.joinLeave) {
		co.flags |= delivery.SubJoinLeave
	}
	if pick(ns.ForcePushJoinLeave, ov.pushJoinLeave) {
		co.flags |= delivery.SubPushJoinLeave
	}
	if ns.HasHistory() {
		co.recoverable = pick(ns.ForceRecovery, ov.recovery)
		co.positioned = co.recoverable || pick(ns.ForcePositioning, ov.positioning)
	}
	return co
}

// overrideOf reads a subscribe override (token subs claim or API subscribe).
func overrideOf(o *protocol.SubscribeOverride) override {
	if o == nil {
		return override{}
	}
	v := func(b *protocol.BoolValue) *bool {
		if b == nil {
			return nil
		}
		return &b.Value
	}
	return override{presence: v(o.Presence), joinLeave: v(o.JoinLeave), pushJoinLeave: v(o.ForcePushJoinLeave), recovery: v(o.ForceRecovery), positioning: v(o.ForcePositioning)}
}

// connect authenticates the request and subscribes c to its channels, in
// Centrifugo's order of checks (PROTOCOL.md §2.7). On success c holds its
// identity and subscriptions and the connect push body is returned, with
// the queries its positioned subscriptions wait on (see answerConnect).
//
// resume is the request's Last-Event-ID (unisse.sse_event_ids): for a
// recoverable channel the connection subscribes to, its position there
// replaces the request's subs entry; positions of any other channel are
// ignored. A connect that gets as far as its subscriptions counts it, used
// when it positioned one of them.
func (s *Node) connect(l *delivery.Loop, c *delivery.Conn, creq *protocol.ConnectRequest, resume lastEventID, keysFetched bool) (*protocol.ConnectResult, []*positionQuery, *connectFailure) {
	if s.stopping.Load() {
		// Shutting down: the stream would be ended at once anyway, and a
		// refusal with 3001 sends the client to reconnect (to another node).
		return nil, nil, failWith(protocol.DisconnectShutdown)
	}
	c.ClientLabels = clientLabels(creq.Name, creq.Version)
	o := &s.opts.Client
	now := time.Now()
	var creds auth.Credentials
	switch {
	case creq.Token != "":
		var err error
		creds, err = s.verifier.VerifyConnectToken(creq.Token, now)
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrTokenExpired):
			return nil, nil, failErr(protocol.ErrorTokenExpired)
		case errors.Is(err, auth.ErrInvalidInfo):
			return nil, nil, failErr(protocol.ErrorInternal)
		case errors.Is(err, auth.ErrKeyNotCached) && !keysFetched:
			return nil, nil, keysPending
		default:
			f := failWith(protocol.DisconnectInvalidToken)
			f.cause = err
			return nil, nil, f
		}
		if creds.UserID == "" && o.DisallowAnonymousConnectionTokens {
			return nil, nil, failErr(protocol.ErrorPermissionDenied)
		}
	case o.Insecure || o.AllowAnonymousConnectWithoutToken:
		// Anonymous user "".
	default:
		return nil, nil, failWith(protocol.DisconnectBadRequest) // client credentials not found
	}

	// As centrifuge: a user at client.user_connection_limit is refused.
	if o.UserConnectionLimit > 0 && creds.UserID != "" {
		if !s.users.Acquire(creds.UserID, o.UserConnectionLimit) {
			f := failWith(protocol.DisconnectConnectionLimit)
			f.user = creds.UserID
			return nil, nil, f
		}
		c.UserSlot = true
		c.User = creds.UserID
	}
	fail := func(f *connectFailure) (*protocol.ConnectResult, []*positionQuery, *connectFailure) {
		s.releaseUserSlot(c)
		f.user = creds.UserID
		return nil, nil, f
	}

	res := &protocol.ConnectResult{Version: s.version, Ping: uint32(o.PingInterval / time.Second)}
	var closeAt int32
	if creds.ExpireAt > 0 && !o.Insecure {
		ttl := creds.ExpireAt - now.Unix()
		if ttl <= 0 {
			return fail(failErr(protocol.ErrorExpired))
		}
		res.Expires, res.TTL = true, uint32(ttl)
		// Centrifugo closes ttl + expired_close_delay after the connect.
		closeAt = int32(s.ticksAfter(time.Duration(ttl)*time.Second + o.ExpiredCloseDelay))
	}

	// The channels are collected in Centrifugo's order of checks: token
	// claims, personal channel, request subs, then client.channel_limit.
	// Hostile requests carry tens of thousands of entries, so the limit is
	// enforced while collecting: once more than channel_limit distinct
	// channels are wanted, nothing more is built for any entry and only the
	// namespace lookup that decides a different answer (unknown namespace)
	// still runs. Every step is constant time per entry, duplicates are found
	// with a set, and the scratch stays bounded by the limit.
	sc := &s.scratch[l.Idx]
	cc := channelCollector{list: sc.chans[:0], seen: sc.seen, limit: o.ChannelLimit}
	if cc.seen == nil {
		cc.seen = make(map[string]struct{})
		sc.seen = cc.seen
	}
	defer cc.release(sc)

	// Server-side channels from the token: the subs claim wins over channels.
	if creds.Subs != nil {
		for ch, sc := range creds.Subs {
			nsOpts, ok := s.ns.Lookup(ch)
			if !ok {
				return fail(failErr(protocol.ErrorInternal))
			}
			if !cc.room(ch) {
				continue // over the limit, or (not in a map) a duplicate
			}
			data, err := sc.SubscribeData()
			if err != nil {
				return fail(failErr(protocol.ErrorInternal))
			}
			info, err := sc.ChannelInfo()
			if err != nil {
				return fail(failErr(protocol.ErrorInternal))
			}
			cc.add(connectChannel{name: ch, co: resolveChanOpts(nsOpts, overrideOf(sc.Override)), chanInfo: info, result: protocol.SubscribeResult{Data: data}})
		}
		if !cc.over {
			slices.SortFunc(cc.list, func(a, b connectChannel) int { return strings.Compare(a.name, b.name) })
		}
	} else {
		for _, ch := range creds.Channels {
			nsOpts, ok := s.ns.Lookup(ch)
			if !ok {
				return fail(failErr(protocol.ErrorInternal))
			}
			if cc.room(ch) {
				cc.add(connectChannel{name: ch, co: resolveChanOpts(nsOpts, override{})})
			}
		}
	}

	// The user's personal channel, when configured (Centrifugo:
	// [<namespace><boundary>]<user boundary><user>).
	if pc := &s.opts.Client.SubscribeToUserPersonalChannel; pc.Enabled && creds.UserID != "" {
		ch := s.opts.Channel.UserBoundary + creds.UserID
		if pc.PersonalChannelNamespace != "" {
			ch = pc.PersonalChannelNamespace + s.opts.Channel.NamespaceBoundary + ch
		}
		if nsOpts, ok := s.ns.Lookup(ch); ok && cc.room(ch) {
			cc.add(connectChannel{name: ch, co: resolveChanOpts(nsOpts, override{})})
		}
	}

	// Channels the client asks for in its connect request, when the
	// namespace allows it; silently skipped otherwise, as in Centrifugo. An
	// unknown namespace anywhere in the request is a bad request, even past
	// the limit (Centrifugo checks every entry before counting).
	if len(creq.Subs) > 0 {
		names := l.Names[:0]
		for ch := range creq.Subs {
			nsOpts, ok := s.ns.Lookup(ch)
			if !ok {
				clear(names)
				l.Names = names[:0]
				return fail(failWith(protocol.DisconnectBadRequest))
			}
			if cc.over || cc.has(ch) || s.ns.IsPrivate(ch) || !s.ns.Valid(ch, nsOpts) {
				continue
			}
			allowed := o.Insecure ||
				(nsOpts.AllowSubscribeForClient && (creds.UserID != "" || nsOpts.AllowSubscribeForAnonymous)) ||
				(nsOpts.AllowUserLimitedChannels && s.userLimited(ch, creds.UserID))
			if !allowed {
				continue
			}
			if len(cc.list)+len(names) >= cc.limit {
				cc.over = true
				continue
			}
			names = append(names, ch)
		}
		if !cc.over {
			// Map order is random; the connect push lists them sorted.
			slices.Sort(names)
			for _, ch := range names {
				nsOpts, _ := s.ns.Lookup(ch)
				cc.add(connectChannel{name: ch, co: resolveChanOpts(nsOpts, override{})})
			}
		}
		clear(names)
		l.Names = names[:0]
	}
	if cc.over {
		return fail(failWith(protocol.DisconnectChannelLimit))
	}
	chans := cc.list

	newUUID(&c.Client)
	newUUID(&c.Session)
	res.Client, res.Session = c.Client, c.Session
	if o.ConnectIncludeServerTime {
		res.Time = now.UnixMilli()
	}
	c.User = creds.UserID
	c.SetInfo(creds.Info)
	c.CloseAt = closeAt
	var qs []*positionQuery
	resumed := false
	if len(chans) > 0 {
		c.Subs = make([]delivery.Subscription, 0, len(chans))
		res.Subs = make([]protocol.ChannelResult, len(chans))
		for i := range chans {
			// The request's subs entry for a channel the connection gets says
			// where to recover from.
			var rec *protocol.SubscribeRequest
			if r, ok := creq.Subs[chans[i].name]; ok {
				rec = &r
			}
			if len(resume.positions) > 0 && chans[i].co.recoverable {
				if p, ok := eventid.Find(resume.positions, eventid.Hash(chans[i].name)); ok {
					rec = &protocol.SubscribeRequest{Recover: true, Offset: p.Offset, Epoch: p.Epoch}
					resumed = true
				}
			}
			c.SetChanInfo(chans[i].name, chans[i].chanInfo)
			q := s.subscribe(l, c, chans[i].name, chans[i].co, rec, &chans[i].result)
			res.Subs[i] = protocol.ChannelResult{Channel: chans[i].name, Result: chans[i].result}
			if q != nil {
				q.res = &res.Subs[i].Result // chans is the loop's scratch
				qs = append(qs, q)
			}
		}
	}
	if resume.sent {
		s.scratch[l.Idx].counts.lastEventID(resumed)
	}
	return res, qs, nil
}

// answerConnect answers a connect whose checks are done: with the refusal,
// or the stream, or — when subscriptions wait for the broker — it parks c
// and answers on its loop once the broker has. c may point into the input
// buffer. On c's loop.
func (s *Node) answerConnect(l *delivery.Loop, c *delivery.Conn, res *protocol.ConnectResult, qs []*positionQuery, fail *connectFailure, cr *httpwrite.CORS, keepAlive, chunked bool) {
	switch {
	case fail != nil:
		s.refuseConnect(c, fail, cr, keepAlive, chunked)
		return
	case len(qs) == 0:
		s.startStream(c, res, cr, !keepAlive, chunked)
		return
	}
	c.State = delivery.StateAwaiting
	saved := httpwrite.CORS{Allowed: cr.Allowed, Origin: bytes.Clone(cr.Origin), AllowHeaders: bytes.Clone(cr.AllowHeaders)}
	s.askBroker(l, c, qs, func(l *delivery.Loop) {
		if c.State != delivery.StateAwaiting {
			return // closed meanwhile (OnClose unsubscribed it)
		}
		c.State = delivery.StateReading
		if fail := s.unpark(l, c, qs); fail != nil {
			s.unsubscribeAll(l, c)
			s.releaseUserSlot(c)
			s.refuseConnect(c, fail, &saved, keepAlive, chunked)
		} else {
			s.startStream(c, res, &saved, !keepAlive, chunked)
		}
		if c.State == delivery.StateReading && s.afterResponse(c, keepAlive) {
			s.serveInput(c)
		}
	})
}

// connectAfterKeyFetch finishes a connect whose token names a JWKS key that
// is not cached: the key is fetched on a goroutine (an event loop never waits
// on the network), then the connect resumes on the connection's loop. Input
// that arrives meanwhile is ignored, as on a stream.
func (s *Node) connectAfterKeyFetch(c *delivery.Conn, creq *protocol.ConnectRequest, resume lastEventID, cr *httpwrite.CORS, keepAlive, chunked bool) {
	l := s.loops[c.LoopIdx]
	c.State = delivery.StateAwaiting
	// The CORS values point into the input buffer, which is about to be
	// reused: keep copies.
	saved := httpwrite.CORS{Allowed: cr.Allowed, Origin: bytes.Clone(cr.Origin), AllowHeaders: bytes.Clone(cr.AllowHeaders)}
	req := *creq
	resume.positions = slices.Clone(resume.positions) // the loop's scratch
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), keyFetchTimeout)
		defer cancel()
		if err := s.verifier.FetchKeys(ctx, req.Token); err != nil {
			s.log.Warn("jwks fetch failed", "err", err)
		}
		l.Post(func(l *delivery.Loop) {
			if c.State != delivery.StateAwaiting {
				return // the client went away meanwhile
			}
			c.State = delivery.StateReading
			res, qs, fail := s.connect(l, c, &req, resume, true)
			s.answerConnect(l, c, res, qs, fail, &saved, keepAlive, chunked)
			if c.State == delivery.StateReading && s.afterResponse(c, keepAlive) {
				s.serveInput(c)
			}
		})
	}()
}

// keyFetchTimeout bounds how long a connect waits for the JWKS endpoint.
const keyFetchTimeout = 5 * time.Second

// releaseUserSlot gives back a connection's client.user_connection_limit
// slot, if it holds one. On its loop.
func (s *Node) releaseUserSlot(c *delivery.Conn) {
	if c.UserSlot {
		c.UserSlot = false
		s.users.Release(c.User)
	}
}

// evictOtherConnections implements the personal channel's
// single_connection: a user's new connection ends the older ones with 3504,
// as Centrifugo does. Fire and forget: a loop never waits for another.
func (s *Node) evictOtherConnections(c *delivery.Conn) {
	user, keep := c.User, c.Client
	for _, l := range *s.known.Load() {
		l.Post(func(l *delivery.Loop) {
			for _, c := range l.Find(user, "", "") {
				if c.Client != keep {
					l.Finish(c, protocol.DisconnectConnectionLimit)
				}
			}
		})
	}
}

// userLimited reports whether ch is limited to user with the user boundary,
// e.g. "dialog#alice,bob" for user "bob".
func (s *Node) userLimited(ch, user string) bool {
	if user == "" {
		return false
	}
	b := s.opts.Channel.UserBoundary
	_, users, ok := strings.Cut(ch, b)
	if !ok {
		return false
	}
	// Walk the list without splitting it: a connect may check thousands of
	// channels, and this runs for each.
	for users != "" {
		var u string
		u, users, _ = strings.Cut(users, ",")
		if u == user {
			return true
		}
	}
	return false
}

// startStream writes the stream head and the connect push and registers c as
// streaming: in its loop's lists, with its first ping due after a random delay
// in [ping/2, ping), as Centrifugo staggers pings.
func (s *Node) startStream(c *delivery.Conn, res *protocol.ConnectResult, cr *httpwrite.CORS, closeConn, chunked bool) {
	l := s.loops[c.LoopIdx]
	c.Chunked = chunked
	l.Out = httpwrite.AppendStreamHead(l.Out[:0], cr, closeConn, chunked)
	l.Out = s.appendRetry(l.Out, chunked) // unisse.sse_retry_*; nothing by default
	l.Tmp = protocol.AppendConnectPush(l.Tmp[:0], res)
	if id, ok := s.startEventIDs(l, c, res); ok {
		l.Out = sse.AppendEventWithID(l.Out, id, l.Tmp, chunked)
	} else {
		l.Out = sse.AppendEvent(l.Out, l.Tmp, chunked)
	}
	l.CountPush(delivery.PushConnect, len(l.Tmp))
	c.State = delivery.StateStreaming
	c.ReadDeadline = 0
	l.AddStream(c)
	s.numClients.Add(1)
	s.metrics.streamStarted(c)
	if err := sendResponse(c, l.Out); err != nil {
		return // gnet closed the connection; OnClose undid the registration
	}
	if pc := &s.opts.Client.SubscribeToUserPersonalChannel; pc.Enabled && pc.SingleConnection && c.User != "" {
		s.evictOtherConnections(c)
	}
	// Announce the new subscriber where join/leave is on; it receives its
	// own join too, after its connect push, as in Centrifugo.
	for i := range c.Subs {
		if c.Subs[i].Flags&delivery.SubJoinLeave != 0 {
			s.broadcastJoinLeave(c, c.Subs[i].Ch.Name(), true)
		}
	}
	s.addStreamPresence(c) // presence.go
	now := l.Wheel.Tick()
	ping := s.pingTicks()
	c.NextPing = int32(now + ping/2 + rand.Int64N(ping-ping/2))
	s.scheduleStream(l, c, now)
}

// startEventIDs turns on c's SSE ids (unisse.sse_event_ids) with the
// positions its connect push gives it, and returns the push's id. Each
// recoverable subscription is tracked from the position the push leaves it
// at: the last recovered publication, or the stream's top. A connection
// without recoverable subscriptions, with more than eventid.MaxSubs of
// them, or with an epoch an id cannot carry gets no ids (and sends back no
// Last-Event-ID to act on). The id is the loop's scratch. On c's loop.
func (s *Node) startEventIDs(l *delivery.Loop, c *delivery.Conn, res *protocol.ConnectResult) ([]byte, bool) {
	if !s.opts.Own.SSEEventIDs {
		return nil, false
	}
	c.StopEventIDs()
	tracked := false
	for i := range res.Subs {
		r := &res.Subs[i].Result
		if !r.Recoverable {
			continue
		}
		j := c.Subscribed(res.Subs[i].Channel)
		if j < 0 {
			continue // unsubscribed while parked (API unsubscribe)
		}
		offset := r.Offset
		if n := len(r.Publications); n > 0 {
			offset = r.Publications[n-1].Offset
		}
		if !c.TrackPosition(c.Subs[j].Ch, offset, r.Epoch) {
			s.log.Debug("no SSE ids for a connection: too many recoverable channels or an epoch an id cannot carry", "channel", res.Subs[i].Channel)
			return nil, false
		}
		tracked = true
	}
	if !tracked {
		return nil, false
	}
	var id []byte
	id, _ = c.AppendEventID(s.scratch[l.Idx].lastID[:0])
	s.scratch[l.Idx].lastID = id
	return id, true
}

// refuseConnect answers a failed connect: by default a 200 stream carrying
// one disconnect push and the end of the response; with
// uni_sse.connect_code_to_http_response a plain HTTP error instead.
func (s *Node) refuseConnect(c *delivery.Conn, f *connectFailure, cr *httpwrite.CORS, keepAlive, chunked bool) {
	l := s.loops[c.LoopIdx]
	// No stream was started: the client.connection_limit slot is free before
	// the client can read the refusal, so its next connect is admitted.
	s.releaseNodeSlot(c)
	if t := &s.opts.UniSSE.ConnectCodeToHTTPResponse; t.Enabled {
		code, text := f.disconnect.Code, f.disconnect.Reason
		if f.err != nil {
			code, text = f.err.Code, f.err.Message
		}
		status, body := 500, "Internal Server Error"
		for _, tr := range t.Transforms {
			if tr.Code == code {
				status, body = tr.To.StatusCode, tr.To.Body
				if body == "" {
					body = text
				}
				break
			}
		}
		s.logConnectRefusal(c, f, code, text, 0, status)
		l.Out = httpwrite.AppendConnectError(l.Out[:0], status, cr, body, !keepAlive)
		_ = sendResponse(c, l.Out)
		return
	}
	d := f.disconnect
	if f.err != nil {
		d = s.disconnectForError(f.err)
		s.logConnectRefusal(c, f, d.Code, d.Reason, f.err.Code, 0)
	} else {
		s.logConnectRefusal(c, f, d.Code, d.Reason, 0, 0)
	}
	s.metrics.disconnects.Inc(d.Code)
	l.CountDisconnectPush(d)
	l.Out = httpwrite.AppendStreamHead(l.Out[:0], cr, !keepAlive, chunked)
	l.Out = httpwrite.AppendDisconnectEvent(l.Out, d, chunked)
	if chunked {
		l.Out = append(l.Out, sse.Terminator...)
	}
	if err := sendResponse(c, l.Out); err == nil {
		s.closeWhenSent(c, false)
	}
}

// disconnectForError maps a connect error to the disconnect a unidirectional
// client gets: client.connect_code_to_unidirectional_disconnect first, then
// Centrifugo's defaults.
func (s *Node) disconnectForError(e *protocol.Error) protocol.Disconnect {
	if t := &s.opts.Client.ConnectCodeToUnidirectionalDisconnect; t.Enabled {
		for _, tr := range t.Transforms {
			if tr.Code == e.Code {
				return protocol.Disconnect{Code: tr.To.Code, Reason: tr.To.Reason}
			}
		}
	}
	return protocol.DefaultDisconnectForError(e)
}

// channelCollector gathers a connect's distinct channels, at most limit of
// them; over records that more were wanted (3505). Its list and set are the
// loop's scratch, handed back by release.
type channelCollector struct {
	list  []connectChannel
	seen  map[string]struct{}
	limit int
	over  bool
}

func (c *channelCollector) has(ch string) bool {
	_, ok := c.seen[ch]
	return ok
}

// room reports whether ch should be added: it is new and the limit leaves
// room. A new channel past the limit sets over instead; once over, nothing is
// added (and duplicates are no longer tracked: the answer is 3505 anyway).
func (c *channelCollector) room(ch string) bool {
	if c.over || c.has(ch) {
		return false
	}
	if len(c.list) >= c.limit {
		c.over = true
		return false
	}
	return true
}

func (c *channelCollector) add(cc connectChannel) {
	c.seen[cc.name] = struct{}{}
	c.list = append(c.list, cc)
}

// release gives the scratch back to the loop, emptied so that it keeps no
// channel names or infos alive.
func (c *channelCollector) release(sc *connectScratch) {
	clear(c.list)
	sc.chans = c.list[:0]
	clear(c.seen)
}

// connectScratch is a loop's scratch for the connects it serves, reused
// so that a connect allocates only what it keeps. Only on its loop.
type connectScratch struct {
	chans []connectChannel
	seen  map[string]struct{} // the channels in chans
	// waits are the queries of this loop's parked connections that wait
	// for the node's broker subscription to their channel, by token.
	waits map[uint64]*positionQuery
	// lastID and resume hold a connect's Last-Event-ID as decoded from the
	// query, and its positions (lastEventPositions).
	lastID []byte
	resume []eventid.Position
	// counts are the loop's recovery and Last-Event-ID counts, which
	// /metrics reads (atomics; only this loop writes them).
	counts connectCounts
}
