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

// decode parses a push into pub and sp; ok is false for a push that
// carries no publication (join, leave: not delivered by unisse yet). pub's
// slices alias the decoded message, valid until the caller returns.
func decode(msg []byte, pub *broker.Publication, sp *broker.StreamPosition) (ok bool, err error) {
	var push cproto.Push
	if err := push.UnmarshalVT(msg); err != nil {
		return false, err
	}
	p := push.Pub
	if p == nil {
		return false, nil
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
	return true, nil
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
