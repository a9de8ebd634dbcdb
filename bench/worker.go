package bench

// Workers. A worker holds a slice of the connections in its own process, so
// that a run is not capped by one process's open-file limit. The coordinator
// talks to each worker over the worker's stdin and stdout, one JSON object
// per line:
//
//	coordinator → worker  {"op":"start","start":{"client":…,"loops":N}}
//	                      {"op":"mark_start"} {"op":"churn"}
//	                      {"op":"window","at":<unix ns>}
//	                      {"op":"drain","finals":[[…]]} {"op":"stop"}
//	worker → coordinator  {"type":"tick","counters":{…}}   every tickEvery
//	                      {"type":"ack","op":"mark_start"|"window"}
//	                      {"type":"drained"}
//	                      {"type":"result","result":{…},"self":{…}}
//	                      {"type":"error","error":"…"}
//
// A worker whose stdin closes stops at once: it never outlives its
// coordinator. In-process connections use the same interface (localWorker).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unisse/unisse/bench/client"
	"github.com/unisse/unisse/bench/probe"
)

// WorkerFlag is the hidden argument that makes the binary a worker;
// WorkerEnv=1 in the environment does the same (for test binaries, whose
// flags are their own).
const (
	WorkerFlag = "--worker"
	WorkerEnv  = "UNISSE_BENCH_WORKER"
)

// tickEvery is how often a worker reports its counters.
const tickEvery = 200 * time.Millisecond

// ErrWorker is wrapped by errors about worker processes.
var ErrWorker = errors.New("bench: worker")

type command struct {
	Op     string       `json:"op"`
	Start  *workerStart `json:"start,omitempty"`
	Finals [][]uint32   `json:"finals,omitempty"`
	At     int64        `json:"at,omitempty"` // window: the boundary, unix ns
}

type workerStart struct {
	Client client.Config `json:"client"`
	Loops  int           `json:"loops"`
	// Deadline is when a worker stops by itself, whatever its coordinator
	// does: the run's hard timeout plus a grace period.
	Deadline time.Time `json:"deadline"`
}

type message struct {
	Type     string           `json:"type"`
	Op       string           `json:"op,omitempty"`
	Counters *client.Counters `json:"counters,omitempty"`
	Result   *client.Result   `json:"result,omitempty"`
	Self     *probe.Self      `json:"self,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// worker is a slice of the connections, in this process or another.
type worker interface {
	Counters() client.Counters
	MarkStart(ctx context.Context) error
	// SetWindow starts a latency window at at (unix ns, in the future).
	SetWindow(ctx context.Context, at int64) error
	StartChurn() error
	Drain(finals [][]uint32) <-chan struct{}
	// Stop ends the worker and returns its result and, for a process, its
	// own resource usage (zero for in-process workers, counted with ours).
	Stop(ctx context.Context) (*client.Result, probe.Self, error)
}

// localWorker holds connections in this process.
type localWorker struct{ pool *client.Pool }

func startLocal(s workerStart) (*localWorker, error) {
	p, err := client.Start(s.Client, s.Loops)
	if err != nil {
		return nil, err
	}
	return &localWorker{pool: p}, nil
}

func (w *localWorker) Counters() client.Counters       { return w.pool.Counters() }
func (w *localWorker) MarkStart(context.Context) error { w.pool.MarkStart(); return nil }
func (w *localWorker) SetWindow(_ context.Context, at int64) error {
	w.pool.SetWindow(at)
	return nil
}
func (w *localWorker) StartChurn() error                  { w.pool.StartChurn(); return nil }
func (w *localWorker) Drain(f [][]uint32) <-chan struct{} { return w.pool.Drain(f) }
func (w *localWorker) Stop(context.Context) (*client.Result, probe.Self, error) {
	return w.pool.Stop(), probe.Self{}, nil
}

// procWorker is a worker process.
type procWorker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	mu     sync.Mutex // guards ctrs and err; serialises sends
	ctrs   client.Counters
	acks   chan string
	drainc chan struct{}
	result chan message
	exited chan struct{}
	err    error
}

func startProc(argv []string, s workerStart) (*procWorker, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %w", ErrWorker, argv[0], err)
	}
	w := &procWorker{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin),
		acks: make(chan string, 4), drainc: make(chan struct{}), result: make(chan message, 1), exited: make(chan struct{})}
	go w.read(stdout)
	if err := w.send(command{Op: "start", Start: &s}); err != nil {
		w.kill()
		return nil, err
	}
	return w, nil
}

func (w *procWorker) send(c command) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(c); err != nil {
		return fmt.Errorf("%w: send %s: %w", ErrWorker, c.Op, err)
	}
	return nil
}

// read consumes the worker's messages until its stdout closes.
func (w *procWorker) read(r io.Reader) {
	defer close(w.exited)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	drained := false
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			w.fail(fmt.Errorf("%w: bad message: %w", ErrWorker, err))
			continue
		}
		switch m.Type {
		case "tick":
			if m.Counters != nil {
				w.mu.Lock()
				w.ctrs = *m.Counters
				w.mu.Unlock()
			}
		case "ack":
			w.acks <- m.Op
		case "drained":
			if !drained {
				drained = true
				close(w.drainc)
			}
		case "result":
			w.result <- m
		case "error":
			w.fail(fmt.Errorf("%w: %s", ErrWorker, m.Error))
		}
	}
	if err := sc.Err(); err != nil {
		w.fail(fmt.Errorf("%w: read: %w", ErrWorker, err))
	}
}

func (w *procWorker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *procWorker) Counters() client.Counters {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctrs
}

func (w *procWorker) MarkStart(ctx context.Context) error {
	return w.acked(ctx, command{Op: "mark_start"})
}

func (w *procWorker) SetWindow(ctx context.Context, at int64) error {
	return w.acked(ctx, command{Op: "window", At: at})
}

// acked sends c and waits for its acknowledgement.
func (w *procWorker) acked(ctx context.Context, c command) error {
	if err := w.send(c); err != nil {
		return err
	}
	select {
	case <-w.acks:
		return nil
	case <-w.exited:
		return fmt.Errorf("%w: exited before acknowledging %s", ErrWorker, c.Op)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *procWorker) StartChurn() error { return w.send(command{Op: "churn"}) }

func (w *procWorker) Drain(finals [][]uint32) <-chan struct{} {
	if err := w.send(command{Op: "drain", Finals: finals}); err != nil {
		w.fail(err)
	}
	return w.drainc
}

func (w *procWorker) Stop(ctx context.Context) (*client.Result, probe.Self, error) {
	defer w.kill()
	if err := w.send(command{Op: "stop"}); err != nil {
		return nil, probe.Self{}, err
	}
	select {
	case m := <-w.result:
		if m.Result == nil || m.Self == nil {
			return nil, probe.Self{}, fmt.Errorf("%w: empty result", ErrWorker)
		}
		return m.Result, *m.Self, nil
	case <-w.exited:
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		return nil, probe.Self{}, fmt.Errorf("%w: exited without a result (%v)", ErrWorker, err)
	case <-ctx.Done():
		return nil, probe.Self{}, fmt.Errorf("%w: no result: %w", ErrWorker, ctx.Err())
	}
}

// kill ends the process if it is still there and reaps it.
func (w *procWorker) kill() {
	w.stdin.Close()
	select {
	case <-w.exited:
	case <-time.After(2 * time.Second):
		w.cmd.Process.Kill()
	}
	w.cmd.Wait()
}

// RunWorker is a worker process's main: it reads commands from in and
// writes messages to out until told to stop or in closes.
func RunWorker(in io.Reader, out io.Writer) error {
	raiseFileLimit()
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(m message) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(in, 1<<20))
	var first command
	if err := dec.Decode(&first); err != nil || first.Op != "start" || first.Start == nil {
		err = fmt.Errorf("%w: first command must be start (%v)", ErrWorker, err)
		emit(message{Type: "error", Error: err.Error()})
		return err
	}
	pool, err := client.Start(first.Start.Client, first.Start.Loops)
	if err != nil {
		emit(message{Type: "error", Error: err.Error()})
		return err
	}
	stopTicks := make(chan struct{})
	ticksDone := make(chan struct{})
	go func() {
		defer close(ticksDone)
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		for {
			select {
			case <-stopTicks:
				return
			case <-t.C:
				c := pool.Counters()
				if emit(message{Type: "tick", Counters: &c}) != nil {
					return
				}
			}
		}
	}()
	halt := func() *client.Result {
		close(stopTicks)
		<-ticksDone
		return pool.Stop()
	}
	cmds := make(chan command)
	readErr := make(chan error, 1)
	go func() {
		for {
			var c command
			if err := dec.Decode(&c); err != nil {
				readErr <- err
				return
			}
			cmds <- c
		}
	}()
	if first.Start.Deadline.IsZero() {
		first.Start.Deadline = time.Now().Add(24 * time.Hour)
	}
	deadline := time.NewTimer(time.Until(first.Start.Deadline))
	defer deadline.Stop()
	for {
		var c command
		select {
		case c = <-cmds:
		case <-deadline.C:
			err := fmt.Errorf("%w: deadline %v passed, stopping", ErrWorker, first.Start.Deadline)
			emit(message{Type: "error", Error: err.Error()})
			halt()
			return err
		case err := <-readErr:
			// The coordinator is gone: stop, reporting to nobody.
			halt()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%w: read command: %w", ErrWorker, err)
		}
		switch c.Op {
		case "mark_start":
			pool.MarkStart()
			emit(message{Type: "ack", Op: c.Op})
		case "window":
			pool.SetWindow(c.At)
			emit(message{Type: "ack", Op: c.Op})
		case "churn":
			pool.StartChurn()
		case "drain":
			ch := pool.Drain(c.Finals)
			go func() {
				<-ch
				emit(message{Type: "drained"})
			}()
		case "stop":
			r := halt()
			self, _ := probe.ReadSelf()
			return emit(message{Type: "result", Result: r, Self: &self})
		}
	}
}

// raiseFileLimit lifts the soft open-file limit to the hard one and returns
// the resulting limit.
func raiseFileLimit() uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
			unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		}
	}
	return lim.Cur
}
