package pynba

// Whole-stack fault tests: faults of the network, the server and the
// handler, and concurrency under Close, each through the real stack: a
// Middleware, its Reporter, and a pinbatest server on 127.0.0.1. Names that
// do not resolve come from an injected Resolver: no test looks up a real
// name.

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pinbatest"
	"go.uber.org/goleak"
)

// A server whose port is closed: requests go on, every datagram is counted
// as sent or refused, and once a server listens on the port again packets
// arrive there.
func TestServerPortClosedThenReopened(t *testing.T) {
	srv := pinbatest.NewServer()
	addr := srv.Addr()
	var errs errLog
	var handled atomic.Int64
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"step": "work"}).Start().Stop()
		io.WriteString(w, "ok")
		handled.Add(1)
	}, addr, WithErrorHandler(errs.handle))

	serve(m, "/up")
	if p := next(t, srv); p.ScriptName != "/up" {
		t.Fatalf("first packet %q", p.ScriptName)
	}
	srv.Close()

	const down = 50
	for i := range down {
		w := serve(m, fmt.Sprintf("/down/%d", i))
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("request %d while the server is down: %d %q", i, w.Code, w.Body)
		}
	}
	s := m.Stats()
	if s.Requests != 1+down || s.Packets != 1+down || !accounted(s) {
		t.Fatalf("while down: stats %+v do not account for %d packets", s, 1+down)
	}
	// Whatever the system reported (Linux reports nothing for an unconnected
	// socket; others refuse the next write) went to the error handler.
	if got := errs.count(func(err error) bool { var se *SendError; return errors.As(err, &se) }); uint64(got) != s.SendErrors {
		t.Errorf("%d send errors counted, %d reported", s.SendErrors, got)
	}

	var again *pinbatest.Server
	for i := 0; again == nil; i++ {
		var err error
		again, err = pinbatest.Listen(addr)
		if err != nil {
			if i == 50 {
				t.Skipf("cannot listen on %s again: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	defer again.Close()
	// Packets arrive again (a system that reported the closed port on the
	// next write may lose the first one).
	var got *pinbatest.Packet
	if !eventually(func() bool {
		serve(m, "/back")
		if ps := again.Take(); len(ps) > 0 {
			got = ps[0]
			return true
		}
		return false
	}) {
		t.Fatalf("no packet on the reopened port; stats %+v", m.Stats())
	}
	checkPacket(t, got)
	if got.ScriptName != "/back" || len(got.Timers) != 1 {
		t.Errorf("after reopening: script %q timers %v", got.ScriptName, got.Timers)
	}
	if s := m.Stats(); !accounted(s) || s.Requests != uint64(handled.Load()) {
		t.Errorf("stats %+v, %d requests handled", s, handled.Load())
	}
}

// A server name that does not resolve, then resolves: requests never wait
// on the lookup, datagrams for the unresolved name are counted, and the
// name is used from the next refresh on.
func TestNameUnresolvedThenResolves(t *testing.T) {
	srv := newServer(t)
	g := &gatedResolver{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	var errs errLog
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"step": "work"}).Start().Stop()
		io.WriteString(w, "ok")
	}, fmt.Sprintf("pinba.test:%d", srv.Port()),
		WithResolver(g.lookup), WithResolveInterval(5*time.Millisecond), WithErrorHandler(errs.handle))

	// A refresh is now blocked inside the resolver: requests go on.
	select {
	case <-g.entered:
	case <-time.After(wait):
		t.Fatal("the resolver was not asked again")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			if w := serve(m, fmt.Sprintf("/unresolved/%d", i)); w.Code != 200 || w.Body.String() != "ok" {
				t.Errorf("request %d: %d %q", i, w.Code, w.Body)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		close(g.gate)
		<-done
		t.Fatal("requests waited on a name lookup")
	}
	s := m.Stats()
	if s.Packets != 20 || s.Unresolved != 20 || s.Sent != 0 || s.ResolveErrors < 1 || !accounted(s) {
		t.Errorf("while unresolved: stats %+v", s)
	}
	if n := errs.count(func(err error) bool { return errors.Is(err, ErrUnresolved) }); n != 20 {
		t.Errorf("%d ErrUnresolved reported, want 20", n)
	}
	if n := errs.count(func(err error) bool {
		var re *ResolveError
		return errors.As(err, &re) && re.Host == "pinba.test"
	}); n < 1 {
		t.Errorf("no *ResolveError naming the host reported: %v", errs.all())
	}
	if srv.Received() != 0 {
		t.Errorf("%d packets arrived for a name with no address", srv.Received())
	}

	// The name starts resolving: the next refresh picks it up.
	g.mu.Lock()
	g.ok = true
	g.mu.Unlock()
	close(g.gate)
	var p *pinbatest.Packet
	if !eventually(func() bool {
		serve(m, "/resolved")
		if ps := srv.Take(); len(ps) > 0 {
			p = ps[0]
			return true
		}
		return false
	}) {
		t.Fatalf("no packet once the name resolves; stats %+v", m.Stats())
	}
	checkPacket(t, p)
	if p.ScriptName != "/resolved" {
		t.Errorf("script %q", p.ScriptName)
	}
	if s := m.Stats(); !accounted(s) {
		t.Errorf("stats %+v", s)
	}
}

// Close while requests run, over HTTP and directly: every request completes
// normally, Close returns, every packet is counted as sent or not sent, and
// no goroutine is left behind.
func TestCloseDuringTraffic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := pinbatest.NewServer()
	defer srv.Close()
	var errs errLog
	var handled, flushes atomic.Int64
	var children sync.WaitGroup // the Go children, which may outlive their request
	m, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := handled.Add(1)
		Time(Tags{"step": "a"}, func() {})
		if n%5 == 0 {
			flushes.Add(1)
			Flush()
		}
		children.Add(1)
		Go(func() {
			defer children.Done()
			Timer(Tags{"step": "child"}).Start().Stop()
		})
		io.WriteString(w, "ok")
	}), srv.Addr(), WithErrorHandler(errs.handle))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(m)
	client := ts.Client()
	client.Timeout = wait

	stop := make(chan struct{})
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if i%2 == 0 {
					resp, err := client.Get(ts.URL + "/http")
					if err != nil {
						t.Errorf("request failed: %v", err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(body) != "ok" {
						t.Errorf("response %d %q", resp.StatusCode, body)
					}
				} else if w := serve(m, "/direct"); w.Code != 200 || w.Body.String() != "ok" {
					t.Errorf("response %d %q", w.Code, w.Body)
				}
				done.Add(1)
			}
		})
	}
	for done.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Close blocked during traffic")
	}
	atClose := done.Load()
	for done.Load() < atClose+200 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	children.Wait()
	ts.Close()
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s := m.Stats()
	want := uint64(handled.Load() + flushes.Load())
	if s.Requests != uint64(handled.Load()) || s.Packets != want || !accounted(s) || s.SendErrors == 0 {
		t.Errorf("stats %+v; %d requests and %d flushes handled", s, handled.Load(), flushes.Load())
	}
	if !eventually(func() bool { return uint64(srv.Received()) == s.Sent }) {
		t.Errorf("%d packets received, %d sent", srv.Received(), s.Sent)
	}
	for _, p := range srv.Take() {
		checkPacket(t, p)
	}
	if n := registrySize(); n != 0 {
		t.Errorf("registry holds %d goroutines", n)
	}
}

// Handlers that do not return normally, served over real HTTP or directly:
// each request still sends one correct packet, with its running timer and
// the status the client saw, and leaves the registry empty; served
// directly, the panic propagates with its own value.
func TestHandlerPanics(t *testing.T) {
	cases := []struct {
		name   string
		direct bool // served directly (the panic reaches the caller), else over HTTP
		fn     func(w http.ResponseWriter)
		status uint32 // 0: not checked
		value  any    // direct: the value the caller recovers
	}{
		{"panic", false, func(w http.ResponseWriter) { panic("boom") }, 500, nil},
		{"panic after headers", false, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("late boom")
		}, 202, nil},
		{"ErrAbortHandler", false, func(w http.ResponseWriter) { panic(http.ErrAbortHandler) }, 500, nil},
		{"panic with an error", false, func(w http.ResponseWriter) { panic(errors.New("boom")) }, 500, nil},
		{"Goexit", false, func(w http.ResponseWriter) { runtime.Goexit() }, 0, nil},
		{"direct panic", true, func(w http.ResponseWriter) { panic("boom") }, 500, "boom"},
		{"direct ErrAbortHandler", true, func(w http.ResponseWriter) { panic(http.ErrAbortHandler) }, 500, http.ErrAbortHandler},
		{"direct panic after headers", true, func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusAccepted)
			panic("late")
		}, 202, "late"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				SetTag("case", c.name)
				Timer(Tags{"step": "before"}).Start() // still running at the panic
				c.fn(w)
			}, srv.Addr())
			if c.direct {
				got := func() (rec any) {
					defer func() { rec = recover() }()
					serve(m, "/fault")
					return nil
				}()
				if got != c.value {
					t.Fatalf("recovered %v, want %v", got, c.value)
				}
			} else {
				ts := httpServer(t, m)
				resp, err := ts.Client().Get(ts.URL + "/fault")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			p := next(t, srv)
			if p.ScriptName != "/fault" || p.Tags.Get("case") != c.name || len(p.Timers) != 1 ||
				p.Timers[0].Tags.Get("step") != "before" || p.Timers[0].HitCount != 1 {
				t.Errorf("script %q tags %v timers %v", p.ScriptName, p.Tags, p.Timers)
			}
			if c.status != 0 && p.Status != c.status {
				t.Errorf("status %d, want %d", p.Status, c.status)
			} else if c.status == 0 {
				t.Logf("%s: status %d", c.name, p.Status)
			}
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines", n)
			}
			if s := m.Stats(); s.Requests != 1 || s.Packets != 1 || s.Sent != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}
