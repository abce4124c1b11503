package pynba

import (
	"errors"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Durations that add up past time.Duration's range (timers merged, or a
// timer added to and then run) saturate: the sum does not wrap to a
// negative one sent as 0.
func TestDurationSumSaturates(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		AddTimer(Tags{"t": "merged"}, math.MaxInt64)
		AddTimer(Tags{"t": "merged"}, math.MaxInt64)
		AddTimer(Tags{"t": "restarted"}, math.MaxInt64).Start().Stop()
	}, srv.Addr())
	serve(m, "/")
	p := next(t, srv)
	huge := float32(time.Duration(math.MaxInt64).Seconds())
	if len(p.Timers) != 2 {
		t.Fatalf("timers %v", p.Timers)
	}
	for _, tm := range p.Timers {
		if tm.Value < huge {
			t.Errorf("timer %v: the sum of durations wrapped around, want at least %v s", tm, huge)
		}
	}
}

// A TimerRef kept after its request, used while the same collector makes
// new timers in its reused slots: every use is ignored and counted, and
// under -race no read of the slot races with newTimer rewriting it.
func TestStaleTimerRefDoesNotRaceWithSlotReuse(t *testing.T) {
	srv := newServer(t)
	sm, err := NewScriptMonitor(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	stale := make([]TimerRef, n)
	for i := range stale {
		stale[i] = sm.Timer(Tags{"round": "1"}).Start()
	}
	sm.Send() // the timers are sent and their slots kept for reuse
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			for _, tm := range stale {
				tm.Stop()
			}
		}
	}()
	for range 20 {
		for range n {
			sm.Timer(Tags{"round": "2"}) // reuses the slots of round 1
		}
		sm.Send()
	}
	<-done
	if err := sm.Close(); err != nil {
		t.Fatal(err)
	}
	if s := sm.Stats(); s.LateUses != 20*n {
		t.Errorf("LateUses %d, want %d", s.LateUses, 20*n)
	}
	// 21 packets: the first Send, the 20 of the loop; Close has nothing
	// left to send.
	ps, err := srv.Wait(21, wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps[0].Timers) != 1 || ps[0].Timers[0].HitCount != n {
		t.Errorf("first packet: timers %v", ps[0].Timers)
	}
	for _, p := range ps[1:] {
		checkPacket(t, p)
		if len(p.Timers) != 0 {
			t.Errorf("timers %v in a later packet", p.Timers)
		}
	}
}

func TestTimerKeepsTheTagsItWasGiven(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		tags := Tags{"op": "select"}
		Timer(tags).Start().Stop()
		tags["op"] = "insert" // the first timer keeps "select"
		Timer(tags).Start().Stop()
		delete(tags, "op")
		tags["other"] = "x"
	}, srv.Addr())
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 2 || p.Timers[0].Tags.Get("op") != "select" || p.Timers[1].Tags.Get("op") != "insert" {
		t.Errorf("timers %v, want op=select then op=insert", p.Timers)
	}
}

func TestDetachedTimerIsCheap(t *testing.T) {
	tags := Tags{"a": "b"}
	a := testing.AllocsPerRun(100, func() { Timer(tags).Start().Stop() })
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	for range 1000 {
		Timer(tags).Start().Stop()
	}
	runtime.ReadMemStats(&ms)
	per := (ms.TotalAlloc - before) / 1000
	if a > 1 || per > 1024 {
		t.Errorf("a timer outside a request costs %v allocations and %d bytes", a, per)
	}
}

func TestTimerAPI(t *testing.T) {
	var errs []error
	var mu sync.Mutex
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tm := Timer(Tags{"a": "b"})
		if tm.Started() || tm.Detached() {
			t.Error("new timer started or detached")
		}
		tm.Start()
		tm.Start() // misuse
		time.Sleep(time.Millisecond)
		tm.Stop()
		tm.Stop() // misuse
		e1 := tm.Elapsed()
		tm.Start()
		time.Sleep(time.Millisecond)
		tm.Stop()
		if tm.Elapsed() <= e1 || tm.Hits() != 2 {
			t.Errorf("elapsed %v then %v, hits %d", e1, tm.Elapsed(), tm.Hits())
		}
		tm.SetData(map[string]int{"rows": 3})
		if tm.Data().(map[string]int)["rows"] != 3 {
			t.Error("Data")
		}
		cl := tm.Clone()
		if cl.Started() || cl.Tags()["a"] != "b" || cl.Elapsed() != 0 {
			t.Error("Clone")
		}
		cl.Start().Stop()
		Time(Tags{"fn": "x"}, func() { time.Sleep(time.Millisecond) })
		if n := len(Current().Timers()); n != 3 {
			t.Errorf("Timers() has %d", n)
		}
	}), WithErrorHandler(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }))
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 2 || p.Timers[0].HitCount != 3 || p.Timers[1].Tags.Get("fn") != "x" || p.Timers[1].Value < 0.001 {
		t.Errorf("timers %v", p.Timers)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 || !errors.Is(errs[0], ErrTimerRunning) || !errors.Is(errs[1], ErrTimerStopped) {
		t.Errorf("errors %v", errs)
	}
	if s := m.Stats(); s.TimerMisuse != 2 {
		t.Errorf("TimerMisuse %d", s.TimerMisuse)
	}
}

// TestTimerTagCopiesFollowTheMap reuses one Tags map for the timers of
// several requests, changing it between requests and between timers in the
// ways a copy kept from before could miss: a value changed, a name
// replaced by another (same length), a value that is no string, and back.
// Every timer must carry the map as it was when Timer was called.
func TestTimerTagCopiesFollowTheMap(t *testing.T) {
	m := Tags{"op": "select", "table": "users"}
	changes := []func(){
		func() {},
		func() { m["op"] = "insert" },
		func() { delete(m, "table"); m["db"] = "main" },
		func() { m["op"] = []string{"a", "b"} },
		func() { m["op"] = "select" },
		func() { delete(m, "db"); m["table"] = "users" },
		func() { m["op"] = strings.Clone("select") }, // equal, elsewhere in memory
	}
	render := func(tags Tags) string {
		flat, err := Flatten(tags)
		if err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(flat))
		for i, tg := range flat {
			s[i] = tg.Name + "=" + tg.Value
		}
		return strings.Join(s, " ")
	}
	var want []string
	srv := newServer(t)
	h := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		want = want[:0]
		for _, ch := range []func(){changes[i], changes[(i+1)%len(changes)], func() {}} {
			ch()
			want = append(want, render(m))
			Timer(m).Start().Stop()
		}
	}, srv.Addr())
	for round := range 2 {
		for i := range changes {
			serve(h, "/?i="+strconv.Itoa(i))
			p := next(t, srv)
			// Timers with the same tags are sent as one.
			var got []string
			for _, tm := range p.Timers {
				pairs := make([]string, len(tm.Tags))
				for j, tg := range tm.Tags {
					pairs[j] = tg.Name + "=" + tg.Value
				}
				for range tm.HitCount {
					got = append(got, strings.Join(pairs, " "))
				}
			}
			exp := slices.Clone(want)
			slices.Sort(got)
			slices.Sort(exp)
			if !slices.Equal(got, exp) {
				t.Errorf("round %d, request %d: timers %q, want %q", round, i, got, exp)
			}
		}
	}
}
