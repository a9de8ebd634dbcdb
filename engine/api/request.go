package api

import (
	json "github.com/goccy/go-json"

	"github.com/unisse/unisse/engine/protocol"
)

// PublicationParams are what publish and broadcast requests share.
type PublicationParams struct {
	Data           json.RawMessage   `json:"data"`
	B64Data        string            `json:"b64data"`
	SkipHistory    bool              `json:"skip_history"`
	Tags           map[string]string `json:"tags"`
	IdempotencyKey string            `json:"idempotency_key"`
	Delta          bool              `json:"delta"`
	Version        uint64            `json:"version"`
	VersionEpoch   string            `json:"version_epoch"`
}

// PublishRequest is the body of /api/publish.
type PublishRequest struct {
	Channel string `json:"channel"`
	PublicationParams
}

// BroadcastRequest is the body of /api/broadcast.
type BroadcastRequest struct {
	Channels []string `json:"channels"`
	PublicationParams
}

// StreamPosition is an offset within an epoch of a channel's history.
type StreamPosition struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// BoolValue wraps an override flag: {"value":true}.
type BoolValue = protocol.BoolValue

// SubscribeOverride lets an API subscribe change channel options for one subscription.
type SubscribeOverride = protocol.SubscribeOverride

// SubscribeRequest is the body of /api/subscribe.
type SubscribeRequest struct {
	Channel      string             `json:"channel"`
	User         string             `json:"user"`
	Client       string             `json:"client"`
	Session      string             `json:"session"`
	Info         json.RawMessage    `json:"info"`
	B64Info      string             `json:"b64info"`
	Data         json.RawMessage    `json:"data"`
	B64Data      string             `json:"b64data"`
	ExpireAt     int64              `json:"expire_at"`
	RecoverSince *StreamPosition    `json:"recover_since"`
	Override     *SubscribeOverride `json:"override"`
}

// UnsubscribeRequest is the body of /api/unsubscribe.
type UnsubscribeRequest struct {
	Channel string `json:"channel"`
	User    string `json:"user"`
	Client  string `json:"client"`
	Session string `json:"session"`
}

// Disconnect is the custom disconnect of /api/disconnect.
type Disconnect struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

// DisconnectRequest is the body of /api/disconnect.
type DisconnectRequest struct {
	User       string      `json:"user"`
	Client     string      `json:"client"`
	Session    string      `json:"session"`
	Whitelist  []string    `json:"whitelist"`
	Disconnect *Disconnect `json:"disconnect"`
}

// RefreshRequest is the body of /api/refresh.
type RefreshRequest struct {
	User     string          `json:"user"`
	Client   string          `json:"client"`
	Session  string          `json:"session"`
	Expired  bool            `json:"expired"`
	ExpireAt int64           `json:"expire_at"`
	Info     json.RawMessage `json:"info"`
}

// ChannelRequest is the body of methods that take only a channel
// (presence, presence_stats, history_remove).
type ChannelRequest struct {
	Channel string `json:"channel"`
}

// HistoryRequest is the body of /api/history.
type HistoryRequest struct {
	Channel string          `json:"channel"`
	Limit   *int32          `json:"limit"`
	Since   *StreamPosition `json:"since"`
	Reverse bool            `json:"reverse"`
}

// ChannelsRequest is the body of /api/channels.
type ChannelsRequest struct {
	Pattern string `json:"pattern"`
}

// InfoRequest is the body of /api/info (no fields).
type InfoRequest struct{}

// RPCRequest is the body of /api/rpc.
type RPCRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}
