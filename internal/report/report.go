// Package report aggregates decoded Pinba requests into live reports, the
// way a Pinba server's reports do, without a server: over a sliding window
// of the last N seconds, per script name (requests per second, request time
// percentiles, CPU per request, status mix), per timer tag set (hits per
// second, time per hit, share of request time) and per request tag.
//
// A Model is fed with requests (Add) or raw datagrams (AddDatagram) from
// any number of goroutines and read with Snapshot, whose result is plain
// data ready for encoding/json. Memory stays bounded whatever is sent:
// data lives in one bucket per second of the window, percentiles come from
// sparse log-scaled histograms (see RelativeError), and the number of
// distinct script names, timer tag sets and request tags in the window is
// capped, with one overflow row (OverflowKey) taking the rest. Long names
// are cut as pinba_engine cuts them.
//
// Requests are counted as pinba_engine counts them: a top-level request is
// one request, and each request nested in it (field 18, one level deep) is
// one more, with its own script name, times and tags, even when the
// top-level request itself is dropped. A request that a Pinba server would
// drop (timer arrays of different lengths, request tag arrays of different
// lengths, tags without a dictionary, a request tag index out of range) is
// not counted but tallied in Totals.Invalid. Timers with a zero hit count or
// no tags are skipped, timer tags whose index is out of range are left out,
// and negative, NaN or infinite times count as 0, as in pinba_engine.
//
// The package depends only on the wire package pb, so it can serve a
// terminal tool and an in-process debug page alike.
package report

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/pynba-go/pynba/pb"
)

// OverflowKey is the name of the row that takes the requests, timers or
// tags beyond the Options caps.
const OverflowKey = "(overflow)"

// Defaults for the zero Options fields.
const (
	DefaultWindow  = 60 * time.Second
	DefaultMaxKeys = 1000
)

// Lengths at which names are cut, as pinba_engine cuts them.
const (
	MaxScriptName = 128 // bytes of a script name
	MaxTagWord    = 64  // bytes of a tag name or value
)

// maxStatuses caps the distinct statuses kept per script and bucket; the
// rest count as "other".
const maxStatuses = 32

// Status keys that are not numbers.
const (
	statusNone  = -1 // the request carried no status
	statusOther = -2 // beyond maxStatuses
)

// Options configure a Model; zero fields take the defaults.
type Options struct {
	// Window is how much recent traffic a Snapshot covers, in whole
	// seconds (rounded up; at least 1 s). Default 60 s, like Pinba.
	Window time.Duration
	// MaxScripts, MaxTimerTags and MaxRequestTags cap the distinct script
	// names, timer tag sets and request tags (name=value) in the window;
	// beyond them data goes to the OverflowKey row. Default 1000 each.
	MaxScripts     int
	MaxTimerTags   int
	MaxRequestTags int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

// Model is the live aggregate. It is safe for concurrent use.
type Model struct {
	window  int64 // seconds
	now     func() time.Time
	started time.Time

	mu      sync.Mutex
	latest  int64   // newest second seen
	slots   []*slot // slots[sec % window]
	scripts keyset
	timers  keyset
	reqTags keyset
}

// slot is one second of data.
type slot struct {
	sec         int64
	used        bool
	datagrams   int64
	undecodable int64
	invalid     int64
	nested      int64
	total       scriptAgg
	scripts     map[string]*scriptAgg
	timers      map[string]*timerAgg
	reqTags     map[string]*reqTagAgg
}

type scriptAgg struct {
	n      int64
	time   float64
	utime  float64
	stime  float64
	hist   hist
	status map[int64]int64
}

type timerAgg struct {
	timers   int64
	requests int64
	hits     int64
	time     float64
	cpu      float64
	hasCPU   bool
}

type reqTagAgg struct {
	n    int64
	time float64
	cpu  float64
}

// keyset counts, for each key, the slots holding it, so that the number of
// distinct keys in the whole window stays under its cap.
type keyset struct {
	cap  int
	refs map[string]int
}

// admit returns the key to count data under in a slot whose keys are in
// has: key itself, or OverflowKey when the cap is reached.
func (k *keyset) admit(key string, has func(string) bool) string {
	if key == OverflowKey || has(key) {
		return key
	}
	if _, ok := k.refs[key]; ok || len(k.refs) < k.cap {
		k.refs[key]++
		return key
	}
	return OverflowKey
}

func (k *keyset) release(key string) {
	if key == OverflowKey {
		return
	}
	if n := k.refs[key] - 1; n > 0 {
		k.refs[key] = n
	} else {
		delete(k.refs, key)
	}
}

// New returns an empty Model.
func New(opts Options) *Model {
	w := int64(math.Ceil(opts.Window.Seconds()))
	if opts.Window == 0 {
		w = int64(DefaultWindow / time.Second)
	}
	w = max(w, 1)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	capOr := func(n int) int {
		if n <= 0 {
			return DefaultMaxKeys
		}
		return n
	}
	m := &Model{
		window:  w,
		now:     now,
		started: now(),
		slots:   make([]*slot, w),
		scripts: keyset{cap: capOr(opts.MaxScripts), refs: map[string]int{}},
		timers:  keyset{cap: capOr(opts.MaxTimerTags), refs: map[string]int{}},
		reqTags: keyset{cap: capOr(opts.MaxRequestTags), refs: map[string]int{}},
	}
	for i := range m.slots {
		m.slots[i] = &slot{
			scripts: map[string]*scriptAgg{},
			timers:  map[string]*timerAgg{},
			reqTags: map[string]*reqTagAgg{},
		}
	}
	return m
}

// Window is the span a Snapshot covers.
func (m *Model) Window() time.Duration { return time.Duration(m.window) * time.Second }

// AddDatagram decodes one Pinba datagram and adds its requests. A datagram
// that is not a Pinba request (proto.Unmarshal fails, for instance because
// a required field is missing or a time was sent as a double) is counted
// as undecodable and the error returned.
func (m *Model) AddDatagram(b []byte) error {
	var r pb.Request
	err := proto.Unmarshal(b, &r)
	at := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slotAt(at)
	s.datagrams++
	if err != nil {
		s.undecodable++
		return err
	}
	m.addLocked(s, &r)
	return nil
}

// Add adds one decoded request and the requests nested in it (one level),
// counted as one datagram.
func (m *Model) Add(r *pb.Request) {
	at := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slotAt(at)
	s.datagrams++
	m.addLocked(s, r)
}

func (m *Model) addLocked(s *slot, r *pb.Request) {
	m.addOne(s, r)
	for _, c := range r.GetRequests() {
		if c == nil {
			continue
		}
		s.nested++
		m.addOne(s, c)
	}
}

// slotAt returns the slot for time t, emptied first when it held an older
// second. Times older than the window go to the oldest second in it.
func (m *Model) slotAt(t time.Time) *slot {
	sec := t.Unix()
	if sec > m.latest {
		m.latest = sec
	} else if sec <= m.latest-m.window {
		sec = m.latest - m.window + 1
	}
	s := m.slots[mod(sec, m.window)]
	if s.used && s.sec != sec {
		m.resetSlot(s)
	}
	s.used, s.sec = true, sec
	return s
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

func (m *Model) resetSlot(s *slot) {
	for k := range s.scripts {
		m.scripts.release(k)
	}
	for k := range s.timers {
		m.timers.release(k)
	}
	for k := range s.reqTags {
		m.reqTags.release(k)
	}
	clear(s.scripts)
	clear(s.timers)
	clear(s.reqTags)
	s.total.reset()
	s.datagrams, s.undecodable, s.invalid, s.nested = 0, 0, 0, 0
	s.used = false
}

func (a *scriptAgg) reset() {
	a.n, a.time, a.utime, a.stime = 0, 0, 0, 0
	a.hist.reset()
	clear(a.status)
}

func (a *scriptAgg) add(rt, ut, st float64, status int64) {
	a.n++
	a.time += rt
	a.utime += ut
	a.stime += st
	a.hist.add(rt)
	if a.status == nil {
		a.status = make(map[int64]int64, 2)
	}
	if _, ok := a.status[status]; !ok && len(a.status) >= maxStatuses {
		status = statusOther
	}
	a.status[status]++
}

// seconds is f as pinba_engine reads a time: negative, NaN and infinite
// values count as 0.
func seconds(f float32) float64 {
	v := float64(f)
	if !(v > 0) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// valid tells whether a Pinba server would keep r (see the package doc).
func valid(r *pb.Request) bool {
	nt := len(r.TimerHitCount)
	if len(r.TimerValue) != nt || len(r.TimerTagCount) != nt {
		return false
	}
	var tags uint64
	for _, c := range r.TimerTagCount {
		tags += uint64(c)
	}
	if uint64(len(r.TimerTagName)) < tags || uint64(len(r.TimerTagValue)) < tags {
		return false
	}
	if len(r.TagName) != len(r.TagValue) {
		return false
	}
	nd := uint32(len(r.Dictionary))
	if nd == 0 && (nt > 0 || len(r.TagName) > 0) {
		return false
	}
	for i := range r.TagName {
		if r.TagName[i] >= nd || r.TagValue[i] >= nd {
			return false
		}
	}
	return true
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

type pair struct{ name, value string }

// addOne counts one request (not its children) in s.
func (m *Model) addOne(s *slot, r *pb.Request) {
	if !valid(r) {
		s.invalid++
		return
	}
	rt := seconds(r.GetRequestTime())
	ut, st := seconds(r.GetRuUtime()), seconds(r.GetRuStime())
	if r.GetRuUtime() < 0 || r.GetRuStime() < 0 {
		ut, st = 0, 0
	}
	status := int64(statusNone)
	if r.Status != nil {
		status = int64(r.GetStatus())
	}

	s.total.add(rt, ut, st, status)
	name := m.scripts.admit(cut(r.GetScriptName(), MaxScriptName), func(k string) bool { _, ok := s.scripts[k]; return ok })
	sa := s.scripts[name]
	if sa == nil {
		sa = &scriptAgg{}
		s.scripts[name] = sa
	}
	sa.add(rt, ut, st, status)

	dict := r.Dictionary
	word := func(i uint32) string { return cut(dict[i], MaxTagWord) }

	// Request tags: each distinct name=value once per request.
	if len(r.TagName) > 0 {
		seen := make(map[string]struct{}, len(r.TagName))
		for i := range r.TagName {
			k := word(r.TagName[i]) + "=" + word(r.TagValue[i])
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
			k = m.reqTags.admit(k, func(k string) bool { _, ok := s.reqTags[k]; return ok })
			a := s.reqTags[k]
			if a == nil {
				a = &reqTagAgg{}
				s.reqTags[k] = a
			}
			a.n++
			a.time += rt
			a.cpu += ut + st
		}
	}

	// Timers, grouped by their tag set.
	if len(r.TimerHitCount) == 0 {
		return
	}
	hasCPU := len(r.TimerRuUtime) == len(r.TimerHitCount) && len(r.TimerRuStime) == len(r.TimerHitCount)
	nd := uint32(len(dict))
	var inRequest map[string]struct{}
	var pairs []pair
	var sb strings.Builder
	off := 0
	for i, hits := range r.TimerHitCount {
		nt := int(r.TimerTagCount[i])
		names, values := r.TimerTagName[off:off+nt], r.TimerTagValue[off:off+nt]
		off += nt
		if hits == 0 || nt == 0 {
			continue
		}
		pairs = pairs[:0]
		for j := range names {
			if names[j] >= nd || values[j] >= nd {
				continue
			}
			pairs = append(pairs, pair{word(names[j]), word(values[j])})
		}
		if len(pairs) == 0 {
			continue
		}
		slices.SortFunc(pairs, func(a, b pair) int {
			if c := strings.Compare(a.name, b.name); c != 0 {
				return c
			}
			return strings.Compare(a.value, b.value)
		})
		sb.Reset()
		for j, p := range pairs {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(p.name)
			sb.WriteByte('=')
			sb.WriteString(p.value)
		}
		k := m.timers.admit(sb.String(), func(k string) bool { _, ok := s.timers[k]; return ok })
		a := s.timers[k]
		if a == nil {
			a = &timerAgg{}
			s.timers[k] = a
		}
		a.timers++
		a.hits += int64(hits)
		a.time += seconds(r.TimerValue[i])
		if hasCPU {
			a.cpu += seconds(r.TimerRuUtime[i]) + seconds(r.TimerRuStime[i])
			a.hasCPU = true
		}
		if inRequest == nil {
			inRequest = make(map[string]struct{}, len(r.TimerHitCount))
		}
		if _, dup := inRequest[k]; !dup {
			inRequest[k] = struct{}{}
			a.requests++
		}
	}
}

// statusKey is the JSON key of a status.
func statusKey(s int64) string {
	switch s {
	case statusNone:
		return "none"
	case statusOther:
		return "other"
	}
	return strconv.FormatInt(s, 10)
}
