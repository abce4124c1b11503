package pynba

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
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

// A nil handler: NewMiddleware refuses it, whatever the servers; the
// function Monitor returns panics on it; a typed nil HandlerFunc panics in
// the request, as without monitoring, and the request is still sent.
func TestNilHandler(t *testing.T) {
	srv := newServer(t)
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"NewMiddleware", func(t *testing.T) {
			for _, servers := range []string{srv.Addr(), "127.0.0.1"} {
				if m, err := NewMiddleware(nil, servers); err == nil || m != nil || !strings.Contains(err.Error(), "nil handler") {
					t.Errorf("NewMiddleware(nil, %q): %v, %v", servers, m, err)
				}
			}
		}},
		{"Monitor", func(t *testing.T) {
			wrap := Monitor(srv.Addr())
			if msg := panicMessage(func() { wrap(nil) }); !strings.Contains(msg, "nil handler") {
				t.Errorf("Monitor(...)(nil): panic %q", msg)
			}
		}},
		{"typed nil HandlerFunc", func(t *testing.T) {
			m, err := NewMiddleware(http.HandlerFunc(nil), srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			func() {
				defer func() {
					if recover() == nil {
						t.Error("a nil HandlerFunc did not panic")
					}
				}()
				serve(m, "/nil")
			}()
			if p := next(t, srv); p.Status != 500 || p.ScriptName != "/nil" {
				t.Errorf("status %d script %q", p.Status, p.ScriptName)
			}
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// A WithScriptName or WithFilter function that panics (say on a route it
// does not expect) does not break a request whose handler succeeded, nor
// lose its packet uncounted: the panic is recovered and reported, the
// script name falls back to the path.
func TestUserCallbackPanicsAreRecovered(t *testing.T) {
	cases := map[string]Option{
		"WithScriptName": WithScriptName(func(r *http.Request) string { panic("script name boom") }),
		"WithFilter":     WithFilter(func(r *http.Request) bool { panic("filter boom") }),
	}
	for name, opt := range cases {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t)
			var errs errLog
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}, srv.Addr(), opt, WithErrorHandler(errs.handle))
			var w *httptest.ResponseRecorder
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Errorf("the request panicked: %v", v)
					}
				}()
				w = serve(m, "/path")
			}()
			if w == nil || w.Code != 200 || w.Body.String() != "ok" {
				t.Fatalf("response %v", w)
			}
			if name == "WithScriptName" {
				p := next(t, srv)
				if p.ScriptName != "/path" {
					t.Errorf("script %q, want the path", p.ScriptName)
				}
			}
			if all := errs.all(); len(all) != 1 || !strings.Contains(all[0].Error(), "boom") {
				t.Errorf("errors %v, want the panic reported", all)
			}
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines", n)
			}
		})
	}
}

// Monitor with a bad option panics at wrap time, naming the option, as
// http.ServeMux's Handle does on a bad pattern.
func TestMonitorPanicsOnABadOption(t *testing.T) {
	if msg := panicMessage(func() { Monitor("127.0.0.1", WithMaxPacketSize(1)) }); !strings.Contains(msg, "max packet size 1 ") {
		t.Errorf("panic %q, want the bad option named", msg)
	}
}

// Options that configure sending belong to NewReporter: alongside
// WithReporter they are an error, never ignored.
func TestReporterOptionsAlongsideWithReporter(t *testing.T) {
	srv := newServer(t)
	r, err := NewReporter(srv.Addr(), WithMaxPacketSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, opt := range []Option{WithAsync(8), WithResolveInterval(time.Second), WithResolver(func(ctx context.Context, host string) ([]netip.Addr, error) { return nil, nil }), WithRecent(4)} {
		if _, err := NewMiddleware(&nopHandler{}, "", WithReporter(r), opt); err == nil || !strings.Contains(err.Error(), "alongside WithReporter") {
			t.Errorf("NewMiddleware with WithReporter and an option of NewReporter's: %v", err)
		}
	}
	// WithMaxPacketSize takes effect: the smaller limit trims.
	m, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 200 {
			AddTimer(Tags{"i": i}, time.Millisecond)
		}
	}), "", WithReporter(r), WithMaxPacketSize(4000))
	if err != nil {
		t.Fatal(err)
	}
	serve(m, "/")
	if p := next(t, srv); len(p.Raw) > 1000 {
		t.Errorf("packet of %d bytes, over the reporter's 1000-byte limit", len(p.Raw))
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

// Monitor calls with the same servers and sending options share one
// Reporter: many calls do not cost sockets and goroutines that nothing can
// close, and each call's error handler hears of the shared sending.
func TestMonitorCallsShareAReporter(t *testing.T) {
	srv := newServer(t)
	t.Cleanup(closeSharedReporters)
	var errsA, errsB errLog
	var reporters []*Reporter
	for i := range 50 {
		opts := []Option{WithPrefix(fmt.Sprint(i))}
		if i%2 == 0 {
			opts = append(opts, WithErrorHandler(errsA.handle))
		} else {
			opts = append(opts, WithErrorHandler(errsB.handle))
		}
		h := Monitor(srv.Addr(), opts...)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		reporters = append(reporters, h.(*Middleware).Reporter())
	}
	for _, r := range reporters {
		if r != reporters[0] {
			t.Fatal("two Monitor calls with the same servers and options have different Reporters")
		}
	}
	async := Monitor(srv.Addr(), WithAsync(16))(http.NotFoundHandler()).(*Middleware).Reporter()
	if async == reporters[0] {
		t.Error("a Monitor with WithAsync shares a sync Reporter")
	}
	// The shared Reporter's sending problems reach every sharer's handler:
	// here 25 calls gave each.
	reporters[0].Send(make([]byte, DefaultMaxPacketSize+1))
	if len(errsA.all()) != 25 || len(errsB.all()) != 25 {
		t.Errorf("errors %v / %v, want the shared Reporter's error in both", errsA.all(), errsB.all())
	}
}

// closeSharedReporters closes the Reporters Monitor calls share and forgets
// them, so a test leaves no goroutine behind.
func closeSharedReporters() {
	monitorReporters.mu.Lock()
	defer monitorReporters.mu.Unlock()
	for k, f := range monitorReporters.m {
		f.r.Close()
		delete(monitorReporters.m, k)
	}
}
