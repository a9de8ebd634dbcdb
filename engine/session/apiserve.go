package session

import (
	"bytes"

	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/httpwrite"
	"github.com/unisse/unisse/httpparse"
)

// serveAPI runs one server API request whose method and API key were
// checked on its head (refusalFromHead). A request that completes without
// waiting (runsInline) runs right here on the loop; everything that waits
// for other loops or the broker runs on a goroutine and the reply comes back
// through AsyncWrite, while later pipelined requests wait in the input
// buffer. It reports whether the reply is already
// written (false: the connection is awaiting an off-loop reply).
func (s *Node) serveAPI(c *delivery.Conn, req *httpparse.Request, m api.Method, body []byte, keepAlive bool) bool {
	l := s.loops[c.LoopIdx]
	transport := bytes.EqualFold(req.Header("X-Centrifugo-Error-Mode"), transportMode)
	if s.runsInline(m) {
		res := s.api.Serve(l.APIOut[:0], m, body, transport)
		l.APIOut = res.Body[:0]
		l.Out = appendAPIResponse(l.Out[:0], res, !keepAlive)
		_ = sendResponse(c, l.Out)
		return true
	}
	// Off the loop: the body must outlive the input buffer.
	bodyCopy := append([]byte(nil), body...)
	http10 := c.HTTP10 // conn fields are read on the loop only
	c.State = delivery.StateAwaiting
	go func() {
		res := s.api.Serve(nil, m, bodyCopy, transport)
		out := appendAPIResponse(nil, res, !keepAlive)
		httpwrite.FixProto(out, http10)
		_ = c.GC.AsyncWrite(out, func(gnet.Conn, error) error {
			s.resume(c, keepAlive)
			return nil
		})
	}()
	return false
}

// runsInline reports whether API method m completes without waiting, so
// that it may run on an event loop: a method that only publishes
// (api.PublishesOnly: it never waits for the loops) on a broker that completes
// publishes inline (the memory broker; a network broker does not).
func (s *Node) runsInline(m api.Method) bool {
	return api.PublishesOnly(m) && s.broker.Inline(broker.OpPublish)
}

// resume continues a connection after an off-loop reply was written: the next
// pipelined request, or close. On c's loop.
func (s *Node) resume(c *delivery.Conn, keepAlive bool) {
	if c.State != delivery.StateAwaiting {
		return // closed meanwhile
	}
	c.State = delivery.StateReading
	if s.afterResponse(c, keepAlive) {
		s.serveInput(c)
	}
}

func appendAPIResponse(dst []byte, r api.Response, closeConn bool) []byte {
	if len(r.Body) == 0 && r.ContentType == "" {
		return httpwrite.AppendEmpty(dst, r.Status, nil, closeConn, false)
	}
	return httpwrite.AppendBody(dst, r.Status, r.ContentType, r.Status == 400 && r.ContentType != "application/json", r.Body, false, closeConn)
}

var transportMode = []byte("transport")
