package session

import (
	"encoding/json"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/httpwrite"
	"github.com/unisse/unisse/engine/input"
	"github.com/unisse/unisse/engine/internal/bytesconv"
	"github.com/unisse/unisse/httpparse"
)

// earlyCheckWindow is how much of an incomplete head is parsed eagerly to
// reject non-HTTP bytes early.
const earlyCheckWindow = 4096

// maxUnsent is how many response bytes gnet may hold unsent for a connection
// before its next request waits (statePaused). A client that pipelines
// without reading thus costs this much output, not one response per request
// it sent.
const maxUnsent = 64 << 10

// serveInput serves every complete request buffered on c, in order
// (pipelining), until one needs more bytes, goes off the loop, starts a
// stream, or the responses not yet sent reach maxUnsent. Only on c's loop.
func (s *Node) serveInput(c *delivery.Conn) {
	l := s.loops[c.LoopIdx]
	buf := input.Take(c.GC, c.In)
	off := 0
	for c.State == delivery.StateReading && off < len(buf) {
		if c.GC.OutboundBuffered() > maxUnsent {
			s.pause(l, c)
			break
		}
		rest := buf[off:]
		if n := httpparse.LeadingEmptyLines(rest); n > 0 {
			off += n
			continue
		}
		in := c.In
		scanned := 0
		if in != nil && off == 0 {
			// The pending request is the one these fields describe.
			if len(rest) < in.Need {
				break // its body is not all here yet: nothing to parse
			}
			scanned = in.Scanned
		}
		// The loop's parser is shared by all its connections, so each
		// connection keeps only HeadEnd's resume offset between reads and the
		// parse runs once, on the whole head.
		headLen, resume := httpparse.HeadEnd(rest, scanned)
		if headLen < 0 {
			if len(rest) >= s.opts.Own.MaxRequestHeadSize {
				s.protocolError(c, httpparse.ErrHeadTooLarge)
				return
			}
			// Answer what is clearly not HTTP (a TLS ClientHello, an SSH
			// banner) right away, as Go does, instead of waiting for a blank
			// line that never comes. The parser rejects a bad method at its
			// first bytes; the window keeps this O(1) per read for a head
			// that trickles in.
			if len(rest) <= earlyCheckWindow {
				req := &l.Req
				req.Reset()
				if _, err := req.ParseHead(rest, httpparse.Limits{MaxHeadSize: s.opts.Own.MaxRequestHeadSize}); err != nil && !errors.Is(err, httpparse.ErrIncomplete) {
					s.protocolError(c, err)
					return
				}
			}
			input.Consume(c.GC, &c.In, off, true)
			c.In.Scanned = resume
			return
		}
		if headLen > s.opts.Own.MaxRequestHeadSize {
			s.protocolError(c, httpparse.ErrHeadTooLarge)
			return
		}
		req := &l.Req
		req.Reset()
		if _, err := req.ParseHead(rest[:headLen], httpparse.Limits{MaxHeadSize: s.opts.Own.MaxRequestHeadSize}); err != nil {
			s.protocolError(c, err)
			return
		}
		c.HTTP10 = req.ProtoMinor() == 0
		n, need := s.serveRequest(c, req, rest, headLen)
		if need > 0 {
			// The head is served from; its body is still arriving.
			input.Consume(c.GC, &c.In, off, true)
			c.In.Need = need
			c.In.Grow(need)
			return
		}
		off += n
	}
	if keepsInput(c.State) {
		input.Consume(c.GC, &c.In, off, true)
	}
}

// keepsInput reports whether a connection in state st still has a use for
// its buffered input (requests not served yet).
func keepsInput(st delivery.State) bool {
	switch st {
	case delivery.StateReading, delivery.StateAwaiting, delivery.StateDeferred, delivery.StatePaused:
		return true
	}
	return false
}

// pause stops serving c's requests until gnet has sent enough of its
// responses: gnet gives no event when its outbound buffer drains, so the loop
// tick looks (onTimer), and so does every read.
func (s *Node) pause(l *delivery.Loop, c *delivery.Conn) {
	c.State = delivery.StatePaused
	c.Unsent = int32(min(c.GC.OutboundBuffered(), 1<<30))
	s.armReadDeadline(l, c)
	l.Wheel.Schedule(c, l.Wheel.Tick()+1)
}

// pausedInputCap is the most input a paused connection may buffer: one
// largest head. A client that keeps sending while not reading what it asked
// for is closed past it.
func (s *Node) pausedInputCap() int { return s.opts.Own.MaxRequestHeadSize }

// checkPaused resumes a paused connection whose unsent output fell to
// maxUnsent, or closes it when it buffered too much input. On its loop.
func (s *Node) checkPaused(c *delivery.Conn) {
	if c.GC.OutboundBuffered() <= maxUnsent {
		c.State = delivery.StateReading
		s.serveInput(c)
		return
	}
	if input.Buffered(c.GC, c.In) > s.pausedInputCap() {
		c.State = delivery.StateClosing
		_ = c.GC.Close()
	}
}

// protocolError answers a request we cannot parse the way Go's net/http does,
// and closes.
func (s *Node) protocolError(c *delivery.Conn, err error) {
	status := httpparse.Status(err)
	if status == 0 {
		status = 400
	}
	l := s.loops[c.LoopIdx]
	s.logRefusal(c, "request refused", "", uint32(status), httpReason(status))
	c.HTTP10 = false // an unparsed request gets Go's HTTP/1.1 error reply
	l.Out = httpwrite.AppendProtocolError(l.Out[:0], status)
	if werr := sendResponse(c, l.Out); werr == nil {
		s.closeWhenSent(c, true)
	}
}

// lingerDelay is how long a connection answered with an error keeps draining
// input before it is closed (Go's rstAvoidanceDelay).
const lingerDelay = 500 * time.Millisecond

// closeWhenSent ends a connection whose last response has just been written:
// every response-then-close path goes through it. gnet's Close writes what it
// can without blocking and drops the rest, so the close waits until gnet's
// outbound buffer is empty (stateFlushing, looked at by the loop tick). A slow
// reader has read_timeout per bit of progress; one that stops reading is
// closed then.
//
// With linger (the request or input after it was left unread), the close is a
// lingering one: the write side is shut (FIN after the response), input is
// discarded until the client closes or lingerDelay passes. Closing with
// unread bytes would make the kernel send a reset, which can destroy the
// response before the client reads it (Go's closeWriteAndWait).
func (s *Node) closeWhenSent(c *delivery.Conn, linger bool) {
	if c.State == delivery.StateClosed || c.State == delivery.StateClosing {
		return
	}
	if linger || input.Buffered(c.GC, c.In) > 0 {
		input.Drop(c.GC, &c.In)
		c.State = delivery.StateDraining
	} else {
		c.State = delivery.StateFlushing
	}
	if c.GC.OutboundBuffered() == 0 {
		s.sent(c)
		return
	}
	l := s.loops[c.LoopIdx]
	if c.State == delivery.StateDraining {
		// Flushing first, then lingering: remembered by readDeadline 0
		// until sent.
		c.State = delivery.StateFlushing
		c.Unsent = -1 - int32(min(c.GC.OutboundBuffered(), 1<<30))
	} else {
		c.Unsent = int32(min(c.GC.OutboundBuffered(), 1<<30))
	}
	s.armReadDeadline(l, c)
	l.Wheel.Schedule(c, l.Wheel.Tick()+1)
}

// sent finishes closeWhenSent once gnet holds nothing unsent for c: a plain
// close, or the lingering one (c.state is stateDraining).
func (s *Node) sent(c *delivery.Conn) {
	if c.State != delivery.StateDraining {
		c.State = delivery.StateClosing
		_ = c.GC.Close()
		return
	}
	l := s.loops[c.LoopIdx]
	_ = unix.Shutdown(c.GC.Fd(), unix.SHUT_WR)
	c.ReadDeadline = int32(s.ticksAfter(lingerDelay))
	l.Wheel.Schedule(c, int64(c.ReadDeadline))
}

// checkUnsent is the tick's look at a paused or flushing connection: progress
// (fewer bytes unsent than at the last look) re-arms its deadline. It reports
// whether the connection still waits for gnet to write.
func (s *Node) checkUnsent(l *delivery.Loop, c *delivery.Conn, now int64) bool {
	n := int32(min(c.GC.OutboundBuffered(), 1<<30))
	last, lingering := c.Unsent, false
	if last < 0 { // flushing before a lingering close
		last, lingering = -1-last, true
	}
	if c.State == delivery.StateFlushing && n == 0 {
		if lingering {
			c.State = delivery.StateDraining
		}
		s.sent(c)
		return false
	}
	if n < last {
		s.armReadDeadline(l, c)
	} else if now >= int64(c.ReadDeadline) {
		c.State = delivery.StateClosing
		_ = c.GC.Close()
		return false
	}
	if lingering {
		n = -1 - n
	}
	c.Unsent = n
	return true
}

// route is where a request goes.
type route uint8

const (
	routeNotFound route = iota
	routeConnect
	routeAPI
	routeHealth
	routeMetrics
)

func (s *Node) routeOf(c *delivery.Conn, path []byte) (route, api.Method) {
	o := &s.opts
	external := !c.Internal
	serveInternal := s.internalPort == 0 || c.Internal
	if external && o.UniSSE.Enabled && string(path) == o.UniSSE.HandlerPrefix {
		return routeConnect, api.MethodUnknown
	}
	if serveInternal || o.HTTPAPI.External {
		if m := api.Route(o.HTTPAPI.HandlerPrefix, path); m != api.MethodUnknown {
			return routeAPI, m
		}
	}
	if serveInternal {
		if o.Health.Enabled && string(path) == o.Health.HandlerPrefix {
			return routeHealth, api.MethodUnknown
		}
		if o.Prometheus.Enabled && string(path) == o.Prometheus.HandlerPrefix {
			return routeMetrics, api.MethodUnknown
		}
	}
	return routeNotFound, api.MethodUnknown
}

// serveRequest serves the parsed request whose head is buf[:headLen]. It
// returns how many bytes of buf the request took once served (the connection
// is ready for the next request if still stateReading), or need > 0: the
// length buf must reach before the body is all here (nothing was served).
func (s *Node) serveRequest(c *delivery.Conn, req *httpparse.Request, buf []byte, headLen int) (consumed, need int) {
	l := s.loops[c.LoopIdx]
	rt, method := s.routeOf(c, req.Path())
	if status := s.refusalFromHead(l, req, rt); status != 0 {
		// Answered from the head alone, before a body byte is read, as
		// Centrifugo's handlers reject before decoding.
		return s.refuse(c, req, buf, headLen, status), 0
	}
	if rt == routeConnect {
		if !l.TakeConnectTurn(c) {
			return 0, 0 // served in a later slice (delivery.Loop.TakeConnectTurn)
		}
	}

	bodyLimit := s.opts.Own.APIMaxRequestBodySize
	if rt == routeConnect {
		bodyLimit = s.opts.UniSSE.MaxRequestBodySize
	}
	var cr httpwrite.CORS
	if rt == routeConnect {
		s.checkOrigin(l, req, &cr)
	}
	body, bodyLen, need := s.readBody(c, req, buf, headLen, bodyLimit, &cr, rt == routeConnect)
	if need != 0 {
		if rt == routeConnect {
			l.ReturnConnectTurn() // not served yet
		}
		return 0, max(need, 0)
	}
	consumed = headLen + bodyLen
	keepAlive := req.KeepAlive()

	switch rt {
	case routeConnect:
		if !s.admitConnect(c) {
			// As Centrifugo's ConnLimit middleware, which runs before CORS:
			// 503, no body, no CORS headers; the connection stays usable.
			s.logRefusal(c, "connect refused", "", 503, httpReason(503))
			l.Out = httpwrite.AppendEmpty(l.Out[:0], 503, nil, !keepAlive, req.IsHead())
			_ = sendResponse(c, l.Out)
			break
		}
		s.serveConnect(c, req, body, &cr)
		if c.State != delivery.StateReading {
			// Streaming (or closing after a failed connect): the request bytes
			// are done with; anything after them is ignored.
			input.Drop(c.GC, &c.In)
			return 0, 0
		}
	case routeAPI:
		if !s.serveAPI(c, req, method, body, keepAlive) {
			return consumed, 0
		}
	case routeHealth:
		status, body := 200, []byte("{}")
		if err := s.unhealthy(); err != nil {
			status, body = 503, healthError(err)
		}
		l.Out = httpwrite.AppendBody(l.Out[:0], status, "application/json", false, body, req.IsHead(), !keepAlive)
		_ = sendResponse(c, l.Out)
	case routeMetrics:
		s.serveMetrics(c, req.IsHead(), keepAlive)
		return consumed, 0
	}
	s.afterServed(c, keepAlive, len(buf) > consumed)
	return consumed, 0
}

// refusalFromHead returns the status of a request that is refused on its
// head alone, 0 if none: a path nothing serves (404, before the API key, as
// Centrifugo's mux), and for the server API a method other than POST (405)
// then a missing or wrong API key (401).
func (s *Node) refusalFromHead(l *delivery.Loop, req *httpparse.Request, rt route) int {
	switch rt {
	case routeNotFound:
		return 404
	case routeAPI:
		if !req.IsPost() {
			return 405
		}
		var keyQuery []byte
		if q, found := httpparse.AppendQuery(l.Tmp[:0], req.RawQuery(), "api_key"); found {
			keyQuery = q
		}
		if !s.api.Authorized(req.Header("X-API-Key"), req.Header("Authorization"), keyQuery) {
			return 401
		}
	}
	return 0
}

// refuse answers a request refused on its head. A body that is already all
// buffered is skipped and the connection kept alive, as net/http skips a small
// unread body; one still arriving is never read: the reply says
// Connection: close and the connection closes after it (lingering, so that
// the unread body does not reset the reply away). It returns the bytes taken.
func (s *Node) refuse(c *delivery.Conn, req *httpparse.Request, buf []byte, headLen, status int) int {
	l := s.loops[c.LoopIdx]
	s.logRefusal(c, "request refused", "", uint32(status), httpReason(status))
	bodyLen, whole := s.bufferedBody(l, req, buf[headLen:])
	keepAlive := whole && req.KeepAlive()
	switch status {
	case 404:
		l.Out = httpwrite.AppendNotFound(l.Out[:0], req.IsHead(), !keepAlive)
	case 405:
		l.Out = httpwrite.AppendEmpty(l.Out[:0], 405, nil, !keepAlive, req.IsHead())
	default:
		l.Out = httpwrite.AppendEmpty(l.Out[:0], status, nil, !keepAlive, false)
	}
	if err := sendResponse(c, l.Out); err != nil {
		return 0
	}
	if !whole {
		s.closeWhenSent(c, true)
		return 0
	}
	consumed := headLen + bodyLen
	s.afterServed(c, keepAlive, len(buf) > consumed)
	return consumed
}

// bufferedBody reports the length of req's body if all of it is in rest.
func (s *Node) bufferedBody(l *delivery.Loop, req *httpparse.Request, rest []byte) (n int, whole bool) {
	switch {
	case req.Chunked():
		_, n, err := httpparse.ChunkedBody(l.Body[:0], rest, s.opts.Own.APIMaxRequestBodySize)
		return n, err == nil
	case req.ContentLength() > 0:
		return int(req.ContentLength()), req.ContentLength() <= int64(len(rest))
	}
	return 0, true
}

// admitConnect applies client.connection_rate_limit and
// client.connection_limit to a request for the uni_sse endpoint. On true, c
// may hold a node slot (see limits.Admission). On c's loop.
func (s *Node) admitConnect(c *delivery.Conn) bool {
	if s.admit == nil {
		return true
	}
	ok, slot := s.admit.Admit(time.Now())
	c.NodeSlot = slot
	return ok
}

// releaseNodeSlot gives back c's client.connection_limit slot, if it holds
// one. On c's loop.
func (s *Node) releaseNodeSlot(c *delivery.Conn) {
	if c.NodeSlot {
		c.NodeSlot = false
		s.admit.Release()
	}
}

// afterResponse re-arms a keep-alive connection for its next request or closes
// it once its response is sent. It reports whether the connection is ready
// for the next request.
func (s *Node) afterResponse(c *delivery.Conn, keepAlive bool) bool {
	return s.afterServed(c, keepAlive, input.Buffered(c.GC, c.In) > 0)
}

// afterServed is afterResponse for a caller that knows whether input follows
// the request (unread: closing must then linger).
func (s *Node) afterServed(c *delivery.Conn, keepAlive, unread bool) bool {
	if c.State != delivery.StateReading {
		return false
	}
	// A connect answered without a stream (400, 405, an HTTP-mapped refusal)
	// gives its client.connection_limit slot back here; a stream keeps it
	// until OnClose.
	s.releaseNodeSlot(c)
	if !keepAlive {
		s.closeWhenSent(c, unread)
		return false
	}
	s.armReadDeadline(s.loops[c.LoopIdx], c)
	return true
}

// readBody returns the request body once it is all buffered. need != 0 means
// the caller must stop: need > 0 is the length buf must reach for the body to
// be all here (the connection stays in stateReading and OnTraffic calls
// again), need < 0 that an error response was sent.
func (s *Node) readBody(c *delivery.Conn, req *httpparse.Request, buf []byte, headLen, limit int, cr *httpwrite.CORS, connect bool) (body []byte, consumed, need int) {
	l := s.loops[c.LoopIdx]
	rest := buf[headLen:]
	tooLarge := func() {
		// As Go's MaxBytesReader path in Centrifugo: 413, empty body,
		// Connection: close (CORS headers on the connect endpoint).
		var cp *httpwrite.CORS
		msg := "request refused"
		if connect {
			cp = cr
			msg = "connect refused"
		}
		s.logRefusal(c, msg, "", 413, httpReason(413))
		l.Out = httpwrite.AppendEmpty(l.Out[:0], 413, cp, true, false)
		if err := sendResponse(c, l.Out); err == nil {
			s.closeWhenSent(c, true)
		}
	}
	switch {
	case req.Chunked():
		b, n, err := httpparse.ChunkedBody(l.Body[:0], rest, limit)
		switch {
		case errors.Is(err, httpparse.ErrIncomplete):
			if len(buf) > s.maxBuffered() {
				tooLarge()
				return nil, 0, -1
			}
			return nil, 0, len(buf) + 1
		case errors.Is(err, httpparse.ErrBodyTooLarge):
			tooLarge()
			return nil, 0, -1
		case err != nil:
			s.protocolError(c, err)
			return nil, 0, -1
		}
		l.Body = b
		return b, n, 0
	case req.ContentLength() > 0:
		n := req.ContentLength()
		if n > int64(limit) {
			tooLarge()
			return nil, 0, -1
		}
		if int64(len(rest)) < n {
			return nil, 0, headLen + int(n) // wait for the rest of the body
		}
		return rest[:n], int(n), 0
	}
	return nil, 0, 0
}

// checkOrigin applies client.allowed_origins to the request's Origin.
func (s *Node) checkOrigin(l *delivery.Loop, req *httpparse.Request, cr *httpwrite.CORS) {
	origin := req.Header("Origin")
	cr.Origin = origin
	switch {
	case origin == nil:
		cr.Allowed = true // no Origin: not a cross-origin browser request
	case s.anyOrig:
		cr.Allowed = true
	default:
		l.Tmp = appendLower(l.Tmp[:0], origin)
		o := bytesconv.UnsafeString(l.Tmp)
		for _, g := range s.origins {
			if g.Match(o) {
				cr.Allowed = true
				break
			}
		}
	}
	if cr.Allowed {
		if h := req.Header("Access-Control-Request-Headers"); len(h) > 0 && string(h) != "null" {
			cr.AllowHeaders = h
		}
	}
}

func appendLower(dst, src []byte) []byte {
	for _, b := range src {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}

// sendResponse writes a complete response built at the start of out. Go's
// net/http answers an HTTP/1.0 request with an HTTP/1.0 status line; every
// httpwrite builder writes "HTTP/1.1", so the minor version is patched in place.
func sendResponse(c *delivery.Conn, out []byte) error {
	httpwrite.FixProto(out, c.HTTP10)
	_, err := c.GC.Write(out)
	return err
}

// unhealthy reports why the node cannot serve fully, nil when it can: it is
// stopping (from Server.Stop until the loops stop: the shutdown window,
// while streams are being ended, so that a load balancer probing over a
// kept-alive connection drains the node), or its broker
// (broker.HealthChecker) is cut off. A separate presence manager is
// not asked: the Redis one reports the health of PUB/SUB connections, which
// only a broker that is Run has (a presence-only instance would look down
// for ever), and presence calls fail on their own while Redis is away.
func (s *Node) unhealthy() error {
	if s.Stopping() {
		return errShuttingDown
	}
	if h, ok := s.broker.(broker.HealthChecker); ok {
		return h.Healthy()
	}
	return nil
}

// errShuttingDown is /health's reason while the node stops.
var errShuttingDown = errors.New("shutting down")

// healthError is /health's 503 body: {"error":"<reason>"}. Centrifugo's
// /health always answers 200 {}; unisse tells a load balancer that the
// node cannot deliver (see README "Differences").
func healthError(err error) []byte {
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{err.Error()})
	return b
}
