// Command pinba-dump shows what an application sends to Pinba.
//
// It listens for Pinba UDP datagrams, as a Pinba server (pinba_engine or
// pinba2) would, and prints each request decoded: hostname, server and script
// names, schema, status, counters, times, every timer with its hit count,
// value and tags (resolved from the dictionary), request tags and nested
// requests. After each request it lists every reason pinba_engine or pinba2
// would drop or misread it, as pinbatest.Validate finds them, and the
// warnings of pinbatest.Warnings: each string pinba_engine cuts (and whether
// the cut breaks a UTF-8 character), timers that repeat a tag name (the tag
// reports of both servers count only one of its values), unknown or repeated
// fields. A datagram that is not a Pinba request at all (truncated, garbage)
// is reported with the decoding error and its first bytes; the tool keeps
// running.
//
// Usage:
//
//	pinba-dump [-listen 127.0.0.1:30002] [-summary 10s] [-json] [-forward host:port] [-quiet]
//
// Flags:
//
//	-listen address
//		UDP address to listen on (default 127.0.0.1:30002, the port the PHP
//		extension and pinba_engine use; pinba2's own default is 3002).
//	-summary duration
//		every duration, and once more at exit, print a report like Pinba's
//		basic reports: per script_name the requests, request time total and
//		average, CPU times, how many had problems, and status counts; per
//		timer tag "name=value" the timers, hits, time total and time per
//		hit; all of these since start. The req/s columns are the req/s of
//		the last interval: the requests received since the previous report
//		divided by the time since it. Only decodable top-level requests
//		count (with problems or not; nested requests do not). 0, the
//		default, prints no report.
//	-json
//		print one JSON object per line instead of text: one per datagram,
//		and with -summary one {"summary": {...}} object per report. For jq.
//	-forward host:port
//		relay every datagram, byte for byte, to this address. This lets
//		pinba-dump sit in front of a real Pinba server: point the
//		application at pinba-dump and forward to the server. Relaying runs
//		on its own and never waits for the printing; if it falls behind,
//		datagrams are dropped from the relay and counted.
//	-quiet
//		do not print each datagram (useful with -summary).
//
// Standard error gets the line saying where pinba-dump listens, forwarding
// errors and a final line (datagram counts, forwarding counts, run time);
// standard output gets the datagrams and reports. When printing cannot keep
// up (a paused terminal), datagrams beyond a queue of 4096 are not shown
// and counted as skipped; they are still relayed. On SIGINT or SIGTERM
// pinba-dump reads what the socket already holds, prints the final report
// (with -summary) and the final line, and exits with status 0.
//
// Example: watch a local application sending to the default port, and relay
// its requests to a Pinba server listening on 127.0.0.1:3002:
//
//	pinba-dump -forward 127.0.0.1:3002 -summary 1m
//
// Text output, one block per datagram:
//
//	#1 12:00:00.000 from 127.0.0.1:41234, 150 bytes
//	  host=web1 server=example.com script=/index.php schema=https status=200
//	  request_count=1 document_size=5120 memory_peak=2097152 memory_footprint=1048576
//	  request_time=250ms ru_utime=125ms ru_stime=62.5ms
//	  tags: env=prod
//	  timer 0: hits=2 value=500ms {group=db op=select}
//	  timer 1: hits=1 value=850ns {group=cache}
//	#2 12:00:00.001 from 127.0.0.1:41234, 10 bytes: UNDECODABLE
//	  error: pinbatest: not a Pinba.Request: proto: cannot parse invalid wire-format data
//	  hex: 0a 04 77 65 62 31 12 0b 65 78
//	  problem: undecodable: field 2 (server_name) at byte 6: bad value: unexpected EOF: both servers drop the packet
//
// Times are in s, ms, µs or ns, whichever puts the number between 1 and
// 1000 (s from 1 up), to 7 significant digits: "1.5s", "250ms", "12.34µs",
// "850ns", "0s"; the summary prints its times the same way. A tag name that
// is repeated shows each of its pairs, in wire order ({baz=seq1 baz=seq2}).
// Strings that are empty or hold spaces, quotes, braces, '=' or unprintable
// bytes are quoted Go-style. Nested requests follow as "request N:" blocks,
// indented. A field the decoder could not place (a time sent as a double,
// an unknown field) shows as an "unparsed:" line with its raw value. Each
// reason a server would drop or misread the request is a "problem:" line,
// each warning a "warning:" line, both as "rule: detail: effect":
//
//	problem: wire-type: field 7 (request_time) sent as double (wire type 1), not float (wire type 5): both servers drop the packet
//	warning: long-string: hostname (1) "frontend-7.rack-12.muenchen.café" is 33 bytes long: pinba_engine cuts it to 32 bytes, inside the 2-byte UTF-8 character "é" at offset 31, and stores a broken character
//	warning: repeated-tag-name: timer 0 has the tag name "baz" more than once: baz=seq1, baz=seq2: pinba_engine keeps every pair in its timertag table, but its tag_info:baz report counts the timer under only one of the values, pinba2 counts the timer under only one of the values in its @baz timer report
//
// JSON output, one line per datagram (the "schema", "status" and
// "memory_footprint" keys only when sent; "error" and "hex" instead of the
// request fields for an undecodable datagram):
//
//	{"n":1,"time":"2026-01-02T12:00:00.000123Z","from":"127.0.0.1:41234","size":150,
//	 "hostname":"web1","server_name":"example.com","script_name":"/index.php","schema":"https",
//	 "status":200,"request_count":1,"document_size":5120,"memory_peak":2097152,
//	 "memory_footprint":1048576,"request_time":0.25,"ru_utime":0.125,"ru_stime":0.0625,
//	 "tags":[{"name":"env","value":"prod"}],"timers":[{"hit_count":2,"value":0.5,
//	 "tags":[{"name":"group","value":"db"},{"name":"op","value":"select"}]}],
//	 "problems":[],"warnings":[]}
//
// Tags are arrays of {"name","value"} pairs in wire order, so that a
// repeated name keeps every value and no object has a key twice
// (jq: .timers[].tags[] | select(.name == "group") | .value). A timer's
// "ru_utime" and "ru_stime" keys appear when the packet holds fields 22 and
// 23; "requests" holds nested requests; "unparsed" lists what text output
// shows as "unparsed:". Times are numbers in seconds, or the strings "NaN",
// "+Inf" and "-Inf"; the summary's time sums are rounded to 7 significant
// digits. With -summary, each report is a line
// {"summary":{"elapsed":..,"interval":..,"datagrams":..,"undecodable":..,"with_problems":..,
// "skipped":..,"requests":..,"req_per_sec":..,"scripts":[{"script_name":..,
// "requests":..,"req_per_sec":..,"time_total":..,"time_avg":..,
// "ru_utime_total":..,"ru_stime_total":..,"with_problems":..,"status":{"200":..}}],
// "timer_tags":[{"tag":"group=db","name":"group","value":"db","timers":..,
// "hits":..,"time_total":..,"time_per_hit":..}],"forward":{..}}} ("forward"
// with -forward only); a missing status counts as "none"; "interval" is the
// seconds since the previous report, over which "req_per_sec" is computed.
//
// Text report (-summary):
//
//	== summary after 3s: 30 requests, 10.000 req/s in the last 1s; 30 datagrams, 0 undecodable, 0 with problems ==
//	script_name  requests  req/s  time_total  time_avg  ru_utime  ru_stime  problems  status
//	/a           15        5.000  3.75s       250ms     1.875s    937.5ms   0         200:14 500:1
//
//	timer_tag  timers  hits  time_total  time_per_hit
//	group=db   30      60    15s         250ms
//	== end of summary ==
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const defaultListen = "127.0.0.1:30002"

// errUsage marks a bad command line; the message and usage are already
// printed when run returns it.
var errUsage = errors.New("usage")

// config is the parsed command line.
type config struct {
	listen  string
	summary time.Duration
	json    bool
	forward string
	quiet   bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	var c config
	fs := flag.NewFlagSet("pinba-dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", defaultListen, "UDP `address` to listen on")
	fs.DurationVar(&c.summary, "summary", 0,
		"print a per-script and per-timer-tag report (totals since start, req/s of the last interval) every `duration` and at exit (0: no report)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object per line (datagrams, and reports with -summary)")
	fs.StringVar(&c.forward, "forward", "",
		"relay every datagram unchanged to `host:port` (to sit in front of a real Pinba server)")
	fs.BoolVar(&c.quiet, "quiet", false, "do not print each datagram")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: pinba-dump [-listen 127.0.0.1:30002] [-summary 10s] [-json] [-forward host:port] [-quiet]

pinba-dump receives Pinba UDP datagrams and prints each request decoded,
followed by every reason pinba_engine or pinba2 would drop or misread it
("problem:") and what pinba_engine would cut or ignore ("warning:").
Undecodable datagrams are reported and skipped.

With -forward it relays every datagram unchanged to a real Pinba server, so it
can sit between the application and the server. With -summary it prints, every
interval and at exit, per-script and per-timer-tag totals since start, like
Pinba's basic reports (top-level requests only, nested ones are not counted),
and the req/s of the last interval (the requests received since the previous
report divided by the time since it).

Times print in s, ms, µs or ns ("250ms", "850ns"); in -json they are numbers
of seconds. Tags show every pair, a repeated name included.

Status lines (where it listens, forwarding errors, the final count) go to
standard error. If printing falls behind by 4096 datagrams, newer ones are
not shown but counted as skipped (and still forwarded). On SIGINT or SIGTERM it prints the final report (with
-summary) and a final line with the datagram count, and exits 0.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err) // already printed by fs
	}
	usage := func(format string, a ...any) error {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, usage("unexpected argument %q", fs.Arg(0))
	}
	if c.summary < 0 {
		return nil, usage("-summary must not be negative, got %v", c.summary)
	}
	return &c, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once (should
		// the output be stuck).
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pinba-dump:", err)
		os.Exit(1)
	}
}
