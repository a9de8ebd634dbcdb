package natsbroker

import (
	"encoding/json"
	"errors"
	"time"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
)

// epochTag is the tag under which Centrifugo's NATS broker carries a
// publication's epoch when it publishes one with a stream position
// (PublishWithStreamPosition, used by its pg-stream and Redis+NATS brokers).
// It is stripped before delivery, as Centrifugo does.
const epochTag = "__centrifugo_epoch"

var errNotClientInfo = errors.New("natsbroker: publication info is not a ClientInfo object")

// encodePublication marshals pub as Centrifugo's NATS broker does: a
// protocol.Push naming the channel and carrying a protocol.Publication
// (data as is, tags, client info, time in Unix milliseconds).
func encodePublication(channel string, pub *broker.Publication) ([]byte, error) {
	push := cproto.Push{
		Channel: channel,
		Pub: &cproto.Publication{
			Data: pub.Data,
			Tags: pub.Tags,
			Time: time.Now().UnixMilli(),
		},
	}
	if len(pub.Info) > 0 {
		var ci cproto.ClientInfo
		if err := json.Unmarshal(pub.Info, &ci); err != nil {
			return nil, errors.Join(errNotClientInfo, err)
		}
		push.Pub.Info = &ci
	}
	return push.MarshalVT()
}

// infoToJSON maps the protobuf ClientInfo to unisse's JSON shape
// ({"user","client","conn_info","chan_info"}, Centrifugo's).
func infoToJSON(ci *cproto.ClientInfo) []byte {
	if ci == nil {
		return nil
	}
	b, err := json.Marshal(ci)
	if err != nil {
		return nil // conn_info/chan_info not JSON: leave the info out
	}
	return b
}

// pushKind is what a decoded push carries.
type pushKind uint8

const (
	pushNone pushKind = iota // nothing unisse delivers
	pushPublication
	pushJoin
	pushLeave
)

// decode parses a push: a publication into pub and sp, a join or leave into
// info. pub's and info's slices alias the decoded message, valid until the
// caller returns.
func decode(msg []byte, pub *broker.Publication, sp *broker.StreamPosition, info *broker.ClientInfo) (pushKind, error) {
	var push cproto.Push
	if err := push.UnmarshalVT(msg); err != nil {
		return pushNone, err
	}
	switch {
	case push.Join != nil && push.Join.Info != nil:
		clientInfo(push.Join.Info, info)
		return pushJoin, nil
	case push.Leave != nil && push.Leave.Info != nil:
		clientInfo(push.Leave.Info, info)
		return pushLeave, nil
	}
	p := push.Pub
	if p == nil {
		return pushNone, nil
	}
	*sp = broker.StreamPosition{}
	if p.Offset > 0 && p.Tags != nil {
		sp.Offset, sp.Epoch = p.Offset, p.Tags[epochTag]
	}
	delete(p.Tags, epochTag)
	tags := p.Tags
	if len(tags) == 0 {
		tags = nil
	}
	*pub = broker.Publication{
		Data:   p.Data,
		Tags:   tags,
		Offset: p.Offset,
		Info:   infoToJSON(p.Info),
		// The wire has no JSON flag (Centrifugo has none either): data that
		// is not a JSON document came from b64data.
		NotJSON: !json.Valid(p.Data),
	}
	return pushPublication, nil
}

// clientInfo converts a join's or leave's protobuf ClientInfo; conn_info and
// chan_info that are not JSON are left out (a uni_sse push carries them as
// raw JSON).
func clientInfo(ci *cproto.ClientInfo, info *broker.ClientInfo) {
	*info = broker.ClientInfo{ClientID: ci.Client, UserID: ci.User}
	if len(ci.ConnInfo) > 0 && json.Valid(ci.ConnInfo) {
		info.ConnInfo = ci.ConnInfo
	}
	if len(ci.ChanInfo) > 0 && json.Valid(ci.ChanInfo) {
		info.ChanInfo = ci.ChanInfo
	}
}

func infoProto(info *broker.ClientInfo) *cproto.ClientInfo {
	if info == nil {
		return nil
	}
	ci := &cproto.ClientInfo{Client: info.ClientID, User: info.UserID}
	if len(info.ConnInfo) > 0 {
		ci.ConnInfo = info.ConnInfo
	}
	if len(info.ChanInfo) > 0 {
		ci.ChanInfo = info.ChanInfo
	}
	return ci
}
