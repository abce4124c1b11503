package pynba

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
)

func TestMonitorFillsEveryField(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Enabled() {
			t.Error("Enabled() is false inside a request")
		}
		tm := Timer(Tags{"group": "db", "op": "select"}).Start()
		time.Sleep(2 * time.Millisecond)
		tm.Stop()
		SetMemoryPeak(4096)
		SetMemoryFootprint(2048)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "not here")
	}), WithHostname("web-1"), WithPrefix("shop"), WithTags(Tags{"env": "test"}))

	serve(m, "http://example.com:8080/items/42?x=1")
	p := next(t, srv)
	if p.Hostname != "web-1" || p.ServerName != "example.com" || p.ScriptName != "shop"+NoRouteScriptName {
		t.Errorf("hostname %q server %q script %q", p.Hostname, p.ServerName, p.ScriptName)
	}
	if p.Status != 404 || p.DocumentSize != 8 || p.RequestCount != 1 || p.Schema != "http" {
		t.Errorf("status %d size %d count %d schema %q", p.Status, p.DocumentSize, p.RequestCount, p.Schema)
	}
	if p.MemoryPeak != 4096 || p.MemoryFootprint != 2048 {
		t.Errorf("memory peak %d footprint %d", p.MemoryPeak, p.MemoryFootprint)
	}
	if p.RequestTime < 0.002 || p.RequestTime > 2 {
		t.Errorf("request time %v, want at least the 2ms slept", p.RequestTime)
	}
	if p.Tags.Get("env") != "test" || len(p.Tags) != 1 {
		t.Errorf("request tags %v", p.Tags)
	}
	if len(p.Timers) != 1 {
		t.Fatalf("timers %v", p.Timers)
	}
	tm := p.Timers[0]
	if tm.HitCount != 1 || tm.Value < 0.002 || tm.Tags.Get("group") != "db" || tm.Tags.Get("op") != "select" {
		t.Errorf("timer %v", tm)
	}
	if tm.Tags[0].Name != "group" || tm.Tags[1].Name != "op" {
		t.Errorf("timer tags not sorted by name: %v", tm.Tags)
	}
	if s := m.Stats(); s.Requests != 1 || s.Packets != 1 || s.Sent != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestMonitorStatusDefaultsAndDocumentSize(t *testing.T) {
	cases := []struct {
		name     string
		h        http.HandlerFunc
		status   uint32
		size     uint32
		schemaIn string
	}{
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, 200, 0, ""},
		{"write only", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }, 200, 5, ""},
		{"set size", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")); SetDocumentSize(1000) }, 200, 1000, ""},
		{"set status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201); SetStatus(299) }, 299, 0, ""},
		{"informational first", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(103); w.WriteHeader(204) }, 204, 0, ""},
		{"readfrom", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(w, strings.NewReader(strings.Repeat("x", 3000)))
		}, 200, 3000, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, srv := monitored(t, c.h)
			serve(m, "/x")
			p := next(t, srv)
			if p.Status != c.status || p.DocumentSize != c.size {
				t.Errorf("status %d size %d, want %d %d", p.Status, p.DocumentSize, c.status, c.size)
			}
		})
	}
}

func TestMonitorHTTPSSchema(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	m, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ts := httptest.NewTLSServer(m)
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p := next(t, srv)
	if p.Schema != "https" || p.ScriptName != "/secure" || p.ServerName != "127.0.0.1" || p.DocumentSize != 2 {
		t.Errorf("schema %q script %q server %q size %d", p.Schema, p.ScriptName, p.ServerName, p.DocumentSize)
	}
}

func TestMonitorRequestTagsWithoutTimers(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetTag("user", "alice")
		SetTag("ab", []string{"b", "a"})
		SetTag("env", "override")
	}), WithTags(Tags{"env": "prod", "dc": "eu"}))
	serve(m, "/")
	p := next(t, srv)
	want := "[{ab a} {ab b} {dc eu} {env override} {user alice}]"
	if fmt.Sprint(p.Tags) != want || len(p.Timers) != 0 {
		t.Errorf("request tags %v, want %v; timers %v", p.Tags, want, p.Timers)
	}
}

func TestMonitorRoutePatternScriptName(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	m, srv := monitored(t, mux, WithScriptName(func(r *http.Request) string { return r.Pattern }))
	serve(m, "/users/123")
	serve(m, "/nowhere")
	ps, err := srv.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].ScriptName != "GET /users/{id}" {
		t.Errorf("script %q, want the route pattern", ps[0].ScriptName)
	}
	if ps[1].ScriptName != NoRouteScriptName || ps[1].Status != 404 {
		t.Errorf("unmatched route: script %q status %d, want %q and 404", ps[1].ScriptName, ps[1].Status, NoRouteScriptName)
	}
}

func TestMonitorSetters(t *testing.T) {
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

func TestMonitorSetEnabledFalseSendsNothing(t *testing.T) {
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

func TestMonitorFilter(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && Enabled() {
			t.Error("filtered request is monitored")
		}
	}), WithFilter(func(r *http.Request) bool { return r.URL.Path != "/health" }))
	serve(m, "/health")
	serve(m, "/page")
	if p := next(t, srv); p.ScriptName != "/page" {
		t.Errorf("got %q", p.ScriptName)
	}
}

func TestTimersMergedAndOrdered(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		db := Tags{"group": "db"}
		for range 10000 {
			Timer(db).Start().Stop()
		}
		AddTimer(Tags{"group": "cache"}, 250*time.Millisecond)
		Timer(Tags{"group": "db"}).Start().Stop() // same set, another map: merged
		Timer(Tags{"group": "never started"})
		d := Timer(Tags{"group": "deleted"}).Start()
		d.Delete()
		Timer(Tags{"group": "running"}).Start() // stopped at the end and sent
		Timer(Tags{}).Start().Stop()            // no tags: not sent
	}))
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 3 {
		t.Fatalf("timers: %v", p.Timers)
	}
	if g := p.Timers[0]; g.Tags.Get("group") != "db" || g.HitCount != 10001 {
		t.Errorf("first timer %v, want db with 10001 hits", g)
	}
	if g := p.Timers[1]; g.Tags.Get("group") != "cache" || g.HitCount != 1 || g.Value != 0.25 {
		t.Errorf("second timer %v", g)
	}
	if g := p.Timers[2]; g.Tags.Get("group") != "running" || g.HitCount != 1 {
		t.Errorf("third timer %v", g)
	}
	if s := m.Stats(); s.TagErrors != 1 {
		t.Errorf("TagErrors %d, want 1 for the timer with no tags", s.TagErrors)
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

func TestOutsideRequestIsHarmless(t *testing.T) {
	if Enabled() || Current().Valid() || Elapsed() != 0 {
		t.Fatal("outside a request, Enabled or Valid is true")
	}
	tm := Timer(Tags{"x": "y"}).Start()
	time.Sleep(time.Millisecond)
	tm.Stop()
	if !tm.Detached() || tm.Elapsed() < time.Millisecond {
		t.Errorf("detached timer: detached %v elapsed %v", tm.Detached(), tm.Elapsed())
	}
	SetTag("a", "b")
	SetScriptName("x")
	SetDocumentSize(3)
	SetEnabled(true)
	Time(Tags{"a": "b"}, func() {})
	if err := Flush(); err != nil {
		t.Errorf("Flush outside a request: %v", err)
	}
	if v, ok := Current().Tag("a"); ok || v != nil {
		t.Error("tag outside a request")
	}
	var zero TimerRef
	zero.Start().Stop()
	zero.Delete()
	if zero.Elapsed() != 0 || zero.Clone().Started() {
		t.Error("zero TimerRef")
	}
}

func TestConcurrentRequestsKeepTheirTimers(t *testing.T) {
	const n = 100
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		for i := range 5 {
			tm := Timer(Tags{"req": id, "i": i}).Start()
			time.Sleep(100 * time.Microsecond)
			tm.Stop()
		}
		SetTag("req", id)
	}))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(m, fmt.Sprintf("/r?id=%d", i))
		}()
	}
	wg.Wait()
	ps, err := srv.Wait(n, wait)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range ps {
		id := p.Tags.Get("req")
		seen[id] = true
		if len(p.Timers) != 5 {
			t.Errorf("request %s has %d timers", id, len(p.Timers))
		}
		for _, tm := range p.Timers {
			if tm.Tags.Get("req") != id {
				t.Errorf("timer of request %s in the packet of request %s", tm.Tags.Get("req"), id)
			}
		}
		if err := pinbatest.Validate(p.Raw); err != nil {
			t.Error(err)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct requests, want %d", len(seen), n)
	}
	if registrySize() != 0 {
		t.Errorf("registry holds %d goroutines", registrySize())
	}
}

func TestGoChildLandsInItsRequest(t *testing.T) {
	release := make(chan struct{})
	plainDone := make(chan TimerRef, 1)
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/a" {
			return
		}
		var wg sync.WaitGroup
		wg.Add(1)
		Go(func() {
			defer wg.Done()
			Timer(Tags{"from": "child"}).Start().Stop()
		})
		wg.Wait()
		go func() {
			// A plain goroutine is not bound: its timer is detached.
			<-release
			plainDone <- Timer(Tags{"from": "plain"}).Start().Stop()
		}()
	}))
	serve(m, "/a")
	p := next(t, srv)
	if _, ok := p.FindTimer(map[string]string{"from": "child"}); !ok || len(p.Timers) != 1 {
		t.Errorf("timers %v, want the child's", p.Timers)
	}
	// Another request runs while the plain goroutine makes its timer.
	close(release)
	tm := <-plainDone
	serve(m, "/b")
	p = next(t, srv)
	if len(p.Timers) != 0 || !tm.Detached() {
		t.Errorf("second request got timers %v; plain timer detached %v", p.Timers, tm.Detached())
	}
}

func TestLateUseIsIgnored(t *testing.T) {
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
}

func TestPanicSendsStatus500AndPropagates(t *testing.T) {
	for _, v := range []any{"boom", http.ErrAbortHandler} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				Timer(Tags{"before": "panic"}).Start()
				panic(v)
			}))
			got := func() (rec any) {
				defer func() { rec = recover() }()
				serve(m, "/panic")
				return nil
			}()
			if got != v {
				t.Fatalf("recovered %v, want %v", got, v)
			}
			p := next(t, srv)
			if p.Status != 500 || len(p.Timers) != 1 {
				t.Errorf("status %d timers %v", p.Status, p.Timers)
			}
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines after a panic", n)
			}
		})
	}
}

func TestPanicAfterHeadersKeepsTheirCode(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	}))
	func() {
		defer func() { recover() }()
		serve(m, "/")
	}()
	if p := next(t, srv); p.Status != 202 {
		t.Errorf("status %d, want 202", p.Status)
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

func TestNestedMiddlewares(t *testing.T) {
	srv := pinbatest.NewServer()
	defer srv.Close()
	inner, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"level": "inner"}).Start().Stop()
	}), srv.Addr(), WithPrefix("inner"))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	outer, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"level": "outer-before"}).Start().Stop()
		inner.ServeHTTP(w, r)
		Timer(Tags{"level": "outer-after"}).Start().Stop()
	}), srv.Addr(), WithPrefix("outer"))
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	serve(outer, "/n")
	ps, err := srv.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	in, out := ps[0], ps[1]
	if in.ScriptName != "inner/n" || len(in.Timers) != 1 || out.ScriptName != "outer/n" || len(out.Timers) != 2 {
		t.Errorf("inner %q %v; outer %q %v", in.ScriptName, in.Timers, out.ScriptName, out.Timers)
	}
	if registrySize() != 0 {
		t.Error("registry not empty")
	}
}

func TestNewMiddlewareErrors(t *testing.T) {
	if _, err := NewMiddleware(nil, "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("nil handler: %v", err)
	}
	h := http.NotFoundHandler()
	if _, err := NewMiddleware(h, "127.0.0.1:99999"); err == nil || !strings.Contains(err.Error(), "127.0.0.1:99999") {
		t.Errorf("bad server: %v", err)
	}
	if _, err := NewMiddleware(h, "127.0.0.1", WithMaxPacketSize(10)); err == nil || !strings.Contains(err.Error(), "10") {
		t.Errorf("bad option: %v", err)
	}
	var got []error
	wrapped := Monitor("127.0.0.1:0:0", WithErrorHandler(func(err error) { got = append(got, err) }))(h)
	if wrapped == nil || len(got) != 1 {
		t.Errorf("Monitor with a bad server: handler %v errors %v", wrapped, got)
	}
	if _, ok := wrapped.(*Middleware); ok {
		t.Error("Monitor with a bad server wrapped the handler anyway")
	}
}

func TestContextAccess(t *testing.T) {
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := FromContext(r.Context())
		if !c.Valid() || c != Current() {
			t.Error("FromContext differs from Current")
		}
		c.Timer(Tags{"via": "ctx"}).Start().Stop()
	}))
	serve(m, "/")
	if p := next(t, srv); len(p.Timers) != 1 || p.Timers[0].Tags.Get("via") != "ctx" {
		t.Errorf("timers %v", p.Timers)
	}
	if FromContext(t.Context()).Valid() {
		t.Error("a plain context carries a request")
	}
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "example.com:8080": "example.com", "[::1]:80": "::1", "[::1]": "::1",
		"::1": "::1", "": "", "1.2.3.4:5": "1.2.3.4", "[bad": "[bad",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// A Flush names its packet as the end of the request does, so a request's
// packets are reported under one script name.
func TestFlushUsesScriptNameFunc(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"part": "1"}).Start().Stop()
		if err := Flush(); err != nil {
			t.Error(err)
		}
		Timer(Tags{"part": "2"}).Start().Stop()
	})
	m, srv := monitored(t, mux, WithPrefix("p:"), WithScriptName(func(r *http.Request) string { return r.Pattern }))
	serve(m, "/items/7")
	ps, err := srv.Wait(2, wait)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range ps {
		if p.ScriptName != "p:GET /items/{id}" {
			t.Errorf("packet %d: script %q, want the route pattern", i, p.ScriptName)
		}
	}
}

// Behind http.TimeoutHandler the handler runs in another goroutine: the
// proxy finds no request there, the request's context does.
func TestTimeoutHandlerUsesContext(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Timer(Tags{"via": "proxy"}).Detached() {
			t.Error("the proxy found a request in TimeoutHandler's goroutine")
		}
		FromContext(r.Context()).Timer(Tags{"via": "context"}).Start().Stop()
	})
	m, srv := monitored(t, http.TimeoutHandler(inner, 5*time.Second, "timeout"))
	serve(m, "/t")
	p := next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("via") != "context" {
		t.Errorf("timers %v, want the one made through the context", p.Timers)
	}
}
