package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLoadNatsBroker: Centrifugo v6.9.1's broker.nats keys load from the
// file and the environment, with presence from the Redis engine beside it.
func TestLoadNatsBroker(t *testing.T) {
	file := writeConfig(t, `{
		"engine": {"type": "redis", "redis": {"address": "redis://127.0.0.1:6380"}},
		"broker": {"enabled": true, "type": "nats", "nats": {
			"url": "nats://u:p@127.0.0.1:4333", "prefix": "shared",
			"dial_timeout": "2s", "tls": {"enabled": true, "server_name": "n.example"},
			"raw_mode": {"enabled": true}
		}}
	}`)
	o, rep := load(t, []string{"-c", file}, []string{"UNISSE_BROKER_NATS_WRITE_TIMEOUT=3s"})
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Unsupported, "broker.nats.raw_mode") {
		t.Errorf("raw_mode not reported as unsupported: %q", rep.Unsupported)
	}
	b, err := o.Backends()
	if err != nil {
		t.Fatal(err)
	}
	n := b.BrokerNats
	if b.Broker != BackendNats || b.BrokerKey != "broker" || b.BrokerRedis != nil || n == nil {
		t.Fatalf("Backends() = %+v", b)
	}
	if n.URL != "nats://u:p@127.0.0.1:4333" || n.Prefix != "shared" || n.DialTimeout != 2*time.Second ||
		n.WriteTimeout != 3*time.Second || !n.TLS.Enabled || n.TLS.ServerName != "n.example" {
		t.Errorf("broker.nats = %+v", *n)
	}
	if b.Presence != BackendRedis || b.PresenceKey != "engine" || b.PresenceRedis == nil {
		t.Errorf("presence = %s from %s, want redis from the engine", b.Presence, b.PresenceKey)
	}
}

func TestNatsBrokerDefaults(t *testing.T) {
	o := Default()
	o.Broker.Enabled, o.Broker.Type = true, "nats"
	b, err := o.Backends()
	if err != nil {
		t.Fatal(err)
	}
	n := b.BrokerNats
	if n.URL != "nats://localhost:4222" || n.Prefix != "centrifugo" || n.DialTimeout != time.Second || n.WriteTimeout != time.Second {
		t.Errorf("defaults = %+v", *n)
	}
	if b.Presence != BackendMemory {
		t.Errorf("presence = %s", b.Presence)
	}
}

// TestNatsBrokerRefusals: bad broker.nats values and namespaces that need
// history are start-up errors naming the key and the namespace.
func TestNatsBrokerRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		key  string
		msg  string
	}{
		{"no url", func(o *Options) { o.Broker.Nats.URL = " " }, "broker.nats.url", "empty"},
		{"url without host", func(o *Options) { o.Broker.Nats.URL = "nats://" }, "broker.nats.url", "no host"},
		{"empty prefix", func(o *Options) { o.Broker.Nats.Prefix = "" }, "broker.nats.prefix", "NATS subject"},
		{"wildcard prefix", func(o *Options) { o.Broker.Nats.Prefix = "a.*" }, "broker.nats.prefix", "NATS subject"},
		{"dial timeout", func(o *Options) { o.Broker.Nats.DialTimeout = 0 }, "broker.nats.dial_timeout", "> 0"},
		{"write timeout", func(o *Options) { o.Broker.Nats.WriteTimeout = -1 }, "broker.nats.write_timeout", "> 0"},
		{"history", func(o *Options) {
			o.Channel.Namespaces = []Namespace{{Name: "plain"}, {Name: "feed", ChannelOptions: ChannelOptions{HistorySize: 10, HistoryTTL: time.Minute}}}
		}, "channel.namespaces[1]", `namespace "feed" sets history_size/history_ttl`},
		{"recovery", func(o *Options) { o.Channel.WithoutNamespace.ForceRecovery = true }, "channel.without_namespace", "force_recovery"},
		{"positioning", func(o *Options) {
			o.Channel.Namespaces = []Namespace{{Name: "pos", ChannelOptions: ChannelOptions{ForcePositioning: true}}}
		}, "channel.namespaces[0]", `namespace "pos" sets force_positioning`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Default()
			o.Broker.Enabled, o.Broker.Type = true, "nats"
			tc.set(&o)
			_, err := o.Backends()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Backends() error %v; want key %s with %q", err, tc.key, tc.msg)
			}
			if verr := o.Validate(); verr == nil || !strings.Contains(verr.Error(), tc.key) {
				t.Fatalf("Validate() = %v", verr)
			}
		})
	}
	// The same namespaces are fine with the Redis broker.
	o := Default()
	o.Broker.Enabled, o.Broker.Type = true, "redis"
	o.Channel.WithoutNamespace.HistorySize, o.Channel.WithoutNamespace.HistoryTTL = 10, time.Minute
	if _, err := o.Backends(); err != nil {
		t.Fatal(err)
	}
}
