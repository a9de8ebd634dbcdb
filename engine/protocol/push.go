package protocol

import (
	"slices"
	"strconv"
)

// Publication is the "pub" body of a push. Field order on the wire is
// Centrifugo's: data, info, offset, tags, epoch (other fields are never set for
// unidirectional clients).
type Publication struct {
	Data   []byte // raw JSON; CR and LF bytes are dropped when encoded (AppendRawJSON)
	Info   []byte // raw ClientInfo JSON; only for client-side publishes (never from the API)
	Offset uint64 // 0 for channels without history
	Tags   map[string]string
	Epoch  string // set only on the publication with offset 1, as Centrifugo does
}

// AppendPublication appends the JSON object of p.
func AppendPublication(dst []byte, p *Publication) []byte {
	dst = append(dst, `{"data":`...)
	dst = AppendRawJSON(dst, p.Data)
	if len(p.Info) > 0 {
		dst = append(dst, `,"info":`...)
		dst = AppendRawJSON(dst, p.Info)
	}
	if p.Offset > 0 {
		dst = append(dst, `,"offset":`...)
		dst = appendUint(dst, p.Offset)
	}
	if len(p.Tags) > 0 {
		dst = append(dst, `,"tags":`...)
		dst = AppendStringMap(dst, p.Tags)
	}
	if p.Epoch != "" {
		dst = append(dst, `,"epoch":`...)
		dst = AppendString(dst, p.Epoch)
	}
	return append(dst, '}')
}

// AppendStringMap appends m as a JSON object with keys in sorted order (a
// deterministic choice; Centrifugo's order is Go map order, i.e. unspecified).
// Up to 16 keys are sorted on the stack, so the common case allocates nothing.
// The sort is O(n log n): tags come from API bodies of up to 16 MiB, and a
// quadratic sort of a million keys would stall the event loop that encodes them.
func AppendStringMap(dst []byte, m map[string]string) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k)
		dst = append(dst, ':')
		dst = AppendString(dst, m[k])
	}
	return append(dst, '}')
}

// AppendPublicationPush appends {"channel":…,"pub":{…}}.
func AppendPublicationPush(dst []byte, channel string, p *Publication) []byte {
	dst = appendChannel(dst, channel)
	dst = append(dst, `"pub":`...)
	dst = AppendPublication(dst, p)
	return append(dst, '}')
}

// appendChannel opens a push object and writes its channel field when set.
func appendChannel(dst []byte, channel string) []byte {
	dst = append(dst, '{')
	if channel != "" {
		dst = append(dst, `"channel":`...)
		dst = AppendString(dst, channel)
		dst = append(dst, ',')
	}
	return dst
}

// AppendDisconnectPush appends {"disconnect":{"code":…,"reason":…}}; reason is
// omitted when empty and "reconnect" is never sent, as in Centrifugo.
func AppendDisconnectPush(dst []byte, d Disconnect) []byte {
	dst = append(dst, `{"disconnect":{"code":`...)
	dst = strconv.AppendUint(dst, uint64(d.Code), 10)
	if d.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = AppendString(dst, d.Reason)
	}
	return append(dst, '}', '}')
}

// AppendUnsubscribePush appends {"channel":…,"unsubscribe":{"code":…,"reason":…}}.
// channel may be empty: Centrifugo then sends a channel-less push.
func AppendUnsubscribePush(dst []byte, channel string, code uint32, reason string) []byte {
	dst = appendChannel(dst, channel)
	dst = append(dst, `"unsubscribe":{"code":`...)
	dst = strconv.AppendUint(dst, uint64(code), 10)
	if reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = AppendString(dst, reason)
	}
	return append(dst, '}', '}')
}

// Unsubscribe codes.
const (
	UnsubscribeServer = 2000 // "server unsubscribe"
)

// AppendSubscribePush appends {"channel":…,"subscribe":{…}}, the push a
// server-side subscribe (API subscribe) sends. Its body has the fields of a
// subscribe result that apply — recoverable, epoch, offset, positioned, data —
// in the same order, so it is encoded as one.
func AppendSubscribePush(dst []byte, channel string, s *SubscribeResult) []byte {
	dst = appendChannel(dst, channel)
	dst = append(dst, `"subscribe":`...)
	dst = AppendSubscribeResult(dst, s)
	return append(dst, '}')
}

// AppendRefreshPush appends {"refresh":{"expires":…,"ttl":…}}.
func AppendRefreshPush(dst []byte, expires bool, ttl uint32) []byte {
	dst = append(dst, `{"refresh":{`...)
	o := objWriter{dst: dst}
	if expires {
		o.raw("expires", "true")
	}
	if ttl > 0 {
		o.uint("ttl", uint64(ttl))
	}
	return append(o.dst, '}', '}')
}

// ClientInfo describes a connection in join/leave pushes and presence.
type ClientInfo struct {
	User     string
	Client   string
	ConnInfo []byte // raw JSON; CR and LF dropped when encoded
	ChanInfo []byte // raw JSON; CR and LF dropped when encoded
}

// AppendClientInfo appends {"user":…,"client":…,"conn_info":…,"chan_info":…};
// user and client are always present, the infos only when set.
func AppendClientInfo(dst []byte, ci *ClientInfo) []byte {
	dst = append(dst, `{"user":`...)
	dst = AppendString(dst, ci.User)
	dst = append(dst, `,"client":`...)
	dst = AppendString(dst, ci.Client)
	if len(ci.ConnInfo) > 0 {
		dst = append(dst, `,"conn_info":`...)
		dst = AppendRawJSON(dst, ci.ConnInfo)
	}
	if len(ci.ChanInfo) > 0 {
		dst = append(dst, `,"chan_info":`...)
		dst = AppendRawJSON(dst, ci.ChanInfo)
	}
	return append(dst, '}')
}

// AppendJoinPush appends {"channel":…,"join":{"info":{…}}}.
func AppendJoinPush(dst []byte, channel string, ci *ClientInfo) []byte {
	dst = appendChannel(dst, channel)
	dst = append(dst, `"join":{"info":`...)
	dst = AppendClientInfo(dst, ci)
	return append(dst, '}', '}')
}

// AppendLeavePush appends {"channel":…,"leave":{"info":{…}}}.
func AppendLeavePush(dst []byte, channel string, ci *ClientInfo) []byte {
	dst = appendChannel(dst, channel)
	dst = append(dst, `"leave":{"info":`...)
	dst = AppendClientInfo(dst, ci)
	return append(dst, '}', '}')
}

// SubscribeResult is one entry of the connect push "subs" map.
type SubscribeResult struct {
	Expires       bool
	TTL           uint32
	Recoverable   bool
	Epoch         string
	Publications  []Publication
	Recovered     bool
	Offset        uint64
	Positioned    bool
	Data          []byte // raw JSON; CR and LF dropped when encoded
	WasRecovering bool
}

// ChannelResult pairs a channel with its subscribe result; the connect push
// lists them in slice order (Centrifugo's order is Go map order, i.e. random).
type ChannelResult struct {
	Channel string
	Result  SubscribeResult
}

// ConnectResult is the body of the connect push.
type ConnectResult struct {
	Client  [16]byte
	Version string
	Data    []byte // raw JSON, CR and LF dropped when encoded; only from a connect proxy
	Subs    []ChannelResult
	Expires bool
	TTL     uint32
	Ping    uint32
	Session [16]byte
	Time    int64 // Unix ms; 0 = omitted
}

// AppendConnectPush appends {"connect":{…}} with Centrifugo's field order:
// client, version, data, subs, expires, ttl, ping, session, time.
func AppendConnectPush(dst []byte, r *ConnectResult) []byte {
	dst = append(dst, `{"connect":{"client":"`...)
	dst = AppendUUID(dst, r.Client)
	dst = append(dst, `","version":`...)
	dst = AppendString(dst, r.Version)
	o := objWriter{dst: dst, n: 2}
	if len(r.Data) > 0 {
		o.rawBytes("data", r.Data)
	}
	if len(r.Subs) > 0 {
		o.key("subs")
		o.dst = append(o.dst, '{')
		for i := range r.Subs {
			if i > 0 {
				o.dst = append(o.dst, ',')
			}
			o.dst = AppendString(o.dst, r.Subs[i].Channel)
			o.dst = append(o.dst, ':')
			o.dst = AppendSubscribeResult(o.dst, &r.Subs[i].Result)
		}
		o.dst = append(o.dst, '}')
	}
	if r.Expires {
		o.raw("expires", "true")
	}
	if r.TTL > 0 {
		o.uint("ttl", uint64(r.TTL))
	}
	if r.Ping > 0 {
		o.uint("ping", uint64(r.Ping))
	}
	o.key("session")
	o.dst = append(o.dst, '"')
	o.dst = AppendUUID(o.dst, r.Session)
	o.dst = append(o.dst, '"')
	if r.Time > 0 {
		o.key("time")
		o.dst = strconv.AppendInt(o.dst, r.Time, 10)
	}
	return append(o.dst, '}', '}')
}

// AppendSubscribeResult appends one subscribe result object with Centrifugo's
// field order: expires, ttl, recoverable, epoch, publications, recovered,
// offset, positioned, data, was_recovering.
func AppendSubscribeResult(dst []byte, s *SubscribeResult) []byte {
	dst = append(dst, '{')
	o := objWriter{dst: dst}
	if s.Expires {
		o.raw("expires", "true")
	}
	if s.TTL > 0 {
		o.uint("ttl", uint64(s.TTL))
	}
	if s.Recoverable {
		o.raw("recoverable", "true")
	}
	if s.Epoch != "" {
		o.str("epoch", s.Epoch)
	}
	if len(s.Publications) > 0 {
		o.key("publications")
		o.dst = append(o.dst, '[')
		for i := range s.Publications {
			if i > 0 {
				o.dst = append(o.dst, ',')
			}
			o.dst = AppendPublication(o.dst, &s.Publications[i])
		}
		o.dst = append(o.dst, ']')
	}
	if s.Recovered {
		o.raw("recovered", "true")
	}
	if s.Offset > 0 {
		o.uint("offset", s.Offset)
	}
	if s.Positioned {
		o.raw("positioned", "true")
	}
	if len(s.Data) > 0 {
		o.rawBytes("data", s.Data)
	}
	if s.WasRecovering {
		o.raw("was_recovering", "true")
	}
	return append(o.dst, '}')
}

// PingPush is the body of a ping: an empty push.
const PingPush = "{}"

// objWriter writes the fields of a JSON object whose opening brace is already
// written, inserting commas between fields.
type objWriter struct {
	dst []byte
	n   int // fields written so far
}

func (o *objWriter) key(k string) {
	if o.n > 0 {
		o.dst = append(o.dst, ',')
	}
	o.n++
	o.dst = appendKey(o.dst, k)
}

func (o *objWriter) raw(k, v string) {
	o.key(k)
	o.dst = append(o.dst, v...)
}

// rawBytes writes a raw JSON value (subscribe or connect data): without CR
// and LF, as every raw value in a push.
func (o *objWriter) rawBytes(k string, v []byte) {
	o.key(k)
	o.dst = AppendRawJSON(o.dst, v)
}

func (o *objWriter) str(k, v string) {
	o.key(k)
	o.dst = AppendString(o.dst, v)
}

func (o *objWriter) uint(k string, v uint64) {
	o.key(k)
	o.dst = strconv.AppendUint(o.dst, v, 10)
}
