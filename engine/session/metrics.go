package session

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"

	"github.com/unisse/unisse/engine/api"
	"github.com/unisse/unisse/engine/delivery"
	"github.com/unisse/unisse/engine/httpwrite"
)

// /metrics speaks Centrifugo's metric names where a uni_sse node has the
// same thing to count (CentrifugoFamilies: same names, types, label names
// and label values, so that Centrifugo's dashboards and alerts work), and
// unisse_* names for what only unisse has (UnisseFamilies). Every family
// carries # HELP and # TYPE.
//
// Counting never takes a lock or allocates on the publish → fan-out → write
// path: the loops count in their own fields (engine/delivery stats.go), and
// the node's counters are atomics; scraping sums them. The API's duration
// summary is VictoriaMetrics' (a mutex per API command, never per delivered
// message).

// Family describes one metric family /metrics exposes.
type Family struct {
	Name, Type string
	Labels     []string // label names, sorted, without le and quantile
	Help       string
}

// CentrifugoFamilies are the families unisse exposes under Centrifugo
// v6.9.1's names (engine/testdata/centrifugo_metrics.txt is Centrifugo's own
// exposition; a test compares the two). Keep README "Metrics" in step.
var CentrifugoFamilies = []Family{
	{"centrifugo_node_num_clients", "gauge", nil, "Number of clients connected."},
	{"centrifugo_node_num_users", "gauge", nil, "Number of unique users connected."},
	{"centrifugo_node_num_subscriptions", "gauge", nil, "Number of subscriptions."},
	{"centrifugo_node_num_channels", "gauge", nil, "Number of channels with one or more subscribers."},
	{"centrifugo_node_num_nodes", "gauge", nil, "Number of nodes in the cluster."},
	{"centrifugo_node_build", "gauge", []string{"version"}, "Node build info."},
	{"centrifugo_node_messages_sent_count", "counter", []string{"channel_namespace", "type"}, "Number of messages sent by node to broker."},
	{"centrifugo_node_messages_received_count", "counter", []string{"channel_namespace", "type"}, "Number of messages received from broker."},
	{"centrifugo_node_client_connection_limit", "counter", nil, "Number of refused requests due to node client connection limit."},
	{"centrifugo_client_connections_accepted", "counter", []string{"accept_protocol", "client_name", "client_version", "transport"}, "Count of accepted transports."},
	{"centrifugo_client_connections_inflight", "gauge", []string{"accept_protocol", "client_name", "client_version", "transport"}, "Number of inflight client connections."},
	{"centrifugo_client_num_server_disconnects", "counter", []string{"code"}, "Number of server initiated disconnects."},
	{"centrifugo_client_recover", "counter", []string{"channel_namespace", "has_recovered_publications", "recovered"}, "Count of recover operations with success/fail resolution."},
	{"centrifugo_client_recovered_publications", "histogram", []string{"channel_namespace"}, "Number of publications recovered during subscription recovery."},
	{"centrifugo_transport_messages_sent", "counter", []string{"channel_namespace", "frame_type", "transport"}, "Number of messages sent to client connections over specific transport."},
	{"centrifugo_transport_messages_sent_size", "counter", []string{"channel_namespace", "frame_type", "transport"}, "MaxSize in bytes of messages sent to client connections over specific transport (uncompressed and does not include framing overhead)."},
	{"centrifugo_api_command_duration_seconds", "summary", []string{"method", "protocol"}, "DEPRECATED — use centrifugo_api_command_duration_seconds_histogram. Will be removed in Centrifugo v7. Duration of API per command."},
	{"centrifugo_api_command_duration_seconds_histogram", "histogram", []string{"method", "protocol"}, "Histogram of duration of API per command."},
	{"centrifugo_api_command_errors_total", "counter", []string{"error", "method", "protocol"}, "Total errors in API commands."},
}

// UnisseFamilies are unisse's own families.
var UnisseFamilies = []Family{
	{"unisse_tcp_connections_accepted_total", "counter", nil, "TCP connections accepted, whatever they then request."},
	{"unisse_tcp_accept_errors_total", "counter", nil, "Accept or connection hand-off failures."},
	{"unisse_tcp_connections_shed_total", "counter", nil, "Connections refused with 503 to free a file descriptor."},
	{"unisse_client_connections_refused_total", "counter", []string{"reason"}, "uni_sse connects refused with 503 by client.connection_rate_limit."},
	{"unisse_transport_events_total", "counter", nil, "Events (pushes) queued for streams; divided by unisse_transport_writes_total, the events that share a write."},
	{"unisse_transport_writes_total", "counter", nil, "Writes made to streams."},
	{"unisse_loop_backlog_bytes", "gauge", nil, "Bytes of frames the event loops hold that not every subscriber was written yet (inboxes and channel logs), summed over the loops."},
	{"unisse_publication_delay_seconds", "histogram", nil, "Time from a publication's hand-off to the hub to the event loop's sweep that writes it to its subscribers, once per loop with subscribers."},
	{"unisse_disconnect_push_waits_total", "counter", nil, "Server disconnects whose push a full socket could not hold at once, so the close waited for the client."},
	{"unisse_cluster_control_errors_total", "counter", nil, "Cluster control failures: announcements or commands not published, control messages that do not decode."},
	{"unisse_presence_update_errors_total", "counter", nil, "Presence updates that failed or were skipped under backlog."},
	{"unisse_join_leave_publish_errors_total", "counter", nil, "Join/leave announcements the broker failed to publish or that were dropped under backlog."},
	{"unisse_broker_subscribe_errors_total", "counter", nil, "Failed broker subscriptions of channels."},
	{"unisse_last_event_id_total", "counter", []string{"result"}, "uni_sse connects that carried a Last-Event-ID (unisse.sse_event_ids) and got as far as their subscriptions: used when it gave at least one subscription its position, ignored when it did not (malformed, oversized, or naming none of the connect's recoverable channels)."},
}

// processHelp is the HELP of the process and Go runtime families, which
// VictoriaMetrics/metrics writes without text.
const processHelp = "Process or Go runtime metric (github.com/VictoriaMetrics/metrics)."

// The label values of centrifugo_node_messages_{sent,received}_count's
// type, in the order of the counters' arrays.
const (
	msgPublication = iota
	msgJoin
	msgLeave
	msgControl
	numMsgTypes
)

var msgTypeNames = [numMsgTypes]string{"publication", "join", "leave", "control"}

// clientLabels indexes the client_name and client_version label values a
// connect gets, as centrifuge does without registered client names:
// "unnamed"/"unversioned" when the connect names none, "unregistered" when
// it names one (the name is never used as is: clients choose it, and the
// series must stay bounded).
func clientLabels(name, version string) uint8 {
	var i uint8
	if name != "" {
		i |= 1
	}
	if version != "" {
		i |= 2
	}
	return i
}

var clientLabelValues = [4][2]string{
	{"unnamed", "unversioned"},
	{"unregistered", "unversioned"},
	{"unnamed", "unregistered"},
	{"unregistered", "unregistered"},
}

// apiBuckets are Prometheus' default buckets, which Centrifugo's API
// duration histogram uses.
var apiBuckets = [...]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// recoveredBounds are centrifugo_client_recovered_publications' buckets,
// Centrifugo's.
var recoveredBounds = [...]float64{0, 1, 2, 3, 5, 10, 20, 50, 100, 250, 500, 1000, 2000, 5000, 10000}

// connectCounts are one loop's counts of what its connects and
// subscriptions did with recovery and Last-Event-IDs. Only the loop writes
// them (addOne: a load and a store, no locked add and no contention
// between loops, as the delivery loops' own counters); /metrics sums the
// loops (writeOwn).
type connectCounts struct {
	// recover is centrifugo_client_recover by recovered, then
	// has_recovered_publications (0 no, 1 yes).
	recover [2][2]atomic.Uint64
	// recovered is the histogram of the publications a successful
	// recovery returned: counts per bucket of recoveredBounds (the last
	// +Inf), and their sum.
	recovered    [len(recoveredBounds) + 1]atomic.Uint64
	recoveredSum atomic.Uint64
	// lastID is unisse_last_event_id_total by lastIDIgnored, lastIDUsed.
	lastID [2]atomic.Uint64
}

const (
	lastIDIgnored = iota
	lastIDUsed
)

var lastIDResults = [2]string{"ignored", "used"}

func addOne(a *atomic.Uint64, v uint64) { a.Store(a.Load() + v) }

// yesNo is the index of Centrifugo's "no"/"yes" label values.
func yesNo(b bool) int {
	if b {
		return 1
	}
	return 0
}

var yesNoLabels = [2]string{"no", "yes"}

// recovery counts a recovery that resolved (Centrifugo's incRecover and
// observeRecoveredPublications): recovered or not, with n publications.
// On the loop that owns cc.
func (cc *connectCounts) recovery(recovered bool, n int) {
	addOne(&cc.recover[yesNo(recovered)][yesNo(n > 0)], 1)
	if !recovered {
		return
	}
	i := 0
	for i < len(recoveredBounds) && float64(n) > recoveredBounds[i] {
		i++
	}
	addOne(&cc.recovered[i], 1)
	addOne(&cc.recoveredSum, uint64(n))
}

// lastEventID counts a connect's Last-Event-ID, used or not. On the loop
// that owns cc.
func (cc *connectCounts) lastEventID(used bool) {
	if used {
		addOne(&cc.lastID[lastIDUsed], 1)
	} else {
		addOne(&cc.lastID[lastIDIgnored], 1)
	}
}

// apiHistogram is one method's API duration histogram: atomic bucket
// counts (not cumulative, the last +Inf) and the sum in ns.
type apiHistogram struct {
	buckets [len(apiBuckets) + 1]atomic.Uint64
	sumNs   atomic.Int64
}

// apiErrorKey names a series of centrifugo_api_command_errors_total: the
// error code, or "unmarshal" when undecodable. Kept as a number so that
// counting does not format (allocate).
type apiErrorKey struct {
	method      string
	code        uint32
	undecodable bool
}

// label is the series' error label value.
func (k apiErrorKey) label() string {
	if k.undecodable {
		return "unmarshal"
	}
	return strconv.FormatUint(uint64(k.code), 10)
}

// metricsSet holds the node's counters. They live in their own
// VictoriaMetrics set (not the global one) so that several servers in one
// process — tests — do not share numbers.
type metricsSet struct {
	node *Node
	set  *metrics.Set

	accepted *metrics.Counter
	// connects and inflight are by clientLabels.
	connects [4]*metrics.Counter
	inflight [4]atomic.Int64
	sent     [numMsgTypes]*metrics.Counter
	received [numMsgTypes]*metrics.Counter
	// disconnects counts server disconnects by code: the loops' (3008 slow
	// included) and refused connects' pushes.
	disconnects delivery.DisconnectCounts

	apiMu      sync.Mutex // guards the creation of the API's per-method series and apiErrors
	apiSummary [api.MethodBatch + 1]atomic.Pointer[metrics.Summary]
	apiHist    [api.MethodBatch + 1]atomic.Pointer[apiHistogram]
	apiErrors  map[apiErrorKey]*atomic.Uint64

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
	// broker).
	brokerSubscribeErrors *metrics.Counter

	// users and subs are the last counts asked of the loops (refresh), for
	// the gauges; a scrape that finds the loops too busy reports them.
	users, subs atomic.Int64
}

// exposeMetadata turns on # HELP and # TYPE in VictoriaMetrics' output
// (a global switch of the package).
var exposeMetadata sync.Once

func newMetrics(s *Node) *metricsSet {
	exposeMetadata.Do(func() { metrics.ExposeMetadata(true) })
	set := metrics.NewSet()
	m := &metricsSet{
		node:                  s,
		set:                   set,
		accepted:              set.NewCounter("unisse_tcp_connections_accepted_total"),
		slowPushWaits:         set.NewCounter("unisse_disconnect_push_waits_total"),
		acceptErrors:          set.NewCounter("unisse_tcp_accept_errors_total"),
		shed:                  set.NewCounter("unisse_tcp_connections_shed_total"),
		controlErrors:         set.NewCounter("unisse_cluster_control_errors_total"),
		presenceErrors:        set.NewCounter("unisse_presence_update_errors_total"),
		joinLeaveErrors:       set.NewCounter("unisse_join_leave_publish_errors_total"),
		brokerSubscribeErrors: set.NewCounter("unisse_broker_subscribe_errors_total"),
		apiErrors:             make(map[apiErrorKey]*atomic.Uint64),
	}
	for i := range m.connects {
		labels := clientLabelSet(uint8(i))
		m.connects[i] = set.NewCounter("centrifugo_client_connections_accepted" + labels)
		set.NewGauge("centrifugo_client_connections_inflight"+labels, func() float64 { return float64(m.inflight[i].Load()) })
	}
	// As Centrifugo: the channel_namespace label is empty unless its
	// per-namespace metrics are enabled, which unisse does not offer.
	for i, t := range msgTypeNames {
		m.sent[i] = set.NewCounter(`centrifugo_node_messages_sent_count{channel_namespace="",type="` + t + `"}`)
		m.received[i] = set.NewCounter(`centrifugo_node_messages_received_count{channel_namespace="",type="` + t + `"}`)
	}
	set.NewGauge("centrifugo_node_num_clients", func() float64 { return float64(s.numClients.Load()) })
	set.NewGauge("centrifugo_node_num_users", func() float64 { return float64(m.users.Load()) })
	set.NewGauge("centrifugo_node_num_subscriptions", func() float64 { return float64(m.subs.Load()) })
	set.NewGauge("centrifugo_node_num_channels", func() float64 { return float64(s.hub.NumChannels()) })
	set.NewGauge("centrifugo_node_num_nodes", func() float64 { return float64(s.numNodes()) })
	set.NewGauge(`centrifugo_node_build{version=`+strconv.Quote(s.version)+`}`, func() float64 { return 1 })
	set.RegisterMetricsWriter(m.writeOwn)
	return m
}

// clientLabelSet is the label set of centrifugo_client_connections_* for
// clientLabels index i.
func clientLabelSet(i uint8) string {
	v := clientLabelValues[i]
	return `{accept_protocol="",client_name="` + v[0] + `",client_version="` + v[1] + `",transport="uni_sse"}`
}

// streamStarted counts a stream that started (connect accepted); on its loop.
func (m *metricsSet) streamStarted(c *delivery.Conn) {
	i := c.ClientLabels & 3
	m.connects[i].Inc()
	m.inflight[i].Add(1)
}

// streamEnded undoes streamStarted's inflight count; on its loop.
func (m *metricsSet) streamEnded(c *delivery.Conn) { m.inflight[c.ClientLabels&3].Add(-1) }

// numNodes is the number of live nodes this one knows, itself included.
func (s *Node) numNodes() int {
	if s.cluster == nil {
		return 1
	}
	return len(s.cluster.c.Info())
}

// Command (api.Observer) notes one API command's duration.
func (m *metricsSet) Command(meth api.Method, d time.Duration) {
	if int(meth) >= len(m.apiHist) {
		return
	}
	h := m.apiHist[meth].Load()
	sm := m.apiSummary[meth].Load()
	if h == nil || sm == nil {
		h, sm = m.apiSeries(meth)
	}
	sec := d.Seconds()
	sm.Update(sec)
	i := 0
	for i < len(apiBuckets) && sec > apiBuckets[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(int64(d))
}

// apiSeries creates method meth's summary and histogram on its first command.
func (m *metricsSet) apiSeries(meth api.Method) (*apiHistogram, *metrics.Summary) {
	m.apiMu.Lock()
	defer m.apiMu.Unlock()
	if m.apiHist[meth].Load() == nil {
		// As Centrifugo: quantiles 0.5, 0.99, 0.999 (over VictoriaMetrics'
		// sliding window rather than Prometheus' 10 min decay).
		sm := m.set.NewSummaryExt(`centrifugo_api_command_duration_seconds{method="`+meth.String()+`",protocol="http"}`, 5*time.Minute, []float64{0.5, 0.99, 0.999})
		m.apiSummary[meth].Store(sm)
		m.apiHist[meth].Store(new(apiHistogram))
	}
	return m.apiHist[meth].Load(), m.apiSummary[meth].Load()
}

// Error (api.Observer) counts an API error.
func (m *metricsSet) Error(method string, code uint32) {
	m.apiError(apiErrorKey{method: method, code: code})
}

// Undecodable (api.Observer) counts a body that did not decode.
func (m *metricsSet) Undecodable(method string) {
	m.apiError(apiErrorKey{method: method, undecodable: true})
}

func (m *metricsSet) apiError(k apiErrorKey) {
	m.apiMu.Lock()
	c := m.apiErrors[k]
	if c == nil {
		c = new(atomic.Uint64)
		m.apiErrors[k] = c
	}
	m.apiMu.Unlock()
	c.Add(1)
}

// writeOwn writes the families VictoriaMetrics' set cannot: those summed
// over the loops, counters by code, and the API histograms and errors.
func (m *metricsSet) writeOwn(w io.Writer) {
	s := m.node
	loops := *s.known.Load()
	var events, writes uint64
	var backlog int64
	var delay [len(delivery.DelayBounds) + 1]uint64
	var delaySum float64
	var pushes, pushBytes [delivery.NumPushKinds]uint64
	for _, l := range loops {
		events += l.FramesQueued()
		writes += l.Writes()
		backlog += l.BacklogBytes()
		delaySum += l.DelayHistogram(delay[:])
		l.Pushes(pushes[:], pushBytes[:])
	}
	// Only the frame types sent so far, as Centrifugo's series appear.
	for i, fam := range []string{"centrifugo_transport_messages_sent", "centrifugo_transport_messages_sent_size"} {
		counts := [2]*[delivery.NumPushKinds]uint64{&pushes, &pushBytes}[i]
		wrote := false
		for k, n := range counts {
			if pushes[k] == 0 {
				continue
			}
			if !wrote {
				meta(w, fam)
				wrote = true
			}
			fmt.Fprintf(w, "%s{channel_namespace=\"\",frame_type=%q,transport=\"uni_sse\"} %d\n", fam, delivery.PushKindNames[k], n)
		}
	}
	meta(w, "unisse_transport_events_total")
	fmt.Fprintf(w, "unisse_transport_events_total %d\n", events)
	meta(w, "unisse_transport_writes_total")
	fmt.Fprintf(w, "unisse_transport_writes_total %d\n", writes)
	meta(w, "unisse_loop_backlog_bytes")
	fmt.Fprintf(w, "unisse_loop_backlog_bytes %d\n", backlog)
	meta(w, "unisse_publication_delay_seconds")
	writeHistogram(w, "unisse_publication_delay_seconds", "", delivery.DelayBounds[:], delay[:], delaySum)

	m.writeRecovery(w)

	wroteMeta := false
	m.disconnects.Each(func(code uint32, n uint64) {
		if !wroteMeta {
			meta(w, "centrifugo_client_num_server_disconnects")
			wroteMeta = true
		}
		fmt.Fprintf(w, "centrifugo_client_num_server_disconnects{code=\"%d\"} %d\n", code, n)
	})

	wroteMeta = false
	for meth := range m.apiHist {
		h := m.apiHist[meth].Load()
		if h == nil {
			continue
		}
		if !wroteMeta {
			meta(w, "centrifugo_api_command_duration_seconds_histogram")
			wroteMeta = true
		}
		var b [len(apiBuckets) + 1]uint64
		for i := range b {
			b[i] = h.buckets[i].Load()
		}
		labels := `method="` + api.Method(meth).String() + `",protocol="http"`
		writeHistogram(w, "centrifugo_api_command_duration_seconds_histogram", labels, apiBuckets[:], b[:], time.Duration(h.sumNs.Load()).Seconds())
	}

	m.apiMu.Lock()
	errs := make(map[apiErrorKey]uint64, len(m.apiErrors))
	for k, c := range m.apiErrors {
		errs[k] = c.Load()
	}
	m.apiMu.Unlock()
	if len(errs) > 0 {
		meta(w, "centrifugo_api_command_errors_total")
		for k, n := range errs {
			fmt.Fprintf(w, "centrifugo_api_command_errors_total{error=%q,method=%q,protocol=\"http\"} %d\n", k.label(), k.method, n)
		}
	}
}

// writeRecovery writes the loops' connectCounts: the recover counter's
// series and the histogram (prometheus.recovered_publications_histogram)
// only once counted, as Centrifugo's appear; unisse_last_event_id_total
// always.
func (m *metricsSet) writeRecovery(w io.Writer) {
	var recover [2][2]uint64
	var recovered [len(recoveredBounds) + 1]uint64
	var recoveredSum uint64
	var lastID [2]uint64
	for i := range m.node.scratch {
		cc := &m.node.scratch[i].counts
		for r := range recover {
			for p := range recover[r] {
				recover[r][p] += cc.recover[r][p].Load()
			}
		}
		for b := range recovered {
			recovered[b] += cc.recovered[b].Load()
		}
		recoveredSum += cc.recoveredSum.Load()
		for r := range lastID {
			lastID[r] += cc.lastID[r].Load()
		}
	}
	wroteMeta := false
	for p := range 2 { // in Centrifugo's order of the label values
		for r := range recover {
			n := recover[r][p]
			if n == 0 {
				continue
			}
			if !wroteMeta {
				meta(w, "centrifugo_client_recover")
				wroteMeta = true
			}
			fmt.Fprintf(w, "centrifugo_client_recover{channel_namespace=\"\",has_recovered_publications=%q,recovered=%q} %d\n", yesNoLabels[p], yesNoLabels[r], n)
		}
	}
	if m.node.opts.Prometheus.RecoveredPublicationsHistogram && recover[1][0]+recover[1][1] > 0 {
		meta(w, "centrifugo_client_recovered_publications")
		writeHistogram(w, "centrifugo_client_recovered_publications", `channel_namespace=""`, recoveredBounds[:], recovered[:], float64(recoveredSum))
	}
	meta(w, "unisse_last_event_id_total")
	for r, n := range lastID {
		fmt.Fprintf(w, "unisse_last_event_id_total{result=%q} %d\n", lastIDResults[r], n)
	}
}

// writeHistogram writes a histogram's samples: counts are per bucket (the
// last +Inf) and are written cumulative, as Prometheus wants.
func writeHistogram(w io.Writer, name, labels string, bounds []float64, counts []uint64, sum float64) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var total uint64
	for i, n := range counts {
		total += n
		le := "+Inf"
		if i < len(bounds) {
			le = strconv.FormatFloat(bounds[i], 'g', -1, 64)
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=%q} %d\n", name, labels, sep, le, total)
	}
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %s\n", name, labels, strconv.FormatFloat(sum, 'g', -1, 64))
	fmt.Fprintf(w, "%s_count%s %d\n", name, labels, total)
}

// familyIndex maps every family's name to its description.
var familyIndex = func() map[string]*Family {
	idx := make(map[string]*Family)
	for _, fams := range [][]Family{CentrifugoFamilies, UnisseFamilies} {
		for i := range fams {
			idx[fams[i].Name] = &fams[i]
		}
	}
	return idx
}()

// meta writes a family's # HELP and # TYPE lines.
func meta(w io.Writer, name string) {
	f := familyIndex[name]
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, f.Help, name, f.Type)
}

// refresh asks the loops for the distinct users and the subscriptions, for
// the gauges (off the loops; at most 1 s).
func (m *metricsSet) refresh() {
	if users, subs, ok := m.node.countUsersAndSubs(time.Second); ok {
		m.users.Store(int64(users))
		m.subs.Store(int64(subs))
	}
}

// write renders the whole exposition: the set (with the families' help
// text put into VictoriaMetrics' empty # HELP lines), then the process's.
func (m *metricsSet) write(w *bytes.Buffer) {
	m.refresh()
	var raw bytes.Buffer
	m.set.WritePrometheus(&raw)
	metrics.WriteProcessMetrics(&raw)
	for line := range bytes.Lines(raw.Bytes()) {
		name, ok := bytes.CutPrefix(line, []byte("# HELP "))
		name = bytes.TrimSuffix(name, []byte("\n"))
		if !ok || bytes.IndexByte(name, ' ') >= 0 {
			w.Write(line)
			continue
		}
		help := processHelp
		if f := familyIndex[string(name)]; f != nil {
			help = f.Help
		}
		fmt.Fprintf(w, "# HELP %s %s\n", name, help)
	}
}

// snapshot returns the node's metrics for /api/info's metrics items, named
// as Centrifugo's exporter (github.com/FZambia/eagle) names them: the
// family split into namespace, subsystem and name at its first two
// underscores, then "sum", "count" or "quantile.<q>" for a summary, then
// each label's name and value, all joined with dots, labels with an empty
// value left out (centrifugo.api.command_duration_seconds.count.method.
// publish.protocol.http). Counters, gauges and summaries only, as there.
// Unlike Centrifugo, counters are totals, not the increase over the last
// 60 s (README "Metrics").
func (m *metricsSet) snapshot() map[string]float64 {
	out := make(map[string]float64)
	var buf bytes.Buffer
	m.refresh()
	m.set.WritePrometheus(&buf)
	var family, typ string
	for line := range strings.Lines(buf.String()) {
		line = strings.TrimSuffix(line, "\n")
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			family, typ, _ = strings.Cut(rest, " ")
			continue
		}
		if line == "" || line[0] == '#' || typ == "histogram" {
			continue
		}
		key, v, ok := infoItem(family, typ, line)
		if ok {
			out[key] = v
		}
	}
	return out
}

// infoItem is the /api/info item of sample line of family (see snapshot).
func infoItem(family, typ, line string) (key string, v float64, ok bool) {
	sp := strings.LastIndexByte(line, ' ')
	if sp < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(line[sp+1:], 64)
	if err != nil || math.IsNaN(v) {
		return "", 0, false
	}
	name, labels, _ := strings.Cut(line[:sp], "{")
	labels = strings.TrimSuffix(labels, "}")
	parts := strings.SplitN(family, "_", 3)
	if len(parts) < 2 {
		return "", 0, false
	}
	if typ == "summary" {
		switch name {
		case family + "_sum":
			parts = append(parts, "sum")
		case family + "_count":
			parts = append(parts, "count")
		}
	}
	var quantile string
	for labels != "" {
		k, rest, _ := strings.Cut(labels, "=")
		val, rest, err := cutQuoted(rest)
		if err != nil {
			return "", 0, false
		}
		labels = strings.TrimPrefix(rest, ",")
		switch {
		case k == "quantile" && typ == "summary":
			quantile = val
		case val != "":
			parts = append(parts, k, val)
		}
	}
	if quantile != "" {
		q, err := strconv.ParseFloat(quantile, 64)
		if err != nil {
			return "", 0, false
		}
		// eagle's quantileString: 0.5 → "50", 0.99 → "99", 0.999 → "999".
		qs := strconv.Itoa(int(q * 1000))
		if len(qs) > 2 {
			qs = strings.TrimSuffix(qs, "0")
		}
		parts = slices.Insert(parts, min(3, len(parts)), "quantile", qs)
	}
	return strings.Join(parts, "."), v, true
}

// cutQuoted reads the quoted label value s starts with.
func cutQuoted(s string) (val, rest string, err error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	val, err = strconv.Unquote(q)
	return val, s[len(q):], err
}

// serveMetrics answers /metrics in Prometheus text format. Rendering asks
// the loops for counts and reads /proc, so it runs off the loop.
func (s *Node) serveMetrics(c *delivery.Conn, head, keepAlive bool) {
	http10 := c.HTTP10 // conn fields are read on the loop only
	c.State = delivery.StateAwaiting
	go func() {
		var buf bytes.Buffer
		s.metrics.write(&buf)
		out := httpwrite.AppendBody(nil, 200, "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", false, buf.Bytes(), head, !keepAlive)
		httpwrite.FixProto(out, http10)
		_ = c.GC.AsyncWrite(out, func(gnet.Conn, error) error {
			s.resume(c, keepAlive)
			return nil
		})
	}()
}

// ReleaseMetrics lets go of what the node's metrics hold outside it: the
// API summaries that VictoriaMetrics' process-wide cron keeps rotating.
// Server.Stop calls it last; /metrics is not served after.
func (s *Node) ReleaseMetrics() { s.metrics.set.UnregisterAllMetrics() }
