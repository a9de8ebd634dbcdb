package redisbroker

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/clientinfo"
)

// Message framing on PUB/SUB, as centrifuge's:
//
//	publication with history:    "__p1:<offset>:<epoch>__" + protobuf Publication
//	publication without history: protobuf Publication (never starts with "__":
//	                             0x5f is no valid protobuf tag)
//	join / leave:                "__j__" / "__l__" + protobuf ClientInfo
//
// In a stream entry ("d" field) the Publication is stored bare; its offset is
// the entry id ("<offset>-0").
var (
	joinPrefix  = []byte("__j__")
	leavePrefix = []byte("__l__")
)

var errMalformed = errors.New("redisbroker: malformed PUB/SUB message")

// encodePublication marshals pub as centrifuge's protocol.Publication. Data
// is carried as is: Centrifugo's API puts the raw JSON (or the b64data
// bytes, decoded) into Publication.data, so the bytes round-trip unchanged.
func encodePublication(pub *broker.Publication) ([]byte, error) {
	p := cproto.Publication{
		Data: pub.Data,
		Tags: pub.Tags,
		Time: time.Now().UnixMilli(),
	}
	if len(pub.Info) > 0 {
		info, err := clientinfo.FromJSON(pub.Info)
		if err != nil {
			return nil, err
		}
		p.Info = info
	}
	return p.MarshalVT()
}

// pushKind is what a PUB/SUB message carries.
type pushKind uint8

const (
	pushPublication pushKind = iota
	pushJoin
	pushLeave
)

// splitPush parses the framing: the protobuf payload, its kind and, for a
// publication with history, its offset and epoch (aliasing msg).
func splitPush(msg []byte) (payload []byte, kind pushKind, offset uint64, epoch []byte, err error) {
	if !bytes.HasPrefix(msg, []byte("__")) {
		return msg, pushPublication, 0, nil, nil
	}
	switch {
	case bytes.HasPrefix(msg, joinPrefix):
		return msg[len(joinPrefix):], pushJoin, 0, nil, nil
	case bytes.HasPrefix(msg, leavePrefix):
		return msg[len(leavePrefix):], pushLeave, 0, nil, nil
	case bytes.HasPrefix(msg, []byte("__p1:")):
		rest := msg[len("__p1:"):]
		end := bytes.Index(rest, []byte("__"))
		if end < 0 {
			return nil, 0, 0, nil, errMalformed
		}
		header := rest[:end]
		colon := bytes.IndexByte(header, ':')
		if colon <= 0 || colon > 20 {
			return nil, 0, 0, nil, errMalformed
		}
		off, perr := strconv.ParseUint(string(header[:colon]), 10, 64)
		if perr != nil {
			return nil, 0, 0, nil, errMalformed
		}
		return rest[end+2:], pushPublication, off, header[colon+1:], nil
	}
	// "__d1:" (delta) and anything newer: not produced for unisse's
	// channels (no delta), refused rather than misread.
	return nil, 0, 0, nil, errMalformed
}

// decodePublication fills pub from a protobuf Publication. pub's slices
// alias data (and p's), valid while the caller holds them.
func decodePublication(p *cproto.Publication, data []byte, pub *broker.Publication) error {
	// Reuse the worker's buffers: UnmarshalVT appends into Data and fills
	// an existing Tags map.
	buf, tags := p.Data[:0], p.Tags
	clear(tags)
	*p = cproto.Publication{Data: buf, Tags: tags}
	if err := p.UnmarshalVT(data); err != nil {
		return err
	}
	if len(p.Tags) == 0 {
		tags = nil
	} else {
		tags = p.Tags
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
	return nil
}

// decodeClientInfo fills info from a join/leave's protobuf ClientInfo.
// conn_info and chan_info are raw JSON in Centrifugo (the engine writes
// them into pushes as they are): bytes that are not JSON are left out.
func decodeClientInfo(data []byte, info *broker.ClientInfo) error {
	var ci cproto.ClientInfo
	if err := ci.UnmarshalVT(data); err != nil {
		return err
	}
	clientinfo.FromProto(&ci, info)
	return nil
}
