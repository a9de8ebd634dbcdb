package redisbroker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Defaults, as Centrifugo v6's configuration has them.
const (
	DefaultPrefix         = "centrifugo" // engine.redis.prefix
	DefaultConnectTimeout = time.Second  // redis connect_timeout
	DefaultIOTimeout      = 4 * time.Second
	DefaultPresenceTTL    = 60 * time.Second // presence_ttl
	// DefaultHistoryMetaTTL is Centrifugo's history_meta_ttl (720h).
	DefaultHistoryMetaTTL = 720 * time.Hour
)

// Options configure a Broker. The zero value of every field but NodeID
// means Centrifugo's default; see doc.go for the configuration keys they
// stand for.
type Options struct {
	// Addresses are the shards, "host:port" each: channels are spread over
	// them with the consistent hash Centrifugo uses, so every node must list
	// the same shards in the same order. Default: 127.0.0.1:6379.
	Addresses []string
	// ClusterAddresses, when set, name the seed nodes of one Redis Cluster
	// (instead of Addresses): keys and PUB/SUB channels then carry
	// Centrifugo's {channel} hash tags.
	ClusterAddresses []string
	// SentinelAddresses and SentinelMasterName, when set, find the master
	// through Redis Sentinel (instead of Addresses).
	SentinelAddresses  []string
	SentinelMasterName string
	SentinelUser       string
	SentinelPassword   string

	// Prefix is put before every key and PUB/SUB channel name.
	Prefix   string
	DB       int
	User     string
	Password string
	// ClientName is sent with CLIENT SETNAME.
	ClientName string
	// TLS enables TLS to Redis when not nil.
	TLS *tls.Config
	// ForceRESP2 speaks RESP2 instead of RESP3 (for proxies without RESP3).
	ForceRESP2 bool

	ConnectTimeout time.Duration
	IOTimeout      time.Duration

	// NodeID names this node: its node channel (PublishControl to one node)
	// is Prefix+".node."+NodeID. Required.
	NodeID string

	// PresenceTTL is how long a presence entry lives without being renewed
	// by AddPresence.
	PresenceTTL time.Duration
	// PresenceUserMapping keeps per-user counters so that PresenceStats is
	// answered without reading the whole presence (Centrifugo's
	// presence_user_mapping; both sides must agree on it).
	PresenceUserMapping bool
	// HistoryMetaTTL is how long a stream's epoch and offset outlive its last
	// publication when the publish options do not say.
	HistoryMetaTTL time.Duration
	// HistoryUseLists keeps history in Redis LISTs (<prefix>.list.<ch>,
	// meta <prefix>.list.meta.<ch>) instead of STREAMs, as Centrifugo's
	// history_use_lists does: every node sharing the Redis must agree on it,
	// since each mode reads only its own keys.
	HistoryUseLists bool

	// PubSubWorkers is the number of goroutines per shard that decode
	// PUB/SUB messages and hand them to the Handler (a channel always maps to
	// the same one, so its publications stay in order). Default GOMAXPROCS.
	PubSubWorkers int
}

func (o *Options) applyDefaults() error {
	if o.NodeID == "" {
		return errors.New("redisbroker: NodeID is required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if len(o.Addresses) == 0 && len(o.ClusterAddresses) == 0 && len(o.SentinelAddresses) == 0 {
		o.Addresses = []string{"127.0.0.1:6379"}
	}
	if len(o.SentinelAddresses) > 0 && o.SentinelMasterName == "" {
		return errors.New("redisbroker: SentinelMasterName is required with SentinelAddresses")
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.IOTimeout <= 0 {
		o.IOTimeout = DefaultIOTimeout
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = DefaultPresenceTTL
	}
	if o.HistoryMetaTTL <= 0 {
		o.HistoryMetaTTL = DefaultHistoryMetaTTL
	}
	return nil
}

// shardSpecs lists one rueidis option set per shard, in Centrifugo's shard
// order, and whether the shards are a Redis Cluster (key naming).
func (o *Options) shardSpecs() ([]rueidis.ClientOption, bool, error) {
	base := rueidis.ClientOption{
		Username:   o.User,
		Password:   o.Password,
		ClientName: o.ClientName,
		SelectDB:   o.DB,
		TLSConfig:  o.TLS,
		// Centrifuge's settings: no client-side cache, and every command
		// pipelined, so that concurrent publishes share round trips.
		DisableCache:      true,
		AlwaysPipelining:  true,
		ConnWriteTimeout:  o.IOTimeout,
		MaxFlushDelay:     100 * time.Microsecond,
		Dialer:            net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: o.IOTimeout},
		ForceSingleClient: true,
		AlwaysRESP2:       o.ForceRESP2,
	}
	switch {
	case len(o.ClusterAddresses) > 0:
		opt := base
		opt.ForceSingleClient = false
		opt.SelectDB = 0
		opt.InitAddress = o.ClusterAddresses
		return []rueidis.ClientOption{opt}, true, nil
	case len(o.SentinelAddresses) > 0:
		opt := base
		opt.ForceSingleClient = false
		opt.InitAddress = o.SentinelAddresses
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet: o.SentinelMasterName,
			Username:  o.SentinelUser,
			Password:  o.SentinelPassword,
			TLSConfig: o.TLS,
			Dialer:    base.Dialer,
		}
		return []rueidis.ClientOption{opt}, false, nil
	}
	specs := make([]rueidis.ClientOption, 0, len(o.Addresses))
	for _, a := range o.Addresses {
		opt := base
		if strings.Contains(a, "://") {
			// Centrifugo's redis://[[user]:password@]host:port[/db] form.
			u, err := rueidis.ParseURL(a)
			if err != nil {
				return nil, false, fmt.Errorf("redisbroker: address %q: %w", a, err)
			}
			opt.InitAddress = u.InitAddress
			if u.Username != "" || u.Password != "" {
				opt.Username, opt.Password = u.Username, u.Password
			}
			if u.SelectDB != 0 {
				opt.SelectDB = u.SelectDB
			}
			if u.TLSConfig != nil && opt.TLSConfig == nil {
				opt.TLSConfig = u.TLSConfig
			}
		} else {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, false, fmt.Errorf("redisbroker: address %q: %w", a, err)
			}
			opt.InitAddress = []string{a}
		}
		specs = append(specs, opt)
	}
	return specs, false, nil
}
