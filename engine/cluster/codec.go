package cluster

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// MaxCommandSize bounds a control message Decode accepts. The largest
// Centrifugo sends are survey responses listing every channel of a node
// (about 30 bytes a channel); 64 MiB leaves room for two million channels
// while keeping a hostile message from costing more than a bounded amount of
// memory.
const MaxCommandSize = 64 << 20

// maxFilterDepth bounds the nesting of a label filter: decoding recurses
// once per level, and a hostile message could otherwise nest millions deep
// in a few megabytes.
const maxFilterDepth = 32

// Errors Decode returns (wrapped with where it happened).
var (
	ErrTooLarge  = errors.New("cluster: control message too large")
	ErrMalformed = errors.New("cluster: malformed control message")
)

// Field numbers of control.proto. Centrifuge removed 2 and 3 of Command.
const (
	cmdUID            = 1
	cmdNode           = 4
	cmdUnsubscribe    = 5
	cmdDisconnect     = 6
	cmdShutdown       = 7
	cmdSurveyRequest  = 8
	cmdSurveyResponse = 9
	cmdSubscribe      = 10
	cmdNotification   = 11
	cmdRefresh        = 12
)

// Encode returns c in centrifuge's wire format (proto3, fields in ascending
// order as centrifuge's vtproto marshaller writes them, so a command without
// a metrics map is byte-for-byte what centrifuge would send).
func Encode(c *Command) []byte {
	return AppendCommand(nil, c)
}

// AppendCommand appends Encode(c) to dst.
func AppendCommand(dst []byte, c *Command) []byte {
	dst = appendString(dst, cmdUID, c.UID)
	if c.Node != nil {
		dst = appendMessage(dst, cmdNode, appendNode(nil, c.Node))
	}
	if c.Unsubscribe != nil {
		dst = appendMessage(dst, cmdUnsubscribe, appendUnsubscribe(nil, c.Unsubscribe))
	}
	if c.Disconnect != nil {
		dst = appendMessage(dst, cmdDisconnect, appendDisconnect(nil, c.Disconnect))
	}
	if c.Shutdown {
		dst = appendMessage(dst, cmdShutdown, nil)
	}
	if c.SurveyRequest != nil {
		r := c.SurveyRequest
		var b []byte
		b = appendUint(b, 1, r.ID)
		b = appendString(b, 2, r.Op)
		b = appendBytes(b, 3, r.Data)
		dst = appendMessage(dst, cmdSurveyRequest, b)
	}
	if c.SurveyResponse != nil {
		r := c.SurveyResponse
		var b []byte
		b = appendUint(b, 1, r.ID)
		b = appendUint(b, 2, uint64(r.Code))
		b = appendBytes(b, 3, r.Data)
		dst = appendMessage(dst, cmdSurveyResponse, b)
	}
	if c.Subscribe != nil {
		dst = appendMessage(dst, cmdSubscribe, appendSubscribe(nil, c.Subscribe))
	}
	if c.Notification != nil {
		var b []byte
		b = appendString(b, 1, c.Notification.Op)
		b = appendBytes(b, 2, c.Notification.Data)
		dst = appendMessage(dst, cmdNotification, b)
	}
	if c.Refresh != nil {
		dst = appendMessage(dst, cmdRefresh, appendRefresh(nil, c.Refresh))
	}
	return dst
}

func appendNode(b []byte, n *Node) []byte {
	b = appendString(b, 1, n.UID)
	b = appendString(b, 2, n.Name)
	b = appendString(b, 3, n.Version)
	b = appendUint(b, 4, uint64(n.NumClients))
	b = appendUint(b, 5, uint64(n.NumUsers))
	b = appendUint(b, 6, uint64(n.NumChannels))
	b = appendUint(b, 7, uint64(n.Uptime))
	if n.Metrics != nil {
		var m []byte
		if n.Metrics.Interval != 0 {
			m = protowire.AppendTag(m, 1, protowire.Fixed64Type)
			m = protowire.AppendFixed64(m, math.Float64bits(n.Metrics.Interval))
		}
		for k, v := range n.Metrics.Items {
			// A map entry always carries its key and value, as
			// centrifuge writes them.
			e := protowire.AppendTag(nil, 1, protowire.BytesType)
			e = protowire.AppendString(e, k)
			e = protowire.AppendTag(e, 2, protowire.Fixed64Type)
			e = protowire.AppendFixed64(e, math.Float64bits(v))
			m = appendMessage(m, 2, e)
		}
		b = appendMessage(b, 8, m)
	}
	b = appendBytes(b, 9, n.Data)
	b = appendUint(b, 10, uint64(n.NumSubs))
	return b
}

func appendSubscribe(b []byte, s *Subscribe) []byte {
	b = appendString(b, 1, s.User)
	b = appendString(b, 2, s.Channel)
	b = appendBool(b, 3, s.EmitPresence)
	b = appendBool(b, 4, s.EmitJoinLeave)
	b = appendUint(b, 5, uint64(s.ExpireAt))
	b = appendBool(b, 6, s.Position)
	b = appendBool(b, 7, s.Recover)
	b = appendBytes(b, 8, s.ChannelInfo)
	b = appendString(b, 9, s.Client)
	b = appendBytes(b, 10, s.Data)
	if s.RecoverSince != nil {
		var p []byte
		p = appendUint(p, 1, s.RecoverSince.Offset)
		p = appendString(p, 2, s.RecoverSince.Epoch)
		b = appendMessage(b, 11, p)
	}
	b = appendString(b, 12, s.Session)
	b = appendBool(b, 13, s.PushJoinLeave)
	b = appendUint(b, 14, uint64(s.Source))
	b = appendFilter(b, 15, s.LabelFilter)
	b = appendBool(b, 16, s.AllUsers)
	return b
}

func appendUnsubscribe(b []byte, u *Unsubscribe) []byte {
	b = appendString(b, 1, u.Channel)
	b = appendString(b, 2, u.User)
	b = appendString(b, 3, u.Client)
	b = appendString(b, 4, u.Session)
	b = appendUint(b, 5, uint64(u.Code))
	b = appendString(b, 6, u.Reason)
	b = appendFilter(b, 7, u.LabelFilter)
	b = appendBool(b, 8, u.AllUsers)
	return b
}

func appendDisconnect(b []byte, d *Disconnect) []byte {
	b = appendString(b, 1, d.User)
	for _, w := range d.Whitelist {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, w)
	}
	b = appendUint(b, 3, uint64(d.Code))
	b = appendString(b, 4, d.Reason)
	b = appendBool(b, 5, d.Reconnect)
	b = appendString(b, 6, d.Client)
	b = appendString(b, 7, d.Session)
	b = appendFilter(b, 8, d.LabelFilter)
	b = appendBool(b, 9, d.AllUsers)
	return b
}

func appendRefresh(b []byte, r *Refresh) []byte {
	b = appendString(b, 1, r.User)
	b = appendString(b, 2, r.Client)
	b = appendBool(b, 3, r.Expired)
	b = appendUint(b, 4, uint64(r.ExpireAt))
	b = appendBytes(b, 5, r.Info)
	b = appendString(b, 6, r.Session)
	b = appendFilter(b, 7, r.LabelFilter)
	b = appendBool(b, 8, r.AllUsers)
	return b
}

func appendFilter(b []byte, num protowire.Number, f *FilterNode) []byte {
	if f == nil {
		return b
	}
	var m []byte
	m = appendString(m, 1, f.Op)
	m = appendString(m, 2, f.Key)
	m = appendString(m, 3, f.Cmp)
	m = appendString(m, 4, f.Val)
	for _, v := range f.Vals {
		m = protowire.AppendTag(m, 5, protowire.BytesType)
		m = protowire.AppendString(m, v)
	}
	for _, n := range f.Nodes {
		if n == nil {
			n = &FilterNode{} // a nil child is encoded as an empty one
		}
		m = appendFilter(m, 6, n)
	}
	return appendMessage(b, num, m)
}

// Proto3 omits zero scalars; a present sub-message is written even when
// empty (that is how Shutdown is sent at all).

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

// field is one decoded field: for VarintType and Fixed*Type the value is in
// u, for BytesType in b (aliasing the input).
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// eachField calls fn for every field of the message in data, skipping
// groups (a deprecated wire type no control message uses) and stopping at
// the first error.
func eachField(data []byte, fn func(f *field) error) error {
	var f field
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%w: tag: %w", ErrMalformed, protowire.ParseError(n))
		}
		data = data[n:]
		f = field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(data)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(data)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(data)
			f.u = uint64(v)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(data)
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
			if n < 0 {
				return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
			}
			data = data[n:]
			continue
		}
		if n < 0 {
			return fmt.Errorf("%w: field %d: %w", ErrMalformed, num, protowire.ParseError(n))
		}
		data = data[n:]
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}

// The accessors check the wire type of a known field: a mismatch means the
// sender speaks another schema, which centrifuge's decoder rejects too.

func (f *field) wrongType() error {
	return fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, f.num, f.typ)
}

func (f *field) str(dst *string) error {
	if f.typ != protowire.BytesType {
		return f.wrongType()
	}
	*dst = string(f.b)
	return nil
}

// bytes copies: the broker may reuse its buffer after HandleControl returns,
// and a handler may keep what it was given.
func (f *field) bytes(dst *[]byte) error {
	if f.typ != protowire.BytesType {
		return f.wrongType()
	}
	if len(f.b) == 0 {
		*dst = nil
	} else {
		*dst = append([]byte(nil), f.b...)
	}
	return nil
}

func (f *field) uint64(dst *uint64) error {
	if f.typ != protowire.VarintType {
		return f.wrongType()
	}
	*dst = f.u
	return nil
}

func (f *field) uint32(dst *uint32) error {
	if f.typ != protowire.VarintType {
		return f.wrongType()
	}
	*dst = uint32(f.u) // proto truncates a wider varint
	return nil
}

func (f *field) int64(dst *int64) error {
	if f.typ != protowire.VarintType {
		return f.wrongType()
	}
	*dst = int64(f.u)
	return nil
}

func (f *field) bool(dst *bool) error {
	if f.typ != protowire.VarintType {
		return f.wrongType()
	}
	*dst = f.u != 0
	return nil
}

func (f *field) double(dst *float64) error {
	if f.typ != protowire.Fixed64Type {
		return f.wrongType()
	}
	*dst = math.Float64frombits(f.u)
	return nil
}

func (f *field) message(fn func(f *field) error) error {
	if f.typ != protowire.BytesType {
		return f.wrongType()
	}
	return eachField(f.b, fn)
}

// Decode parses a control message. It never panics: malformed input, a
// known field with the wrong wire type, or input over MaxCommandSize is an
// error wrapping ErrMalformed or ErrTooLarge. Unknown fields are skipped so
// that newer centrifuge versions can add fields. A sub-message that appears
// twice is merged, as proto3 requires.
func Decode(data []byte) (*Command, error) {
	if len(data) > MaxCommandSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	c := &Command{}
	err := eachField(data, func(f *field) error {
		switch f.num {
		case cmdUID:
			return f.str(&c.UID)
		case cmdNode:
			if c.Node == nil {
				c.Node = &Node{}
			}
			return f.message(c.Node.field)
		case cmdUnsubscribe:
			if c.Unsubscribe == nil {
				c.Unsubscribe = &Unsubscribe{}
			}
			return f.message(c.Unsubscribe.field)
		case cmdDisconnect:
			if c.Disconnect == nil {
				c.Disconnect = &Disconnect{}
			}
			return f.message(c.Disconnect.field)
		case cmdShutdown:
			c.Shutdown = true
			return f.message(func(*field) error { return nil })
		case cmdSurveyRequest:
			if c.SurveyRequest == nil {
				c.SurveyRequest = &SurveyRequest{}
			}
			r := c.SurveyRequest
			return f.message(func(f *field) error {
				switch f.num {
				case 1:
					return f.uint64(&r.ID)
				case 2:
					return f.str(&r.Op)
				case 3:
					return f.bytes(&r.Data)
				}
				return nil
			})
		case cmdSurveyResponse:
			if c.SurveyResponse == nil {
				c.SurveyResponse = &SurveyResponse{}
			}
			r := c.SurveyResponse
			return f.message(func(f *field) error {
				switch f.num {
				case 1:
					return f.uint64(&r.ID)
				case 2:
					return f.uint32(&r.Code)
				case 3:
					return f.bytes(&r.Data)
				}
				return nil
			})
		case cmdSubscribe:
			if c.Subscribe == nil {
				c.Subscribe = &Subscribe{}
			}
			return f.message(c.Subscribe.field)
		case cmdNotification:
			if c.Notification == nil {
				c.Notification = &Notification{}
			}
			n := c.Notification
			return f.message(func(f *field) error {
				switch f.num {
				case 1:
					return f.str(&n.Op)
				case 2:
					return f.bytes(&n.Data)
				}
				return nil
			})
		case cmdRefresh:
			if c.Refresh == nil {
				c.Refresh = &Refresh{}
			}
			return f.message(c.Refresh.field)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (n *Node) field(f *field) error {
	switch f.num {
	case 1:
		return f.str(&n.UID)
	case 2:
		return f.str(&n.Name)
	case 3:
		return f.str(&n.Version)
	case 4:
		return f.uint32(&n.NumClients)
	case 5:
		return f.uint32(&n.NumUsers)
	case 6:
		return f.uint32(&n.NumChannels)
	case 7:
		return f.uint32(&n.Uptime)
	case 8:
		if n.Metrics == nil {
			n.Metrics = &Metrics{}
		}
		return f.message(n.Metrics.field)
	case 9:
		return f.bytes(&n.Data)
	case 10:
		return f.uint32(&n.NumSubs)
	}
	return nil
}

func (m *Metrics) field(f *field) error {
	switch f.num {
	case 1:
		return f.double(&m.Interval)
	case 2:
		var k string
		var v float64
		err := f.message(func(f *field) error {
			switch f.num {
			case 1:
				return f.str(&k)
			case 2:
				return f.double(&v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if m.Items == nil {
			m.Items = make(map[string]float64)
		}
		m.Items[k] = v
	}
	return nil
}

func (s *Subscribe) field(f *field) error {
	switch f.num {
	case 1:
		return f.str(&s.User)
	case 2:
		return f.str(&s.Channel)
	case 3:
		return f.bool(&s.EmitPresence)
	case 4:
		return f.bool(&s.EmitJoinLeave)
	case 5:
		return f.int64(&s.ExpireAt)
	case 6:
		return f.bool(&s.Position)
	case 7:
		return f.bool(&s.Recover)
	case 8:
		return f.bytes(&s.ChannelInfo)
	case 9:
		return f.str(&s.Client)
	case 10:
		return f.bytes(&s.Data)
	case 11:
		if s.RecoverSince == nil {
			s.RecoverSince = &StreamPosition{}
		}
		p := s.RecoverSince
		return f.message(func(f *field) error {
			switch f.num {
			case 1:
				return f.uint64(&p.Offset)
			case 2:
				return f.str(&p.Epoch)
			}
			return nil
		})
	case 12:
		return f.str(&s.Session)
	case 13:
		return f.bool(&s.PushJoinLeave)
	case 14:
		return f.uint32(&s.Source)
	case 15:
		return decodeFilter(f, &s.LabelFilter, 0)
	case 16:
		return f.bool(&s.AllUsers)
	}
	return nil
}

func (u *Unsubscribe) field(f *field) error {
	switch f.num {
	case 1:
		return f.str(&u.Channel)
	case 2:
		return f.str(&u.User)
	case 3:
		return f.str(&u.Client)
	case 4:
		return f.str(&u.Session)
	case 5:
		return f.uint32(&u.Code)
	case 6:
		return f.str(&u.Reason)
	case 7:
		return decodeFilter(f, &u.LabelFilter, 0)
	case 8:
		return f.bool(&u.AllUsers)
	}
	return nil
}

func (d *Disconnect) field(f *field) error {
	switch f.num {
	case 1:
		return f.str(&d.User)
	case 2:
		var w string
		if err := f.str(&w); err != nil {
			return err
		}
		d.Whitelist = append(d.Whitelist, w)
	case 3:
		return f.uint32(&d.Code)
	case 4:
		return f.str(&d.Reason)
	case 5:
		return f.bool(&d.Reconnect)
	case 6:
		return f.str(&d.Client)
	case 7:
		return f.str(&d.Session)
	case 8:
		return decodeFilter(f, &d.LabelFilter, 0)
	case 9:
		return f.bool(&d.AllUsers)
	}
	return nil
}

func (r *Refresh) field(f *field) error {
	switch f.num {
	case 1:
		return f.str(&r.User)
	case 2:
		return f.str(&r.Client)
	case 3:
		return f.bool(&r.Expired)
	case 4:
		return f.int64(&r.ExpireAt)
	case 5:
		return f.bytes(&r.Info)
	case 6:
		return f.str(&r.Session)
	case 7:
		return decodeFilter(f, &r.LabelFilter, 0)
	case 8:
		return f.bool(&r.AllUsers)
	}
	return nil
}

// decodeFilter merges the FilterNode in f into *dst (allocating it when
// nil), refusing nesting deeper than maxFilterDepth.
func decodeFilter(f *field, dst **FilterNode, depth int) error {
	if depth >= maxFilterDepth {
		return fmt.Errorf("%w: label filter nested deeper than %d", ErrMalformed, maxFilterDepth)
	}
	if *dst == nil {
		*dst = &FilterNode{}
	}
	n := *dst
	return f.message(func(f *field) error {
		switch f.num {
		case 1:
			return f.str(&n.Op)
		case 2:
			return f.str(&n.Key)
		case 3:
			return f.str(&n.Cmp)
		case 4:
			return f.str(&n.Val)
		case 5:
			var v string
			if err := f.str(&v); err != nil {
				return err
			}
			n.Vals = append(n.Vals, v)
		case 6:
			var child *FilterNode
			if err := decodeFilter(f, &child, depth+1); err != nil {
				return err
			}
			n.Nodes = append(n.Nodes, child)
		}
		return nil
	})
}
