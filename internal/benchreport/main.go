// Command benchreport writes BENCHMARKS.md from a benchmark run: the
// medians that benchstat computed (its CSV output, one table per benchmark
// with a column per impl=), the targets of issue 5 as ratios of those
// medians, and benchstat's own tables. bench/run.sh runs it; see there.
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
	p("\n## Targets (issue 5)\n\n")
	p("| target | measure | baseline | ratio | limit | |\n|---|---|---|---|---|---|\n")

	type row struct {
		target, measure, baseline string
		x, limit                  float64
		le                        bool // met when x <= limit (else x >= limit)
	}
	var rows []row
	add := func(r row) { rows = append(rows, r) }

	// Monitor's added cost against the raw write.
	for _, c := range []struct {
		n     string
		limit float64
	}{{"0", 1.5}, {"1", 1.5}, {"20", 1.8}} {
		k := "timers=" + c.n
		added := m.ns("Monitor", k, "monitor") - m.ns("Monitor", k, "bare")
		udp := m.ns("Monitor", k, "udp")
		add(row{fmt.Sprintf("Monitor's added cost, %s, against a raw write of its datagram", timers(c.n)),
			fmt.Sprintf("%s (monitor %s − bare %s)", dur(added), dur(m.ns("Monitor", k, "monitor")), dur(m.ns("Monitor", k, "bare"))),
			fmt.Sprintf("udp %s (%.0f-byte datagram)", dur(udp), m.get("Monitor", k, "monitor", "datagram-B")),
			added / udp, c.limit, true})
		add(row{fmt.Sprintf("(for reference: the floor, %s, against the same write)", timers(c.n)),
			"floor " + dur(m.ns("Monitor", k, "floor")), "udp " + dur(udp),
			m.ns("Monitor", k, "floor") / udp, math.NaN(), true})
	}
	// Allocations.
	for _, n := range []string{"0", "1", "20", "1000"} {
		k := "timers=" + n
		a := m.get("Monitor", k, "monitor", "allocs/op")
		add(row{fmt.Sprintf("allocations per request, %s", timers(n)), fmt.Sprintf("%.0f allocs/op", a), "", a, 2, true})
	}
	a := m.get("Timer", "", "proxy", "allocs/op")
	add(row{"allocations of Timer(tags).Start().Stop() with a reused Tags map", fmt.Sprintf("%.0f allocs/op", a), "", a, 0, true})
	// Timer and lookup.
	add(row{"`pynba.Timer(tags).Start()` + `Stop()` through the proxy, against two `time.Now()`",
		dur(m.ns("Timer", "", "proxy")), "now-x2 " + dur(m.ns("Timer", "", "now-x2")),
		m.ns("Timer", "", "proxy") / m.ns("Timer", "", "now-x2"), 1.5, true})
	add(row{"registry lookup (goroutine id and table), against goid alone",
		dur(m.ns("Lookup", "", "registry")), "goid " + dur(m.ns("Lookup", "", "goid")),
		m.ns("Lookup", "", "registry") / m.ns("Lookup", "", "goid"), 3, true})
	// Encoder.
	for _, n := range []string{"0", "1", "20", "1000"} {
		k := "timers=" + n
		add(row{fmt.Sprintf("encoder (`pb.Record.Append`), %s, against `proto.Marshal` of the generated message", timers(n)),
			dur(m.ns("Encode", k, "append")), "proto " + dur(m.ns("Encode", k, "proto")),
			m.ns("Encode", k, "append") / m.ns("Encode", k, "proto"), 0.5, true})
	}
	// Cost per timer: the library's cost (without the write) per timer.
	perTimer := func(n float64, k string) float64 {
		lib := m.ns("Monitor", k, "monitor") - m.ns("Monitor", k, "udp")
		lib0 := m.ns("Monitor", "timers=0", "monitor") - m.ns("Monitor", "timers=0", "udp")
		return (lib - lib0) / n
	}
	c20, c1000 := perTimer(20, "timers=20"), perTimer(1000, "timers=1000")
	add(row{"cost per timer (monitor − udp − the same for 0 timers, per timer) at 1,000 timers, against 20",
		dur(c1000) + " per timer", dur(c20) + " per timer", c1000 / c20, 1.5, true})
	b20, b1000 := m.ns("Encode", "timers=20", "build")/20, m.ns("Encode", "timers=1000", "build")/1000
	add(row{"building the packet (flatten, merge, dictionary, encode) per timer at 1,000 timers, against 20",
		dur(b1000) + " per timer", dur(b20) + " per timer", b1000 / b20, 1.5, true})
	// Async.
	for _, n := range []string{"0", "1", "20"} {
		k := "timers=" + n
		bare := m.ns("Monitor", k, "bare")
		async, sync := m.ns("Monitor", k, "async")-bare, m.ns("Monitor", k, "monitor")-bare
		add(row{fmt.Sprintf("request path in async mode (`WithAsync`), %s, against sync mode", timers(n)),
			dur(async), "sync " + dur(sync), async / sync, 1.0 / 3, true})
	}
	for _, r := range rows {
		ok := r.x <= r.limit+1e-9
		if !r.le {
			ok = r.x >= r.limit
		}
		lim := fmt.Sprintf("≤ %.2fx", r.limit)
		x := ratio(r.x)
		v := verdict(ok, r.x)
		switch {
		case math.IsNaN(r.limit): // shown for reference, no target
			lim, v = "", ""
		case r.baseline == "": // a count, not a ratio
			lim = fmt.Sprintf("≤ %.0f", r.limit)
			x = fmt.Sprintf("%.0f", r.x)
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
	p("Monitor's added cost (sync mode) against the parts measured alone in the same run. The floor\n")
	p("(`impl=floor`) is the system calls a request cannot do without, one after the other: the two\n")
	p("readings of the process's CPU time (ru_utime, ru_stime) and the write of the same datagram. It costs\n")
	p("more than the raw write plus two readings measured alone: back-to-back writes find the receiver still\n")
	p("awake, writes apart must wake it. What is left once the floor, the timers' Start and Stop and the\n")
	p("packet build are taken away is the rest of the library's work in the request (taking the collector\n")
	p("from its pool, the one allocation, binding the goroutine, the response writer, locking), and the\n")
	p("slowdown of all the library's code between system calls, which leave the caches cold, against the\n")
	p("same code measured alone in a loop.\n\n")
	p("| timers | monitor − bare | floor | udp alone | 2 × CPU time alone | timers (n × Timer+Start+Stop) | packet build | rest |\n|---|---|---|---|---|---|---|---|\n")
	cpu := m.ns("CPUTime", "", "cpuTimes")
	timer := m.ns("Timer", "", "proxy")
	for _, n := range []int{0, 1, 20, 1000} {
		k := fmt.Sprintf("timers=%d", n)
		added := m.ns("Monitor", k, "monitor") - m.ns("Monitor", k, "bare")
		floor := m.ns("Monitor", k, "floor")
		build := m.ns("Encode", k, "build")
		timers := float64(n) * timer
		rest := added - floor - timers - build
		p("| %d | %s | %s | %s | %s | %s | %s | %s |\n", n, dur(added), dur(floor), dur(m.ns("Monitor", k, "udp")), dur(2*cpu), dur(timers), dur(build), dur(rest))
	}

	// CPU time.
	p("\n## Reading the CPU time\n\n")
	p("A request reads the process's CPU time twice, for ru_utime and ru_stime (process-wide\n")
	p("getrusage deltas, as pynba and the PHP extension send them). The ways considered, one goroutine\n")
	p("and GOMAXPROCS goroutines at once (time per call):\n\n")
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

	// Parallel.
	p("\n## Parallel requests\n\n")
	p("`b.RunParallel` with GOMAXPROCS goroutines against the same work on one goroutine: with no\n")
	p("contention the time per operation divides by the number of CPUs the work can use.\n\n")
	p("| work | one goroutine | GOMAXPROCS goroutines | speed-up |\n|---|---|---|---|\n")
	for _, c := range []struct{ what, seqName, seqRow, seqImpl, parName, parImpl string }{
		{"request, 1 timer, Monitor", "Monitor", "timers=1", "monitor", "MonitorParallel", "monitor"},
		{"raw write of the same datagram, a socket per goroutine", "Monitor", "timers=1", "udp", "MonitorParallel", "udp"},
		{"raw write of the same datagram, one socket shared (as the Reporter)", "Monitor", "timers=1", "udp", "MonitorParallel", "udp-shared"},
		{"bare handler", "Monitor", "timers=1", "bare", "MonitorParallel", "bare"},
		{"registry lookup", "Lookup", "", "registry", "LookupParallel", "registry"},
		{"goid alone", "Lookup", "", "goid", "LookupParallel", "goid"},
	} {
		seq, par := m.ns(c.seqName, c.seqRow, c.seqImpl), m.ns(c.parName, "", c.parImpl)
		p("| %s | %s | %s | %s |\n", c.what, dur(seq), dur(par), ratio(seq/par))
	}
	p("\nThe registry and the goroutine id scale with the CPUs, and the pools are per P. What keeps parallel\n")
	p("requests from scaling like the raw writes is the Reporter's one socket: a `net.UDPConn` lets one\n")
	p("write through at a time, so concurrent requests queue for it, as the raw writes through one shared\n")
	p("socket show.\n")

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

// notes explains, with the run's numbers, the targets the run did not meet.
func notes(p func(string, ...any), m medians) {
	p("\n## Notes on the targets not met\n\n")
	cpu := m.ns("CPUTime", "", "cpuTimes")
	timer := m.ns("Timer", "", "proxy")
	any := false
	for _, c := range []struct {
		n     int
		limit float64
	}{{0, 1.5}, {1, 1.5}, {20, 1.8}} {
		k := fmt.Sprintf("timers=%d", c.n)
		bare := m.ns("Monitor", k, "bare")
		added := m.ns("Monitor", k, "monitor") - bare
		udp := m.ns("Monitor", k, "udp")
		if math.IsNaN(added) || added <= c.limit*udp {
			continue
		}
		any = true
		floor := m.ns("Monitor", k, "floor")
		build := m.ns("Encode", k, "build")
		p("- **Monitor, %s: %.2fx against %.2fx.** The floor alone, the two CPU time readings and the write\n", timers(strconv.Itoa(c.n)), added/udp, c.limit)
		p("  one after the other (%s), is already %.2fx the back-to-back write (%s)", dur(floor), floor/udp, dur(udp))
		if c.n > 0 {
			p("; the timers' own Start and Stop\n  (%d × %s, two clock reads each) bring it to %.2fx, and building the packet (%s: flattening each\n",
				c.n, dur(timer), (floor+float64(c.n)*timer)/udp, dur(build))
			p("  Tags map, the dictionary, merging, encoding) to %.2fx", (floor+float64(c.n)*timer+build)/udp)
		}
		p(".\n  The rest of the library's work in the request is %s (%.0f%% of the floor).\n",
			dur(added-floor-float64(c.n)*timer-build), 100*(added-floor-float64(c.n)*timer-build)/floor)
	}
	for _, n := range []string{"0", "1", "20"} {
		k := "timers=" + n
		bare := m.ns("Monitor", k, "bare")
		async, sync := m.ns("Monitor", k, "async")-bare, m.ns("Monitor", k, "monitor")-bare
		if math.IsNaN(async) || async <= sync/3 {
			continue
		}
		any = true
		nt, _ := strconv.Atoi(n)
		build, tm := m.ns("Encode", k, "build"), float64(nt)*timer
		p("- **Async mode, %s: %.2fx against 0.33x.** Only the write leaves the request path: it still reads\n", timers(n), async/sync)
		p("  the CPU time twice (2 × %s)", dur(cpu))
		if nt > 0 {
			p(", runs its timers (%s)", dur(tm))
		}
		p(" and builds its packet (%s), which\n  sync mode does too; the rest, %s, is handing the packet to the sender goroutine (a copy and a\n", dur(build), dur(async-2*cpu-tm-build))
		p("  channel send, which wakes the sender when it sleeps).\n")
	}
	if !any {
		p("Every target was met in this run.\n")
	}
}
