package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/natsbroker"
	"github.com/unisse/unisse/engine/broker/redisbroker"
	"github.com/unisse/unisse/engine/config"
)

// backends is what serves publications and history (broker) and presence
// across nodes (presence: nil when the broker or the node's own connections
// answer it).
type backends struct {
	broker   broker.Broker
	presence broker.PresenceManager
	// ownPresence is a Redis client built for presence alone (a
	// presence_manager section on another Redis than the broker's): the
	// engine closes its broker, run closes this one.
	ownPresence *redisbroker.Broker
}

func (b *backends) closePresence() {
	if b.ownPresence != nil {
		_ = b.ownPresence.Close()
	}
}

// newBackends builds the broker and presence manager as engine, broker and
// presence_manager select them (config.Options.Backends): the in-process
// memory broker, or Redis shared with the other nodes, Centrifugo's among
// them, or NATS shared with them (publications only: presence then comes
// from the engine's or presence_manager's Redis, or the node itself). nodeID
// names this node on Redis or NATS (its node channel).
func newBackends(opts *config.Options, nodeID string) (*backends, error) {
	sel, err := opts.Backends()
	if err != nil {
		return nil, err
	}
	be := &backends{}
	if sel.Broker == config.BackendRedis {
		ro, err := redisOptions(sel.BrokerRedis, sel.BrokerKey, nodeID)
		if err != nil {
			return nil, err
		}
		rb, err := redisbroker.New(ro)
		if err != nil {
			return nil, fmt.Errorf("%s: redis: %w", sel.BrokerKey, err)
		}
		be.broker = rb
		if sel.Presence == config.BackendRedis && sel.PresenceKey == sel.BrokerKey {
			be.presence = rb
		}
	} else if sel.Broker == config.BackendNats {
		nb, err := natsBroker(sel.BrokerNats, nodeID)
		if err != nil {
			return nil, fmt.Errorf("%s: nats: %w", sel.BrokerKey, err)
		}
		be.broker = nb
	} else {
		be.broker = broker.NewMemory()
	}
	if sel.Presence == config.BackendRedis && be.presence == nil {
		ro, err := redisOptions(sel.PresenceRedis, sel.PresenceKey, nodeID)
		if err != nil {
			_ = be.broker.Close()
			return nil, err
		}
		rp, err := redisbroker.New(ro)
		if err != nil {
			_ = be.broker.Close()
			return nil, fmt.Errorf("%s: redis: %w", sel.PresenceKey, err)
		}
		be.presence, be.ownPresence = rp, rp
	}
	return be, nil
}

// natsBroker connects to broker.nats.
func natsBroker(n *config.BrokerNats, nodeID string) (*natsbroker.Broker, error) {
	o := natsbroker.Options{
		URL: n.URL, Prefix: n.Prefix, NodeID: nodeID,
		DialTimeout: n.DialTimeout, WriteTimeout: n.WriteTimeout,
	}
	if n.TLS.Enabled {
		tc, err := tlsConfig(&n.TLS)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		o.TLS = tc
	}
	return natsbroker.New(o)
}

// errRedisTopology is a shard layout this unisse cannot serve.
var errRedisTopology = errors.New("unsupported Redis shard layout")

// redisOptions turns a parsed Redis section into the broker's options.
// Standalone shards become one URL each (so every shard keeps its own db
// and credentials); a Redis Cluster or a Sentinel set must be the section's
// only shard.
func redisOptions(r *config.Redis, key, nodeID string) (redisbroker.Options, error) {
	o := redisbroker.Options{
		NodeID: nodeID, Prefix: r.Prefix, ClientName: r.ClientName,
		PresenceTTL: r.PresenceTTL, PresenceUserMapping: r.PresenceUserMapping,
		HistoryUseLists: r.HistoryUseLists,
	}
	if len(r.Shards) == 0 {
		return o, fmt.Errorf("%s.redis: no address: %w", key, errRedisTopology)
	}
	first := r.Shards[0]
	o.ConnectTimeout, o.IOTimeout, o.ForceRESP2 = first.ConnectTimeout, first.IOTimeout, first.ForceResp2
	if first.TLS {
		tc, err := tlsConfig(&r.TLSConfig)
		if err != nil {
			return o, fmt.Errorf("%s.redis.tls: %w", key, err)
		}
		o.TLS = tc
	}
	switch first.Mode {
	case config.RedisCluster, config.RedisSentinel:
		if len(r.Shards) > 1 {
			return o, fmt.Errorf("%s.redis: %d shards with a %s among them: %w", key, len(r.Shards), first.Mode, errRedisTopology)
		}
		o.DB, o.User, o.Password = first.DB, first.User, first.Password
		if first.Mode == config.RedisCluster {
			o.ClusterAddresses = first.Addrs
		} else {
			o.SentinelAddresses, o.SentinelMasterName = first.Addrs, first.MasterName
			o.SentinelUser, o.SentinelPassword = first.SentinelUser, first.SentinelPassword
		}
		return o, nil
	}
	for i, sh := range r.Shards {
		if sh.Mode != config.RedisStandalone || sh.Network != "tcp" || len(sh.Addrs) != 1 {
			return o, fmt.Errorf("%s.redis: shard %d (%s %s %v): %w", key, i, sh.Mode, sh.Network, sh.Addrs, errRedisTopology)
		}
		if sh.TLS != first.TLS {
			return o, fmt.Errorf("%s.redis: shard %d: TLS on some shards only: %w", key, i, errRedisTopology)
		}
		u := url.URL{Scheme: "redis", Host: sh.Addrs[0], Path: "/" + strconv.Itoa(sh.DB)}
		if sh.User != "" || sh.Password != "" {
			u.User = url.UserPassword(sh.User, sh.Password)
		}
		if _, _, err := net.SplitHostPort(sh.Addrs[0]); err != nil {
			return o, fmt.Errorf("%s.redis: shard %d: %w", key, i, err)
		}
		o.Addresses = append(o.Addresses, u.String())
	}
	return o, nil
}

// tlsConfig builds the client side of a Redis or NATS section's tls.
func tlsConfig(t *config.RedisTLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // operator's choice
	if t.ServerCAPem != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(t.ServerCAPem)) {
			return nil, errors.New("server_ca_pem: no certificate")
		}
		tc.RootCAs = pool
	}
	if t.CertPem != "" || t.KeyPem != "" {
		cert, err := tls.X509KeyPair([]byte(t.CertPem), []byte(t.KeyPem))
		if err != nil {
			return nil, fmt.Errorf("cert_pem/key_pem: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// newNodeID is a random UUID (version 4), the form Centrifugo gives its
// nodes' uids.
func newNodeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
