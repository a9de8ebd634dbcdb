package natsbroker

import (
	"encoding/json"
	"fmt"
	"time"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/clientinfo"
)

// epochTag is the tag under which Centrifugo's NATS broker carries a
// publication's epoch when it publishes one with a stream position
// (PublishWithStreamPosition, used by its pg-stream and Redis+NATS brokers).
// It is stripped before delivery, as Centrifugo does.
const epochTag = "__centrifugo_epoch"

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
		ci, err := clientinfo.FromJSON(pub.Info)
		if err != nil {
			return nil, fmt.Errorf("natsbroker: %w", err)
		}
		push.Pub.Info = ci
	}
	return push.MarshalVT()
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
		clientinfo.FromProto(push.Join.Info, info)
		return pushJoin, nil
	case push.Leave != nil && push.Leave.Info != nil:
		clientinfo.FromProto(push.Leave.Info, info)
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
		Info:   clientinfo.ToJSON(p.Info),
		// The wire has no JSON flag (Centrifugo has none either): data that
		// is not a JSON document came from b64data.
		NotJSON: !json.Valid(p.Data),
	}
	return pushPublication, nil
}
