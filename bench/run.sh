#!/usr/bin/env bash
# Runs the cost benchmarks with -count and writes BENCHMARKS.md: the
# machine, the targets as ratios of benchstat medians of the same run, and
# benchstat's tables. benchstat is pinned as a tool in tools/go.mod (go tool
# benchstat).
#
#   bench/run.sh                  # COUNT=8 runs of each, about 4 minutes
#   COUNT=6 BENCHTIME=200ms bench/run.sh
#   RAW=bench/results.txt bench/run.sh   # the report again, from the last run
#
# The raw output is kept in bench/results.txt: compare two versions with
# (cd tools && go tool benchstat old.txt ../bench/results.txt).
#
# The ratios compare figures of one run, so that a slower or busier machine
# moves both sides; still, run it on a quiet machine: another process
# competing for the CPUs makes system calls and wake-ups slower than the
# code around them. The load average is written down before and after.
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT=${COUNT:-8}
BENCHTIME=${BENCHTIME:-300ms}
OUT=${OUT:-BENCHMARKS.md}
if ((COUNT < 6)); then
	echo "bench/run.sh: COUNT=$COUNT: benchstat needs at least 6 runs for its confidence intervals" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

benchmarks='^Benchmark(Monitor|MonitorIdenticalTimers|MonitorParallel|MonitorScaling|AsyncThroughput|HTTP|HTTPPaired|CPUShare|CPUAlone|Timer|Lookup|LookupParallel|Encode|Flatten|CPUTime|CPUTimeParallel)$'
# The test binary runs COUNT times, each run measuring every benchmark once,
# rather than -count COUNT, which measures each benchmark COUNT times in a
# row: so every benchmark and its baseline are sampled across the whole
# run, and a machine that gets slower or faster meanwhile moves both.
cmd="go test -c -o pynba.test . && for i in \$(seq $COUNT); do ./pynba.test -test.run '^\$' -test.bench '$benchmarks' -test.benchmem -test.benchtime $BENCHTIME; done"

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)
if [[ -n "${RAW:-}" ]]; then
	# RAW=file: write the report from the output of an earlier run.
	cp "$RAW" "$tmp/raw.txt"
else
	echo "bench/run.sh: $cmd" >&2
	go test -c -o "$tmp/pynba.test" .
	for i in $(seq "$COUNT"); do
		echo "bench/run.sh: run $i of $COUNT" >&2
		# Each run's lines go to the terminal as they come, and to the file
		# benchstat reads.
		"$tmp/pynba.test" -test.run '^$' -test.bench "$benchmarks" -test.benchmem \
			-test.benchtime "$BENCHTIME" | tee -a "$tmp/raw.txt" >&2
	done
	# The raw output stays, for benchstat comparisons with later runs.
	cp "$tmp/raw.txt" bench/results.txt
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)

benchstat() { (cd tools && go tool benchstat "$@"); }
benchstat -table .name -col /impl "$tmp/raw.txt" >"$tmp/text.txt"
benchstat -format csv -table .name -col /impl "$tmp/raw.txt" >"$tmp/csv.txt" 2>/dev/null

cpu=$(grep -m1 '^cpu:' "$tmp/raw.txt" | cut -d' ' -f2- || true)
if [[ -r /proc/cpuinfo ]]; then
	model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
	cpu=${model:-$cpu}
fi
procs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
virt=$(systemd-detect-virt 2>/dev/null || true)
if [[ -z "$virt" ]] && grep -q hypervisor /proc/cpuinfo 2>/dev/null; then
	virt="a virtual machine (the CPU flags name a hypervisor)"
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
	commit="$commit with uncommitted changes"
fi
{
	echo "CPU: $cpu, $procs logical CPUs (GOMAXPROCS $procs)${virt:+, $virt}"
	echo "System: $(uname -srm)"
	[[ -r /sys/devices/system/clocksource/clocksource0/current_clocksource ]] &&
		echo "Clock source: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	echo "Go: $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
	echo "Code: commit $commit"
	if [[ -n "${RAW:-}" ]]; then
		echo "Run: the output in $RAW (this report written $(date -u '+%Y-%m-%d %H:%M UTC'))"
	else
		echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $COUNT runs of every benchmark, -benchtime $BENCHTIME"
		echo "Load average (1, 5, 15 min) before: $load_before; after: $load_after"
	fi
} >"$tmp/machine.txt"
if [[ -z "${RAW:-}" ]]; then
	# Kept beside the raw output, so that a report written again from it
	# (RAW=bench/results.txt) names the run's machine, time and load.
	cp "$tmp/machine.txt" bench/machine.txt
elif [[ "$RAW" -ef bench/results.txt && -r bench/machine.txt ]]; then
	cp bench/machine.txt "$tmp/machine.txt"
	echo "Report: written again from that run's output ($(date -u '+%Y-%m-%d %H:%M UTC'))" >>"$tmp/machine.txt"
fi

procs_run=$(grep -m1 '^Benchmark' "$tmp/raw.txt" | awk '{print $1}' | sed -n 's/.*-\([0-9]*\)$/\1/p')
go run ./internal/benchreport -csv "$tmp/csv.txt" -text "$tmp/text.txt" \
	-machine "$tmp/machine.txt" -command "$cmd" -procs "${procs_run:-1}" >"$tmp/out.md"
mv "$tmp/out.md" "$OUT"
echo "bench/run.sh: wrote $OUT" >&2
