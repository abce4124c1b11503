package report

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// SortKey orders the rows of a Snapshot.
type SortKey string

// Sort keys. Numbers sort largest first, names in byte order; ties go by
// name. A key a table lacks (SortP95 for timer tags, say) sorts it by
// SortTime.
const (
	SortTime  SortKey = "time"  // total time in the window (the default)
	SortCount SortKey = "count" // requests (scripts, request tags) or hits (timer tags)
	SortAvg   SortKey = "avg"   // time per request, or per hit
	SortP50   SortKey = "p50"   // request time percentiles (scripts)
	SortP95   SortKey = "p95"
	SortP99   SortKey = "p99"
	SortMax   SortKey = "max"
	SortCPU   SortKey = "cpu"   // CPU time (ru_utime+ru_stime) in total
	SortShare SortKey = "share" // share of request time (timer tags); same order as SortTime
	SortName  SortKey = "name"
)

// SortKeys lists every SortKey, in the order a user interface cycles them.
var SortKeys = []SortKey{SortTime, SortCount, SortAvg, SortP50, SortP95, SortP99, SortMax, SortCPU, SortName}

// Query selects what a Snapshot holds.
type Query struct {
	// Sort orders every table (default SortTime).
	Sort SortKey
	// Reverse flips the order.
	Reverse bool
	// Top keeps the first Top rows of each table after sorting; 0 keeps
	// all (at most the caps plus the overflow row).
	Top int
}

// Snapshot is the state of the window at one time. Times are seconds,
// rates are per second: counts divided by SpanSeconds.
type Snapshot struct {
	Time          time.Time `json:"time"`
	WindowSeconds float64   `json:"window_seconds"`
	// SpanSeconds is what rates divide by: the window, or the time since
	// the Model was made when that is shorter (at least 1 s).
	SpanSeconds float64 `json:"span_seconds"`
	Sort        SortKey `json:"sort"`
	// RelativeError bounds the percentiles' error (see RelativeError).
	RelativeError float64         `json:"relative_error"`
	Totals        Totals          `json:"totals"`
	Scripts       []ScriptRow     `json:"scripts"`
	TimerTags     []TimerTagRow   `json:"timer_tags"`
	RequestTags   []RequestTagRow `json:"request_tags"`
}

// Totals sums the whole window, every row included (Top cuts no total).
type Totals struct {
	Datagrams   int64 `json:"datagrams"`
	Undecodable int64 `json:"undecodable"`
	// Invalid counts requests a Pinba server would drop (not counted in
	// Requests).
	Invalid int64 `json:"invalid"`
	// Requests counts top-level and nested requests; Nested the latter.
	Requests  int64   `json:"requests"`
	Nested    int64   `json:"nested"`
	ReqPerSec float64 `json:"req_per_sec"`
	Stats
	// Distinct rows in each table before Top, the overflow row included.
	Scripts     int `json:"scripts"`
	TimerTags   int `json:"timer_tags"`
	RequestTags int `json:"request_tags"`
}

// Stats describes the request times of a set of requests.
type Stats struct {
	TimeTotal float64 `json:"time_total"`
	TimeAvg   float64 `json:"time_avg"`
	P50       float64 `json:"p50"`
	P95       float64 `json:"p95"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	// CPU is ru_utime+ru_stime, in total and per request.
	UTimeTotal float64 `json:"ru_utime_total"`
	STimeTotal float64 `json:"ru_stime_total"`
	CPUTotal   float64 `json:"cpu_total"`
	CPUPerReq  float64 `json:"cpu_per_req"`
	// Status counts requests by status: "200", ..., "none" when the
	// request carried none, "other" past 32 distinct statuses.
	Status map[string]int64 `json:"status"`
}

// ScriptRow is one script name.
type ScriptRow struct {
	Name      string  `json:"script_name"`
	Overflow  bool    `json:"overflow,omitempty"`
	Requests  int64   `json:"requests"`
	ReqPerSec float64 `json:"req_per_sec"`
	Stats
}

// TimerTagRow is one timer tag set, such as "group=db,op=select" (tags
// sorted by name, then value).
type TimerTagRow struct {
	Tags     string `json:"tags"`
	Overflow bool   `json:"overflow,omitempty"`
	// Timers counts timer records, Requests the requests holding at
	// least one, Hits their hit counts.
	Timers     int64   `json:"timers"`
	Requests   int64   `json:"requests"`
	Hits       int64   `json:"hits"`
	HitsPerSec float64 `json:"hits_per_sec"`
	TimeTotal  float64 `json:"time_total"`
	TimePerHit float64 `json:"time_per_hit"`
	// Share is TimeTotal over the request time of all requests in the
	// window (it may pass 1 with parallel timers).
	Share float64 `json:"share"`
	// CPUTotal sums the timers' ru_utime+ru_stime, when the packets carry
	// them (HasCPU).
	CPUTotal float64 `json:"cpu_total"`
	HasCPU   bool    `json:"has_cpu"`
}

// RequestTagRow is one request tag name=value.
type RequestTagRow struct {
	Tag       string  `json:"tag"`
	Overflow  bool    `json:"overflow,omitempty"`
	Requests  int64   `json:"requests"`
	ReqPerSec float64 `json:"req_per_sec"`
	TimeTotal float64 `json:"time_total"`
	TimeAvg   float64 `json:"time_avg"`
	CPUTotal  float64 `json:"cpu_total"`
}

// Snapshot reports the window ending now.
func (m *Model) Snapshot(q Query) Snapshot {
	now := m.now()
	if q.Sort == "" {
		q.Sort = SortTime
	}
	nowSec := now.Unix()

	var (
		total   scriptAgg
		scripts = map[string]*scriptAgg{}
		timers  = map[string]*timerAgg{}
		reqTags = map[string]*reqTagAgg{}
		snap    = Snapshot{
			Time:          now,
			WindowSeconds: float64(m.window),
			Sort:          q.Sort,
			RelativeError: RelativeError,
		}
	)
	m.mu.Lock()
	for _, s := range m.slots {
		if !s.used {
			continue
		}
		if s.sec <= nowSec-m.window {
			m.resetSlot(s) // expired: let its keys go
			continue
		}
		if s.sec > nowSec {
			continue
		}
		t := &snap.Totals
		t.Datagrams += s.datagrams
		t.Undecodable += s.undecodable
		t.Invalid += s.invalid
		t.Nested += s.nested
		total.merge(&s.total)
		for k, a := range s.scripts {
			mergeInto(scripts, k, a, (*scriptAgg).merge)
		}
		for k, a := range s.timers {
			mergeInto(timers, k, a, (*timerAgg).merge)
		}
		for k, a := range s.reqTags {
			mergeInto(reqTags, k, a, (*reqTagAgg).merge)
		}
	}
	m.mu.Unlock()

	span := min(float64(m.window), now.Sub(m.started).Seconds())
	span = max(span, 1)
	snap.SpanSeconds = span

	t := &snap.Totals
	t.Requests = total.n
	t.ReqPerSec = float64(total.n) / span
	t.Stats = total.stats()
	t.Scripts, t.TimerTags, t.RequestTags = len(scripts), len(timers), len(reqTags)

	snap.Scripts = make([]ScriptRow, 0, len(scripts))
	for k, a := range scripts {
		snap.Scripts = append(snap.Scripts, ScriptRow{
			Name: k, Overflow: k == OverflowKey,
			Requests: a.n, ReqPerSec: float64(a.n) / span,
			Stats: a.stats(),
		})
	}
	snap.TimerTags = make([]TimerTagRow, 0, len(timers))
	for k, a := range timers {
		r := TimerTagRow{
			Tags: k, Overflow: k == OverflowKey,
			Timers: a.timers, Requests: a.requests, Hits: a.hits,
			HitsPerSec: float64(a.hits) / span,
			TimeTotal:  a.time,
			CPUTotal:   a.cpu, HasCPU: a.hasCPU,
		}
		if a.hits > 0 {
			r.TimePerHit = a.time / float64(a.hits)
		}
		if total.time > 0 {
			r.Share = a.time / total.time
		}
		snap.TimerTags = append(snap.TimerTags, r)
	}
	snap.RequestTags = make([]RequestTagRow, 0, len(reqTags))
	for k, a := range reqTags {
		r := RequestTagRow{
			Tag: k, Overflow: k == OverflowKey,
			Requests: a.n, ReqPerSec: float64(a.n) / span,
			TimeTotal: a.time, CPUTotal: a.cpu,
		}
		if a.n > 0 {
			r.TimeAvg = a.time / float64(a.n)
		}
		snap.RequestTags = append(snap.RequestTags, r)
	}

	sortRows(snap.Scripts, q, func(r ScriptRow) string { return r.Name }, scriptKey(q.Sort))
	sortRows(snap.TimerTags, q, func(r TimerTagRow) string { return r.Tags }, timerKey(q.Sort))
	sortRows(snap.RequestTags, q, func(r RequestTagRow) string { return r.Tag }, reqTagKey(q.Sort))
	if q.Top > 0 {
		snap.Scripts = snap.Scripts[:min(q.Top, len(snap.Scripts))]
		snap.TimerTags = snap.TimerTags[:min(q.Top, len(snap.TimerTags))]
		snap.RequestTags = snap.RequestTags[:min(q.Top, len(snap.RequestTags))]
	}
	return snap
}

func mergeInto[A any](dst map[string]*A, k string, a *A, merge func(*A, *A)) {
	d := dst[k]
	if d == nil {
		d = new(A)
		dst[k] = d
	}
	merge(d, a)
}

func (a *scriptAgg) merge(o *scriptAgg) {
	a.n += o.n
	a.time += o.time
	a.utime += o.utime
	a.stime += o.stime
	a.hist.merge(&o.hist)
	if len(o.status) > 0 && a.status == nil {
		a.status = make(map[int64]int64, len(o.status))
	}
	for s, c := range o.status {
		a.status[s] += c
	}
}

func (a *timerAgg) merge(o *timerAgg) {
	a.timers += o.timers
	a.requests += o.requests
	a.hits += o.hits
	a.time += o.time
	a.cpu += o.cpu
	a.hasCPU = a.hasCPU || o.hasCPU
}

func (a *reqTagAgg) merge(o *reqTagAgg) {
	a.n += o.n
	a.time += o.time
	a.cpu += o.cpu
}

func (a *scriptAgg) stats() Stats {
	s := Stats{
		TimeTotal:  a.time,
		UTimeTotal: a.utime,
		STimeTotal: a.stime,
		CPUTotal:   a.utime + a.stime,
		Max:        a.hist.max,
		Status:     make(map[string]int64, len(a.status)),
	}
	if a.n > 0 {
		s.TimeAvg = a.time / float64(a.n)
		s.CPUPerReq = s.CPUTotal / float64(a.n)
		q := a.hist.quantiles(0.50, 0.95, 0.99)
		s.P50, s.P95, s.P99 = q[0], q[1], q[2]
	}
	for st, c := range a.status {
		s.Status[statusKey(st)] += c
	}
	return s
}

// sortRows sorts rows by key (descending), or by name when key is nil.
func sortRows[R any](rows []R, q Query, name func(R) string, key func(R) float64) {
	slices.SortFunc(rows, func(a, b R) int {
		c := 0
		if key != nil {
			c = cmp.Compare(key(b), key(a))
		}
		if c == 0 {
			c = strings.Compare(name(a), name(b))
		}
		if q.Reverse {
			c = -c
		}
		return c
	})
}

func scriptKey(k SortKey) func(ScriptRow) float64 {
	switch k {
	case SortName:
		return nil
	case SortCount:
		return func(r ScriptRow) float64 { return float64(r.Requests) }
	case SortAvg:
		return func(r ScriptRow) float64 { return r.TimeAvg }
	case SortP50:
		return func(r ScriptRow) float64 { return r.P50 }
	case SortP95:
		return func(r ScriptRow) float64 { return r.P95 }
	case SortP99:
		return func(r ScriptRow) float64 { return r.P99 }
	case SortMax:
		return func(r ScriptRow) float64 { return r.Max }
	case SortCPU:
		return func(r ScriptRow) float64 { return r.CPUTotal }
	}
	return func(r ScriptRow) float64 { return r.TimeTotal }
}

func timerKey(k SortKey) func(TimerTagRow) float64 {
	switch k {
	case SortName:
		return nil
	case SortCount:
		return func(r TimerTagRow) float64 { return float64(r.Hits) }
	case SortAvg:
		return func(r TimerTagRow) float64 { return r.TimePerHit }
	case SortCPU:
		return func(r TimerTagRow) float64 { return r.CPUTotal }
	}
	return func(r TimerTagRow) float64 { return r.TimeTotal }
}

func reqTagKey(k SortKey) func(RequestTagRow) float64 {
	switch k {
	case SortName:
		return nil
	case SortCount:
		return func(r RequestTagRow) float64 { return float64(r.Requests) }
	case SortAvg:
		return func(r RequestTagRow) float64 { return r.TimeAvg }
	case SortCPU:
		return func(r RequestTagRow) float64 { return r.CPUTotal }
	}
	return func(r RequestTagRow) float64 { return r.TimeTotal }
}

// ParseSortKey returns the SortKey named s, and whether there is one.
func ParseSortKey(s string) (SortKey, bool) {
	k := SortKey(strings.ToLower(s))
	if k == SortShare {
		return SortTime, true
	}
	return k, slices.Contains(SortKeys, k)
}
