package redisbroker

import (
	"context"
	"errors"
	"strconv"
	"time"

	cproto "github.com/centrifugal/protocol"
	"github.com/redis/rueidis"

	"github.com/unisse/unisse/engine/broker"
	"github.com/unisse/unisse/engine/broker/clientinfo"
)

// Presence is kept as centrifuge's RedisPresenceManager keeps it: a hash of
// client ID → protobuf ClientInfo and a zset of client ID → expiry (unix
// seconds), both expiring PresenceTTL after the last AddPresence; readers drop
// the expired members. With PresenceUserMapping, a hash of user ID →
// connection count and a zset of user ID → expiry as well.

func (b *Broker) presenceKeys(channel string) []string {
	k := b.keys
	return []string{k.presenceSet(channel), k.presenceData(channel), k.userSet(channel), k.userHash(channel)}
}

func (b *Broker) userMapping() string {
	if b.opts.PresenceUserMapping {
		return "1"
	}
	return "0"
}

// AddPresence implements broker.PresenceManager: adds or renews clientID.
func (b *Broker) AddPresence(ctx context.Context, channel, clientID string, info *broker.ClientInfo, done func(error)) {
	data, err := clientinfo.ToProto(info).MarshalVT()
	if err != nil {
		done(err)
		return
	}
	ttl := b.opts.PresenceTTL
	expireAt := time.Now().Add(ttl).Unix()
	b.async(func() {
		s := b.shardFor(channel)
		err := presenceAdd.Exec(ctx, s.client, b.presenceKeys(channel), []string{
			seconds(ttl), strconv.FormatInt(expireAt, 10), clientID,
			rueidis.BinaryString(data), info.UserID, b.userMapping(),
		}).Error()
		if rueidis.IsRedisNil(err) {
			err = nil // the script returns nothing
		}
		done(wrap("add presence", err))
	})
}

// RemovePresence implements broker.PresenceManager.
func (b *Broker) RemovePresence(ctx context.Context, channel, clientID, userID string, done func(error)) {
	b.async(func() {
		s := b.shardFor(channel)
		err := presenceRemove.Exec(ctx, s.client, b.presenceKeys(channel), []string{clientID, userID, b.userMapping()}).Error()
		if rueidis.IsRedisNil(err) {
			err = nil
		}
		done(wrap("remove presence", err))
	})
}

// Presence implements broker.PresenceManager.
func (b *Broker) Presence(ctx context.Context, channel string, done func(map[string]*broker.ClientInfo, error)) {
	b.async(func() {
		m, err := b.presence(ctx, channel)
		done(m, err)
	})
}

func (b *Broker) presence(ctx context.Context, channel string) (map[string]*broker.ClientInfo, error) {
	s := b.shardFor(channel)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	reply, err := presenceGet.Exec(ctx, s.client, b.presenceKeys(channel)[:2], []string{now}).ToArray()
	if err != nil {
		return nil, wrap("presence", err)
	}
	if len(reply)%2 != 0 {
		return nil, errors.New("redisbroker: presence: odd reply")
	}
	m := make(map[string]*broker.ClientInfo, len(reply)/2)
	for i := 0; i < len(reply); i += 2 {
		id, err1 := reply[i].ToString()
		v, err2 := reply[i+1].ToString()
		if err := errors.Join(err1, err2); err != nil {
			return nil, wrap("presence", err)
		}
		var ci cproto.ClientInfo
		if err := ci.UnmarshalVT([]byte(v)); err != nil {
			return nil, wrap("presence: ClientInfo", err)
		}
		info := &broker.ClientInfo{ClientID: ci.Client, UserID: ci.User}
		if len(ci.ConnInfo) > 0 {
			info.ConnInfo = ci.ConnInfo
		}
		if len(ci.ChanInfo) > 0 {
			info.ChanInfo = ci.ChanInfo
		}
		m[id] = info
	}
	return m, nil
}

// PresenceStats implements broker.PresenceManager: from the user mapping
// when enabled, else by reading the presence (as centrifuge does).
func (b *Broker) PresenceStats(ctx context.Context, channel string, done func(broker.PresenceStats, error)) {
	b.async(func() {
		st, err := b.presenceStats(ctx, channel)
		done(st, err)
	})
}

func (b *Broker) presenceStats(ctx context.Context, channel string) (broker.PresenceStats, error) {
	if b.opts.PresenceUserMapping {
		s := b.shardFor(channel)
		now := strconv.FormatInt(time.Now().Unix(), 10)
		reply, err := presenceStats.Exec(ctx, s.client, b.presenceKeys(channel), []string{now}).ToArray()
		if err != nil {
			return broker.PresenceStats{}, wrap("presence stats", err)
		}
		if len(reply) != 2 {
			return broker.PresenceStats{}, errors.New("redisbroker: presence stats: unexpected reply")
		}
		c, err1 := reply[0].AsInt64()
		u, err2 := reply[1].AsInt64()
		if err := errors.Join(err1, err2); err != nil {
			return broker.PresenceStats{}, wrap("presence stats", err)
		}
		return broker.PresenceStats{NumClients: int(c), NumUsers: int(u)}, nil
	}
	m, err := b.presence(ctx, channel)
	if err != nil {
		return broker.PresenceStats{}, err
	}
	users := make(map[string]struct{}, len(m))
	for _, ci := range m {
		users[ci.UserID] = struct{}{}
	}
	return broker.PresenceStats{NumClients: len(m), NumUsers: len(users)}, nil
}
