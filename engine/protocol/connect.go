package protocol

import (
	"bytes"
	"errors"
	"fmt"

	json "github.com/goccy/go-json"
)

// ConnectRequest is what a uni_sse client sends: the cf_connect URL parameter
// (GET) or the request body (POST).
type ConnectRequest struct {
	Token   string                      `json:"token"`
	Data    json.RawMessage             `json:"data"`
	Subs    map[string]SubscribeRequest `json:"subs"`
	Name    string                      `json:"name"`
	Version string                      `json:"version"`
	Headers map[string]string           `json:"headers"`
	Flag    int64                       `json:"flag"`
}

// SubscribeRequest is one entry of ConnectRequest.Subs: where a client wants a
// server-side subscription to resume from.
type SubscribeRequest struct {
	Recover bool   `json:"recover"`
	Offset  uint64 `json:"offset"`
	Epoch   string `json:"epoch"`
	Delta   string `json:"delta"`
}

// ErrBadConnectRequest means the connect request is not a JSON object of the
// right shape; the server answers 400 with an empty body.
var ErrBadConnectRequest = errors.New("protocol: bad connect request")

// DecodeConnectRequest decodes the first JSON value of b the way Centrifugo
// does: null means an empty request, anything that is not an object or has a
// field of the wrong type is an error, unknown fields are ignored, and bytes
// after the first value are ignored (Centrifugo's decoder stops there too).
func DecodeConnectRequest(b []byte) (ConnectRequest, error) {
	var req ConnectRequest
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return req, ErrBadConnectRequest
	}
	if b[0] != '{' && !bytes.HasPrefix(b, []byte("null")) {
		return req, fmt.Errorf("%w: not an object", ErrBadConnectRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&req); err != nil {
		return ConnectRequest{}, fmt.Errorf("%w: %w", ErrBadConnectRequest, err)
	}
	return req, nil
}

// BoolValue wraps a boolean so that "absent" (nil) and "false" differ:
// {"value":true}.
type BoolValue struct {
	Value bool `json:"value"`
}

// SubscribeOverride overrides namespace options for one subscription; a nil
// field keeps the namespace's setting. Token subs claims and API subscribe
// requests carry it.
type SubscribeOverride struct {
	Presence           *BoolValue `json:"presence"`
	JoinLeave          *BoolValue `json:"join_leave"`
	ForcePushJoinLeave *BoolValue `json:"force_push_join_leave"`
	ForcePositioning   *BoolValue `json:"force_positioning"`
	ForceRecovery      *BoolValue `json:"force_recovery"`
}
