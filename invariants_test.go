package pynba

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Tests of what the library promises whatever the application does: user
// code cannot wedge it, the packet tells what the client saw and what the
// user recorded, memory and report rows stay bounded.

func TestMisuseMessageOfCyclicTagsIsBounded(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	cyc := Tags{"a": "b"}
	cyc["self"] = cyc
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		tm := Timer(cyc).Start()
		tm.Start() // misuse: running; the message must not walk cyc
		tm.Stop()
		tm.Stop() // misuse: stopped
	}, srv.Addr(), WithErrorHandler(errs.handle))
	within(t, "request with cyclic tags", func() { serve(m, "/") })
	next(t, srv)
	n := errs.count(func(err error) bool {
		return (errors.Is(err, ErrTimerRunning) || errors.Is(err, ErrTimerStopped)) &&
			strings.Contains(err.Error(), "pynba.Tags of length 2")
	})
	if n != 2 {
		t.Errorf("misuse reports %v, want 2 naming the tags by type and length", errs.all())
	}
}

func TestPanicWithCyclicValueIsDescribedByType(t *testing.T) {
	cyc := map[string]any{}
	cyc["self"] = cyc
	_, err := Flatten(Tags{"call": func() string { panic(cyc) }})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "map[string]interface {} of length 1") {
		t.Fatalf("Flatten error %v, want a PanicError describing the value by type", err)
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

func TestScriptMonitorCallbacksDoNotDeadlock(t *testing.T) {
	srv := newServer(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sm, err := NewScriptMonitor(srv.Addr())
		if err != nil {
			t.Error(err)
			return
		}
		var sendErr error
		var h Collector
		sm.Timer(Tags{"step": func() string {
			sendErr = sm.Send()
			h = sm.Collector()
			return "load"
		}}).Start().Stop()
		if err := sm.Send(); err != nil {
			t.Error(err)
		}
		if !errors.Is(sendErr, ErrSending) || h.Valid() {
			t.Errorf("Send from a tag callable: %v, handle valid %v; want ErrSending and a stale handle", sendErr, h.Valid())
		}
		sm.Close()
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("ScriptMonitor.Send or Collector from a tag callable deadlocks")
	}
	p := next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("step") != "load" {
		t.Errorf("timers %v", p.Timers)
	}
}

func TestScriptMonitorCloseSendsOnlyWhatIsLeft(t *testing.T) {
	srv := newServer(t)
	sm, err := NewScriptMonitor(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	const jobs = 5
	for i := range jobs {
		Timer(Tags{"job": fmt.Sprint(i)}).Start().Stop()
		sm.Send()
	}
	sm.Close()
	if _, err := srv.Wait(jobs, wait); err != nil {
		t.Fatal(err)
	}
	noMorePackets(t, srv, newMiddleware(t, func(http.ResponseWriter, *http.Request) {}, srv.Addr()))
	if s := sm.Stats(); s.Packets != jobs {
		t.Errorf("Packets %d, want %d", s.Packets, jobs)
	}

	// Something recorded after the last Send is sent by Close; a monitor
	// that never sent sends its one request.
	sm2, _ := NewScriptMonitor(srv.Addr())
	sm2.Send()
	SetTag("late", "yes")
	sm2.Close()
	sm3, _ := NewScriptMonitor(srv.Addr())
	sm3.Close()
	ps, err := srv.Wait(3, wait)
	if err != nil {
		t.Fatal(err)
	}
	if ps[1].Tags.Get("late") != "yes" || ps[2].Status != 200 {
		t.Errorf("packets %v / %v", ps[1].Tags, ps[2].Status)
	}
}

func TestStatusIsWhatTheClientGot(t *testing.T) {
	cases := []struct {
		name string
		h    http.HandlerFunc
		want uint32
	}{
		{"flush then WriteHeader", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			w.WriteHeader(500)
		}, 200},
		{"ResponseController flush then panic", func(w http.ResponseWriter, r *http.Request) {
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}, 200},
		{"informational then final", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(103)
			w.WriteHeader(204)
		}, 204},
		{"switching protocols", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(101)
		}, 101},
		{"refused code", func(w http.ResponseWriter, r *http.Request) {
			defer func() { recover() }()
			w.WriteHeader(1000) // net/http panics on it: nothing went out
		}, 200},
		{"panic before anything", func(w http.ResponseWriter, r *http.Request) {
			panic(http.ErrAbortHandler)
		}, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			m := newMiddleware(t, tc.h, srv.Addr())
			hs := httptest.NewServer(m)
			defer hs.Close()
			resp, err := hs.Client().Get(hs.URL)
			if err == nil {
				resp.Body.Close()
			}
			p := next(t, srv)
			if p.Status != tc.want {
				t.Errorf("status %d, want %d", p.Status, tc.want)
			}
		})
	}
}

func TestHijackedConnectionReports101(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		conn.Close()
	}, srv.Addr())
	hs := httptest.NewServer(m)
	defer hs.Close()
	req, _ := http.NewRequest("GET", hs.URL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "test")
	if resp, err := hs.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	if p := next(t, srv); p.Status != 101 {
		t.Errorf("status %d, want 101", p.Status)
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

func TestRouteNamesByDefault(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	deriving := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), struct{}{}, 1)))
		})
	}
	setups := []struct {
		name string
		h    http.Handler
		opts []Option
		base string
	}{
		{"mux", mux, nil, ""},
		{"deriving middleware, WithServeMux", deriving(mux), []Option{WithServeMux(mux)}, ""},
		{"Monitor behind StripPrefix", nil, nil, "/api"},
	}
	for _, st := range setups {
		t.Run(st.name, func(t *testing.T) {
			srv := newServer(t)
			m, err := NewMiddleware(orMux(st.h, mux), srv.Addr(), st.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var h http.Handler = m
			if st.base != "" {
				h = http.StripPrefix(st.base, m)
			}
			const n = 10000
			for i := range n {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("%s/items/%d", st.base, i), nil))
			}
			for i := range 50 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("%s/scan/%d.php", st.base, i), nil))
			}
			ps, err := srv.Wait(n+50, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]int{}
			for _, p := range ps {
				names[p.ScriptName]++
			}
			if names["GET /items/{id}"] != n || names[NoRouteScriptName] != 50 || len(names) != 2 {
				t.Errorf("script names %v", names)
			}
		})
	}
}

func orMux(h, mux http.Handler) http.Handler {
	if h == nil {
		return mux
	}
	return h
}

func TestRawPathOption(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	m, srv := monitored(t, mux, WithRawPath())
	serve(m, "/items/7")
	if p := next(t, srv); p.ScriptName != "/items/7" {
		t.Errorf("script %q, want the raw path", p.ScriptName)
	}
}

func TestScriptNameCapHoldsMemoryFlat(t *testing.T) {
	k := &core{cfg: &config{maxScriptNames: 100}}
	// Other tests may have admitted names already: count from here.
	start := scriptNames.len()
	limit := start + 100
	k.cfg.maxScriptNames = limit
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapAlloc
	const n = 1000000
	kept := 0
	for i := range n {
		if k.guardScript(fmt.Sprintf("/u/%d", i)) != OverflowName {
			kept++
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if kept != 100 || k.stats.scriptOverflows.Load() != n-100 {
		t.Errorf("kept %d names, overflows %d", kept, k.stats.scriptOverflows.Load())
	}
	if grown := int64(ms.HeapAlloc) - int64(heap0); grown > 1<<20 {
		t.Errorf("heap grew %d bytes over %d distinct names", grown, n)
	}
	if scriptNames.len() != limit {
		t.Errorf("set holds %d names, want %d", scriptNames.len(), limit)
	}
}

func TestTagValueCap(t *testing.T) {
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"capped-user": r.URL.Path}).Start().Stop()
	}, srv.Addr(), WithMaxTagValues(3))
	for i := range 5 {
		serve(m, fmt.Sprintf("/%d", i))
	}
	ps, err := srv.Wait(5, wait)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, p := range ps {
		vals = append(vals, p.Timers[0].Tags.Get("capped-user"))
	}
	if fmt.Sprint(vals) != "[/0 /1 /2 (other) (other)]" || m.Stats().TagOverflows != 2 {
		t.Errorf("values %v, overflows %d", vals, m.Stats().TagOverflows)
	}
}

func TestEngineLimitsCutAtCharacterBoundaries(t *testing.T) {
	for _, tc := range []struct{ s string }{{strings.Repeat("é", 40)}, {strings.Repeat("日", 30)}, {"a" + strings.Repeat("ü", 40)}, {strings.Repeat("\xff", 80)}} {
		got, cut := cutString(tc.s, 64)
		if !cut || len(got) > 64 || len(got) < 61 || (utf8.ValidString(tc.s) && !utf8.ValidString(got)) {
			t.Errorf("cutString(%q) = %q, %v", tc.s, got, cut)
		}
	}
	srv := newServer(t)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		SetScriptName(strings.Repeat("Ж", 100))
		Timer(Tags{"v": strings.Repeat("é", 50)}).Start().Stop()
	}, srv.Addr(), WithEngineLimits(true), WithHostname(strings.Repeat("h", 40)))
	serve(m, "/")
	p := next(t, srv)
	if !utf8.ValidString(p.ScriptName) || len(p.ScriptName) != 128 || len(p.Hostname) != 32 ||
		len(p.Timers[0].Tags.Get("v")) != 64 || m.Stats().StringsCut != 3 {
		t.Errorf("script %d bytes, hostname %d, tag %d, cut %d", len(p.ScriptName), len(p.Hostname), len(p.Timers[0].Tags.Get("v")), m.Stats().StringsCut)
	}
}

func TestRunner(t *testing.T) {
	srv := newServer(t)
	r, err := NewRunner(srv.Addr(), WithPrefix("jobs:"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Run(context.Background(), "ok", func(ctx context.Context) error {
		Timer(Tags{"via": "proxy"}).Start().Stop()
		FromContext(ctx).Timer(Tags{"via": "ctx"}).Start().Stop()
		return nil
	})
	r.Run(context.Background(), "fails", func(ctx context.Context) error { return errors.New("no") })
	r.Run(context.Background(), "teapot", func(ctx context.Context) error { SetStatus(418); return errors.New("no") })
	func() {
		defer func() { recover() }()
		r.Run(context.Background(), "panics", func(ctx context.Context) error { panic("boom") })
	}()
	ps, err := srv.Wait(4, wait)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, p := range ps {
		got += fmt.Sprintf("%s %d %d; ", p.ScriptName, p.Status, len(p.Timers))
	}
	if want := "jobs:ok 200 2; jobs:fails 500 0; jobs:teapot 418 0; jobs:panics 500 0; "; got != want {
		t.Errorf("packets %q, want %q", got, want)
	}
	if registrySize() != 0 {
		t.Error("a Run left its goroutine bound")
	}
}
