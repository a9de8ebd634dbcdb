package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/unisse/unisse/bench"
	"github.com/unisse/unisse/bench/report"
)

const usageHead = `unisse-bench — load generator for Centrifugo-compatible uni_sse servers

usage: unisse-bench <mode> [flags]
       unisse-bench render REPORT.json...   (writes REPORT.html beside each)

modes:
  idle       open --conns connections at --connect-rate, hold them for --duration;
             connect latency, server RSS per connection and CPU per connect
  broadcast  --conns subscribers on one channel; publish at --rate (or max) for
             --duration; delivered/s, losses, latency, server CPU per message
  channels   --conns subscribers spread over --channels channels; publishes spread
             over them via /api/publish, or /api/broadcast (--api-method broadcast,
             --group-size channels per call)
  churn      broadcast while closing and reopening --churn-rate connections per
             second; errors and server memory growth
  recovery   --conns live subscribers on --channel published to at --rate (default
             50/s) while --recover-conns connections (default 10000), at --connect-rate
             (default max), recover --history publications (default 300) of
             hist:<channel> in their connect pushes, each checked; live latency in
             the --baseline window, during the storm and --after it, storm duration,
             recovering connects/s, server CPU per recovering connect. The server
             needs a "hist" namespace with history and force_recovery (bench/config.json)

examples:
  unisse-bench idle --conns 2000 --connect-rate 1000 --duration 10s --secret S --server-pid $(pgrep -x unisse)
  unisse-bench broadcast --conns 1000 --rate 100 --size 100 --secret S --api-key K --metrics-url http://127.0.0.1:8000/metrics
  unisse-bench channels --conns 2000 --channels 200 --api-method broadcast --group-size 20 --rate max --secret S --api-key K
  unisse-bench churn --conns 1000 --churn-rate 50 --rate 20 --secret S --api-key K --server-pid 1234
  unisse-bench recovery --conns 1000 --recover-conns 10000 --history 300 --secret S --api-key K --server-pid 1234

flags:
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == bench.WorkerFlag || os.Getenv(bench.WorkerEnv) == "1" {
		// Ctrl-C reaches the whole process group: the coordinator handles
		// it and stops its workers in order, collecting their results.
		signal.Ignore(os.Interrupt)
		if err := bench.RunWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(stderr, "unisse-bench worker:", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == "render" {
		return render(args[1:], stderr)
	}
	opts, err := Parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "unisse-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if !opts.Quiet {
		opts.Config.Progress = stderr
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "unisse-bench:", err)
			return 1
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	rep, runErr := bench.Run(ctx, opts.Config)
	if rep == nil {
		fmt.Fprintln(stderr, "unisse-bench:", runErr)
		return 1
	}
	summaryTo := stdout
	if opts.JSON {
		summaryTo = stderr
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "unisse-bench:", err)
			return 1
		}
	}
	report.Summary(summaryTo, rep)
	failures := rep.Failures(opts.MaxLossPct)
	for _, why := range failures {
		fmt.Fprintln(summaryTo, "FAIL:", why)
	}
	if opts.HTML != "" {
		if err := writeFile(opts.HTML, func(w io.Writer) error { return report.HTML(w, rep) }); err != nil {
			fmt.Fprintln(stderr, "unisse-bench:", err)
			return 1
		}
	}
	if opts.SVGDir != "" {
		if err := os.MkdirAll(opts.SVGDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "unisse-bench:", err)
			return 1
		}
		for name, chart := range report.Charts(rep) {
			if err := writeFile(filepath.Join(opts.SVGDir, name+".svg"), func(w io.Writer) error {
				_, err := io.WriteString(w, chart)
				return err
			}); err != nil {
				fmt.Fprintln(stderr, "unisse-bench:", err)
				return 1
			}
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "unisse-bench:", runErr)
		return 1
	}
	if len(failures) > 0 {
		// Scripts (bench/run-*.sh, CI) must not take these figures for
		// a healthy run's.
		return 1
	}
	return 0
}

// render writes the HTML report of each JSON report (as --json printed it)
// beside it, NAME.json → NAME.html. Reports in bench/results keep only their
// JSON and SVG charts in git; the pages are rendered on demand.
func render(files []string, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "unisse-bench render: want one or more REPORT.json files")
		return 2
	}
	for _, name := range files {
		if err := renderOne(name); err != nil {
			fmt.Fprintln(stderr, "unisse-bench render:", err)
			return 1
		}
	}
	return 0
}

func renderOne(name string) error {
	if !strings.HasSuffix(name, ".json") {
		return fmt.Errorf("%s: not a .json report", name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("cli: %w", err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("cli: %s: %w", name, err)
	}
	return writeFile(strings.TrimSuffix(name, ".json")+".html", func(w io.Writer) error { return report.HTML(w, &rep) })
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cli: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("cli: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cli: %w", err)
	}
	return nil
}

// Options are the parsed command line.
type Options struct {
	Config bench.Config
	JSON   bool
	HTML   string
	SVGDir string
	Quiet  bool
	// CPUProfile profiles the tool itself, to keep it cheap.
	CPUProfile string
	// MaxLossPct is the share of expected deliveries (percent) that may be
	// lost before the run fails; see bench.Report.Failures.
	MaxLossPct float64
}

// percentFlag is a percentage, "0.1" or "0.1%".
type percentFlag struct{ v *float64 }

func (p percentFlag) String() string {
	if p.v == nil {
		return "0%"
	}
	return strconv.FormatFloat(*p.v, 'g', -1, 64) + "%"
}

func (p percentFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return fmt.Errorf("want a percentage from 0 to 100, not %q", s)
	}
	*p.v = v
	return nil
}

// rateFlag is a rate that may be "max" (0).
type rateFlag struct{ v *float64 }

func (r rateFlag) String() string {
	if r.v == nil || *r.v == 0 {
		return "max"
	}
	return strconv.FormatFloat(*r.v, 'g', -1, 64)
}

func (r rateFlag) Set(s string) error {
	if s == "max" {
		*r.v = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 {
		return fmt.Errorf("want a positive number or max, not %q", s)
	}
	*r.v = v
	return nil
}

// pidList is a comma-separated list of process ids.
type pidList struct{ v *[]int }

func (l pidList) String() string {
	if l.v == nil {
		return ""
	}
	var parts []string
	for _, pid := range *l.v {
		parts = append(parts, strconv.Itoa(pid))
	}
	return strings.Join(parts, ",")
}

func (l pidList) Set(s string) error {
	var pids []int
	for item := range strings.SplitSeq(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || pid <= 0 {
			return fmt.Errorf("want process ids separated by commas, not %q", s)
		}
		if slices.Contains(pids, pid) {
			return fmt.Errorf("pid %d given twice: it would be counted twice", pid)
		}
		pids = append(pids, pid)
	}
	*l.v = pids
	return nil
}

// Parse reads "<mode> [flags]".
func Parse(args []string, stderr io.Writer) (*Options, error) {
	fs := flag.NewFlagSet("unisse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	mode := bench.Broadcast // for the defaults shown by -h
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode = bench.Mode(args[0])
	}
	o := &Options{Config: bench.Default(mode)}
	apiMethod := defineFlags(fs, o)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return nil, flag.ErrHelp
		}
		return nil, errors.New("the first argument must be a mode: idle, broadcast, channels, churn or recovery")
	}
	if !slices.Contains(bench.Modes, mode) {
		return nil, fmt.Errorf("unknown mode %q (idle, broadcast, channels, churn, recovery)", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := &o.Config
	switch *apiMethod {
	case "publish":
	case "broadcast":
		c.UseBcastAPI = true
	default:
		return nil, fmt.Errorf("--api-method %q: want publish or broadcast", *apiMethod)
	}
	if c.API == "" {
		// Publications enter through one node: the first.
		urls := c.URLs()
		if len(urls) == 0 {
			return nil, errors.New("--url: empty")
		}
		u, err := url.Parse(urls[0])
		if err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		c.API = u.Scheme + "://" + u.Host + "/api"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// defineFlags binds every flag to o; it returns the --api-method value.
func defineFlags(fs *flag.FlagSet, o *Options) *string {
	c := &o.Config
	apiMethod := fs.String("api-method", "publish", "channels mode: publish or broadcast")
	fs.StringVar(&c.URL, "url", c.URL, "uni_sse endpoint (`URL`, IPv4 or localhost), or a comma-separated list (a cluster's nodes): each channel's subscribers spread round-robin over them")
	fs.StringVar(&c.API, "api", "", "server API base `URL` (default: the first --url's host + /api), or a comma-separated list: publishers spread round-robin over them")
	fs.StringVar(&c.APIKey, "api-key", "", "server API `key` (X-API-Key); empty for an insecure API")
	fs.StringVar(&c.Secret, "secret", "", "HMAC `secret` to sign HS256 connection tokens; empty for an insecure server")
	fs.StringVar(&c.Channel, "channel", c.Channel, "channel `name` (channels mode: prefix of <name>-<i>; recovery: the live one, hist:<name> is recovered)")
	fs.IntVar(&c.Conns, "conns", c.Conns, "subscriber connections (recovery: live ones)")
	fs.IntVar(&c.NumChannels, "channels", c.NumChannels, "channels mode: number of channels")
	fs.IntVar(&c.GroupSize, "group-size", c.GroupSize, "channels per /api/broadcast call")
	fs.Var(rateFlag{&c.Rate}, "rate", "publish calls per second over all publishers, or max")
	fs.IntVar(&c.Publishers, "publishers", c.Publishers, "concurrent publishers (one keep-alive connection each)")
	fs.IntVar(&c.Size, "size", c.Size, "payload size in `bytes`")
	fs.IntVar(&c.MaxCalls, "max-calls", 0, "stop publishing after this many calls (0: --duration only)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long to publish (idle: to hold the connections; recovery: unused, see --baseline, --after)")
	fs.Var(rateFlag{&c.ConnectRate}, "connect-rate", "new connections per second, or max")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "connections awaiting their connect push at once")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", c.ConnectTimeout, "per connection, connect() to connect push")
	fs.Float64Var(&c.ChurnRate, "churn-rate", c.ChurnRate, "churn mode: connections closed and reopened per second")
	fs.IntVar(&c.RecoverConns, "recover-conns", c.RecoverConns, "recovery mode: connections recovering hist:<channel> (the storm)")
	fs.IntVar(&c.History, "history", c.History, "recovery mode: publications each recovering connection must recover")
	fs.DurationVar(&c.Baseline, "baseline", c.Baseline, "recovery mode: live delivery measured before the storm")
	fs.DurationVar(&c.After, "after", c.After, "recovery mode: live delivery measured after the storm")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "after publishing, wait at most this long for every delivery")
	fs.DurationVar(&c.CallTimeout, "call-timeout", c.CallTimeout, "per publish call")
	fs.DurationVar(&c.Timeout, "timeout", 0, "hard limit for the whole run (0: derived from the other durations)")
	fs.IntVar(&c.Addrs, "addrs", 0, "loopback source addresses 127.0.0.1…127.0.0.N (0: one per 20000 connections)")
	fs.IntVar(&c.Workers, "workers", 0, "worker processes holding the connections, for each of recovery's two sets (0: as many as the open-file limit needs)")
	fs.IntVar(&c.Loops, "loops", c.Loops, "epoll loops (threads) per process")
	fs.IntVar(&c.ConnsPerWorker, "conns-per-worker", 0, "connections per process (0: open-file limit − 64)")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed for churn's choices")
	fs.Var(pidList{&c.ServerPIDs}, "server-pid", "server `pid`: sample its CPU and memory from /proc; a comma-separated list for a cluster's nodes (reported each and summed; CPU per message is the sum's)")
	fs.IntVar(&c.RedisPID, "redis-pid", 0, "Redis server `pid`: sample its CPU and memory too (a cluster's shared Redis)")
	fs.StringVar(&c.MetricsURL, "metrics-url", "", "Prometheus `URL` exposing unisse_transport_{events,writes}_total")
	fs.BoolVar(&c.KernelTimestamps, "kernel-ts", c.KernelTimestamps, "measure latency to the kernel's receive time (SO_TIMESTAMPNS), not to the tool's read")
	fs.Var(percentFlag{&o.MaxLossPct}, "max-loss", "fail (exit 1) when more than this `percent` of expected deliveries is lost; refused publishes and connections that did not open always fail the run")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (summary goes to stderr)")
	fs.StringVar(&o.HTML, "report", "", "write a self-contained HTML report with charts to `file`")
	fs.StringVar(&o.SVGDir, "svg", "", "write the charts as SVG files into `dir`")
	fs.BoolVar(&o.Quiet, "quiet", false, "no progress line")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write the tool's own CPU profile (coordinator process) to `file`")
	return apiMethod
}
