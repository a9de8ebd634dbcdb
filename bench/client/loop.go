package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/bench/hist"
	"github.com/unisse/unisse/bench/payload"
	"github.com/unisse/unisse/bench/recovery"
	"github.com/unisse/unisse/bench/ssestream"
	"github.com/unisse/unisse/bench/track"
)

// SnapshotEvery is how often a Loop refreshes the copy Counters returns.
const SnapshotEvery = 50 * time.Millisecond

// readBufSize is the loop's one read buffer, shared by all its connections.
const readBufSize = 64 << 10

type connState uint8

const (
	stIdle       connState = iota // no socket
	stConnecting                  // connect() in progress
	stWriting                     // request being written
	stReading                     // waiting for the response head and connect push
	stStreaming                   // connect push received
	stClosed                      // closed, kept for the final accounting
)

// conn is one subscriber connection; its streams live in Loop.streams.
type conn struct {
	parser    ssestream.Parser
	startNs   int64 // monotonic ns at connect()
	fd        int32
	channel   int32
	reqOff    int32 // request bytes written
	code      uint32
	chk       int32 // recovering, before its connect push: Loop.checkers index + 1
	state     connState
	fromStart bool // streaming before the first publish: owed every sequence
	queued    bool // waiting in the reconnect queue
}

// Loop is one epoll loop holding a range of connections. See the package doc.
type Loop struct {
	cfg      Config
	epfd     int
	conns    []conn
	streams  []track.Stream // conns[i]'s are streams[i*P:(i+1)*P]
	byFd     []int32        // fd → conn slot + 1
	buf      []byte
	rx       tsReader
	servers  []unix.SockaddrInet4 // cfg.Servers
	sources  []unix.SockaddrInet4
	epoch    time.Time
	rng      *rand.Rand
	handler  handler
	cmds     chan func(*Loop)
	done     chan struct{}
	stopping bool

	// Connect scheduling.
	nextFresh int     // next slot never opened
	paced     int     // fresh connects started, for pacing
	redo      []int32 // slots to reopen (churn), served before fresh ones
	churning  bool
	churnT0   int64
	churned   int

	finals    [][]uint32 // [publisher][group], set by Drain
	drained   chan struct{}
	nextSweep int64

	// Recovering connections' checkers, for those awaiting their connect
	// push (at most MaxInFlight).
	checkers []recovery.Checker
	freeChk  []int32

	// Latency windows (SetWindow): bounds in unix ns, windows[k] for
	// publications sent after k bounds.
	bounds  []int64
	windows []hist.Hist

	firstAttempt, lastConnect int64 // unix ns

	c       Counters
	errs    map[string]uint64
	latency hist.Hist
	connect hist.Hist
	readLag hist.Hist
	folded  Delivery // accounting of connection incarnations churn ended

	mu   sync.Mutex
	snap Counters
}

// handler adapts the loop to ssestream.Handler for the connection being read.
type handler struct {
	l      *Loop
	slot   int
	wallNs int64
}

// NewLoop creates a loop for cfg; call Run to start it.
func NewLoop(cfg Config) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("client: epoll_create1: %w", err)
	}
	l := &Loop{
		cfg:     cfg,
		epfd:    epfd,
		conns:   make([]conn, cfg.Count),
		streams: make([]track.Stream, cfg.Count*cfg.Publishers),
		buf:     make([]byte, readBufSize),
		epoch:   time.Now(),
		rng:     rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.First))),
		cmds:    make(chan func(*Loop), 8),
		done:    make(chan struct{}),
		errs:    make(map[string]uint64),
	}
	for _, s := range cfg.Servers {
		l.servers = append(l.servers, unix.SockaddrInet4{Port: int(s.Port()), Addr: s.Addr().As4()})
	}
	for _, s := range cfg.Sources {
		l.sources = append(l.sources, unix.SockaddrInet4{Addr: s.As4()})
	}
	for i := range l.conns {
		l.conns[i].fd = -1
		l.conns[i].channel = int32((cfg.First + i) % cfg.Channels)
	}
	l.handler.l = l
	return l, nil
}

// discard releases a loop that never ran.
func (l *Loop) discard() { unix.Close(l.epfd) }

func (l *Loop) mono() int64 { return int64(time.Since(l.epoch)) }

// Run runs the loop until Stop; it locks its goroutine to an OS thread.
func (l *Loop) Run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(l.done)
	defer unix.Close(l.epfd)
	events := make([]unix.EpollEvent, 256)
	for {
		l.runCommands()
		if l.stopping {
			break
		}
		now := l.mono()
		l.startConnects(now)
		l.churn(now)
		if now >= l.nextSweep {
			l.sweep(now)
			l.nextSweep = now + int64(SnapshotEvery)
		}
		n, err := unix.EpollWait(l.epfd, events, l.waitMs(now))
		if err != nil && !errors.Is(err, unix.EINTR) {
			l.errs["epoll_wait: "+err.Error()]++
			break
		}
		for i := 0; i < n; i++ {
			l.onEvent(&events[i])
		}
	}
	for i := range l.conns {
		if l.conns[i].fd >= 0 {
			l.closeConn(i, "", closeShutdown)
		}
	}
	l.publish()
	if l.drained != nil {
		close(l.drained) // nothing more will arrive (Stop has read whether it drained)
		l.drained = nil
	}
}

func (l *Loop) runCommands() {
	for {
		select {
		case f := <-l.cmds:
			f(l)
		default:
			return
		}
	}
}

// waitMs is how long epoll_wait may sleep: until the next paced connect or
// churn, at most 50 ms (the command latency).
func (l *Loop) waitMs(now int64) int {
	wait := int64(50 * time.Millisecond)
	if at, ok := l.nextConnectAt(); ok {
		wait = min(wait, at-now)
	}
	if l.churning && l.cfg.ChurnRate > 0 && l.c.Open > 0 { // churn waits for an open stream
		at := l.churnT0 + int64(float64(l.churned+1)/l.cfg.ChurnRate*1e9)
		wait = min(wait, at-now)
	}
	wait = max(wait, 0)
	return int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

func (l *Loop) inFlightFull() bool { return int(l.c.InFlight) >= l.cfg.MaxInFlight }

// nextConnectAt is when the next fresh connect is due, if one is waiting.
func (l *Loop) nextConnectAt() (int64, bool) {
	if l.nextFresh >= len(l.conns) && len(l.redo) == 0 || l.inFlightFull() {
		return 0, false
	}
	if len(l.redo) > 0 || l.cfg.ConnectRate <= 0 {
		return 0, true
	}
	return int64(float64(l.paced) / l.cfg.ConnectRate * 1e9), true
}

func (l *Loop) startConnects(now int64) {
	for !l.inFlightFull() {
		if len(l.redo) > 0 {
			slot := l.redo[0]
			l.redo = l.redo[1:]
			l.conns[slot].queued = false
			l.open(int(slot), now)
			continue
		}
		if l.nextFresh >= len(l.conns) {
			return
		}
		if at, _ := l.nextConnectAt(); l.cfg.ConnectRate > 0 && at > now {
			return
		}
		l.paced++
		l.nextFresh++
		l.open(l.nextFresh-1, now)
	}
}

// open starts connection slot's connect.
func (l *Loop) open(slot int, now int64) {
	c := &l.conns[slot]
	c.parser.Reset()
	c.reqOff, c.code, c.fromStart = 0, 0, false
	clear(l.streams[slot*l.cfg.Publishers : (slot+1)*l.cfg.Publishers])
	c.startNs = now
	c.state = stClosed
	l.c.Attempts++
	if l.firstAttempt == 0 {
		l.firstAttempt = time.Now().UnixNano()
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.c.ConnectErrors++
		l.errs["socket: "+err.Error()]++
		return
	}
	fail := func(what string, err error) {
		unix.Close(fd)
		l.c.ConnectErrors++
		l.errs[what+": "+err.Error()]++
	}
	// Let connect() pick the port per 4-tuple rather than bind() per address.
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if l.cfg.KernelTimestamps {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			fail("setsockopt SO_TIMESTAMPNS", err)
			return
		}
	}
	src := &l.sources[(l.cfg.First+slot)%len(l.sources)]
	if err := unix.Bind(fd, src); err != nil {
		fail("bind", err)
		return
	}
	err = unix.Connect(fd, &l.servers[l.cfg.ServerOf(l.cfg.First+slot)])
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		fail("connect", err)
		return
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(fd)}); err != nil {
		fail("epoll_ctl", err)
		return
	}
	for fd >= len(l.byFd) {
		l.byFd = append(l.byFd, make([]int32, len(l.byFd)+1024)...)
	}
	l.byFd[fd] = int32(slot) + 1
	c.fd = int32(fd)
	c.state = stConnecting
	l.c.InFlight++
	if l.cfg.Recover != nil {
		c.parser.SetPieces(true)
		l.takeChecker(slot)
	}
}

// takeChecker gives slot a checker for its connect push.
func (l *Loop) takeChecker(slot int) {
	if len(l.freeChk) == 0 {
		l.checkers = append(l.checkers, recovery.Checker{})
		l.freeChk = append(l.freeChk, int32(len(l.checkers)))
	}
	c := &l.conns[slot]
	c.chk = l.freeChk[len(l.freeChk)-1]
	l.freeChk = l.freeChk[:len(l.freeChk)-1]
	l.checkers[c.chk-1].Reset(l.cfg.Recover)
}

func (l *Loop) releaseChecker(slot int) {
	c := &l.conns[slot]
	if c.chk != 0 {
		l.freeChk = append(l.freeChk, c.chk)
		c.chk = 0
	}
}

func (l *Loop) onEvent(ev *unix.EpollEvent) {
	if int(ev.Fd) >= len(l.byFd) || l.byFd[ev.Fd] == 0 {
		return
	}
	slot := int(l.byFd[ev.Fd] - 1)
	c := &l.conns[slot]
	switch c.state {
	case stConnecting:
		soerr, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soerr != 0 {
			err = unix.Errno(soerr)
		}
		if err != nil {
			l.closeConn(slot, "connect: "+err.Error(), closeError)
			return
		}
		c.state = stWriting
		l.write(slot)
	case stWriting:
		l.write(slot)
	case stReading, stStreaming:
		l.read(slot)
	}
}

func (l *Loop) write(slot int) {
	c := &l.conns[slot]
	req := l.cfg.Request(l.cfg.First + slot)
	for int(c.reqOff) < len(req) {
		n, err := unix.Write(int(c.fd), req[c.reqOff:])
		if errors.Is(err, unix.EAGAIN) {
			return // still registered for EPOLLOUT
		}
		if err != nil {
			l.closeConn(slot, "write: "+err.Error(), closeError)
			return
		}
		c.reqOff += int32(n)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: c.fd}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &ev); err != nil {
		l.closeConn(slot, "epoll_ctl: "+err.Error(), closeError)
		return
	}
	c.state = stReading
}

// read does one read(2): level-triggered epoll calls again if more is
// waiting, which keeps one busy connection from starving the others.
func (l *Loop) read(slot int) {
	c := &l.conns[slot]
	var n int
	var ts int64
	var err error
	if l.cfg.KernelTimestamps {
		n, ts, err = l.rx.read(int(c.fd), l.buf)
	} else {
		n, err = unix.Read(int(c.fd), l.buf)
	}
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return
	case err != nil:
		l.closeConn(slot, "read: "+err.Error(), closeError)
		return
	case n == 0:
		l.closeConn(slot, "eof", closeError)
		return
	}
	l.c.Reads++
	l.c.Bytes += uint64(n)
	l.handler.slot = slot
	now := time.Now().UnixNano()
	l.handler.wallNs = now
	if ts > 0 && ts <= now {
		l.readLag.Record(now - ts)
		l.handler.wallNs = ts
	}
	switch err := c.parser.Feed(l.buf[:n], &l.handler); {
	case err == nil:
	case errors.Is(err, ssestream.ErrStatus):
		l.c.HTTPErrors++
		l.closeConn(slot, fmt.Sprintf("http %d", c.parser.Status()), closeCounted)
	case errors.Is(err, ssestream.ErrEnd):
		l.closeConn(slot, "end of stream", closeError)
	default:
		l.closeConn(slot, err.Error(), closeError)
	}
}

// OnEvent accounts one SSE event of the connection being read.
func (h *handler) OnEvent(data []byte, _ bool) {
	l := h.l
	c := &l.conns[h.slot]
	ev := payload.Parse(data)
	switch ev.Kind {
	case payload.Connect:
		if c.state == stReading {
			c.state = stStreaming
			l.c.Connected++
			l.c.InFlight--
			l.c.Open++
			l.connect.Record(l.mono() - c.startNs)
			l.lastConnect = max(l.lastConnect, h.wallNs)
		}
	case payload.Ping:
		l.c.Pings++
	case payload.Disconnect:
		l.c.Disconnects++
		c.code = ev.Code
	case payload.Pub:
		if int(ev.W) >= l.cfg.Publishers {
			l.c.Foreign++
			return
		}
		switch l.streams[h.slot*l.cfg.Publishers+int(ev.W)].Add(ev.Seq) {
		case track.New:
			l.c.Pubs++
			l.record(h.wallNs-ev.SentNs, ev.SentNs)
		case track.Late:
			l.c.Pubs++
			l.c.Reorders++
			l.record(h.wallNs-ev.SentNs, ev.SentNs)
		case track.Duplicate:
			l.c.Dups++
		case track.Stale:
			l.c.Stale++
			l.c.Reorders++
		}
	default:
		l.c.Foreign++
	}
}

// record accounts one publish→receive latency of a publication sent at
// sentNs.
func (l *Loop) record(lat, sentNs int64) {
	l.latency.Record(lat)
	if n := len(l.bounds); n > 0 {
		for n > 0 && sentNs < l.bounds[n-1] {
			n--
		}
		l.windows[n].Record(lat)
	}
}

// OnPiece checks a recovering connection's connect push as it arrives (the
// parser is in pieces mode while the connection holds a checker).
func (h *handler) OnPiece(data []byte, last bool) {
	l := h.l
	c := &l.conns[h.slot]
	if c.chk == 0 {
		if last {
			c.parser.SetPieces(false)
		}
		return
	}
	ck := &l.checkers[c.chk-1]
	ck.Write(data)
	if !last {
		return
	}
	head := ck.Head() // the checker's own memory: valid until its next Reset
	switch payload.Parse(head).Kind {
	case payload.Connect:
		if c.state == stReading {
			v := ck.Finish()
			l.c.RecoverBytes += uint64(v.Bytes)
			if p := v.Problem(l.cfg.Recover); p == "" {
				l.c.Recovered++
			} else {
				l.c.RecoverFailed++
				l.errs["recovery: "+p]++
			}
		}
		fallthrough
	case payload.Disconnect:
		l.releaseChecker(h.slot)
		c.parser.SetPieces(false)
		h.OnEvent(head, false)
	default:
		// Something before the connect push: account it, keep waiting.
		h.OnEvent(head, false)
		ck.Reset(l.cfg.Recover)
	}
}

type closeKind uint8

const (
	closeError    closeKind = iota // something went wrong: count it by phase
	closeCounted                   // already counted by the caller
	closeChurn                     // the tool closes it on purpose
	closeShutdown                  // end of the run
)

// closeConn closes slot's socket and accounts why.
func (l *Loop) closeConn(slot int, why string, kind closeKind) {
	c := &l.conns[slot]
	unix.Close(int(c.fd)) // also removes it from the epoll set
	l.byFd[c.fd] = 0
	c.fd = -1
	l.releaseChecker(slot)
	wasStreaming := c.state == stStreaming
	if wasStreaming {
		l.c.Open--
	} else {
		l.c.InFlight--
	}
	c.state = stClosed
	if c.code != 0 && why != "" {
		why = fmt.Sprintf("disconnect %d, then %s", c.code, why)
	}
	switch kind {
	case closeError:
		if wasStreaming {
			l.c.ServerClosed++
			why = "closed after connect: " + why
		} else {
			l.c.ConnectErrors++
			why = "failed before connect push: " + why
		}
	case closeChurn:
		l.c.Churned++
	}
	if why != "" && kind != closeChurn {
		l.errs[why]++
	}
	if l.churning && kind != closeShutdown {
		// Churn reopens every slot that closes; what this incarnation saw
		// is accounted now, against the span it saw.
		l.fold(slot)
		if !c.queued {
			c.queued = true
			l.redo = append(l.redo, int32(slot))
		}
	}
}

// fold accounts a closing incarnation of slot against the span it saw.
func (l *Loop) fold(slot int) {
	var lost uint64
	for _, s := range l.streams[slot*l.cfg.Publishers : (slot+1)*l.cfg.Publishers] {
		if s.Last == 0 {
			continue
		}
		l.folded.Expected += uint64(s.Expected(s.Last, false))
		lost += uint64(s.Lost(s.Last, false))
	}
	l.folded.Lost += lost
	if lost > 0 {
		l.folded.ConnsWithLoss++
		l.folded.MaxLostPerConn = max(l.folded.MaxLostPerConn, lost)
	}
	clear(l.streams[slot*l.cfg.Publishers : (slot+1)*l.cfg.Publishers])
}

// churn closes and requeues connections at ChurnRate once started.
func (l *Loop) churn(now int64) {
	if !l.churning || l.cfg.ChurnRate <= 0 || l.c.Open == 0 {
		return
	}
	for now >= l.churnT0+int64(float64(l.churned+1)/l.cfg.ChurnRate*1e9) {
		l.churned++
		start := l.rng.IntN(len(l.conns))
		for k := range l.conns {
			slot := (start + k) % len(l.conns)
			if l.conns[slot].state == stStreaming {
				l.closeConn(slot, "", closeChurn)
				break
			}
		}
	}
}

// sweep times out slow connects, refreshes the counters copy and checks the
// drain. Every SnapshotEvery.
func (l *Loop) sweep(now int64) {
	if l.c.InFlight > 0 {
		deadline := now - int64(l.cfg.ConnectTimeout)
		for i := range l.conns {
			c := &l.conns[i]
			if c.fd >= 0 && c.state != stStreaming && c.startNs < deadline {
				l.c.ConnectTimeouts++
				l.closeConn(i, "connect timeout", closeCounted)
			}
		}
	}
	l.publish()
	if l.drained != nil && l.finals != nil && l.complete() {
		close(l.drained)
		l.drained = nil
	}
}

func (l *Loop) publish() {
	l.mu.Lock()
	l.snap = l.c
	l.mu.Unlock()
}

func (l *Loop) group(slot int) int { return int(l.conns[slot].channel) / l.cfg.GroupSize }

// complete reports whether every open stream has the final sequences.
func (l *Loop) complete() bool {
	P := l.cfg.Publishers
	for i := range l.conns {
		if l.conns[i].state != stStreaming {
			continue
		}
		g := l.group(i)
		for w := range P {
			if !l.streams[i*P+w].Complete(l.finals[w][g], l.conns[i].fromStart) {
				return false
			}
		}
	}
	return true
}

// Counters returns the counters as of at most SnapshotEvery ago. Safe from
// any goroutine.
func (l *Loop) Counters() Counters {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snap
}

// do runs f on the loop; false if the loop has stopped.
func (l *Loop) do(f func(*Loop)) bool {
	select {
	case l.cmds <- f:
		return true
	case <-l.done:
		return false
	}
}

// MarkStart records that publishing starts now: every connection streaming
// at this point is owed every publication. Safe from any goroutine; returns
// once the loop has done it.
func (l *Loop) MarkStart() {
	ack := make(chan struct{})
	if l.do(func(l *Loop) {
		for i := range l.conns {
			if l.conns[i].state == stStreaming {
				l.conns[i].fromStart = true
			}
		}
		close(ack)
	}) {
		select {
		case <-ack:
		case <-l.done:
		}
	}
}

// SetWindow starts a new latency window (Result.Windows) for publications
// sent from at (unix ns) on. Boundaries must increase, and each must still
// be in the future when set, so that no publication sent after it has been
// accounted yet. Safe from any goroutine; returns once the loop has it.
func (l *Loop) SetWindow(at int64) {
	ack := make(chan struct{})
	if l.do(func(l *Loop) {
		if len(l.windows) == 0 {
			// Everything so far was sent before the first boundary.
			l.windows = append(l.windows, l.latency)
		}
		l.bounds = append(l.bounds, at)
		l.windows = append(l.windows, hist.Hist{})
		close(ack)
	}) {
		select {
		case <-ack:
		case <-l.done:
		}
	}
}

// StartChurn starts closing and reopening connections at ChurnRate. Safe
// from any goroutine.
func (l *Loop) StartChurn() {
	l.do(func(l *Loop) {
		l.churning = true
		l.churnT0 = l.mono()
	})
}

// Drain hands the loop the publishers' final sequences, finals[w][group],
// and returns a channel closed when every open stream has received them, or
// when the loop stops (Result.Drained tells which). Churn stops. Safe from any goroutine; the loop keeps its own reference to
// finals, which must not change afterwards.
func (l *Loop) Drain(finals [][]uint32) <-chan struct{} {
	ch := make(chan struct{})
	if !l.do(func(l *Loop) {
		l.churning = false
		l.finals = finals
		l.drained = ch
		l.nextSweep = 0
	}) {
		close(ch)
	}
	return ch
}

// Stop closes every connection, ends Run and returns the result. Safe from
// any goroutine; call once.
func (l *Loop) Stop() *Result {
	var drained bool
	l.do(func(l *Loop) {
		drained = l.finals != nil && l.drained == nil
		l.stopping = true
	})
	<-l.done
	// Run has returned: the loop's state is ours now.
	r := &Result{
		Counters: l.c,
		Errors:   l.errs,
		Latency:  l.latency,
		Connect:  l.connect,
		ReadLag:  l.readLag,
		Drained:  drained,
		Delivery: l.folded,
		Windows:  l.windows,

		FirstAttempt: l.firstAttempt,
		LastConnect:  l.lastConnect,
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	r.Delivery.Final = l.finals != nil
	P := l.cfg.Publishers
	for i := range l.conns {
		var lost uint64
		for w := range P {
			s := &l.streams[i*P+w]
			final, fromStart := s.Last, false
			if l.finals != nil {
				final, fromStart = l.finals[w][l.group(i)], l.conns[i].fromStart
			}
			r.Delivery.Expected += uint64(s.Expected(final, fromStart))
			lost += uint64(s.Lost(final, fromStart))
		}
		r.Delivery.Lost += lost
		if lost > 0 {
			r.Delivery.ConnsWithLoss++
			r.Delivery.MaxLostPerConn = max(r.Delivery.MaxLostPerConn, lost)
		}
	}
	return r
}
