// Command benchreport writes BENCHMARKS.md from a benchmark run: the
// medians that benchstat computed (its CSV output, one table per benchmark
// with a column per impl=), the targets as ratios of those medians, and
// benchstat's own tables. bench/run.sh runs it; see there.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// medians[benchmark][row][impl][unit] is a median from benchstat: the
// benchmark's name without "Benchmark", the row its sub-benchmark keys
// other than impl ("timers=20", "" for none), the impl= key.
type medians map[string]map[string]map[string]map[string]float64

var suffix = regexp.MustCompile(`-\d+$`)

func parseCSV(r io.Reader) (medians, error) {
	m := medians{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	var impls []string // impl of each column, "" where none starts
	var units []string
	state := 0 // 0: want header row, 1: want unit row, 2: data rows
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, ".name: "):
			name = strings.TrimPrefix(line, ".name: ")
			state = 0
			continue
		case line == "":
			state = 0
			continue
		case name == "":
			continue // goos, goarch...
		}
		cells := strings.Split(line, ",")
		switch state {
		case 0:
			impls = cells
			state = 1
		case 1:
			units = cells
			state = 2
		case 2:
			row := cells[0]
			if row == "geomean" {
				continue
			}
			row = suffix.ReplaceAllString(row, "")
			row = strings.TrimPrefix(strings.TrimPrefix(row, "*"), "/")
			for i := 1; i < len(cells) && i < len(units); i++ {
				impl := impls[i]
				if i < len(impls) && impl == "" && units[i] != "CI" && units[i] != "vs base" && units[i] != "P" {
					impl = "-" // a benchmark without impl=
				}
				if impl == "" || units[i] == "CI" || units[i] == "vs base" || units[i] == "P" || cells[i] == "" {
					continue
				}
				v, err := strconv.ParseFloat(cells[i], 64)
				if err != nil {
					continue
				}
				if m[name] == nil {
					m[name] = map[string]map[string]map[string]float64{}
				}
				if m[name][row] == nil {
					m[name][row] = map[string]map[string]float64{}
				}
				if m[name][row][impl] == nil {
					m[name][row][impl] = map[string]float64{}
				}
				m[name][row][impl][units[i]] = v
			}
		}
	}
	return m, sc.Err()
}

// get returns a median, or NaN when the run lacks it.
func (m medians) get(name, row, impl, unit string) float64 {
	if v, ok := m[name][row][impl][unit]; ok {
		return v
	}
	return math.NaN()
}

func (m medians) ns(name, row, impl string) float64 { return m.get(name, row, impl, "sec/op") * 1e9 }

// dur formats nanoseconds for a table.
func dur(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "n/a"
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.1f ns", ns)
	}
}

func timers(n string) string {
	if n == "1" {
		return "1 timer"
	}
	return n + " timers"
}

func ratio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", x)
}

func verdict(ok bool, x float64) string {
	if math.IsNaN(x) {
		return "not measured"
	}
	if ok {
		return "met"
	}
	return "**not met**"
}

func main() {
	csvPath := flag.String("csv", "", "benchstat -format csv -table .name -col /impl output")
	textPath := flag.String("text", "", "benchstat -table .name -col /impl text output")
	machinePath := flag.String("machine", "", "description of the machine, one fact a line")
	command := flag.String("command", "", "the command that ran the benchmarks")
	flag.IntVar(&gomaxprocs, "procs", 1, "GOMAXPROCS of the run (the -N of the benchmark names)")
	flag.Parse()
	f, err := os.Open(*csvPath)
	if err != nil {
		log.Fatal(err)
	}
	m, err := parseCSV(f)
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	text, err := os.ReadFile(*textPath)
	if err != nil {
		log.Fatal(err)
	}
	machine, err := os.ReadFile(*machinePath)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	report(w, m, string(machine), string(text), *command)
}

func report(w io.Writer, m medians, machine, text, command string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `bench/run.sh` (do not edit by hand: run it again). The test binary runs every benchmark\n")
	p("once, several times over, so that a benchmark and its baseline are sampled across the same minutes;\n")
	p("every figure is the median of those runs, as benchstat computes it, and every ratio divides two\n")
	p("medians of the same run: a measure by the baseline it is judged against.\n\n")
	p("```\n%s\n```\n\n", strings.TrimSpace(command))
	p("## Machine\n\n")
	for _, l := range strings.Split(strings.TrimSpace(machine), "\n") {
		p("- %s\n", l)
	}
	p("\n## Targets\n\n")
	p("Each target names what is measured and the baseline it is divided by; a range is met when the ratio\n")
	p("falls inside it.\n\n")
	p("| target | measure | baseline | ratio | limit | |\n|---|---|---|---|---|---|\n")

	type row struct {
		target, measure, baseline string
		x, limit                  float64
		le                        bool    // met when x <= limit (else x >= limit)
		lo                        float64 // when not 0: met when lo <= x <= limit
	}
	var rows []row
	add := func(r row) { rows = append(rows, r) }

	// CPU adds up.
	for _, conc := range []string{"1", "2", "8", "32", "128"} {
		k := "conc=" + conc
		x := m.get("CPUShare", k, "fair", "cpu-sum/process")
		add(row{fmt.Sprintf("CPU adds up (fair share), %s requests at once each burning 2 ms: sum of the packets' ru_utime + ru_stime", conc),
			fmt.Sprintf("%.3f of the process's CPU", x),
			fmt.Sprintf("process delta (pynba): %.2f", m.get("CPUShare", k, "delta", "cpu-sum/process")),
			x, 1.1, true, 0.9})
	}
	alone := m.get("CPUAlone", "", "-", "cpu-req/burn")
	add(row{"CPU of one request alone burning 2 ms (fair share), against the 2 ms it burned",
		fmt.Sprintf("%.3f of its burn", alone),
		fmt.Sprintf("%.3f of the process's CPU over the request (with the send and the decoding)", m.get("CPUAlone", "", "-", "cpu-req/process")),
		alone, 1.2, true, 0.8})

	// Monitor's added cost against the raw write.
	for _, c := range []struct {
		n     string
		limit float64
	}{{"0", 1.15}, {"1", 1.15}, {"20", 1.5}} {
		k := "timers=" + c.n
		added := m.ns("Monitor", k, "monitor") - m.ns("Monitor", k, "bare")
		udp := m.ns("Monitor", k, "udp")
		add(row{fmt.Sprintf("Monitor's added cost, %s, against a raw write of its datagram", timers(c.n)),
			fmt.Sprintf("%s (monitor %s − bare %s)", dur(added), dur(m.ns("Monitor", k, "monitor")), dur(m.ns("Monitor", k, "bare"))),
			fmt.Sprintf("udp %s (%.0f-byte datagram)", dur(udp), m.get("Monitor", k, "monitor", "datagram-B")),
			added / udp, c.limit, true, 0})
		add(row{fmt.Sprintf("(for reference: the process-delta model, %s, against the same write)", timers(c.n)),
			"delta " + dur(m.ns("Monitor", k, "delta")-m.ns("Monitor", k, "bare")), "udp " + dur(udp),
			(m.ns("Monitor", k, "delta") - m.ns("Monitor", k, "bare")) / udp, math.NaN(), true, 0})
	}
	// Parallel.
	s1, s2 := m.ns("MonitorScaling", "goroutines=1", "monitor"), m.ns("MonitorScaling", "goroutines=2", "monitor")
	add(row{fmt.Sprintf("sync Monitor, 1 timer: requests/s of 2 goroutines on %d CPUs, against 1 goroutine", gomaxprocs),
		dur(s2) + " a request", dur(s1) + " a request", s1 / s2, 1.8, false, 0})
	u1, u2 := m.ns("MonitorScaling", "goroutines=1", "udp"), m.ns("MonitorScaling", "goroutines=2", "udp")
	add(row{"(for reference: raw writes, a socket per goroutine, 2 goroutines against 1)",
		dur(u2) + " a write", dur(u1) + " a write", u1 / u2, math.NaN(), false, 0})
	// Async.
	for _, n := range []string{"0", "1"} {
		k := "timers=" + n
		bare := m.ns("Monitor", k, "bare")
		async, udp := m.ns("Monitor", k, "async")-bare, m.ns("Monitor", k, "udp")
		add(row{fmt.Sprintf("request path in async mode (`WithAsync`), %s, against a raw write of its datagram", timers(n)),
			dur(async), "udp " + dur(udp), async / udp, 0.15, true, 0})
	}
	ad, ud := m.get("AsyncThroughput", "", "async", "delivered/s"), m.get("AsyncThroughput", "", "udp", "delivered/s")
	add(row{fmt.Sprintf("async: datagrams delivered per second, requests from %d goroutines, against raw writes from a socket per goroutine", gomaxprocs),
		fmt.Sprintf("%.0f/s (%.1f%% dropped)", ad, 100*m.get("AsyncThroughput", "", "async", "dropped/op")),
		fmt.Sprintf("%.0f/s", ud), ad / ud, 0.9, false, 0})
	// The whole HTTP path.
	for _, impl := range []string{"monitor", "async"} {
		x, added := m.get("HTTPPaired", "", impl, "x/bare"), 1e9*m.get("HTTPPaired", "", impl, "added-sec")
		add(row{fmt.Sprintf("whole HTTP request (httptest.Server, keep-alive client, 1 timer, packets to a socket nobody reads), %s, against the handler unwrapped, measured in pairs", impl),
			fmt.Sprintf("%s more a request", dur(added)), fmt.Sprintf("bare %s (%s alone)", dur(m.ns("HTTP", "", "bare")), dur(m.ns("HTTP", "", impl))), x, 1.10, true, 0})
	}
	// Allocations.
	for _, n := range []string{"0", "1", "20", "1000"} {
		k := "timers=" + n
		a := m.get("Monitor", k, "monitor", "allocs/op")
		add(row{fmt.Sprintf("allocations per request, %s", timers(n)), fmt.Sprintf("%.0f allocs/op", a), "", a, 1, true, 0})
	}
	a := m.get("Timer", "", "proxy", "allocs/op")
	add(row{"allocations of Timer(tags).Start().Stop() with a reused Tags map", fmt.Sprintf("%.0f allocs/op", a), "", a, 0, true, 0})
	// Timer and lookup.
	add(row{"`pynba.Timer(tags).Start()` + `Stop()` through the proxy, against two `time.Now()`",
		dur(m.ns("Timer", "", "proxy")), "now-x2 " + dur(m.ns("Timer", "", "now-x2")),
		m.ns("Timer", "", "proxy") / m.ns("Timer", "", "now-x2"), 1.5, true, 0})
	add(row{"registry lookup (goroutine id and table), against goid alone",
		dur(m.ns("Lookup", "", "registry")), "goid " + dur(m.ns("Lookup", "", "goid")),
		m.ns("Lookup", "", "registry") / m.ns("Lookup", "", "goid"), 3, true, 0})
	// Encoder.
	for _, n := range []string{"0", "1", "20", "1000"} {
		k := "timers=" + n
		add(row{fmt.Sprintf("encoder (`pb.Record.Append`), %s, against `proto.Marshal` of the generated message", timers(n)),
			dur(m.ns("Encode", k, "append")), "proto " + dur(m.ns("Encode", k, "proto")),
			m.ns("Encode", k, "append") / m.ns("Encode", k, "proto"), 0.5, true, 0})
	}
	// Cost per timer: the library's cost (without the write) per timer.
	perTimer := func(n float64, k string) float64 {
		lib := m.ns("Monitor", k, "monitor") - m.ns("Monitor", k, "udp")
		lib0 := m.ns("Monitor", "timers=0", "monitor") - m.ns("Monitor", "timers=0", "udp")
		return (lib - lib0) / n
	}
	c20, c1000 := perTimer(20, "timers=20"), perTimer(1000, "timers=1000")
	add(row{"cost per timer (monitor − udp − the same for 0 timers, per timer) at 1,000 timers, against 20",
		dur(c1000) + " per timer", dur(c20) + " per timer", c1000 / c20, 1.5, true, 0})
	b20, b1000 := m.ns("Encode", "timers=20", "build")/20, m.ns("Encode", "timers=1000", "build")/1000
	add(row{"building the packet (flatten, merge, dictionary, encode) per timer at 1,000 timers, against 20",
		dur(b1000) + " per timer", dur(b20) + " per timer", b1000 / b20, 1.5, true, 0})
	for _, r := range rows {
		ok := r.x <= r.limit+1e-9
		lim := fmt.Sprintf("≤ %.2fx", r.limit)
		switch {
		case r.lo != 0:
			ok = r.x >= r.lo && r.x <= r.limit
			lim = fmt.Sprintf("%.2f to %.2f", r.lo, r.limit)
		case !r.le:
			ok = r.x >= r.limit
			lim = fmt.Sprintf("≥ %.2fx", r.limit)
		}
		x := ratio(r.x)
		v := verdict(ok, r.x)
		switch {
		case math.IsNaN(r.limit): // shown for reference, no target
			lim, v = "", ""
		case r.baseline == "": // a count, not a ratio
			lim = fmt.Sprintf("≤ %.0f", r.limit)
			x = fmt.Sprintf("%.0f", r.x)
		case r.lo != 0:
			x = fmt.Sprintf("%.3f", r.x)
		}
		p("| %s | %s | %s | %s | %s | %s |\n", r.target, r.measure, r.baseline, x, lim, v)
	}

	// Identical timers.
	p("\nA request that starts and stops 10,000 timers with the same `Tags` sends one timer with a hit count of\n")
	p("10,000 (`BenchmarkMonitorIdenticalTimers` checks the datagram before it measures): %s per request,\n", dur(m.ns("MonitorIdenticalTimers", "", "-")))
	p("%s per timer, a %.0f-byte datagram, %.0f allocs/op.\n", dur(m.ns("MonitorIdenticalTimers", "", "-")/10000),
		m.get("MonitorIdenticalTimers", "", "-", "datagram-B"), m.get("MonitorIdenticalTimers", "", "-", "allocs/op"))

	// Where a request's time goes.
	p("\n## Where a monitored request's time goes\n\n")
	p("Monitor's added cost (sync mode, fair share) against the parts measured alone in the same run: the\n")
	p("raw write of the same datagram (back to back, so the receiver stays awake: writes apart cost more),\n")
	p("the timers' Start and Stop, and the packet build (flatten, merge, dictionary, encode). What is left\n")
	p("is the rest of the library's work (the collector from its pool, the one allocation, binding the\n")
	p("goroutine, the response writer, locking, the CPU account's atomics, a CPU reading once a\n")
	p("millisecond), and the slowdown of all that code between system calls, which leave the caches cold.\n")
	p("The process-delta model (impl=delta) adds two getrusage calls a request (\"2 × CPU time\").\n\n")
	p("The column nowrite is the request without its write (impl=nowrite: a server name that never\n")
	p("resolves), the library's whole work measured with no system call around it; nowrite+udp is that\n")
	p("followed by a raw write of the datagram, each request, as a sync request does them one after the\n")
	p("other: against nowrite and udp measured apart, what the write costs the code after it.\n\n")
	p("| timers | monitor − bare | udp alone | timers (n × Timer+Start+Stop) | packet build | rest | nowrite − bare | nowrite+udp − bare | async − bare | delta − bare | 2 × CPU time |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	cpu := m.ns("CPUTime", "", "cpuTimes")
	timer := m.ns("Timer", "", "proxy")
	for _, n := range []int{0, 1, 20, 1000} {
		k := fmt.Sprintf("timers=%d", n)
		bare := m.ns("Monitor", k, "bare")
		added := m.ns("Monitor", k, "monitor") - bare
		udp := m.ns("Monitor", k, "udp")
		build := m.ns("Encode", k, "build")
		timers := float64(n) * timer
		rest := added - udp - timers - build
		p("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, dur(added), dur(udp), dur(timers), dur(build), dur(rest),
			dur(m.ns("Monitor", k, "nowrite")-bare), dur(m.ns("Monitor", k, "nowrite+udp")-bare),
			dur(m.ns("Monitor", k, "async")-bare), dur(m.ns("Monitor", k, "delta")-bare), dur(2*cpu))
	}

	// CPU time.
	p("\n## Reading the CPU time\n\n")
	p("The fair share (the default) reads the process's CPU time at most once per millisecond for the whole\n")
	p("process, at a request or timer boundary; the process-delta model reads it twice a request. The ways\n")
	p("considered, one goroutine and GOMAXPROCS goroutines at once (time per call):\n\n")
	p("| reading | one goroutine | GOMAXPROCS goroutines | |\n|---|---|---|---|\n")
	for _, c := range []struct{ impl, note string }{
		{"cpuTimes", "used: getrusage(RUSAGE_SELF) through syscall.RawSyscall"},
		{"getrusage", "syscall.Getrusage: the same call, telling the scheduler"},
		{"process-clock", "clock_gettime(CLOCK_PROCESS_CPUTIME_ID): user and system summed, so not enough"},
		{"thread", "getrusage(RUSAGE_THREAD): the calling thread only, wrong for goroutines"},
		{"now-x2", "two time.Now(), for scale"},
	} {
		par := m.ns("CPUTimeParallel", "", c.impl)
		p("| %s | %s | %s | %s |\n", c.impl, dur(m.ns("CPUTime", "", c.impl)), dur(par*float64(procs(m))), c.note)
	}
	p("\nWhat the CPU columns add up to (`BenchmarkCPUShare`: requests burning 2 ms each; the sum of the\n")
	p("packets' ru_utime + ru_stime over the process's CPU during the run):\n\n")
	p("| requests at once | fair share | process delta (pynba) |\n|---|---|---|\n")
	for _, conc := range []string{"1", "2", "8", "32", "128"} {
		k := "conc=" + conc
		p("| %s | %.3f | %.2f |\n", conc, m.get("CPUShare", k, "fair", "cpu-sum/process"), m.get("CPUShare", k, "delta", "cpu-sum/process"))
	}

	// Parallel.
	p("\n## Parallel requests\n\n")
	p("`BenchmarkMonitorScaling`: the same b.N requests (or writes) split between 1 and 2 goroutines; the\n")
	p("speed-up is the time per request of 1 over that of 2. The Reporter writes from a socket per P, so\n")
	p("concurrent requests do not queue for one socket's lock as writes through one shared socket do.\n\n")
	p("| work | 1 goroutine | 2 goroutines | speed-up |\n|---|---|---|---|\n")
	for _, c := range []struct{ what, impl string }{
		{"request, 1 timer, sync Monitor", "monitor"},
		{"raw write of the same datagram, a socket per goroutine", "udp"},
		{"raw write of the same datagram, one socket shared", "udp-shared"},
	} {
		one, two := m.ns("MonitorScaling", "goroutines=1", c.impl), m.ns("MonitorScaling", "goroutines=2", c.impl)
		p("| %s | %s | %s | %s |\n", c.what, dur(one), dur(two), ratio(one/two))
	}
	p("\nGOMAXPROCS goroutines with `b.RunParallel` (`BenchmarkMonitorParallel`, `BenchmarkLookupParallel`):\n\n")
	p("| work | one goroutine | GOMAXPROCS goroutines | speed-up |\n|---|---|---|---|\n")
	for _, c := range []struct{ what, seqName, seqRow, seqImpl, parName, parImpl string }{
		{"request, 1 timer, Monitor", "Monitor", "timers=1", "monitor", "MonitorParallel", "monitor"},
		{"raw write, a socket per goroutine", "Monitor", "timers=1", "udp", "MonitorParallel", "udp"},
		{"raw write, one socket shared", "Monitor", "timers=1", "udp", "MonitorParallel", "udp-shared"},
		{"bare handler", "Monitor", "timers=1", "bare", "MonitorParallel", "bare"},
		{"registry lookup", "Lookup", "", "registry", "LookupParallel", "registry"},
		{"goid alone", "Lookup", "", "goid", "LookupParallel", "goid"},
	} {
		seq, par := m.ns(c.seqName, c.seqRow, c.seqImpl), m.ns(c.parName, "", c.parImpl)
		p("| %s | %s | %s | %s |\n", c.what, dur(seq), dur(par), ratio(seq/par))
	}

	notes(p, m)

	p("\n## benchstat's tables\n\n")
	p("`go tool benchstat -table .name -col /impl`: medians with their 95%% confidence intervals, and each\n")
	p("impl against the first column of its table, the baseline where there is one (udp for Monitor,\n")
	p("now-x2 for Timer, goid for Lookup, proto for Encode).\n\n")
	p("```\n%s\n```\n", strings.TrimSpace(text))
}

// gomaxprocs is the number of goroutines RunParallel used (-procs).
var gomaxprocs = 1

func procs(medians) float64 { return float64(gomaxprocs) }

// notes explains, with the run's numbers, the targets the run did not meet
// that the tables above do not explain by themselves.
func notes(p func(string, ...any), m medians) {
	p("\n## Notes on the targets not met\n\n")
	timer := m.ns("Timer", "", "proxy")
	any := false
	for _, c := range []struct {
		n     int
		limit float64
	}{{0, 1.15}, {1, 1.15}, {20, 1.5}} {
		k := fmt.Sprintf("timers=%d", c.n)
		bare := m.ns("Monitor", k, "bare")
		added := m.ns("Monitor", k, "monitor") - bare
		udp := m.ns("Monitor", k, "udp")
		if math.IsNaN(added) || added <= c.limit*udp {
			continue
		}
		any = true
		build := m.ns("Encode", k, "build")
		tm := float64(c.n) * timer
		p("- **Monitor, %s: %.2fx against %.2fx.** The write itself is the baseline (%s); the timers (%d × %s)\n", timers(strconv.Itoa(c.n)), added/udp, c.limit, dur(udp), c.n, dur(timer))
		p("  and the packet build (%s) measured alone already make %.2fx; the rest, %s, is the library's\n", dur(build), (udp+tm+build)/udp, dur(added-udp-tm-build))
		p("  other work and the cost of a write that finds the receiver asleep, which back-to-back writes do not.\n")
		if nu := m.ns("Monitor", k, "nowrite+udp") - bare; !math.IsNaN(nu) {
			nw := m.ns("Monitor", k, "nowrite") - bare
			p("  The library's work without the write costs %s alone (%.2fx the write: the target leaves it\n", dur(nw), nw/udp)
			if d := nu - nw - udp; d > 0 {
				p("  %s); followed by a raw write, as a sync request does them, the two cost %s, %s more than\n", dur((c.limit-1)*udp), dur(nu), dur(d))
				p("  apart: what a write costs the code after it (caches and predictors left cold by the call).\n")
			} else {
				p("  %s); followed by a raw write, as a sync request does them, the two cost %s, no more than\n", dur((c.limit-1)*udp), dur(nu))
				p("  apart in this run.\n")
			}
		}
		if c.n > 0 {
			floor := udp + float64(c.n)*m.ns("Timer", "", "now-x2")/2 + m.ns("Encode", k, "append")
			p("  The floor of any client that times each timer: the write, two clock readings a timer (half of now-x2\n")
			p("  for each Start and Stop) and the encoder alone (%s) add up to %s, %.2fx.\n", dur(m.ns("Encode", k, "append")), dur(floor), floor/udp)
		}
	}
	s1, s2 := m.ns("MonitorScaling", "goroutines=1", "monitor"), m.ns("MonitorScaling", "goroutines=2", "monitor")
	u1, u2 := m.ns("MonitorScaling", "goroutines=1", "udp"), m.ns("MonitorScaling", "goroutines=2", "udp")
	if s1/s2 < 1.8 {
		any = true
		p("- **Parallel: %.2fx against 1.80x.** Raw writes from a socket per goroutine scale %.2fx on the same\n", s1/s2, u1/u2)
		p("  machine in the same run: the receiver, in the same process, takes CPU from both senders, and the\n")
		p("  machine's two CPUs are shared with other processes (see the load average).\n")
	}
	ad, ud := m.get("AsyncThroughput", "", "async", "delivered/s"), m.get("AsyncThroughput", "", "udp", "delivered/s")
	if ad/ud < 0.9 {
		any = true
		udp1 := m.ns("Monitor", "timers=1", "udp")
		path1 := m.ns("Monitor", "timers=1", "async") - m.ns("Monitor", "timers=1", "bare")
		p("- **Async delivery: %.2fx against 0.90x.** The requests (timer, build, queueing) and the senders\n", ad/ud)
		p("  share the same %d CPUs, with the receiver: every CPU-second the request path takes is one the\n", gomaxprocs)
		p("  senders cannot write with, while the raw writers do nothing else, and a datagram costs the kernel\n")
		p("  as much in a sendmmsg batch as alone on loopback. With a write of %s and a request path of %s\n", dur(udp1), dur(path1))
		p("  (1 timer), the most async can deliver is about %s / (%s + %s) = %.2fx of the raw writers'\n", dur(udp1), dur(udp1), dur(path1), udp1/(udp1+path1))
		p("  rate. The requests here never block, so the queue overflows (the drops are counted exactly); a\n")
		p("  Send that finds the queue half full yields its CPU to the senders.\n")
	}
	for _, n := range []string{"0", "1"} {
		k := "timers=" + n
		bare := m.ns("Monitor", k, "bare")
		async, udp := m.ns("Monitor", k, "async")-bare, m.ns("Monitor", k, "udp")
		if math.IsNaN(async) || async <= 0.15*udp {
			continue
		}
		any = true
		nt, _ := strconv.Atoi(n)
		build := m.ns("Encode", k, "build")
		p("- **Async request path, %s: %.2fx against 0.15x.** It builds its packet (%s) and runs its timers\n", timers(n), async/udp, dur(build))
		p("  (%s), as sync mode does; the rest, %s, is the request's own work (its pooled data, the one\n", dur(float64(nt)*timer), dur(async-build-float64(nt)*timer))
		p("  allocation, binding the goroutine, the response writer, the clock and the CPU account) and the\n")
		p("  copy into the queue. The figure is a mean: it includes the garbage collector's share of that\n")
		p("  allocation, and a wake-up of a sleeping sender every 256 requests (the benchmark lets the queue\n")
		p("  drain between them, untimed).\n")
	}
	for _, impl := range []string{"monitor", "async"} {
		x, added := m.get("HTTPPaired", "", impl, "x/bare"), 1e9*m.get("HTTPPaired", "", impl, "added-sec")
		if math.IsNaN(x) || x <= 1.10 {
			continue
		}
		any = true
		p("- **Whole HTTP request, %s: %.2fx against 1.10x.** Monitoring adds %s a request, measured in pairs\n", impl, x, dur(added))
		p("  (a bare request and a monitored one, in turn first, each iteration: the round trips of this machine\n")
		p("  vary by tens of percent from one second to the next, see the confidence intervals of\n")
		p("  BenchmarkHTTP below, so separate runs do not compare). The request path alone costs a few\n")
		p("  microseconds in a tight loop; between the network system calls of an HTTP server, its code and\n")
		p("  data come back from colder caches each request, and it costs several times that.\n")
		if impl == "monitor" {
			udp := m.ns("Monitor", "timers=1", "udp")
			p("  Sync mode writes the datagram in the request: about %s by itself.\n", dur(udp))
		} else if off := 1e9 * m.get("HTTPPaired", "", "async-cpuoff", "added-sec"); !math.IsNaN(off) {
			p("  With the CPU share off (`WithCPU(CPUOff)`) async adds %s: the account reads the process's CPU\n", dur(off))
			p("  once a millisecond, at the boundary of one request in %.0f here. The senders' writes take CPU\n", 1e6/m.ns("HTTP", "", impl))
			p("  from the client and the server on the same %d CPUs.\n", gomaxprocs)
		}
	}
	if !any {
		p("Every target was met in this run.\n")
	}
}
