// Command pinba-top is a live terminal view of Pinba traffic, with no
// Pinba server: it listens for the UDP datagrams that Pinba clients send
// (pynba, the PHP extension, ...) and shows, over a sliding window of the
// last N seconds like Pinba's reports, per script name the requests per
// second, request time percentiles (p50, p95, p99, max), CPU per request
// and status mix; per timer tag set ("group=db,op=select") the hits per
// second, time per hit and share of request time; per request tag the
// requests per second and time.
//
// Usage:
//
//	pinba-top [-listen 127.0.0.1:30002] [-forward host:port[,host:port]] [-window 60] [-top 20]
//	          [-sort time] [-interval 1s] [-once [-duration 10s]] [-json]
//
// With no -once or -json, it runs a full-screen terminal UI that refreshes
// every -interval. Keys: 1, 2, 3 or tab switch between the script, timer
// tag and request tag tables; left and right (or s) move the sort column;
// r reverses the order; p or space pauses; q quits.
//
// For scripts and CI, -once listens for -duration, prints one text report
// (totals, then the three tables) and exits; -json prints one JSON
// snapshot per -interval instead (one line each, until -duration when it is
// set), or a single one with -once. A snapshot's fields are those of
// report.Snapshot: "totals", "scripts", "timer_tags", "request_tags", with
// times in seconds.
//
// With -forward, every datagram is relayed unchanged to each target as
// well, so pinba-top can sit between an application and real Pinba
// servers. Relaying runs on its own goroutine per target; when a target
// falls 4096 datagrams behind, newer ones are dropped from its relay and
// counted.
//
// Requests are counted as pinba_engine counts them, nested requests
// included; datagrams that do not decode, and requests a server would drop,
// are counted apart. Percentiles are within 1% (see report.RelativeError).
// At most -max-keys script names, timer tag sets and request tags each are
// kept in the window; the rest share an "(overflow)" row.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/pynba-go/pynba/internal/relay"
	"github.com/pynba-go/pynba/internal/report"
)

const defaultListen = "127.0.0.1:30002"

// errUsage marks a bad command line, already explained on stderr.
var errUsage = errors.New("usage")

type config struct {
	listen   string
	forward  []string
	window   int
	top      int
	sort     report.SortKey
	interval time.Duration
	once     bool
	duration time.Duration
	json     bool
	maxKeys  int
}

// listFlag collects comma-separated values over repeated flags.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		*l = append(*l, v)
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := config{}
	var fwd listFlag
	var sortName string
	fs := flag.NewFlagSet("pinba-top", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", defaultListen, "UDP `address` to listen on")
	fs.Var(&fwd, "forward", "relay every datagram unchanged to `host:port` as well (comma-separated or repeated)")
	fs.IntVar(&c.window, "window", 60, "report over the last `N` seconds")
	fs.IntVar(&c.top, "top", 20, "show the first `N` rows of each table (0: all)")
	fs.StringVar(&sortName, "sort", "time", "sort `key`: time, count, avg, p50, p95, p99, max, cpu or name")
	fs.DurationVar(&c.interval, "interval", time.Second, "refresh (and -json output) `interval`")
	fs.BoolVar(&c.once, "once", false, "listen for -duration, print one report and exit")
	fs.DurationVar(&c.duration, "duration", 0, "how long to listen: with -once (default 10s), or before a -json stream ends (default: never)")
	fs.BoolVar(&c.json, "json", false, "print JSON snapshots instead of the terminal UI")
	fs.IntVar(&c.maxKeys, "max-keys", report.DefaultMaxKeys, "keep at most `N` script names, timer tag sets and request tags each")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pinba-top [flags]

pinba-top receives Pinba UDP datagrams and shows live reports over the last
-window seconds: per script, per timer tag set and per request tag. It runs
a terminal UI, or with -once / -json prints reports for scripts.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	usage := func(format string, a ...any) error {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, "pinba-top:", err)
		fs.Usage()
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	windowSet := false
	fs.Visit(func(f *flag.Flag) { windowSet = windowSet || f.Name == "window" })
	k, ok := report.ParseSortKey(sortName)
	switch {
	case fs.NArg() > 0:
		return nil, usage("unexpected argument %q", fs.Arg(0))
	case !ok:
		return nil, usage("unknown -sort %q", sortName)
	case c.window < 1:
		return nil, usage("-window must be at least 1 second, got %d", c.window)
	case c.top < 0:
		return nil, usage("-top must not be negative, got %d", c.top)
	case c.interval <= 0:
		return nil, usage("-interval must be positive, got %v", c.interval)
	case c.duration < 0:
		return nil, usage("-duration must not be negative, got %v", c.duration)
	case c.maxKeys < 1:
		return nil, usage("-max-keys must be at least 1, got %d", c.maxKeys)
	}
	c.sort = k
	c.forward = fwd
	if c.once && c.duration == 0 {
		c.duration = 10 * time.Second
	}
	if c.once && !windowSet {
		// The one report covers the whole run.
		c.window = max(c.window, int(math.Ceil(c.duration.Seconds()))+1)
	}
	return &c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pinba-top:", err)
		os.Exit(1)
	}
}

// run is the whole command: it parses args, listens, and reports until ctx
// is done (or -duration has passed). ready, when not nil, is called with
// the listening address once datagrams can be sent. It returns nil after a
// clean stop, flag.ErrHelp for -h, an error wrapping errUsage for a bad
// command line.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	conn := pc.(*net.UDPConn)
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	laddr := conn.LocalAddr().(*net.UDPAddr)

	var fws []*relay.Forwarder
	defer func() {
		for _, f := range fws {
			f.Close()
		}
	}()
	for _, target := range cfg.forward {
		f, err := relay.New(target, laddr, "pinba-top")
		if err != nil {
			return err
		}
		fws = append(fws, f)
	}

	model := report.New(report.Options{
		Window:     time.Duration(cfg.window) * time.Second,
		MaxScripts: cfg.maxKeys, MaxTimerTags: cfg.maxKeys, MaxRequestTags: cfg.maxKeys,
	})
	recv := newReceiver(conn, model, fws)
	defer recv.stop()

	var targets []string
	for _, f := range fws {
		targets = append(targets, f.Addr)
	}
	if len(targets) > 0 {
		fmt.Fprintf(stderr, "pinba-top: listening on udp %s, forwarding to %s\n", laddr, strings.Join(targets, ", "))
	} else {
		fmt.Fprintf(stderr, "pinba-top: listening on udp %s\n", laddr)
	}
	if ready != nil {
		ready(laddr.String())
	}

	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	query := report.Query{Sort: cfg.sort, Top: cfg.top}

	switch {
	case cfg.once:
		<-ctx.Done()
		if err := recv.stop(); err != nil {
			return err
		}
		s := model.Snapshot(query)
		if cfg.json {
			err = json.NewEncoder(stdout).Encode(s)
		} else {
			err = writeText(stdout, s)
		}
	case cfg.json:
		enc := json.NewEncoder(stdout)
		t := time.NewTicker(cfg.interval)
		defer t.Stop()
	stream:
		for err == nil {
			select {
			case <-ctx.Done():
				break stream
			case <-t.C:
				err = enc.Encode(model.Snapshot(query))
			}
		}
	default:
		ui := newUI(model.Snapshot, cfg, uiInfo{listen: laddr.String(), forward: fws, received: &recv.received})
		p := tea.NewProgram(ui, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithInput(stdin), tea.WithOutput(stdout))
		_, err = p.Run()
		ui.close()
		if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
			err = nil // a signal or -duration ended it
		}
	}
	if err != nil {
		return err
	}
	if rerr := recv.stop(); rerr != nil {
		return rerr
	}
	for _, f := range fws {
		if n := f.Errors.Load(); n > 0 {
			fmt.Fprintf(stderr, "pinba-top: %d datagrams not relayed to %s: %v\n", n, f.Addr, f.LastError())
		}
		if n := f.Dropped.Load(); n > 0 {
			fmt.Fprintf(stderr, "pinba-top: %d datagrams dropped from the relay to %s (queue full)\n", n, f.Addr)
		}
	}
	return nil
}
