package api

import "github.com/unisse/unisse/engine/protocol"

// Publication is a validated publish or broadcast command for one channel.
type Publication struct {
	Channel string
	// Data is the payload: raw JSON from "data", or the decoded bytes of "b64data".
	Data []byte
	// NotJSON is set when b64data decoded to bytes that are not JSON: such a
	// publication cannot be framed for a JSON client, which Centrifugo answers
	// by disconnecting the subscriber with 3506.
	NotJSON        bool
	Tags           map[string]string
	IdempotencyKey string
	SkipHistory    bool
}

// PublishResult is the position a publication got in a history stream; zero for
// channels without history (the reply is then {}).
type PublishResult struct {
	Offset uint64
	Epoch  string
}

// ClientInfo is one presence entry.
type ClientInfo = protocol.ClientInfo

// PresenceStats counts the connections and distinct users in a channel.
type PresenceStats struct {
	NumClients int
	NumUsers   int
}

// HistoryResult is what /api/history returns.
type HistoryResult struct {
	Publications []protocol.Publication
	Offset       uint64
	Epoch        string
}

// NodeInfo is one element of /api/info's "nodes".
type NodeInfo struct {
	UID         string
	Name        string
	Version     string
	NumClients  int
	NumUsers    int
	NumChannels int
	NumSubs     int
	Uptime      int64 // seconds
	// Metrics is the node's aggregated metrics snapshot; nil leaves
	// "metrics" out of the node's entry, as Centrifugo does for a node that
	// sent none (a unisse node seen from another node).
	Metrics map[string]float64
	// MetricsInterval is the snapshot's aggregation interval in seconds;
	// 0 means Centrifugo's default, 60.
	MetricsInterval float64
}

// Executor carries out validated commands. The engine implements it. Methods
// may block (waiting for event loops or a remote broker); PublishesOnly names
// the ones that wait for nothing but the broker.
type Executor interface {
	Publish(p *Publication) (PublishResult, *protocol.Error)
	Subscribe(r *SubscribeRequest) *protocol.Error
	Unsubscribe(r *UnsubscribeRequest) *protocol.Error
	Disconnect(r *DisconnectRequest) *protocol.Error
	Refresh(r *RefreshRequest) *protocol.Error
	Presence(channel string) ([]ClientInfo, *protocol.Error)
	PresenceStats(channel string) (PresenceStats, *protocol.Error)
	History(r *HistoryRequest) (HistoryResult, *protocol.Error)
	HistoryRemove(channel string) *protocol.Error
	// Channels calls fn for every channel with subscribers matching pattern
	// ("" = all).
	Channels(pattern string, fn func(channel string, numClients int)) *protocol.Error
	Info() ([]NodeInfo, *protocol.Error)
}
