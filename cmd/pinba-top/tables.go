package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pynba-go/pynba/internal/report"
)

// view is one of the three tables.
type view int

const (
	viewScripts view = iota
	viewTimers
	viewRequestTags
	numViews
)

func (v view) String() string {
	return [...]string{"Scripts", "Timer tags", "Request tags"}[v]
}

// column is one column of a table; key is what sorting by it asks of the
// report ("" when it cannot be sorted by).
type column struct {
	title string
	key   report.SortKey
	left  bool // left-aligned (names)
}

// table is a view of a snapshot as text cells.
type table struct {
	cols     []column
	rows     [][]string
	overflow []bool
}

var viewColumns = [numViews][]column{
	viewScripts: {
		{"SCRIPT", report.SortName, true}, {"REQ/S", report.SortCount, false}, {"REQS", "", false},
		{"TIME", report.SortTime, false}, {"AVG", report.SortAvg, false}, {"P50", report.SortP50, false},
		{"P95", report.SortP95, false}, {"P99", report.SortP99, false}, {"MAX", report.SortMax, false},
		{"CPU/REQ", report.SortCPU, false}, {"STATUS", "", true},
	},
	viewTimers: {
		{"TIMER TAGS", report.SortName, true}, {"HITS/S", report.SortCount, false}, {"HITS", "", false},
		{"TIME", report.SortTime, false}, {"PER HIT", report.SortAvg, false}, {"SHARE", "", false},
		{"CPU", report.SortCPU, false},
	},
	viewRequestTags: {
		{"REQUEST TAG", report.SortName, true}, {"REQ/S", report.SortCount, false}, {"REQS", "", false},
		{"TIME", report.SortTime, false}, {"AVG", report.SortAvg, false}, {"CPU", report.SortCPU, false},
	},
}

// sortKeys lists the keys a view can sort by, in column order.
func sortKeys(v view) []report.SortKey {
	var keys []report.SortKey
	for _, c := range viewColumns[v] {
		if c.key != "" {
			keys = append(keys, c.key)
		}
	}
	return keys
}

func buildTable(v view, s report.Snapshot) table {
	t := table{cols: viewColumns[v]}
	add := func(over bool, cells ...string) {
		t.rows = append(t.rows, cells)
		t.overflow = append(t.overflow, over)
	}
	switch v {
	case viewScripts:
		for _, r := range s.Scripts {
			add(r.Overflow, r.Name, rate(r.ReqPerSec), count(r.Requests), dur(r.TimeTotal), dur(r.TimeAvg),
				dur(r.P50), dur(r.P95), dur(r.P99), dur(r.Max), dur(r.CPUPerReq), statusMix(r.Status))
		}
	case viewTimers:
		for _, r := range s.TimerTags {
			cpu := "-"
			if r.HasCPU {
				cpu = dur(r.CPUTotal)
			}
			add(r.Overflow, r.Tags, rate(r.HitsPerSec), count(r.Hits), dur(r.TimeTotal), dur(r.TimePerHit),
				fmt.Sprintf("%.1f%%", 100*r.Share), cpu)
		}
	case viewRequestTags:
		for _, r := range s.RequestTags {
			add(r.Overflow, r.Tag, rate(r.ReqPerSec), count(r.Requests), dur(r.TimeTotal), dur(r.TimeAvg), dur(r.CPUTotal))
		}
	}
	return t
}

// dur formats seconds with three significant digits or so.
func dur(sec float64) string {
	switch {
	case sec == 0:
		return "0"
	case sec < 1e-3:
		return fmt.Sprintf("%.0fµs", sec*1e6)
	case sec < 1:
		return strconv.FormatFloat(sec*1e3, 'f', prec(sec*1e3), 64) + "ms"
	default:
		return strconv.FormatFloat(sec, 'f', prec(sec), 64) + "s"
	}
}

func prec(v float64) int {
	switch {
	case v < 10:
		return 2
	case v < 100:
		return 1
	}
	return 0
}

func rate(v float64) string { return strconv.FormatFloat(v, 'f', prec(v), 64) }

func count(n int64) string { return strconv.FormatInt(n, 10) }

// statusMix lists statuses by count, largest first: "200:90 500:10".
func statusMix(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(m[b], m[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.FormatInt(m[k], 10)
	}
	return strings.Join(parts, " ")
}

// summary is the totals in two lines.
func summary(s report.Snapshot) []string {
	t := s.Totals
	return []string{
		fmt.Sprintf("requests %d (%s req/s, %d nested) over %.0fs of a %.0fs window; datagrams %d, undecodable %d, invalid %d",
			t.Requests, rate(t.ReqPerSec), t.Nested, s.SpanSeconds, s.WindowSeconds, t.Datagrams, t.Undecodable, t.Invalid),
		fmt.Sprintf("request time avg %s p50 %s p95 %s p99 %s max %s; cpu/req %s; status %s",
			dur(t.TimeAvg), dur(t.P50), dur(t.P95), dur(t.P99), dur(t.Max), dur(t.CPUPerReq), orDash(statusMix(t.Status))),
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeText prints the plain report of -once: the totals, then the three
// tables.
func writeText(w io.Writer, s report.Snapshot) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range summary(s) {
		fmt.Fprintln(tw, l)
	}
	for v := range numViews {
		t := buildTable(v, s)
		fmt.Fprintln(tw)
		titles := make([]string, len(t.cols))
		for i, c := range t.cols {
			titles[i] = c.title
		}
		fmt.Fprintln(tw, strings.Join(titles, "\t"))
		if len(t.rows) == 0 {
			fmt.Fprintln(tw, "(none)")
		}
		for _, r := range t.rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		if err := tw.Flush(); err != nil { // each table its own columns
			return err
		}
	}
	return tw.Flush()
}
