package main

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pynba-go/pynba/internal/relay"
	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// summary adds up the decodable top-level requests received, per script
// name and per timer tag, like Pinba's report_by_script_name and tag_info
// reports. Times are cleaned as servers see them: negative, NaN or infinite
// count as 0. Totals run from the start; request rates are those of the
// interval since the previous report.
type summary struct {
	scripts map[string]*scriptStats
	tags    map[pinbatest.Tag]*tagStats
	start   time.Time // when counting began
	last    time.Time // the previous report, or start
}

type scriptStats struct {
	requests     int
	recent       int // requests since the previous report
	withProblems int
	time         float64
	utime        float64
	stime        float64
	status       map[int64]int // -1: no status sent
}

type tagStats struct {
	timers int
	hits   uint64
	time   float64
}

func newSummary(start time.Time) *summary {
	return &summary{scripts: map[string]*scriptStats{}, tags: map[pinbatest.Tag]*tagStats{}, start: start, last: start}
}

func (s *summary) add(p *pinbatest.Packet, hasProblems bool) {
	st := s.scripts[p.ScriptName]
	if st == nil {
		st = &scriptStats{status: map[int64]int{}}
		s.scripts[p.ScriptName] = st
	}
	st.requests++
	st.recent++
	if hasProblems {
		st.withProblems++
	}
	st.time += float64(pb.Seconds(p.RequestTime))
	st.utime += float64(pb.Seconds(p.RUUtime))
	st.stime += float64(pb.Seconds(p.RUStime))
	code := int64(-1)
	if p.Request.Status != nil {
		code = int64(p.Status)
	}
	st.status[code]++

	for _, t := range p.Timers {
		seen := map[pinbatest.Tag]bool{} // a tag repeated in one timer counts once
		for _, tag := range t.Tags {
			if seen[tag] {
				continue
			}
			seen[tag] = true
			ts := s.tags[tag]
			if ts == nil {
				ts = &tagStats{}
				s.tags[tag] = ts
			}
			ts.timers++
			ts.hits += uint64(t.HitCount)
			ts.time += float64(pb.Seconds(t.Value))
		}
	}
}

// report is a summary at one moment, ready to print as text or JSON.
// Counts and times are totals since start; ReqPerSec are the requests of the
// last interval divided by its length.
type report struct {
	Elapsed      float64        `json:"elapsed"`  // seconds since start
	Interval     float64        `json:"interval"` // seconds since the previous report (or start)
	Datagrams    int            `json:"datagrams"`
	Undecodable  int            `json:"undecodable"`
	WithProblems int            `json:"with_problems"`
	Skipped      int64          `json:"skipped"` // received but not shown nor counted: output too slow
	Requests     int            `json:"requests"`
	ReqPerSec    float64        `json:"req_per_sec"`
	Scripts      []scriptReport `json:"scripts"`
	TimerTags    []tagReport    `json:"timer_tags"`
	Forward      *forwardReport `json:"forward,omitempty"`
}

type scriptReport struct {
	ScriptName   string         `json:"script_name"`
	Requests     int            `json:"requests"`
	ReqPerSec    float64        `json:"req_per_sec"`
	TimeTotal    float64        `json:"time_total"`
	TimeAvg      float64        `json:"time_avg"`
	RUUtimeTotal float64        `json:"ru_utime_total"`
	RUStimeTotal float64        `json:"ru_stime_total"`
	WithProblems int            `json:"with_problems"`
	Status       map[string]int `json:"status"` // "200": 9; "none": no status sent
}

type tagReport struct {
	Tag        string  `json:"tag"` // name=value
	Name       string  `json:"name"`
	Value      string  `json:"value"`
	Timers     int     `json:"timers"`
	Hits       uint64  `json:"hits"`
	TimeTotal  float64 `json:"time_total"`
	TimePerHit float64 `json:"time_per_hit"`
}

type forwardReport struct {
	To      string `json:"to"`
	Sent    int64  `json:"sent"`
	Errors  int64  `json:"errors"`
	Dropped int64  `json:"dropped"`
}

// micro rounds a measured duration in seconds to microseconds.
func micro(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// milli rounds a measured duration in seconds to milliseconds, for text.
func milli(x float64) float64 { return math.Round(x*1e3) / 1e3 }

func perSec(n float64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return math.Round(n/elapsed.Seconds()*1000) / 1000
}

func statusKey(code int64) string {
	if code < 0 {
		return "none"
	}
	return strconv.FormatInt(code, 10)
}

// report returns the summary at now and starts a new interval: the request
// rates of the next report count the requests added from now on.
func (s *summary) report(now time.Time, datagrams, undecodable, withProblems int, skipped int64, fw *relay.Forwarder) report {
	interval := now.Sub(s.last)
	s.last = now
	recent := 0
	r := report{
		Elapsed:      micro(now.Sub(s.start).Seconds()),
		Interval:     micro(interval.Seconds()),
		Datagrams:    datagrams,
		Undecodable:  undecodable,
		WithProblems: withProblems,
		Skipped:      skipped,
		Scripts:      []scriptReport{},
		TimerTags:    []tagReport{},
	}
	for name, st := range s.scripts {
		sr := scriptReport{
			ScriptName:   name,
			Requests:     st.requests,
			ReqPerSec:    perSec(float64(st.recent), interval),
			TimeTotal:    round7(st.time),
			TimeAvg:      round7(st.time / float64(st.requests)),
			RUUtimeTotal: round7(st.utime),
			RUStimeTotal: round7(st.stime),
			WithProblems: st.withProblems,
			Status:       map[string]int{},
		}
		for code, n := range st.status {
			sr.Status[statusKey(code)] = n
		}
		r.Requests += st.requests
		recent += st.recent
		st.recent = 0
		r.Scripts = append(r.Scripts, sr)
	}
	r.ReqPerSec = perSec(float64(recent), interval)
	slices.SortFunc(r.Scripts, func(a, b scriptReport) int { return cmp.Compare(a.ScriptName, b.ScriptName) })
	for tag, ts := range s.tags {
		tr := tagReport{
			Tag:       tag.Name + "=" + tag.Value,
			Name:      tag.Name,
			Value:     tag.Value,
			Timers:    ts.timers,
			Hits:      ts.hits,
			TimeTotal: round7(ts.time),
		}
		if ts.hits > 0 {
			tr.TimePerHit = round7(ts.time / float64(ts.hits))
		}
		r.TimerTags = append(r.TimerTags, tr)
	}
	slices.SortFunc(r.TimerTags, func(a, b tagReport) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Value, b.Value))
	})
	if fw != nil {
		r.Forward = &forwardReport{To: fw.Addr, Sent: fw.Sent.Load(), Errors: fw.Errors.Load(), Dropped: fw.Dropped.Load()}
	}
	return r
}

// writeTextSummary writes a report as two tables:
//
//	== summary after 3s: 30 requests, 10.000 req/s in the last 1s; 31 datagrams, 1 undecodable, 0 with problems ==
//	script_name  requests  req/s  time_total  time_avg  ru_utime  ru_stime  problems  status
//	/a           10        3.000  1s          100ms     ...                 0         200:10
//
//	timer_tag    timers  hits  time_total  time_per_hit
//	group=db     20      40    400ms       10ms
//	== end of summary ==
func writeTextSummary(w *bufio.Writer, r report) {
	skipped := ""
	if r.Skipped > 0 {
		skipped = fmt.Sprintf(", %d skipped (output too slow)", r.Skipped)
	}
	fmt.Fprintf(w, "== summary after %s: %d requests, %.3f req/s in the last %s; %d datagrams, %d undecodable, %d with problems%s ==\n",
		timeText(milli(r.Elapsed)), r.Requests, r.ReqPerSec, timeText(milli(r.Interval)),
		r.Datagrams, r.Undecodable, r.WithProblems, skipped)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "script_name\trequests\treq/s\ttime_total\ttime_avg\tru_utime\tru_stime\tproblems\tstatus")
	for _, s := range r.Scripts {
		codes := make([]string, 0, len(s.Status))
		for c := range s.Status {
			codes = append(codes, c)
		}
		slices.SortFunc(codes, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
		for i, c := range codes {
			codes[i] = fmt.Sprintf("%s:%d", c, s.Status[c])
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%s\t%s\t%s\t%s\t%d\t%s\n", word(s.ScriptName), s.Requests, s.ReqPerSec,
			timeText(s.TimeTotal), timeText(s.TimeAvg), timeText(s.RUUtimeTotal), timeText(s.RUStimeTotal),
			s.WithProblems, strings.Join(codes, " "))
	}
	tw.Flush()
	if len(r.TimerTags) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "timer_tag\ttimers\thits\ttime_total\ttime_per_hit")
		for _, t := range r.TimerTags {
			fmt.Fprintf(tw, "%s=%s\t%d\t%d\t%s\t%s\n", word(t.Name), word(t.Value), t.Timers, t.Hits,
				timeText(t.TimeTotal), timeText(t.TimePerHit))
		}
		tw.Flush()
	}
	if f := r.Forward; f != nil {
		fmt.Fprintf(w, "forward to %s: %d sent, %d errors, %d dropped\n", f.To, f.Sent, f.Errors, f.Dropped)
	}
	fmt.Fprintln(w, "== end of summary ==")
}

// writeJSONSummary writes a report as one line: {"summary": {...}}.
func writeJSONSummary(w *bufio.Writer, r report) {
	writeJSONLine(w, struct {
		Summary report `json:"summary"`
	}{r})
}
