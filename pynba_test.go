package pynba

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Negative and huge numbers (Python pynba hung on a negative number): the
// request completes and the packet is valid, negatives sent as 0.
func TestNegativeAndHugeNumbers(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		AddTimer(Tags{"t": "neg"}, -time.Second)
		AddTimer(Tags{"t": "min"}, math.MinInt64)
		AddTimer(Tags{"t": "max"}, math.MaxInt64)
		AddTimer(Tags{"t": "zero"}, 0)
		SetRequestTime(math.MinInt64)
		SetStatus(math.MaxUint32)
		SetDocumentSize(math.MaxUint32)
		SetMemoryPeak(math.MaxUint32)
		SetMemoryFootprint(math.MaxUint32)
	}, srv.Addr())
	done := make(chan struct{})
	go func() { defer close(done); serve(m, "/") }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("the request hangs on negative numbers")
	}
	p := next(t, srv)
	want := map[string]float32{"neg": 0, "min": 0, "max": float32(time.Duration(math.MaxInt64).Seconds()), "zero": 0}
	if len(p.Timers) != 4 {
		t.Fatalf("timers %v", p.Timers)
	}
	for _, tm := range p.Timers {
		if v, ok := want[tm.Tags.Get("t")]; !ok || tm.Value != v || tm.HitCount != 1 {
			t.Errorf("timer %v, want value %v", tm, v)
		}
	}
	if p.RequestTime != 0 || p.Status != math.MaxUint32-1 || p.DocumentSize != math.MaxUint32 ||
		p.MemoryPeak != math.MaxUint32 || p.MemoryFootprint != math.MaxUint32 {
		t.Errorf("time %v status %d size %d peak %d footprint %d", p.RequestTime, p.Status, p.DocumentSize, p.MemoryPeak, p.MemoryFootprint)
	}
}

// flushingTag is a tag callable that flushes the request it belongs to:
// it runs while that request's packet is being built.
func flushingTag(h Collector) func() string {
	return func() string {
		h.Flush()
		Flush()
		return "flushed"
	}
}

// A tag callable (or String method) that calls Flush on its own request,
// while the packet is built at the end of the request or by an earlier
// Flush: the request does not hang.
func TestTagCallableFlushingItsRequestDoesNotHang(t *testing.T) {
	for _, path := range []string{"/end", "/flush"} {
		t.Run(path, func(t *testing.T) {
			srv := newServer(t)
			var gid atomic.Int64
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				gid.Store(curGoid())
				SetTag("reentrant", flushingTag(Current()))
				Timer(Tags{"a": "b"}).Start().Stop()
				if r.URL.Path == "/flush" {
					Flush()
				}
			}, srv.Addr())
			done := make(chan struct{})
			go func() {
				defer close(done)
				serve(m, path)
			}()
			select {
			case <-done:
			case <-time.After(wait):
				// The request's goroutine is blocked for good; remove its
				// binding so that later tests do not see it.
				unbind(gid.Load(), binding{})
				t.Fatalf("the request hangs: a tag callable called Flush while its packet was built (the goroutine stays blocked)")
			}
			p := next(t, srv)
			if p.Tags.Get("reentrant") != "flushed" {
				t.Errorf("request tags %v", p.Tags)
			}
		})
	}
}

func TestPanickingErrorHandlerLeavesNoLockHeld(t *testing.T) {
	srv := newServer(t)
	handler := func(err error) { panic(err) }
	var child Collector
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		// A timer with no tags is reported when the packet is built: the
		// handler panics inside the final send.
		Timer(nil).Start().Stop()
		child = Current()
		if err := Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
	}, srv.Addr(), WithErrorHandler(handler))
	for i := range 3 {
		within(t, fmt.Sprintf("request %d", i), func() { serve(m, "/") })
	}
	within(t, "a stale handle's Flush", func() { child.Flush() })
	if s := m.Stats(); s.CallbackPanics == 0 {
		t.Errorf("CallbackPanics %d, want the panics counted", s.CallbackPanics)
	}
	if _, err := srv.Wait(6, wait); err != nil {
		t.Fatal(err)
	}

	// The same in a ScriptMonitor's Close.
	sm, err := NewScriptMonitor(srv.Addr(), WithErrorHandler(handler))
	if err != nil {
		t.Fatal(err)
	}
	sm.Timer(nil).Start().Stop()
	within(t, "ScriptMonitor.Close", func() { sm.Close() })
	within(t, "ScriptMonitor.Send after Close", func() {
		if err := sm.Send(); !errors.Is(err, ErrClosed) {
			t.Errorf("Send after Close: %v", err)
		}
	})
}

func TestErrorHandlerCallingBackDoesNotLoop(t *testing.T) {
	srv := newServer(t)
	calls := 0
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"x": func() string { Flush(); return "v" }}).Start().Stop()
		Flush()
	}, srv.Addr(), WithErrorHandler(func(err error) {
		calls++
		Flush() // while the same goroutine builds: reported again, to itself
	}))
	within(t, "request", func() { serve(m, "/") })
	if _, err := srv.Wait(2, wait); err != nil {
		t.Fatal(err)
	}
	if calls == 0 || calls > 4 {
		t.Errorf("error handler called %d times, want a few", calls)
	}
}

func TestPooledRequestGivesBigMemoryBack(t *testing.T) {
	srv := newServer(t)
	big := strings.Repeat("x", 10<<20)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			SetTag("big", big)
			for i := range 100000 {
				AddTimer(Tags{"i": i}, time.Microsecond)
			}
		}
	}, srv.Addr(), WithMaxPacketSize(65507))
	serve(m, "/big")
	c := m.core.get()
	defer m.core.put(c)
	if len(c.spare) > keepSlots || (c.enc != nil && c.enc.big()) || len(c.tags) > keepTagsMap {
		t.Errorf("pooled collector kept %d slots, encoder big %v", len(c.spare), c.enc != nil && c.enc.big())
	}
}

func TestSetterValuesAreClampedAndReported(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	var got [3]int
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		SetDocumentSize(-5)
		SetMemoryPeak(1 << 40)
		SetStatus(201)
		got = [3]int{DocumentSize(), Current().MemoryPeak(), Status()}
	}, srv.Addr(), WithErrorHandler(errs.handle))
	serve(m, "/")
	p := next(t, srv)
	if p.DocumentSize != 0 || p.MemoryPeak != 1<<32-1 || p.Status != 201 {
		t.Errorf("size %d peak %d status %d", p.DocumentSize, p.MemoryPeak, p.Status)
	}
	if got != [3]int{0, 1<<32 - 1, 201} {
		t.Errorf("getters %v", got)
	}
	var re *RangeError
	if s := m.Stats(); s.Clamped != 2 || errs.count(func(err error) bool { return errors.As(err, &re) }) != 2 {
		t.Errorf("Clamped %d, errors %v", s.Clamped, errs.all())
	}
}

func TestSettersOverrideWhatTheRequestSays(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetHostname("h2")
		SetServerName("s2")
		SetScriptName("/manual")
		SetSchema("gopher")
		SetRequestTime(1500 * time.Millisecond)
		if d := Elapsed(); d < 0 || d > time.Second {
			t.Errorf("Elapsed %v", d)
		}
	}), WithPrefix("pre"))
	serve(m, "/auto")
	p := next(t, srv)
	if p.Hostname != "h2" || p.ServerName != "s2" || p.ScriptName != "pre/manual" || p.Schema != "gopher" || p.RequestTime != 1.5 {
		t.Errorf("%q %q %q %q %v", p.Hostname, p.ServerName, p.ScriptName, p.Schema, p.RequestTime)
	}
}

func TestSetEnabledFalseSendsNothing(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/off" {
			SetEnabled(false)
		}
	}))
	serve(m, "/off")
	serve(m, "/on")
	p := next(t, srv)
	if p.ScriptName != "/on" {
		t.Errorf("first packet is %q, want /on", p.ScriptName)
	}
	if got := srv.Received(); got != 1 {
		t.Errorf("received %d packets", got)
	}
}

func TestFlushSendsTwoPackets(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetTag("phase", "all")
		a := Timer(Tags{"t": "a"}).Start()
		Timer(Tags{"t": "b"}).Start() // running: stopped and included
		io.WriteString(w, "12345")
		if err := Flush(); err != nil {
			t.Error(err)
		}
		a.Stop() // stale after the flush
		Timer(Tags{"t": "c"}).Start().Stop()
		io.WriteString(w, "678")
	}))
	serve(m, "/f")
	ps, err := srv.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps[0].Timers) != 2 || ps[0].Tags.Get("phase") != "all" || ps[0].DocumentSize != 5 {
		t.Errorf("first packet: timers %v tags %v size %d", ps[0].Timers, ps[0].Tags, ps[0].DocumentSize)
	}
	if len(ps[1].Timers) != 1 || ps[1].Timers[0].Tags.Get("t") != "c" || ps[1].Tags.Get("phase") != "all" || ps[1].DocumentSize != 8 {
		t.Errorf("second packet: timers %v tags %v size %d", ps[1].Timers, ps[1].Tags, ps[1].DocumentSize)
	}
	if ps[1].RequestTime < ps[0].RequestTime {
		t.Errorf("request clock restarted: %v then %v", ps[0].RequestTime, ps[1].RequestTime)
	}
	if m.Stats().LateUses != 1 {
		t.Errorf("LateUses %d, want 1 for the stop after flush", m.Stats().LateUses)
	}
}

// Handles kept after their request ended (a TimerRef or Collector in a
// closure, a goroutine started with Go) are ignored and counted: used by
// the next request, or while their collectors serve many new requests at
// once, exactly once each, never a race, a panic or a timer in another
// request's packet.
func TestLateUsesAreIgnored(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"in the next request", func(t *testing.T) {
			var kept TimerRef
			var keptReq Collector
			done := make(chan struct{})
			m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/first" {
					kept = Timer(Tags{"late": "yes"}).Start()
					keptReq = Current()
					Go(func() {
						<-done
						Timer(Tags{"late": "child"}).Start().Stop()
					})
					return
				}
				// The second request may reuse the first one's collector.
				kept.Stop()
				keptReq.SetTag("bad", "x")
				close(done)
				time.Sleep(5 * time.Millisecond)
				Timer(Tags{"second": "ok"}).Start().Stop()
			}))
			serve(m, "/first")
			p1 := next(t, srv)
			serve(m, "/second")
			p2 := next(t, srv)
			if len(p1.Timers) != 1 || p1.Timers[0].Tags.Get("late") != "yes" {
				t.Errorf("first request timers %v", p1.Timers)
			}
			if len(p2.Timers) != 1 || p2.Timers[0].Tags.Get("second") != "ok" || len(p2.Tags) != 0 {
				t.Errorf("second request timers %v tags %v", p2.Timers, p2.Tags)
			}
			if s := m.Stats(); s.LateUses < 3 {
				t.Errorf("LateUses %d, want at least 3", s.LateUses)
			}
		}},
		{"across reused collectors", func(t *testing.T) {
			srv := newServer(t)
			var errs errLog
			var lateOps atomic.Int64
			var late sync.WaitGroup
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				id := r.URL.Query().Get("id")
				kept := Timer(Tags{"req": id}).Start() // running at the end: sent with its request
				h := Current()
				ctx := r.Context() // canceled once ServeHTTP has returned
				late.Add(1)
				go func() {
					defer late.Done()
					<-ctx.Done()
					lt := Tags{"late": "closure"}
					ops := []func(){
						func() { kept.Start() }, func() { kept.Stop() }, func() { kept.Delete() },
						func() { kept.Clone().Start().Stop() }, func() { kept.Elapsed() }, func() { kept.Started() },
						func() { kept.Hits() }, func() { kept.Tags() }, func() { kept.SetData(1) }, func() { kept.Data() },
						func() { h.Timer(lt).Start().Stop() }, func() { h.AddTimer(lt, time.Second) },
						func() { h.SetTag("late", "closure") }, func() { h.SetScriptName("/late") },
						func() { h.SetStatus(599) }, func() { h.SetEnabled(false) }, func() { h.Flush() },
						func() { h.Timers() }, func() { h.Tag("late") }, func() { h.DeleteTag("req") },
						func() { h.Elapsed() }, func() { h.Time(lt, func() {}) },
					}
					for _, op := range ops {
						op()
					}
					lateOps.Add(int64(len(ops)))
					if h.Valid() || h.Enabled() || kept.Started() {
						t.Error("a stale handle says it is live")
					}
					lateOps.Add(1) // kept.Started above
				}()
				late.Add(1)
				Go(func() {
					defer late.Done()
					<-ctx.Done()
					Timer(Tags{"late": "go"}).Start().Stop()
					SetTag("late", "go")
					AddTimer(Tags{"late": "go"}, time.Second)
					lateOps.Add(3)
				})
				for i := range 3 {
					AddTimer(Tags{"req": id, "i": i}, time.Millisecond)
				}
			}, srv.Addr(), WithErrorHandler(errs.handle))

			const workers, each = 8, 25
			var wg sync.WaitGroup
			for wk := range workers {
				wg.Go(func() {
					for i := range each {
						ctx, cancel := context.WithCancel(context.Background())
						req := httptest.NewRequest("GET", fmt.Sprintf("/r?id=%d-%d", wk, i), nil).WithContext(ctx)
						m.ServeHTTP(httptest.NewRecorder(), req)
						cancel() // the late users start while other requests run
					}
				})
			}
			wg.Wait()
			late.Wait()

			const n = workers * each
			ps, err := srv.Wait(n, wait)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, p := range ps {
				checkPacket(t, p)
				if p.ScriptName != "/r" || p.Status != 200 || len(p.Tags) != 0 {
					t.Errorf("script %q status %d tags %v", p.ScriptName, p.Status, p.Tags)
				}
				if len(p.Timers) != 4 {
					t.Errorf("%d timers: %v", len(p.Timers), p.Timers)
					continue
				}
				id := p.Timers[0].Tags.Get("req")
				if seen[id] {
					t.Errorf("request %s sent twice", id)
				}
				seen[id] = true
				if tm := p.Timers[0]; tm.HitCount != 1 || len(tm.Tags) != 1 {
					t.Errorf("request %s: kept timer %v", id, tm)
				}
				for _, tm := range p.Timers[1:] {
					if tm.Tags.Get("req") != id || tm.HitCount != 1 || tm.Value != 0.001 {
						t.Errorf("request %s: timer %v", id, tm)
					}
				}
			}
			if len(seen) != n {
				t.Errorf("%d distinct requests, want %d", len(seen), n)
			}
			if s := m.Stats(); s.Requests != n || s.Packets != n || s.LateUses != uint64(lateOps.Load()) || s.TimerMisuse != 0 {
				t.Errorf("stats %+v; %d late uses made", s, lateOps.Load())
			}
			if got := errs.count(func(err error) bool { return errors.Is(err, ErrLate) }); int64(got) != lateOps.Load() {
				t.Errorf("%d ErrLate reported, %d late uses made", got, lateOps.Load())
			}
			if k := registrySize(); k != 0 {
				t.Errorf("registry holds %d goroutines", k)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}
