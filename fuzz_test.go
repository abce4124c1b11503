package pynba

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// FuzzRequest drives the public API from fuzz bytes, as a handler under a
// Middleware or as a job under a ScriptMonitor: timers started, stopped,
// added (with any duration, negative and huge included), deleted, cloned,
// used after their packet was sent; request tags; every setter with any
// string or number; writes and status codes; Flush, Send, SetEnabled;
// some of it from a goroutine started with Go. A model of the same calls
// says which packets must arrive and what they hold. Every packet is sent
// to a pinbatest server and must decode, pass Validate, and match the
// model: header fields, request tags, timers merged by tag set in creation
// order with their hit counts and added durations, trimmed to the size
// limit (WithMaxPacketSize, fuzzed) as the PacketTooLargeError reported
// for it says. Late uses and misuse are counted as the model counts them.
func FuzzRequest(f *testing.F) {
	for _, seed := range fuzzRequestSeeds() {
		f.Add(seed)
	}
	srv := pinbatest.NewServer()
	defer srv.Close()
	rep, err := NewReporter(srv.Addr())
	if err != nil {
		f.Fatal(err)
	}
	defer rep.Close()

	f.Fuzz(func(t *testing.T, data []byte) {
		srv.Take()
		before := rep.Stats()
		run := newFzRun(t, data, rep)
		run.run()
		// The reporter is synchronous: every datagram is written by now.
		sent := int(rep.Stats().Sent - before.Sent)
		if want := run.wantPackets(); sent != want {
			t.Fatalf("%d packets sent, the model expects %d", sent, want)
		}
		ps, err := srv.Wait(sent, wait)
		if err != nil {
			t.Fatal(err)
		}
		run.check(ps)
		// A goroutine started with Go unbinds once its function returned,
		// just after the WaitGroup it signals.
		if !eventually(func() bool { return registrySize() == 0 }) {
			t.Fatalf("registry holds %d goroutines", registrySize())
		}
	})
}

// fzReader reads the calls of FuzzRequest from fuzz bytes.
type fzReader struct{ fuzzBytes }

func (r *fzReader) u32() uint32 {
	return uint32(r.byte()) | uint32(r.byte())<<8 | uint32(r.byte())<<16 | uint32(r.byte())<<24
}

// str returns a short string of fuzz bytes (invalid UTF-8 and NULs
// included), or now and then a long one.
func (r *fzReader) str() string {
	c := r.byte()
	if c >= 0xf8 {
		return strings.Repeat(string(rune('A'+c%26)), int(r.byte())*97+1)
	}
	n := min(int(c%12), len(r.b))
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// dur returns a duration: small, negative, or one of the extremes.
func (r *fzReader) dur() time.Duration {
	switch r.byte() % 8 {
	case 0:
		return math.MaxInt64
	case 1:
		return math.MinInt64
	case 2:
		return -time.Duration(r.u32())
	case 3:
		return 0
	case 4:
		return time.Duration(r.u32()) << 20
	default:
		return time.Duration(r.u32())
	}
}

var fzNames = []string{"group", "op", "a", "b"}

func (r *fzReader) name() string {
	switch c := r.byte(); c % 8 {
	case 0, 1, 2, 3:
		return fzNames[c%4]
	case 4:
		return ""
	default:
		return r.str()
	}
}

func (r *fzReader) value() any {
	switch r.byte() % 10 {
	case 4:
		return int(int8(r.byte()))
	case 5:
		return []string{r.str(), r.str()}
	case 6:
		s := r.str()
		return func() string { return s }
	case 7:
		return map[string]any{r.name(): r.str()}
	case 8:
		return fuzzChan
	case 9:
		return r.byte()&1 == 1
	default:
		return r.str()
	}
}

func (r *fzReader) tags() Tags {
	t := Tags{}
	for range int(r.byte() % 4) {
		t[r.name()] = r.value()
	}
	return t
}

// fzTimer is the model of one timer.
type fzTimer struct {
	ref      TimerRef
	tags     Tags
	seg      int  // the measurement (packet) it belongs to
	detached bool // belongs to no request
	hits     uint32
	added    time.Duration // what AddTimer gave (never negative)
	measured bool          // started at least once: its value may be larger
	running  bool
	deleted  bool
}

// fzHeader is the model of what a packet carries besides timers.
type fzHeader struct {
	hostname, serverName, scriptName, schema string
	status, docSize, memPeak, memFoot        uint32
	statusSet, docSizeSet, reqTimeSet        bool
	scriptSet                                bool
	reqTime                                  time.Duration
	code                                     int    // the first final status code written
	written                                  uint64 // bytes of body written
	enabled                                  bool
	tags                                     Tags // set with SetTag
}

// fzGroup is one expected timer: the timers of one tag set, merged.
type fzGroup struct {
	pairs    []pinbatest.Tag
	hits     uint64
	added    time.Duration
	measured bool
}

// fzWant is one packet the model expects to be built.
type fzWant struct {
	hd      fzHeader
	reqTags []pinbatest.Tag
	timers  []fzGroup
	from    int                  // errors reported while it was built: errs[from:to]
	to      int                  //
	tooBig  *PacketTooLargeError // reported for it, if any
}

// fzHandle is a Collector kept by the code, and the measurement it was
// taken in.
type fzHandle struct {
	h   Collector
	gen int
}

type fzRun struct {
	t      *testing.T
	r      fzReader
	rep    *Reporter
	errs   errLog
	script bool
	prefix string
	base   Tags // WithTags
	limit  int  // WithMaxPacketSize

	hd      fzHeader
	seg     int // measurements sent or flushed so far
	gen     int // ScriptMonitor measurements (Send) so far
	timers  []*fzTimer
	handles []fzHandle
	wants   []*fzWant
	late    uint64 // late uses the model counts
	misuse  uint64 // misuse the model counts
	w       http.ResponseWriter
	recCode int // the code the recorder keeps: the first written, 1xx included
	sm      *ScriptMonitor
	inChild bool
}

func newFzRun(t *testing.T, data []byte, rep *Reporter) *fzRun {
	x := &fzRun{t: t, r: fzReader{fuzzBytes{data}}, rep: rep}
	cfg := x.r.byte()
	x.script = cfg&1 == 1
	if cfg&2 != 0 {
		x.prefix = x.r.str()
	}
	if cfg&4 != 0 {
		x.base = x.r.tags()
	}
	x.limit = DefaultMaxPacketSize
	if c := x.r.byte(); c >= 128 {
		x.limit = 512 + int(c-128)*500
	}
	return x
}

// opts are the run's options. The caps on distinct names and values are
// off: they are process-wide state across runs, which the model does not
// follow (guard_test.go tests them).
func (x *fzRun) opts() []Option {
	return []Option{WithReporter(x.rep), WithErrorHandler(x.errs.handle), WithHostname("fuzz-host"),
		WithPrefix(x.prefix), WithTags(x.base), WithMaxPacketSize(x.limit),
		WithMaxScriptNames(-1), WithMaxTagValues(-1)}
}

// begin resets the model's header for a new measurement.
func (x *fzRun) begin() {
	x.hd = fzHeader{hostname: "fuzz-host", enabled: true, tags: Tags{}}
	if x.script {
		x.hd.scriptName = x.prefix + commandLine()
	} else {
		x.hd.serverName = "fuzz.example"
		x.hd.schema = "http"
		x.hd.scriptName = x.prefix + "/fuzz/path"
	}
}

func (x *fzRun) nerrs() int { return len(x.errs.all()) }

func (x *fzRun) run() {
	x.begin()
	if x.script {
		sm, err := NewScriptMonitor("", x.opts()...)
		if err != nil {
			x.t.Fatal(err)
		}
		x.sm = sm
		x.ops()
		// Close sends the last measurement when no Send came before it, or
		// when something was recorded since the last one (script_test.go
		// tests that rule itself).
		sends := x.gen == 0 || sm.c.recorded()
		var w *fzWant
		if sends {
			w = x.expect()
		}
		if err := sm.Close(); err != nil {
			x.t.Fatal(err)
		}
		if sends {
			x.built(w)
		}
		x.checkStats(sm.Stats())
		return
	}
	var w *fzWant
	m, err := NewMiddleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		x.w = rw
		x.ops()
		w = x.expect() // the final packet is built once the handler returns
	}), "", x.opts()...)
	if err != nil {
		x.t.Fatal(err)
	}
	defer m.Close()
	m.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://fuzz.example/fuzz/path", nil))
	x.built(w)
	x.checkStats(m.Stats())
}

func (x *fzRun) ops() {
	for n := 0; n < 64 && len(x.r.b) > 0; n++ {
		x.op()
	}
}

// expect returns the packet the model expects now, or nil when the
// measurement is disabled, and starts its window of errors.
func (x *fzRun) expect() *fzWant {
	if !x.hd.enabled {
		return nil
	}
	w := &fzWant{hd: x.hd, from: x.nerrs()}
	merged := Tags{}
	for k, v := range x.base {
		merged[k] = v
	}
	for k, v := range x.hd.tags {
		merged[k] = v
	}
	w.reqTags = fzPairs(merged)
	index := map[string]int{}
	for _, tm := range x.timers {
		if tm.detached || tm.seg != x.seg || tm.hits == 0 || tm.deleted {
			continue
		}
		pairs := fzPairs(tm.tags)
		if len(pairs) == 0 {
			continue // not sent: no tag
		}
		key := fmt.Sprintf("%q", pairs)
		i, ok := index[key]
		if !ok {
			i = len(w.timers)
			index[key] = i
			w.timers = append(w.timers, fzGroup{pairs: pairs})
		}
		g := &w.timers[i]
		g.hits += uint64(tm.hits)
		g.added = fzAdd(g.added, tm.added)
		g.measured = g.measured || tm.measured
	}
	return w
}

// built ends w's window of errors and finds what it says about the size.
func (x *fzRun) built(w *fzWant) {
	if w == nil {
		return
	}
	all := x.errs.all()
	w.to = len(all)
	for _, err := range all[w.from:w.to] {
		var tl *PacketTooLargeError
		if errors.As(err, &tl) {
			if w.tooBig != nil {
				x.t.Fatalf("two PacketTooLargeErrors for one packet: %v, %v", w.tooBig, tl)
			}
			w.tooBig = tl
		}
	}
	x.wants = append(x.wants, w)
}

// nextSeg makes every timer of the measurement stale.
func (x *fzRun) nextSeg() { x.seg++ }

func fzPairs(tags Tags) []pinbatest.Tag {
	ps, _ := Flatten(tags)
	out := make([]pinbatest.Tag, len(ps))
	for i, p := range ps {
		out[i] = pinbatest.Tag{Name: p.Name, Value: p.Value}
	}
	return out
}

// fzAdd adds durations that are not negative, saturating.
func fzAdd(a, b time.Duration) time.Duration {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// pick returns one of the model's timers, nil when there is none.
func (x *fzRun) pick() *fzTimer {
	c := x.r.byte()
	if len(x.timers) == 0 {
		return nil
	}
	return x.timers[int(c)%len(x.timers)]
}

func (x *fzRun) stale(tm *fzTimer) bool { return !tm.detached && tm.seg != x.seg }

func (x *fzRun) addTimer(ref TimerRef, tags Tags, detached bool) *fzTimer {
	tm := &fzTimer{ref: ref, tags: tags, seg: x.seg, detached: detached}
	x.timers = append(x.timers, tm)
	return tm
}

// proxy says whether to go through the package-level proxy or Current().
func (x *fzRun) proxy() bool { return x.r.byte()&1 == 0 }

var fzCodes = []int{200, 201, 204, 302, 404, 500, 503, 103}

// op runs one operation on the library and on the model. It may run in a
// goroutine started with Go: it reports with Errorf, never Fatal.
func (x *fzRun) op() {
	switch x.r.byte() % 25 {
	case 0: // a timer, not started
		tags := x.r.tags()
		x.addTimer(Timer(tags), tags, false)
	case 1: // a timer, started
		tags := x.r.tags()
		tm := x.addTimer(Current().Timer(tags).Start(), tags, false)
		tm.hits, tm.measured, tm.running = 1, true, true
	case 2: // a timer with the same tags map as another, started and stopped
		if o := x.pick(); o != nil {
			tm := x.addTimer(Timer(o.tags).Start().Stop(), o.tags, false)
			tm.hits, tm.measured = 1, true
		}
	case 3:
		if tm := x.pick(); tm != nil {
			tm.ref.Start()
			switch {
			case tm.detached:
			case x.stale(tm):
				x.late++
			case tm.running:
				x.misuse++
			default:
				tm.running, tm.measured = true, true
				tm.hits++
			}
		}
	case 4:
		if tm := x.pick(); tm != nil {
			tm.ref.Stop()
			switch {
			case tm.detached:
			case x.stale(tm):
				x.late++
			case !tm.running:
				x.misuse++
			default:
				tm.running = false
			}
		}
	case 5:
		tags, d := x.r.tags(), x.r.dur()
		var ref TimerRef
		if x.proxy() {
			ref = AddTimer(tags, d)
		} else {
			ref = Current().AddTimer(tags, d)
		}
		tm := x.addTimer(ref, tags, false)
		tm.hits, tm.added = 1, max(d, 0)
	case 6:
		if tm := x.pick(); tm != nil {
			tm.ref.Delete()
			switch {
			case tm.detached:
			case x.stale(tm):
				x.late++
			default:
				tm.deleted, tm.running = true, false
			}
		}
	case 7:
		if tm := x.pick(); tm != nil {
			ref := tm.ref.Clone()
			switch {
			case tm.detached:
				x.addTimer(ref, tm.tags, true)
			case x.stale(tm):
				x.late++
				x.addTimer(ref, nil, true)
			default:
				x.addTimer(ref, tm.tags, false)
			}
			if got := ref.Detached(); got != x.timers[len(x.timers)-1].detached {
				x.t.Errorf("clone detached %v", got)
			}
		}
	case 8:
		name, v := x.r.name(), x.r.value()
		if x.proxy() {
			SetTag(name, v)
		} else {
			Current().SetTag(name, v)
		}
		x.hd.tags[name] = v
	case 9:
		name := x.r.name()
		DeleteTag(name)
		delete(x.hd.tags, name)
	case 10:
		s := x.r.str()
		SetScriptName(s)
		x.hd.scriptName, x.hd.scriptSet = x.prefix+s, true
	case 11:
		s := x.r.str()
		SetHostname(s)
		x.hd.hostname = s
	case 12:
		s := x.r.str()
		SetServerName(s)
		x.hd.serverName = s
	case 13:
		s := x.r.str()
		SetSchema(s)
		x.hd.schema = s
	case 14:
		n := x.r.u32()
		if x.proxy() {
			SetStatus(int(n))
		} else {
			Current().SetStatus(int(n))
		}
		x.hd.status, x.hd.statusSet = n, true
	case 15:
		n := x.r.u32()
		SetDocumentSize(int(n))
		x.hd.docSize, x.hd.docSizeSet = n, true
	case 16:
		n := x.r.u32()
		if x.proxy() {
			SetMemoryPeak(int(n))
			x.hd.memPeak = n
		} else {
			SetMemoryFootprint(int(n))
			x.hd.memFoot = n
		}
	case 17:
		d := x.r.dur()
		SetRequestTime(d)
		x.hd.reqTime, x.hd.reqTimeSet = d, true
	case 18:
		w := x.expect()
		x.nextSeg()
		if x.proxy() {
			Flush()
		} else {
			Current().Flush()
		}
		x.built(w)
	case 19:
		on := x.r.byte()&1 == 1
		SetEnabled(on)
		x.hd.enabled = on
		if Enabled() != on {
			x.t.Errorf("Enabled() is %v after SetEnabled(%v)", !on, on)
		}
	case 20:
		tags := x.r.tags()
		Time(tags, func() {})
		tm := x.addTimer(TimerRef{}, tags, false)
		tm.hits, tm.measured = 1, true
		tm.ref = Current().Timers()[len(Current().Timers())-1]
	case 21:
		c := x.r.byte()
		switch {
		case x.script && !x.inChild: // a new measurement
			w := x.expect()
			if err := x.sm.Send(); err != nil {
				x.t.Error(err)
			}
			x.built(w)
			x.nextSeg()
			x.gen++
			x.begin()
		case x.script:
		case c&1 == 0:
			// The recorder refuses a body after 1xx, 204 and 304: the
			// bytes it did not take are not counted.
			n := int(c >> 1)
			got, _ := x.w.Write(make([]byte, n))
			if x.hd.code == 0 {
				x.hd.code = 200
			}
			if x.recCode == 0 {
				x.recCode = 200
			}
			if x.recCode != 204 && x.recCode != 304 && x.recCode >= 200 {
				x.hd.written += uint64(n)
			}
			if got != n && x.recCode != 204 && x.recCode >= 200 {
				x.t.Errorf("the recorder took %d of %d bytes", got, n)
			}
		default:
			code := fzCodes[int(c>>1)%len(fzCodes)]
			x.w.WriteHeader(code)
			if x.hd.code == 0 && code >= 200 {
				x.hd.code = code
			}
			if x.recCode == 0 {
				x.recCode = code
			}
		}
	case 22: // the next operation, from a goroutine bound to the request
		var wg sync.WaitGroup
		wg.Add(1)
		inChild := x.inChild
		Go(func() {
			defer wg.Done()
			x.inChild = true
			x.op()
		})
		wg.Wait()
		x.inChild = inChild
	case 23:
		c := x.r.byte()
		if c%4 == 0 || len(x.handles) == 0 {
			x.handles = append(x.handles, fzHandle{Current(), x.gen})
			return
		}
		hd := x.handles[int(c/4)%len(x.handles)]
		stale := hd.gen != x.gen
		if stale {
			x.late++
		}
		switch c % 4 {
		case 1:
			name, v := x.r.name(), x.r.value()
			hd.h.SetTag(name, v)
			if !stale {
				x.hd.tags[name] = v
			}
		case 2:
			tags := x.r.tags()
			tm := x.addTimer(hd.h.Timer(tags).Start().Stop(), tags, stale)
			if !stale {
				tm.hits, tm.measured = 1, true
			}
		case 3:
			n := x.r.u32()
			hd.h.SetStatus(int(n))
			if !stale {
				x.hd.status, x.hd.statusSet = n, true
			}
		}
	case 24: // what a timer says of itself
		tm := x.pick()
		if tm == nil {
			return
		}
		hits, started, elapsed := tm.ref.Hits(), tm.ref.Started(), tm.ref.Elapsed()
		switch {
		case tm.detached:
		case x.stale(tm):
			x.late += 3
			if hits != 0 || started || elapsed != 0 {
				x.t.Errorf("stale timer: hits %d started %v elapsed %v", hits, started, elapsed)
			}
		default:
			if hits != tm.hits || started != tm.running || elapsed < tm.added ||
				(!tm.measured && elapsed != tm.added) {
				x.t.Errorf("timer says hits %d started %v elapsed %v; model %+v", hits, started, elapsed, tm)
			}
		}
	}
}

func (x *fzRun) checkStats(s Stats) {
	x.t.Helper()
	if s.LateUses != x.late || s.TimerMisuse != x.misuse || s.EncodeErrors != 0 {
		x.t.Fatalf("stats %+v; the model counts %d late uses, %d misuses", s, x.late, x.misuse)
	}
	tooBig := 0
	for _, w := range x.wants {
		if w.tooBig != nil {
			tooBig++
		}
	}
	if s.TooLarge != uint64(tooBig) {
		x.t.Fatalf("TooLarge %d, %d PacketTooLargeErrors reported", s.TooLarge, tooBig)
	}
}

// wantPackets returns how many packets must arrive.
func (x *fzRun) wantPackets() int {
	n := 0
	for _, w := range x.wants {
		if w.tooBig == nil || !w.tooBig.Dropped {
			n++
		}
	}
	return n
}

// check compares the packets received with the model's.
func (x *fzRun) check(ps []*pinbatest.Packet) {
	t := x.t
	i := 0
	for _, w := range x.wants {
		if w.tooBig != nil && w.tooBig.Dropped {
			if w.tooBig.Size <= x.limit || w.tooBig.Limit != x.limit {
				t.Fatalf("dropped as too large: %+v, limit %d", w.tooBig, x.limit)
			}
			continue
		}
		p := ps[i]
		i++
		checkPacket(t, p)
		if len(p.Raw) > x.limit {
			t.Fatalf("packet %d: %d bytes, over the %d-byte limit", i, len(p.Raw), x.limit)
		}
		hd := w.hd
		status := hd.status
		switch {
		case hd.statusSet:
			status = pb.Status(hd.status)
		case hd.code != 0:
			status = uint32(hd.code)
		default:
			status = 200
		}
		if !x.script && !hd.scriptSet && (hd.code == 404 || hd.code == 405) {
			hd.scriptName = x.prefix + NoRouteScriptName
		}
		size := hd.docSize
		if !hd.docSizeSet {
			size = uint32(min(hd.written, math.MaxUint32))
		}
		if p.Hostname != hd.hostname || p.ServerName != hd.serverName || p.ScriptName != hd.scriptName ||
			p.Schema != hd.schema || p.RequestCount != 1 || p.Status != status || p.DocumentSize != size ||
			p.MemoryPeak != hd.memPeak || p.MemoryFootprint != hd.memFoot {
			t.Fatalf("packet %d header: %q %q %q %q count %d status %d size %d peak %d footprint %d;\nmodel %+v (status %d size %d)",
				i, p.Hostname, p.ServerName, p.ScriptName, p.Schema, p.RequestCount, p.Status, p.DocumentSize,
				p.MemoryPeak, p.MemoryFootprint, hd, status, size)
		}
		if hd.reqTimeSet {
			if want := pb.Seconds(float32(hd.reqTime.Seconds())); p.RequestTime != want {
				t.Fatalf("packet %d: request time %v, want %v", i, p.RequestTime, want)
			}
		}
		if !slices.Equal(p.Tags, w.reqTags) {
			t.Fatalf("packet %d: request tags %q, want %q", i, p.Tags, w.reqTags)
		}
		timers := w.timers
		if tl := w.tooBig; tl != nil {
			if tl.Limit != x.limit || tl.Size <= x.limit || tl.Timers != len(w.timers) || tl.Kept >= tl.Timers || tl.SentBytes != len(p.Raw) {
				t.Fatalf("packet %d: %+v for a packet of %d bytes; the model has %d timers", i, tl, len(p.Raw), len(w.timers))
			}
			timers = timers[:tl.Kept]
		}
		if len(p.Timers) != len(timers) {
			t.Fatalf("packet %d: %d timers %v, want %d %v", i, len(p.Timers), p.Timers, len(timers), timers)
		}
		for j, g := range timers {
			pt := p.Timers[j]
			added := float32(g.added.Seconds())
			if !slices.Equal(pt.Tags, g.pairs) || uint64(pt.HitCount) != min(g.hits, math.MaxUint32) ||
				pt.Value < added || (!g.measured && pt.Value != added) {
				t.Fatalf("packet %d timer %d: %v, want %+v", i, j, pt, g)
			}
		}
	}
	if i != len(ps) {
		t.Fatalf("%d packets received, the model expects %d", len(ps), i)
	}
}

// fuzzRequestSeeds builds seeds that reach every operation, written
// with helpers that mirror fzReader.
func fuzzRequestSeeds() [][]byte {
	b := func(bs ...byte) []byte { return bs }
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) } // up to 11 bytes
	long := func(c, k byte) []byte { return b(0xf8+c, k) }                     // 97k+1 bytes of one letter
	u32 := func(n uint32) []byte { return b(byte(n), byte(n>>8), byte(n>>16), byte(n>>24)) }
	name := func(i byte) []byte { return b(i) } // 0-3: group, op, a, b; 4: ""
	val := func(s string) []byte { return cat(b(0), str(s)) }
	tags := func(pairs ...[]byte) []byte { return cat(b(byte(len(pairs)/2)), cat(pairs...)) }
	group := func(v string) []byte { return tags(name(0), val(v)) }
	var (
		durMax    = b(0)
		durMin    = b(1)
		durNeg    = cat(b(2), u32(5))
		durSmall  = cat(b(5), u32(1500000))
		durLarge  = cat(b(4), u32(1000))
		opTimer   = func(t []byte) []byte { return cat(b(0), t) }
		opStarted = func(t []byte) []byte { return cat(b(1), t) }
		opAdd     = func(t, d []byte) []byte { return cat(b(5), t, d, b(0)) }
	)
	web := b(0, 0)
	return [][]byte{
		{},
		web,
		// timers: started, merged, added with every kind of duration,
		// stopped twice (misuse), queried; writes and codes; request tags
		cat(web, opStarted(group("db")), opStarted(group("db")), b(4, 0), b(4, 0), b(4, 0), b(2, 0),
			opAdd(tags(name(1), val("x"), name(2), b(9, 1)), durSmall), opAdd(group("neg"), durNeg),
			opAdd(group("min"), durMin), opAdd(group("max"), durMax), opAdd(group("large"), durLarge),
			b(21, 20), b(21, 3), b(21, 7), b(8, 5), str("user"), val("alice"), b(1), b(24, 0), b(24, 4),
			opTimer(group("never")), b(3, 1), b(20), tags(name(3), cat(b(5), str("l1"), str("l2")))),
		// tag values of every kind, empty names, a bad value
		cat(web, opStarted(tags(name(0), cat(b(4), b(200)), name(1), cat(b(6), str("fn")),
			name(2), cat(b(7), name(3), str("deep")))), b(4, 0),
			opStarted(tags(name(4), val("empty"), name(0), b(8))), b(8, 4), val("x"), b(0),
			b(8, 0), cat(b(7), name(4), str("v")), b(1), b(9, 0)),
		// Flush, stale uses, clone, delete, Go, handles, disabled flush
		cat(web, opStarted(group("a")), b(23, 0), b(18, 0), b(3, 0), b(4, 0), b(7, 0), b(7, 1), b(24, 0),
			b(22), opStarted(group("child")), b(6, 3), b(23, 1), name(0), val("h"), b(23, 2), group("h"),
			b(23, 3), u32(201), b(22, 18, 1), opAdd(group("after"), durSmall), b(19, 0), b(18, 1), b(19, 1),
			opAdd(group("last"), durSmall)),
		// setters with odd strings and numbers, a prefix, configured tags
		cat(b(6), str("pre\xff"), tags(name(0), val("base")), b(0),
			b(10), str("/s\x00\xfe"), b(11), str("h"), b(12), str(""), b(13), str("gopher"),
			b(14), u32(math.MaxUint32), b(0), b(15), u32(1234), b(16), u32(9), b(0), b(16), u32(8), b(1),
			b(17), durNeg, b(17), durMax, b(9, 0), b(8, 0), val("override"), b(1)),
		// a script: Send, a stale handle and timer, Close
		cat(b(1, 0), opStarted(group("job")), b(23, 0), b(21, 0), b(23, 1), name(1), val("late"),
			b(3, 0), b(24, 0), opStarted(group("job2")), b(20), group("t"), b(14), u32(7), b(0)),
		// a small limit: timers trimmed, then a packet dropped
		cat(b(0, 128), opAdd(group("keep"), durSmall), opAdd(tags(name(1), cat(b(0), long(0, 3))), durSmall),
			opAdd(tags(name(2), cat(b(0), long(1, 3))), durSmall), b(18, 0),
			b(8, 0), cat(b(0), long(2, 9)), b(0)),
	}
}

// FuzzServers checks that no servers string makes NewReporter panic, that
// one it accepts has 1 to 8 servers, each "host:port" with a port of 1 to
// 65535, and that one it refuses says why with the string's text. Names are
// looked up with a resolver that answers 127.0.0.1, never the system's.
func FuzzServers(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "127.0.0.1:30002", "[::1]", "[::1]:3002", "::1", "pinba.test",
		"a.test:1, b.test c.test", "", ",", "[::1", "host:", "host:0", "host:65536", "fe80::1:80", "[x]:1",
		"a,b,c,d,e,f,g,h,i", "1.2.3.4:+5", "h\x00st", "\xff", "[fe80::1%eth0]:30002", "a:1:2"} {
		f.Add(s)
	}
	resolver := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	f.Fuzz(func(t *testing.T, servers string) {
		r, err := NewReporter(servers, WithResolver(resolver), WithResolveInterval(time.Hour))
		if err != nil {
			if r != nil {
				t.Fatalf("a Reporter and an error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "pynba: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		defer r.Close()
		list := r.Servers()
		if len(list) < 1 || len(list) > 8 {
			t.Fatalf("%q gives %d servers: %q", servers, len(list), list)
		}
		for _, s := range list {
			_, port, ok := strings.Cut(s[strings.LastIndexByte(s, ']')+1:], ":")
			if !ok || port == "" {
				t.Fatalf("%q gives server %q with no port", servers, s)
			}
			var p int
			if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 1 || p > 65535 {
				t.Fatalf("%q gives server %q: port %q", servers, s, port)
			}
		}
		r.Send([]byte("x")) // no panic, whatever the addresses
	})
}

// fuzzTags builds Tags from fuzz bytes: strings (empty and invalid UTF-8
// included), numbers, bools, bytes, nil, channels, slices, maps and
// callables nested up to four levels.
type fuzzTags struct{ fuzzBytes }

func (r *fuzzTags) str() string {
	n := min(int(r.byte()%6), len(r.b))
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *fuzzTags) value(depth int) any {
	op := r.byte() % 16
	if depth >= 4 {
		op %= 8 // no more containers
	}
	n := int(r.byte() % 5)
	switch op {
	case 0, 1:
		return r.str()
	case 2:
		return int64(int8(r.byte())) * 1000
	case 3:
		return r.byte()&1 == 1
	case 4:
		return float64(int8(r.byte())) / 8
	case 5:
		return []byte(r.str())
	case 6:
		return nil
	case 7:
		return fuzzChan
	case 8:
		s := make([]string, n)
		for i := range s {
			s[i] = r.str()
		}
		return s
	case 9, 10:
		s := make([]any, n)
		for i := range s {
			s[i] = r.value(depth + 1)
		}
		return s
	case 11, 12:
		m := map[string]any{}
		for range n {
			m[r.str()] = r.value(depth + 1)
		}
		return m
	case 13:
		m := map[string]string{}
		for range n {
			m[r.str()] = r.str()
		}
		return m
	case 14:
		v := r.value(depth + 1)
		return func() any { return v }
	default:
		return func() any { panic("fuzz") }
	}
}

func (r *fuzzTags) tags() Tags {
	t := Tags{}
	for n := r.byte() % 6; n > 0; n-- {
		t[r.str()] = r.value(0)
	}
	return t
}

// flattenModel is a plain restatement of the rules for the values fuzzTags
// makes: pairs into out, the names of dropped tags into errs.
func flattenModel(name string, v any, out map[Tag]bool, errs *[]string) {
	switch x := v.(type) {
	case string:
		out[Tag{name, x}] = true
	case []byte:
		out[Tag{name, string(x)}] = true
	case int64:
		out[Tag{name, strconv.FormatInt(x, 10)}] = true
	case bool:
		out[Tag{name, strconv.FormatBool(x)}] = true
	case float64:
		out[Tag{name, strconv.FormatFloat(x, 'g', -1, 64)}] = true
	case []string:
		for _, s := range x {
			out[Tag{name, s}] = true
		}
	case []any:
		for _, e := range x {
			flattenModel(name, e, out, errs)
		}
	case map[string]any:
		for k, e := range x {
			if k == "" {
				*errs = append(*errs, name+".")
				continue
			}
			flattenModel(name+"."+k, e, out, errs)
		}
	case map[string]string:
		for k, e := range x {
			if k == "" {
				*errs = append(*errs, name+".")
				continue
			}
			out[Tag{name + "." + k, e}] = true
		}
	case func() any:
		ok := false
		var r any
		func() {
			defer func() { _ = recover() }()
			r = x()
			ok = true
		}()
		if ok {
			flattenModel(name, r, out, errs)
		} else {
			*errs = append(*errs, name)
		}
	default: // nil, chan
		*errs = append(*errs, name)
	}
}

func FuzzFlatten(f *testing.F) {
	// Layout: a count of tags; per tag, a key (length byte, bytes) and a
	// value (op byte, n byte, payload); see fuzzTags.value.
	f.Add([]byte{})
	// pynba's README example.
	f.Add([]byte("\x03" + "\x03foo\x00\x00\x03bar" + "\x03baz\x08\x02\x04seq1\x04seq2" + "\x03qux\x0d\x01\x04map1\x04val1"))
	// Empty name, nil, invalid UTF-8 name, []any with a channel, map with an
	// empty key and a callable, panicking callable.
	f.Add([]byte("\x05" + "\x00\x00\x00\x01a" + "\x01b\x06\x00" +
		"\x02\xff\xfe\x09\x03\x01\x00\x01c\x02\x00\x85\x07\x00" +
		"\x01d\x0b\x02\x00\x03\x00\x01\x01e\x0e\x00\x04\x00\x0c" + "\x01p\x0f\x00"))
	// Nested maps and slices.
	f.Add([]byte("\x01" + "\x01k\x0b\x01\x01a\x0c\x01\x01b\x09\x02" + "\x0d\x01\x01c\x01\xc3" + "\x05\x00\x02\xff\x00"))
	// Duplicates.
	f.Add([]byte("\x02" + "\x01a\x08\x03\x01x\x01x\x01y" + "\x01z\x09\x02\x00\x00\x01x\x00\x00\x01x"))
	var reused flatBuf
	f.Fuzz(func(t *testing.T, data []byte) {
		in := (&fuzzTags{fuzzBytes{data}}).tags()

		got, err := Flatten(in)
		for i, p := range got {
			if p.Name == "" {
				t.Fatalf("pair %d has an empty name: %q", i, got)
			}
			if i > 0 {
				q := got[i-1]
				if c := strings.Compare(q.Name, p.Name); c > 0 || c == 0 && q.Value >= p.Value {
					t.Fatalf("pairs %d and %d are not strictly ascending: %q, %q", i-1, i, q, p)
				}
			}
		}

		want := map[Tag]bool{}
		var wantErrs []string
		for k, v := range in {
			if k == "" {
				wantErrs = append(wantErrs, "")
				continue
			}
			flattenModel(k, v, want, &wantErrs)
		}
		wantPairs := make([]Tag, 0, len(want))
		for p := range want {
			wantPairs = append(wantPairs, p)
		}
		slices.SortFunc(wantPairs, func(a, b Tag) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Value, b.Value)
		})
		if len(wantPairs) == 0 {
			wantPairs = nil
		}
		if !slices.Equal(got, wantPairs) {
			t.Fatalf("Flatten(%#v):\n got %q\nwant %q", in, got, wantPairs)
		}
		if (err != nil) != (len(wantErrs) > 0) {
			t.Fatalf("Flatten(%#v) error %v, want errors for %q", in, err, wantErrs)
		}

		// A reused flatBuf with older pairs in it agrees, and reports the
		// same dropped tags.
		reused.reset()
		reused.add(Tags{"old": []string{"x", "y"}}, nil)
		var names []string
		s, e := reused.add(in, func(err error) { names = append(names, err.(*TagError).Name) })
		if e-s != len(got) {
			t.Fatalf("flatBuf.add gave %d pairs, Flatten %d", e-s, len(got))
		}
		for i, p := range got {
			if !bytes.Equal(reused.name(s+i), []byte(p.Name)) || !bytes.Equal(reused.value(s+i), []byte(p.Value)) {
				t.Fatalf("flatBuf pair %d is %q=%q, Flatten's %q", i, reused.name(s+i), reused.value(s+i), p)
			}
		}
		slices.Sort(names)
		slices.Sort(wantErrs)
		if !slices.Equal(names, wantErrs) {
			t.Fatalf("dropped %q, want %q", names, wantErrs)
		}

		// The same tags again give the same set.
		s2, e2 := reused.add(in, nil)
		if !reused.sameSet(s, e, s2, e2) {
			t.Fatal("the same tags flattened twice differ")
		}
	})
}
