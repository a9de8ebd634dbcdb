package cluster

// The types below mirror centrifuge's internal/controlpb messages field by
// field (control.proto, whose field numbers codec.go uses). Proto3 rules
// apply: a zero value is the same as an absent field, so an empty string or
// nil slice means "not set".

// Command is one control message. Centrifuge sets exactly one of the
// payloads; a command with several is dispatched on the first in the order
// Node, Shutdown, Unsubscribe, Subscribe, Disconnect, SurveyRequest,
// SurveyResponse, Notification, Refresh (centrifuge's handleControl order).
type Command struct {
	// UID is the sending node's; a node ignores its own commands, which a
	// shared control channel delivers back to it.
	UID            string
	Node           *Node
	Shutdown       bool // the sender is leaving the cluster
	Unsubscribe    *Unsubscribe
	Disconnect     *Disconnect
	SurveyRequest  *SurveyRequest
	SurveyResponse *SurveyResponse
	Subscribe      *Subscribe
	Notification   *Notification
	Refresh        *Refresh
}

// Node is a node's periodic announcement: what /api/info lists.
type Node struct {
	UID         string
	Name        string
	Version     string
	NumClients  uint32
	NumUsers    uint32
	NumChannels uint32
	NumSubs     uint32
	Uptime      uint32 // seconds
	// Metrics is sent only when the sender aggregated a new snapshot (every
	// 60 s by default); announcements in between carry nil and the receiver
	// keeps the last snapshot.
	Metrics *Metrics
	// Data is application data attached by a centrifuge OnNodeInfoSend
	// handler; Centrifugo sets none.
	Data []byte
}

// Metrics is a node's aggregated Prometheus metrics, flattened to
// "name.label.value" keys.
type Metrics struct {
	Interval float64 // seconds
	Items    map[string]float64
}

// StreamPosition is a place in a channel's history stream.
type StreamPosition struct {
	Offset uint64
	Epoch  string
}

// FilterNode is a connection label filter (centrifugal/protocol FilterNode).
// Centrifugo v6.9.1's server API never sets one; centrifuge library users
// can.
type FilterNode struct {
	Op    string
	Key   string
	Cmp   string
	Val   string
	Vals  []string
	Nodes []*FilterNode
}

// Subscribe subscribes a user's connections to a channel (/api/subscribe).
type Subscribe struct {
	User          string
	Channel       string
	EmitPresence  bool
	EmitJoinLeave bool
	ExpireAt      int64 // Unix seconds; 0: never
	Position      bool
	Recover       bool
	ChannelInfo   []byte
	Client        string
	Data          []byte
	RecoverSince  *StreamPosition
	Session       string
	PushJoinLeave bool
	Source        uint32 // subscription source; Centrifugo's server API sends 10
	LabelFilter   *FilterNode
	// AllUsers with an empty User targets every connection instead of the
	// anonymous ones.
	AllUsers bool
}

// Unsubscribe unsubscribes a user's connections from a channel (every
// channel when Channel is empty).
type Unsubscribe struct {
	Channel     string
	User        string
	Client      string
	Session     string
	Code        uint32
	Reason      string
	LabelFilter *FilterNode
	AllUsers    bool
}

// Disconnect closes a user's connections, except those in Whitelist.
type Disconnect struct {
	User      string
	Whitelist []string
	Code      uint32
	Reason    string
	// Reconnect is a field of older protocol versions; centrifuge no longer
	// sets it (the code says whether to reconnect).
	Reconnect   bool
	Client      string
	Session     string
	LabelFilter *FilterNode
	AllUsers    bool
}

// Refresh updates a user's connections' expiry and info.
type Refresh struct {
	User        string
	Client      string
	Expired     bool
	ExpireAt    int64 // Unix seconds
	Info        []byte
	Session     string
	LabelFilter *FilterNode
	AllUsers    bool
}

// SurveyRequest asks every node (or one) to answer op.
type SurveyRequest struct {
	ID   uint64
	Op   string
	Data []byte
}

// SurveyResponse is one node's answer, sent to the asking node only.
type SurveyResponse struct {
	ID   uint64
	Code uint32 // 0: success
	Data []byte
}

// Notification is a fire-and-forget message between nodes (Centrifugo uses
// it for usage statistics); unisse ignores it.
type Notification struct {
	Op   string
	Data []byte
}
