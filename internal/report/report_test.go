package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var t0 = time.Unix(1_000_000, 0)

func newClock() *clock { return &clock{t: t0} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t0.Add(d)
}

// timer is one timer of a test request.
type timer struct {
	hits  uint32
	value float32
	tags  [][2]string
}

// record builds a request that the root module's encoder accepts.
func record(script string, rt float32, status uint32, reqTags [][2]string, timers ...timer) *pb.Record {
	r := &pb.Record{
		Hostname: "host", ServerName: "srv", ScriptName: script, RequestCount: 1,
		RequestTime: rt, RUUtime: rt / 4, RUStime: rt / 8,
		Status: status, HasStatus: true,
	}
	idx := map[string]uint32{}
	word := func(s string) uint32 {
		i, ok := idx[s]
		if !ok {
			i = uint32(len(r.Dictionary))
			idx[s] = i
			r.Dictionary = append(r.Dictionary, s)
		}
		return i
	}
	for _, t := range reqTags {
		r.TagName = append(r.TagName, word(t[0]))
		r.TagValue = append(r.TagValue, word(t[1]))
	}
	for _, t := range timers {
		r.TimerHitCount = append(r.TimerHitCount, t.hits)
		r.TimerValue = append(r.TimerValue, t.value)
		r.TimerTagCount = append(r.TimerTagCount, uint32(len(t.tags)))
		for _, tag := range t.tags {
			r.TimerTagName = append(r.TimerTagName, word(tag[0]))
			r.TimerTagValue = append(r.TimerTagValue, word(tag[1]))
		}
	}
	return r
}

// encode gives the datagram of r, as the root module's encoder writes it.
func encode(t testing.TB, r *pb.Record) []byte {
	t.Helper()
	b, err := r.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func f32(v float32) float64 { return float64(v) }

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// within checks a percentile against the exact value and RelativeError.
func within(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > RelativeError*want+1e-12 {
		t.Errorf("%s = %v, want %v within %v%%", what, got, want, RelativeError*100)
	}
}

func findScript(s Snapshot, name string) *ScriptRow {
	for i := range s.Scripts {
		if s.Scripts[i].Name == name {
			return &s.Scripts[i]
		}
	}
	return nil
}

func TestScriptFigures(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.now})
	// 100 requests to /a taking 1..100 ms (10 of them status 500), 20 to
	// /b taking 5 ms; sent as datagrams over half a second.
	var times []float64
	for i := 1; i <= 100; i++ {
		c.set(time.Duration(i) * 5 * time.Millisecond)
		status := uint32(200)
		if i%10 == 0 {
			status = 500
		}
		rt := float32(i) / 1000
		times = append(times, f32(rt))
		if err := m.AddDatagram(encode(t, record("/a", rt, status, nil))); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		m.Add(record("/b", 0.005, 200, nil).Proto())
	}
	c.set(10 * time.Second)
	s := m.Snapshot(Query{})

	if s.SpanSeconds != 10 || s.WindowSeconds != 60 {
		t.Fatalf("span %v window %v, want 10 and 60", s.SpanSeconds, s.WindowSeconds)
	}
	if s.Totals.Requests != 120 || s.Totals.Datagrams != 120 || s.Totals.Undecodable != 0 {
		t.Errorf("totals %+v", s.Totals)
	}
	near(t, "total req/s", s.Totals.ReqPerSec, 12)
	if len(s.Scripts) != 2 || s.Scripts[0].Name != "/a" {
		t.Fatalf("scripts %+v", s.Scripts)
	}
	a := s.Scripts[0]
	if a.Requests != 100 {
		t.Errorf("/a requests %d", a.Requests)
	}
	near(t, "/a req/s", a.ReqPerSec, 10)
	var sum, cpu float64
	for _, v := range times {
		sum += v
		cpu += f32(float32(v)/4) + f32(float32(v)/8)
	}
	near(t, "/a time total", a.TimeTotal, sum)
	near(t, "/a time avg", a.TimeAvg, sum/100)
	near(t, "/a cpu per req", a.CPUPerReq, cpu/100)
	within(t, "/a p50", a.P50, times[49])
	within(t, "/a p95", a.P95, times[94])
	within(t, "/a p99", a.P99, times[98])
	if a.Max != times[99] {
		t.Errorf("/a max %v, want %v exactly", a.Max, times[99])
	}
	if a.Status["200"] != 90 || a.Status["500"] != 10 || len(a.Status) != 2 {
		t.Errorf("/a status %v", a.Status)
	}
	b := findScript(s, "/b")
	if b.Requests != 20 || b.P50 != f32(0.005) || b.P99 != f32(0.005) {
		t.Errorf("/b %+v", b)
	}
	near(t, "/b req/s", b.ReqPerSec, 2)
	all := append(slices.Clone(times), slices.Repeat([]float64{f32(0.005)}, 20)...)
	slices.Sort(all)
	within(t, "total p95", s.Totals.P95, all[113]) // ceil(0.95*120) = 114th
	if s.Totals.Status["200"] != 110 {
		t.Errorf("total status %v", s.Totals.Status)
	}
}

func TestTimerAndRequestTags(t *testing.T) {
	c := newClock()
	m := New(Options{Now: c.now})
	db := [][2]string{{"op", "select"}, {"group", "db"}} // unsorted on purpose
	for i := range 10 {
		tags := [][2]string{{"env", "prod"}}
		if i < 4 {
			tags = append(tags, [2]string{"lang", "en"})
		}
		m.Add(record("/p", 0.1, 200, tags,
			timer{hits: 2, value: 0.03, tags: db},
			timer{hits: 1, value: 0.01, tags: [][2]string{{"group", "cache"}}},
			timer{hits: 3, value: 0.006, tags: db}, // same set again
		).Proto())
	}
	c.set(5 * time.Second)
	s := m.Snapshot(Query{})
	if len(s.TimerTags) != 2 {
		t.Fatalf("timer tags %+v", s.TimerTags)
	}
	d := s.TimerTags[0]
	if d.Tags != "group=db,op=select" || d.Timers != 20 || d.Requests != 10 || d.Hits != 50 {
		t.Errorf("db row %+v", d)
	}
	dbTime := 10 * (f32(0.03) + f32(0.006))
	near(t, "db time", d.TimeTotal, dbTime)
	near(t, "db time per hit", d.TimePerHit, dbTime/50)
	near(t, "db hits/s", d.HitsPerSec, 10)
	near(t, "db share", d.Share, dbTime/(10*f32(0.1)))
	if d.HasCPU {
		t.Error("db row has CPU but the packets carry no timer CPU")
	}
	if ca := s.TimerTags[1]; ca.Tags != "group=cache" || ca.Hits != 10 {
		t.Errorf("cache row %+v", ca)
	}

	if len(s.RequestTags) != 2 {
		t.Fatalf("request tags %+v", s.RequestTags)
	}
	e, l := s.RequestTags[0], s.RequestTags[1]
	if e.Tag != "env=prod" || e.Requests != 10 || l.Tag != "lang=en" || l.Requests != 4 {
		t.Errorf("request tags %+v", s.RequestTags)
	}
	near(t, "env req/s", e.ReqPerSec, 2)
	near(t, "lang time", l.TimeTotal, 4*f32(0.1))
	near(t, "lang avg", l.TimeAvg, f32(0.1))
}

func TestTimerCPUAndEdges(t *testing.T) {
	m := New(Options{Now: newClock().now})
	r := record("/x", 0.2, 200, nil,
		timer{hits: 1, value: 0.05, tags: [][2]string{{"g", "a"}}},
		timer{hits: 1, value: 0.05, tags: [][2]string{{"g", "b"}}},
	).Proto()
	r.TimerRuUtime = []float32{0.01, 0.02}
	r.TimerRuStime = []float32{0.005, 0.005}
	r.TimerHitCount[1] = 0 // pinba_engine skips a timer with no hits
	m.Add(r)

	neg := record("/x", -1, 200, nil,
		timer{hits: 4, value: -0.5, tags: [][2]string{{"g", "a"}}},
		timer{hits: 1, value: 0.1, tags: nil}, // no tags: skipped
	).Proto()
	neg.TimerTagName = append(neg.TimerTagName, 99) // stray entries are ignored
	neg.RuUtime = proto.Float32(-1)                 // one negative: both zeroed
	m.Add(neg)

	s := m.Snapshot(Query{})
	if len(s.TimerTags) != 1 {
		t.Fatalf("timer tags %+v", s.TimerTags)
	}
	g := s.TimerTags[0]
	if g.Tags != "g=a" || g.Hits != 5 || g.Timers != 2 || !g.HasCPU {
		t.Errorf("row %+v", g)
	}
	near(t, "g=a time", g.TimeTotal, f32(0.05))
	near(t, "g=a cpu", g.CPUTotal, f32(0.01)+f32(0.005))
	x := findScript(s, "/x")
	if x.Requests != 2 || x.Max != f32(0.2) {
		t.Errorf("/x %+v", x)
	}
	near(t, "/x cpu", x.CPUTotal, f32(0.2/4)+f32(0.2/8))
}

func TestNestedRequests(t *testing.T) {
	m := New(Options{Now: newClock().now})
	parent := record("/batch", 1, 200, nil)
	child := *record("/job", 0.25, 200, [][2]string{{"kind", "mail"}},
		timer{hits: 1, value: 0.1, tags: [][2]string{{"group", "smtp"}}})
	grandchild := *record("/deep", 1, 200, nil)
	child.Requests = []pb.Record{grandchild} // one level only: not counted
	parent.Requests = []pb.Record{child, *record("/job", 0.75, 500, nil)}
	if err := m.AddDatagram(encode(t, parent)); err != nil {
		t.Fatal(err)
	}
	s := m.Snapshot(Query{Sort: SortName})
	if s.Totals.Requests != 3 || s.Totals.Nested != 2 || s.Totals.Datagrams != 1 {
		t.Errorf("totals %+v", s.Totals)
	}
	if got := names(s); got != "/batch /job" {
		t.Errorf("scripts %q", got)
	}
	j := findScript(s, "/job")
	if j.Requests != 2 || j.Status["500"] != 1 || j.Max != 0.75 {
		t.Errorf("/job %+v", j)
	}
	if len(s.TimerTags) != 1 || s.TimerTags[0].Tags != "group=smtp" || len(s.RequestTags) != 1 {
		t.Errorf("tags %+v %+v", s.TimerTags, s.RequestTags)
	}

	// A parent a server drops still has its children counted.
	bad := record("/bad", 1, 200, nil).Proto()
	bad.TimerHitCount = []uint32{1} // no value, no tag count
	bad.Requests = []*pb.Request{record("/kid", 0.5, 200, nil).Proto()}
	m.Add(bad)
	s = m.Snapshot(Query{})
	if s.Totals.Invalid != 1 || s.Totals.Requests != 4 || findScript(s, "/kid") == nil || findScript(s, "/bad") != nil {
		t.Errorf("after a bad parent: totals %+v, scripts %q", s.Totals, names(s))
	}
}

func names(s Snapshot) string {
	var n []string
	for _, r := range s.Scripts {
		n = append(n, r.Name)
	}
	return strings.Join(n, " ")
}

func TestInvalidAndUndecodable(t *testing.T) {
	m := New(Options{Now: newClock().now})
	if err := m.AddDatagram([]byte{0x0a, 0x04, 'w'}); err == nil {
		t.Error("truncated datagram decoded")
	}
	// Fields 1 to 9 are required: a packet without them is undecodable.
	if err := m.AddDatagram([]byte{0x0a, 0x01, 'h'}); err == nil {
		t.Error("packet without required fields decoded")
	}
	cases := map[string]func(r *pb.Request){
		"tag arrays differ": func(r *pb.Request) { r.TagValue = r.TagValue[:0] },
		"tag out of range":  func(r *pb.Request) { r.TagName[0] = 7 },
		"no dictionary":     func(r *pb.Request) { r.Dictionary = nil },
		"timer arrays":      func(r *pb.Request) { r.TimerValue = nil },
		"tag count too big": func(r *pb.Request) { r.TimerTagCount[0] = 9 },
	}
	for name, breakIt := range cases {
		r := record("/v", 0.1, 200, [][2]string{{"a", "b"}},
			timer{hits: 1, value: 0.1, tags: [][2]string{{"a", "b"}}}).Proto()
		breakIt(r)
		if valid(r) {
			t.Errorf("%s: valid", name)
		}
		m.Add(r)
	}
	s := m.Snapshot(Query{})
	if s.Totals.Undecodable != 2 || s.Totals.Datagrams != int64(2+len(cases)) || s.Totals.Invalid != int64(len(cases)) || s.Totals.Requests != 0 {
		t.Errorf("totals %+v", s.Totals)
	}
	if len(s.Scripts)+len(s.TimerTags)+len(s.RequestTags) != 0 {
		t.Errorf("rows from invalid requests: %+v", s)
	}
}

func TestWindowExpiry(t *testing.T) {
	c := newClock()
	m := New(Options{Window: 10 * time.Second, Now: c.now})
	m.Add(record("/old", 0.1, 200, [][2]string{{"t", "1"}}, timer{hits: 1, value: 0.1, tags: [][2]string{{"g", "1"}}}).Proto())
	c.set(5500 * time.Millisecond)
	m.Add(record("/new", 0.1, 200, nil).Proto())

	c.set(9999 * time.Millisecond)
	s := m.Snapshot(Query{})
	if s.Totals.Requests != 2 || s.SpanSeconds != 9.999 {
		t.Errorf("at 9.999s: %d requests, span %v", s.Totals.Requests, s.SpanSeconds)
	}
	c.set(10 * time.Second) // the first second leaves the window
	s = m.Snapshot(Query{})
	if s.Totals.Requests != 1 || names(s) != "/new" || len(s.TimerTags) != 0 || len(s.RequestTags) != 0 {
		t.Errorf("at 10s: %+v", s)
	}
	near(t, "req/s over a full window", s.Totals.ReqPerSec, 0.1)
	c.set(16 * time.Second)
	if s = m.Snapshot(Query{}); s.Totals.Requests != 0 || len(s.Scripts) != 0 {
		t.Errorf("at 16s: %+v", s)
	}
	// Long idle, then traffic reusing a slot: nothing old comes back.
	c.set(1000 * time.Second)
	m.Add(record("/late", 0.1, 200, nil).Proto())
	if s = m.Snapshot(Query{}); names(s) != "/late" || s.Totals.Datagrams != 1 {
		t.Errorf("at 1000s: %+v", s)
	}
	// A clock going back past the window counts in the oldest second.
	c.set(900 * time.Second)
	m.Add(record("/past", 0.1, 200, nil).Proto())
	c.set(1000 * time.Second)
	if s = m.Snapshot(Query{Sort: SortName}); names(s) != "/late /past" {
		t.Errorf("after a clock step back: %q", names(s))
	}
	c.set(1001 * time.Second)
	if s = m.Snapshot(Query{}); names(s) != "/late" {
		t.Errorf("a second later: %q", names(s))
	}
}

func TestCaps(t *testing.T) {
	c := newClock()
	m := New(Options{Window: 5 * time.Second, MaxScripts: 3, MaxTimerTags: 2, MaxRequestTags: 2, Now: c.now})
	for i := range 10 {
		m.Add(record(fmt.Sprintf("/s%d", i), 0.1, 200, [][2]string{{"id", fmt.Sprint(i)}},
			timer{hits: 1, value: 0.01, tags: [][2]string{{"q", fmt.Sprint(i)}}}).Proto())
	}
	s := m.Snapshot(Query{Sort: SortName})
	if got := names(s); got != "(overflow) /s0 /s1 /s2" {
		t.Errorf("scripts %q", got)
	}
	if o := findScript(s, OverflowKey); o == nil || !o.Overflow || o.Requests != 7 {
		t.Errorf("overflow row %+v", o)
	}
	if s.Totals.Requests != 10 || s.Totals.Scripts != 4 || s.Totals.TimerTags != 3 || s.Totals.RequestTags != 3 {
		t.Errorf("totals %+v", s.Totals)
	}
	if s.TimerTags[0].Tags != OverflowKey || s.TimerTags[0].Hits != 8 || s.RequestTags[0].Requests != 8 {
		t.Errorf("tag overflow rows %+v %+v", s.TimerTags[0], s.RequestTags[0])
	}
	// Keys in the window stay admitted in later seconds; new ones do not.
	c.set(2 * time.Second)
	m.Add(record("/s1", 0.1, 200, nil).Proto())
	m.Add(record("/s9", 0.1, 200, nil).Proto())
	s = m.Snapshot(Query{})
	if findScript(s, "/s1").Requests != 2 || findScript(s, OverflowKey).Requests != 8 {
		t.Errorf("second 2: %+v", s.Scripts)
	}
	// Once the old keys leave the window, new ones get rows; a flood of
	// distinct names over many seconds never holds more than the cap.
	for sec := 5; sec < 50; sec++ {
		c.set(time.Duration(sec) * time.Second)
		for i := range 100 {
			m.Add(record(fmt.Sprintf("/f%d-%d", sec, i), 0.1, 200, nil).Proto())
		}
		m.mu.Lock()
		n := len(m.scripts.refs)
		m.mu.Unlock()
		if n > 3 {
			t.Fatalf("second %d: %d script keys held", sec, n)
		}
	}
	c.set(60 * time.Second)
	m.Snapshot(Query{})
	if len(m.scripts.refs) != 0 || len(m.timers.refs) != 0 {
		t.Errorf("keys held after the window: %d", len(m.scripts.refs))
	}
	c.set(61 * time.Second)
	m.Add(record("/fresh", 0.1, 200, nil).Proto())
	if s = m.Snapshot(Query{}); names(s) != "/fresh" {
		t.Errorf("after expiry: %q", names(s))
	}
}

func TestLongNamesAndStatuses(t *testing.T) {
	m := New(Options{Now: newClock().now})
	long := strings.Repeat("x", 300)
	m.Add(record(long, 0.1, 200, [][2]string{{long, long}}).Proto())
	none := record("/st", 0.1, 0, nil).Proto()
	none.Status = nil
	m.Add(none)
	for st := range uint32(40) {
		m.Add(record("/st", 0.1, 200+st, nil).Proto())
	}
	s := m.Snapshot(Query{Sort: SortName})
	if n := s.Scripts[1].Name; len(n) != MaxScriptName {
		t.Errorf("script name of %d bytes", len(n))
	}
	if tag := s.RequestTags[0].Tag; len(tag) != 2*MaxTagWord+1 {
		t.Errorf("tag of %d bytes", len(tag))
	}
	st := findScript(s, "/st").Status
	if len(st) != maxStatuses+1 || st["other"] != 9 || st["231"] != 0 || st["none"] != 1 || st["200"] != 1 {
		t.Errorf("statuses %v", st)
	}
}

func TestSortAndTop(t *testing.T) {
	m := New(Options{Now: newClock().now})
	// /many: 10 fast requests; /slow: 2 slow ones; /mid: 4 medium.
	for range 10 {
		m.Add(record("/many", 0.01, 200, nil).Proto())
	}
	m.Add(record("/slow", 0.2, 200, nil).Proto())
	m.Add(record("/slow", 1.0, 200, nil).Proto())
	for range 4 {
		m.Add(record("/mid", 0.05, 200, nil).Proto())
	}
	cases := []struct {
		q    Query
		want string
	}{
		{Query{}, "/slow /mid /many"},
		{Query{Sort: SortCount}, "/many /mid /slow"},
		{Query{Sort: SortName}, "/many /mid /slow"},
		{Query{Sort: SortName, Reverse: true}, "/slow /mid /many"},
		{Query{Sort: SortP50}, "/slow /mid /many"},
		{Query{Sort: SortAvg, Top: 2}, "/slow /mid"},
		{Query{Sort: SortCount, Top: 1}, "/many"},
		{Query{Sort: SortCPU, Reverse: true}, "/many /mid /slow"},
	}
	for _, c := range cases {
		s := m.Snapshot(c.q)
		if got := names(s); got != c.want {
			t.Errorf("%+v: %q, want %q", c.q, got, c.want)
		}
		if s.Totals.Requests != 16 || s.Totals.Scripts != 3 {
			t.Errorf("%+v: totals cut by Top: %+v", c.q, s.Totals)
		}
	}
	if k, ok := ParseSortKey("P95"); !ok || k != SortP95 {
		t.Errorf("ParseSortKey(P95) = %q, %v", k, ok)
	}
	if _, ok := ParseSortKey("speed"); ok {
		t.Error("ParseSortKey accepted speed")
	}
}

func TestSnapshotJSON(t *testing.T) {
	m := New(Options{Now: newClock().now})
	m.Add(record("/j", 0.5, 404, [][2]string{{"a", "b"}}, timer{hits: 1, value: 0.1, tags: [][2]string{{"g", "x"}}}).Proto())
	b, err := json.Marshal(m.Snapshot(Query{Top: 5}))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Totals struct {
			Requests int64            `json:"requests"`
			P95      float64          `json:"p95"`
			Status   map[string]int64 `json:"status"`
		} `json:"totals"`
		Scripts []struct {
			Name     string `json:"script_name"`
			Requests int64  `json:"requests"`
		} `json:"scripts"`
		TimerTags   []struct{ Tags string } `json:"timer_tags"`
		RequestTags []struct{ Tag string }  `json:"request_tags"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Totals.Requests != 1 || v.Totals.P95 != 0.5 || v.Totals.Status["404"] != 1 ||
		len(v.Scripts) != 1 || v.Scripts[0].Name != "/j" || v.TimerTags[0].Tags != "g=x" || v.RequestTags[0].Tag != "a=b" {
		t.Errorf("json %s", b)
	}
}

func TestHistogramError(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 20 {
		var h hist
		n := 1 + rng.IntN(5000)
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.Exp(rng.Float64()*20 - 14) // about 1e-6 to 500 s
			h.add(vals[i])
		}
		slices.Sort(vals)
		qs := []float64{0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1}
		got := h.quantiles(qs...)
		for j, q := range qs {
			want := vals[int(math.Ceil(q*float64(n)))-1]
			tol := RelativeError * want
			if want < MinResolvable {
				tol = MinResolvable
			}
			if math.Abs(got[j]-want) > tol {
				t.Errorf("round %d n=%d q=%v: %v, want %v", round, n, q, got[j], want)
			}
		}
		if len(h.bins) > n {
			t.Errorf("%d bins for %d values", len(h.bins), n)
		}
	}
	if b := binOf(1e4); b > 1200 {
		t.Errorf("10,000 s falls in bin %d", b)
	}
	if binOf(math.NaN()) != 0 || binOf(0) != 0 || binValue(0) != 0 {
		t.Error("zero bin")
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New(Options{})
	pkt := encode(t, record("/c", 0.01, 200, [][2]string{{"a", "b"}}, timer{hits: 1, value: 0.001, tags: [][2]string{{"g", "x"}}}))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				if err := m.AddDatagram(pkt); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			m.Snapshot(Query{Top: 3})
		}
	})
	wg.Wait()
	if s := m.Snapshot(Query{}); s.Totals.Requests != 2000 || s.TimerTags[0].Hits != 2000 {
		t.Errorf("totals %+v", s.Totals)
	}
}
