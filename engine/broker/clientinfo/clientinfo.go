package clientinfo

import (
	"encoding/json"
	"errors"

	cproto "github.com/centrifugal/protocol"

	"github.com/unisse/unisse/engine/broker"
)

// ErrNotClientInfo is FromJSON's error for info that is not a ClientInfo
// object.
var ErrNotClientInfo = errors.New("publication info is not a ClientInfo object")

// FromJSON maps unisse's ClientInfo JSON to the protobuf one.
func FromJSON(raw []byte) (*cproto.ClientInfo, error) {
	var ci cproto.ClientInfo
	if err := json.Unmarshal(raw, &ci); err != nil {
		return nil, errors.Join(ErrNotClientInfo, err)
	}
	return &ci, nil
}

// ToJSON maps the protobuf ClientInfo to unisse's JSON; nil when ci is nil,
// or when its conn_info or chan_info is not JSON (the info is left out
// rather than sent half-made).
func ToJSON(ci *cproto.ClientInfo) []byte {
	if ci == nil {
		return nil
	}
	b, err := json.Marshal(ci)
	if err != nil {
		return nil
	}
	return b
}

// ToProto maps a join's, leave's or presence entry's ClientInfo to the
// protobuf one.
func ToProto(info *broker.ClientInfo) *cproto.ClientInfo {
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

// FromProto fills info from the protobuf ClientInfo; conn_info and
// chan_info that are not JSON are left out (a uni_sse push carries them as
// raw JSON). info's slices alias ci's.
func FromProto(ci *cproto.ClientInfo, info *broker.ClientInfo) {
	*info = broker.ClientInfo{ClientID: ci.Client, UserID: ci.User}
	if len(ci.ConnInfo) > 0 && json.Valid(ci.ConnInfo) {
		info.ConnInfo = ci.ConnInfo
	}
	if len(ci.ChanInfo) > 0 && json.Valid(ci.ChanInfo) {
		info.ChanInfo = ci.ChanInfo
	}
}
