package engine

import (
	"bytes"
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/internal/bytesconv"
	"github.com/unisse/unisse/httpparse"
)

// findHeadEnd returns the length of the request head at the start of buf
// (through the blank line), or -1 and how far it is safe to resume scanning.
// The loop's parser is shared by all its connections, so each connection keeps
// only this resume offset between packets and the full parse runs once, when
// the head is complete.
func findHeadEnd(buf []byte, from int) (end, resume int) {
	for i := from; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1, max(len(buf)-2, 0)
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1, 0
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2, 0
		case i >= len(buf)-1:
			return -1, max(i-1, 0)
		}
	}
}

// skipEmptyLines drops the CRLFs a client may send before a request line
// (RFC 9112 §2.2), so that they are not mistaken for the end of a head.
func skipEmptyLines(c gnet.Conn, buf []byte) []byte {
	n := 0
	for n < len(buf) && (buf[n] == '\r' || buf[n] == '\n') {
		n++
	}
	if n > 0 {
		_, _ = c.Discard(n)
		return buf[n:]
	}
	return buf
}

// earlyCheckWindow is how much of an incomplete head is parsed eagerly to
// reject non-HTTP bytes early.
const earlyCheckWindow = 4096

// serveInput serves every complete request buffered on cs, in order
// (pipelining), until one needs more bytes, goes off the loop, or starts a
// stream. Only on cs's loop.
func (s *Server) serveInput(cs *conn) {
	l := s.loops[cs.loopIdx]
	c := cs.c
	for cs.state == stateReading {
		buf, _ := c.Peek(-1)
		buf = skipEmptyLines(c, buf)
		if len(buf) == 0 {
			return
		}
		headLen, resume := findHeadEnd(buf, int(cs.scanned))
		if headLen < 0 {
			if len(buf) >= s.opts.Unisse.MaxRequestHeadSize {
				s.protocolError(cs, httpparse.ErrHeadTooLarge)
				return
			}
			// Answer what is clearly not HTTP (a TLS ClientHello, an SSH
			// banner) right away, as Go does, instead of waiting for a blank
			// line that never comes. The parser rejects a bad method at its
			// first bytes; the window keeps this O(1) per packet for a head
			// that trickles in.
			if len(buf) <= earlyCheckWindow {
				req := &l.req
				req.Reset()
				if _, err := req.ParseHead(buf, httpparse.Limits{MaxHeadSize: s.opts.Unisse.MaxRequestHeadSize}); err != nil && !errors.Is(err, httpparse.ErrIncomplete) {
					s.protocolError(cs, err)
					return
				}
			}
			cs.scanned = int32(resume)
			return
		}
		cs.scanned = 0
		if headLen > s.opts.Unisse.MaxRequestHeadSize {
			s.protocolError(cs, httpparse.ErrHeadTooLarge)
			return
		}
		req := &l.req
		req.Reset()
		if _, err := req.ParseHead(buf[:headLen], httpparse.Limits{MaxHeadSize: s.opts.Unisse.MaxRequestHeadSize}); err != nil {
			s.protocolError(cs, err)
			return
		}
		cs.http10 = req.ProtoMinor() == 0
		if !s.serveRequest(cs, req, buf, headLen) {
			return
		}
	}
}

// protocolError answers a request we cannot parse the way Go's net/http does,
// and closes.
func (s *Server) protocolError(cs *conn, err error) {
	status := httpparse.Status(err)
	if status == 0 {
		status = 400
	}
	l := s.loops[cs.loopIdx]
	cs.http10 = false // an unparsed request gets Go's HTTP/1.1 error reply
	l.out = appendProtocolError(l.out[:0], status)
	if werr := sendResponse(cs, l.out); werr == nil {
		s.lingerClose(l, cs)
	}
}

// lingerDelay is how long a connection answered with an error keeps draining
// input before it is closed (Go's rstAvoidanceDelay).
const lingerDelay = 500 * time.Millisecond

// lingerClose ends a connection after an error response that may leave
// unread input: it shuts the write side (FIN after the response), discards
// whatever the client still sends, and closes when the client does or after
// lingerDelay. Closing at once with unread bytes would make the kernel send a
// reset, which can destroy the response before the client reads it.
func (s *Server) lingerClose(l *loop, cs *conn) {
	cs.state = stateDraining
	if cs.c.OutboundBuffered() == 0 {
		_ = unix.Shutdown(cs.c.Fd(), unix.SHUT_WR)
	}
	_, _ = cs.c.Discard(-1)
	cs.readDeadline = int32(s.ticksAfter(lingerDelay))
	l.wheel.schedule(cs, int64(cs.readDeadline))
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

func (s *Server) routeOf(cs *conn, path []byte) (route, api.Method) {
	o := &s.opts
	external := !cs.internal
	serveInternal := s.internalPort == 0 || cs.internal
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
// reports whether the connection is ready for the next request now.
func (s *Server) serveRequest(cs *conn, req *httpparse.Request, buf []byte, headLen int) bool {
	l := s.loops[cs.loopIdx]
	rt, method := s.routeOf(cs, req.Path())
	if rt == routeConnect {
		if l.connectsInSlice >= connectsPerSlice {
			l.deferConnect(cs)
			return false
		}
		l.connectsInSlice++
	}

	bodyLimit := s.opts.Unisse.APIMaxRequestBodySize
	if rt == routeConnect {
		bodyLimit = s.opts.UniSSE.MaxRequestBodySize
	}
	var cors cors
	if rt == routeConnect {
		s.checkOrigin(l, req, &cors)
	}
	body, bodyLen, ok := s.readBody(cs, req, buf, headLen, bodyLimit, &cors, rt == routeConnect)
	if !ok {
		return false
	}
	consumed := headLen + bodyLen
	keepAlive := req.KeepAlive()

	switch rt {
	case routeConnect:
		if !s.admitConnect(cs) {
			// As Centrifugo's ConnLimit middleware, which runs before CORS:
			// 503, no body, no CORS headers; the connection stays usable.
			l.out = appendEmptyResponse(l.out[:0], 503, nil, !keepAlive, req.IsHead())
			_ = sendResponse(cs, l.out)
			break
		}
		s.serveConnect(cs, req, body, &cors)
		if cs.state != stateReading {
			// Streaming (or closing after a failed connect): the request bytes
			// are done with; anything after them is ignored.
			_, _ = cs.c.Discard(-1)
			return false
		}
	case routeAPI:
		if !s.serveAPI(cs, req, method, body, keepAlive) {
			_, _ = cs.c.Discard(consumed)
			return false
		}
	case routeHealth:
		l.out = appendBodyResponse(l.out[:0], 200, "application/json", false, []byte("{}"), req.IsHead(), !keepAlive)
		_ = sendResponse(cs, l.out)
	case routeMetrics:
		s.serveMetrics(cs, req.IsHead(), keepAlive)
		_, _ = cs.c.Discard(consumed)
		return false
	default:
		l.out = appendNotFound(l.out[:0], req.IsHead(), !keepAlive)
		_ = sendResponse(cs, l.out)
	}
	_, _ = cs.c.Discard(consumed)
	return s.afterResponse(cs, keepAlive)
}

// admitConnect applies client.connection_rate_limit and
// client.connection_limit to a request for the uni_sse endpoint. On true, cs
// may hold a node slot (see admission). On cs's loop.
func (s *Server) admitConnect(cs *conn) bool {
	if s.admit == nil {
		return true
	}
	ok, slot := s.admit.admit(time.Now())
	cs.nodeSlot = slot
	return ok
}

// releaseNodeSlot gives back cs's client.connection_limit slot, if it holds
// one. On cs's loop.
func (s *Server) releaseNodeSlot(cs *conn) {
	if cs.nodeSlot {
		cs.nodeSlot = false
		s.admit.release()
	}
}

// afterResponse re-arms a keep-alive connection for its next request or closes
// it. It reports whether the connection is ready for the next request.
func (s *Server) afterResponse(cs *conn, keepAlive bool) bool {
	if cs.state != stateReading {
		return false
	}
	// A connect answered without a stream (400, 405, an HTTP-mapped refusal)
	// gives its client.connection_limit slot back here; a stream keeps it
	// until OnClose.
	s.releaseNodeSlot(cs)
	if !keepAlive {
		cs.state = stateClosing
		_ = cs.c.Close()
		return false
	}
	s.armReadDeadline(s.loops[cs.loopIdx], cs)
	return true
}

// readBody returns the request body once it is all buffered. ok=false means
// the caller must stop: either more bytes are needed (the connection stays in
// stateReading and OnTraffic will call again) or an error response was sent.
func (s *Server) readBody(cs *conn, req *httpparse.Request, buf []byte, headLen, limit int, cr *cors, connect bool) (body []byte, consumed int, ok bool) {
	l := s.loops[cs.loopIdx]
	rest := buf[headLen:]
	tooLarge := func() {
		// As Go's MaxBytesReader path in Centrifugo: 413, empty body,
		// Connection: close (CORS headers on the connect endpoint).
		var cp *cors
		if connect {
			cp = cr
		}
		l.out = appendEmptyResponse(l.out[:0], 413, cp, true, false)
		if err := sendResponse(cs, l.out); err == nil {
			s.lingerClose(l, cs)
		}
	}
	switch {
	case req.Chunked():
		b, n, err := httpparse.ChunkedBody(l.body[:0], rest, limit)
		switch {
		case errors.Is(err, httpparse.ErrIncomplete):
			if len(buf) > s.maxBuffered() {
				tooLarge()
			}
			return nil, 0, false
		case errors.Is(err, httpparse.ErrBodyTooLarge):
			tooLarge()
			return nil, 0, false
		case err != nil:
			s.protocolError(cs, err)
			return nil, 0, false
		}
		l.body = b
		return b, n, true
	case req.ContentLength() > 0:
		n := req.ContentLength()
		if n > int64(limit) {
			tooLarge()
			return nil, 0, false
		}
		if int64(len(rest)) < n {
			return nil, 0, false // wait for the rest of the body
		}
		return rest[:n], int(n), true
	}
	return nil, 0, true
}

// checkOrigin applies client.allowed_origins to the request's Origin.
func (s *Server) checkOrigin(l *loop, req *httpparse.Request, c *cors) {
	origin := req.Header("Origin")
	c.origin = origin
	switch {
	case origin == nil:
		c.allowed = true // no Origin: not a cross-origin browser request
	case s.anyOrig:
		c.allowed = true
	default:
		l.tmp = appendLower(l.tmp[:0], origin)
		o := bytesconv.UnsafeString(l.tmp)
		for _, g := range s.origins {
			if g.Match(o) {
				c.allowed = true
				break
			}
		}
	}
	if c.allowed {
		if h := req.Header("Access-Control-Request-Headers"); len(h) > 0 && string(h) != "null" {
			c.allowHeaders = h
		}
	}
}

func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
