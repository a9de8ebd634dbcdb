package session

import (
	"bytes"
	"fmt"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/httpwrite"
)

// metricsSet holds the node's counters. They live in their own
// VictoriaMetrics set (not the global one) so that several servers in one
// process — tests — do not share numbers.
type metricsSet struct {
	set             *metrics.Set
	accepted        *metrics.Counter
	connects        *metrics.Counter
	publications    *metrics.Counter
	apiCommands     *metrics.Counter
	slowDisconnects *metrics.Counter
	// slowPushWaits counts server disconnects whose push the socket could
	// not be made to hold at once, so the close waits for the client to
	// take it (see loop.closeWith).
	slowPushWaits *metrics.Counter
	acceptErrors  *metrics.Counter // accept or hand-off failures (engine/listen)
	shed          *metrics.Counter // connections refused with 503 to free a descriptor
	// controlErrors counts cluster control failures: publishes of
	// announcements and commands, and control messages that do not decode.
	controlErrors *metrics.Counter
	// presenceErrors counts presence updates (add, refresh, remove) the
	// presence manager failed or that were skipped under backlog.
	presenceErrors *metrics.Counter
	// joinLeaveErrors counts join/leave announcements the broker failed to
	// publish (JoinLeavePublisher) or that were dropped under backlog.
	joinLeaveErrors *metrics.Counter
	// brokerSubscribeErrors counts failed broker subscriptions (a networked
	// broker); insufficientState the subscribers disconnected with 3010
	// because the broker's PUB/SUB connection was lost and restored.
	brokerSubscribeErrors *metrics.Counter
	insufficientState     *metrics.Counter
}

func newMetrics(s *Node) *metricsSet {
	set := metrics.NewSet()
	m := &metricsSet{
		set:                   set,
		accepted:              set.NewCounter("unisse_tcp_connections_accepted_total"),
		connects:              set.NewCounter(`unisse_client_connections_accepted_total{transport="uni_sse"}`),
		publications:          set.NewCounter("unisse_publications_total"),
		apiCommands:           set.NewCounter(`unisse_api_commands_total{protocol="http"}`),
		slowDisconnects:       set.NewCounter(`unisse_client_disconnects_total{code="3008"}`),
		slowPushWaits:         set.NewCounter("unisse_disconnect_push_waits_total"),
		acceptErrors:          set.NewCounter("unisse_tcp_accept_errors_total"),
		shed:                  set.NewCounter("unisse_tcp_connections_shed_total"),
		controlErrors:         set.NewCounter("unisse_cluster_control_errors_total"),
		presenceErrors:        set.NewCounter("unisse_presence_update_errors_total"),
		joinLeaveErrors:       set.NewCounter("unisse_join_leave_publish_errors_total"),
		brokerSubscribeErrors: set.NewCounter("unisse_broker_subscribe_errors_total"),
		insufficientState:     set.NewCounter(`unisse_client_disconnects_total{code="3010"}`),
	}
	set.NewGauge("unisse_client_connections", func() float64 { return float64(s.numClients.Load()) })
	set.NewGauge("unisse_channels", func() float64 { return float64(s.hub.NumChannels()) })
	// Events queued and writes made: their ratio is how many events share a
	// write(2), the figure that decides CPU per delivered message.
	set.NewGauge("unisse_transport_events_total", func() float64 {
		var n uint64
		for _, l := range *s.known.Load() {
			n += l.FramesQueued()
		}
		return float64(n)
	})
	set.NewGauge("unisse_transport_writes_total", func() float64 {
		var n uint64
		for _, l := range *s.known.Load() {
			n += l.Writes()
		}
		return float64(n)
	})
	return m
}

// snapshot returns counter values for /api/info's metrics items.
func (m *metricsSet) snapshot() map[string]float64 {
	out := make(map[string]float64)
	var buf bytes.Buffer
	m.set.WritePrometheus(&buf)
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(string(line[i+1:]), &v); err == nil {
			out[string(line[:i])] = v
		}
	}
	return out
}

// serveMetrics answers /metrics in Prometheus text format. Rendering reads
// /proc for process metrics, so it runs off the loop.
func (s *Node) serveMetrics(c *delivery.Conn, head, keepAlive bool) {
	http10 := c.HTTP10 // conn fields are read on the loop only
	c.State = delivery.StateAwaiting
	go func() {
		var buf bytes.Buffer
		s.metrics.set.WritePrometheus(&buf)
		metrics.WriteProcessMetrics(&buf)
		out := httpwrite.AppendBody(nil, 200, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", false, buf.Bytes(), head, !keepAlive)
		httpwrite.FixProto(out, http10)
		_ = c.GC.AsyncWrite(out, func(gnet.Conn, error) error {
			s.resume(c, keepAlive)
			return nil
		})
	}()
}
