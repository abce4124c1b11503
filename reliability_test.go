package pynba

// Reliability tests (issue 6): faults of the network, the server, the
// handler and the input, each through the real stack: a Middleware (or
// ScriptMonitor), its Reporter, and a pinbatest server on 127.0.0.1. Names
// that do not resolve come from an injected Resolver: no test looks up a
// real name.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/pynba-go/pynba/pinbatest"
)

// A server whose port is closed: requests go on, every datagram is counted
// as sent or refused, and once a server listens on the port again packets
// arrive there.
func TestFaultServerPortClosedThenReopened(t *testing.T) {
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
func TestFaultNameUnresolvedThenResolves(t *testing.T) {
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

// Close does not wait for a lookup in progress: the lookup's context is
// canceled.
func TestFaultCloseDuringLookup(t *testing.T) {
	g := &gatedResolver{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	r, err := NewReporter("pinba.test", WithResolver(g.lookup), WithResolveInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.entered:
	case <-time.After(wait):
		t.Fatal("the resolver was not asked again")
	}
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(wait):
		close(g.gate)
		<-closed
		t.Fatal("Close waited for a lookup instead of canceling it")
	}
	r.Send([]byte("after close")) // counted, not sent, no panic
	if s := r.Stats(); s.SendErrors != 1 || s.Sent != 0 {
		t.Errorf("Send after Close: stats %+v", s)
	}
}

// A packet over the size limit: identical timers are merged first; what
// still does not fit is trimmed (timers kept from the first) or dropped,
// counted in Stats.TooLarge and reported with the sizes. Nothing is cut on
// the wire.
func TestFaultPacketTooLarge(t *testing.T) {
	const limit = 1024
	t.Run("merging makes it fit", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			for i := range 2000 { // 2000 timers, as many maps, one tag set
				Timer(Tags{"group": "db", "op": "select", "shard": i % 1}).Start().Stop()
			}
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		serve(m, "/merged")
		p := next(t, srv)
		if len(p.Timers) != 1 || p.Timers[0].HitCount != 2000 {
			t.Errorf("timers %v, want one of 2000 hits", p.Timers)
		}
		if s := m.Stats(); s.TooLarge != 0 || s.Packets != 1 || len(errs.all()) != 0 {
			t.Errorf("stats %+v, errors %v", s, errs.all())
		}
	})

	t.Run("trimmed", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			SetTag("kept", "request tags are always kept")
			for range 50 {
				Timer(Tags{"group": "same"}).Start().Stop()
			}
			for i := range 200 {
				AddTimer(Tags{"group": "distinct", "i": i}, time.Millisecond)
			}
			io.WriteString(w, "ok")
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		if w := serve(m, "/trimmed"); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("response %d %q", w.Code, w.Body)
		}
		p := next(t, srv)
		if len(p.Raw) > limit {
			t.Fatalf("packet of %d bytes over the %d-byte limit", len(p.Raw), limit)
		}
		if p.Tags.Get("kept") == "" || len(p.Timers) < 2 || len(p.Timers) >= 201 {
			t.Fatalf("request tags %v, %d timers", p.Tags, len(p.Timers))
		}
		// The first timers are kept, in order, the merged one first.
		if tm := p.Timers[0]; tm.Tags.Get("group") != "same" || tm.HitCount != 50 {
			t.Errorf("first timer %v", tm)
		}
		for i, tm := range p.Timers[1:] {
			if tm.Tags.Get("group") != "distinct" || tm.Tags.Get("i") != fmt.Sprint(i) || tm.HitCount != 1 || tm.Value != 0.001 {
				t.Errorf("timer %d: %v", i+1, tm)
			}
		}
		var tl *PacketTooLargeError
		all := errs.all()
		if len(all) != 1 || !errors.As(all[0], &tl) {
			t.Fatalf("errors %v, want one *PacketTooLargeError", all)
		}
		if !errors.Is(all[0], ErrTooLarge) {
			t.Errorf("errors.Is(%v, ErrTooLarge) is false", all[0])
		}
		if tl.Dropped || tl.Limit != limit || tl.Size <= limit || tl.Timers != 201 || tl.Kept != len(p.Timers) || tl.SentBytes != len(p.Raw) {
			t.Errorf("error %+v; packet of %d bytes with %d timers", tl, len(p.Raw), len(p.Timers))
		}
		for _, want := range []string{fmt.Sprint(tl.Size), fmt.Sprint(limit), fmt.Sprint(tl.Kept)} {
			if !strings.Contains(tl.Error(), want) {
				t.Errorf("message %q does not say %s", tl.Error(), want)
			}
		}
		if s := m.Stats(); s.TooLarge != 1 || s.Packets != 1 || s.Sent != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("dropped", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetTag("huge", strings.Repeat("x", 2*limit))
				Timer(Tags{"a": "b"}).Start().Stop()
			}
			io.WriteString(w, "ok")
		}, srv.Addr(), WithMaxPacketSize(limit), WithErrorHandler(errs.handle))
		if w := serve(m, "/big"); w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("response %d %q", w.Code, w.Body)
		}
		noMorePackets(t, srv, m)
		var tl *PacketTooLargeError
		all := errs.all()
		if len(all) != 1 || !errors.As(all[0], &tl) {
			t.Fatalf("errors %v, want one *PacketTooLargeError", all)
		}
		if !tl.Dropped || tl.Size <= 2*limit || tl.Limit != limit || tl.Kept != 0 || tl.SentBytes != 0 ||
			!strings.Contains(tl.Error(), "dropped") || !strings.Contains(tl.Error(), fmt.Sprint(tl.Size)) {
			t.Errorf("error %+v: %v", tl, tl)
		}
		if s := m.Stats(); s.Requests != 2 || s.Packets != 1 || s.TooLarge != 1 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("default limit", func(t *testing.T) {
		srv := newServer(t)
		var errs errLog
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetScriptName(strings.Repeat("/x", DefaultMaxPacketSize))
			}
		}, srv.Addr(), WithErrorHandler(errs.handle))
		serve(m, "/big")
		noMorePackets(t, srv, m)
		var tl *PacketTooLargeError
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || !tl.Dropped || tl.Limit != DefaultMaxPacketSize {
			t.Errorf("errors %v", all)
		}
	})

	t.Run("reporter limit", func(t *testing.T) {
		// A shared Reporter with a lower limit than the Middleware's refuses
		// the packet whole, counts and reports it.
		srv := newServer(t)
		var errs errLog
		r, err := NewReporter(srv.Addr(), WithMaxPacketSize(600), WithErrorHandler(errs.handle))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				SetTag("big", strings.Repeat("y", 800))
			}
		}, "", WithReporter(r))
		serve(m, "/big")
		noMorePackets(t, srv, m)
		var se *SendError
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &se) || !errors.Is(se, ErrTooLarge) || se.Limit != 600 || se.Size <= 800 {
			t.Errorf("errors %v", all)
		}
		if s := m.Stats(); s.TooLarge != 1 || s.Packets != 2 || s.Sent != 1 {
			t.Errorf("stats %+v", s)
		}
	})
}

// Handlers that do not return normally: each request still sends one
// correct packet, with its running timer, and leaves the registry empty.
func TestFaultHandlerPanicsOverHTTP(t *testing.T) {
	cases := []struct {
		name   string
		fn     func(w http.ResponseWriter)
		status uint32 // 0: not checked
	}{
		{"panic", func(w http.ResponseWriter) { panic("boom") }, 500},
		{"panic after headers", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("late boom")
		}, 202},
		{"ErrAbortHandler", func(w http.ResponseWriter) { panic(http.ErrAbortHandler) }, 500},
		{"panic with an error", func(w http.ResponseWriter) { panic(errors.New("boom")) }, 500},
		{"Goexit", func(w http.ResponseWriter) { runtime.Goexit() }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				SetTag("case", c.name)
				Timer(Tags{"step": "before"}).Start() // still running at the panic
				c.fn(w)
			}, srv.Addr())
			ts := httpServer(t, m)
			resp, err := ts.Client().Get(ts.URL + "/fault")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
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

// A handler that hijacks the connection, through the Hijacker interface or
// http.ResponseController, sends its packet and leaves the registry empty.
func TestFaultHijackedConnection(t *testing.T) {
	hijackers := map[string]func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error){
		"Hijacker": func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
			hj, ok := w.(http.Hijacker)
			if !ok {
				return nil, nil, errors.New("the writer is not a Hijacker")
			}
			return hj.Hijack()
		},
		"ResponseController": func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
			return http.NewResponseController(w).Hijack()
		},
	}
	for name, hijack := range hijackers {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t)
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				tm := Timer(Tags{"step": "hijack"}).Start()
				conn, rw, err := hijack(w)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
				rw.Flush()
				tm.Stop()
			}, srv.Addr())
			ts := httpServer(t, m)
			resp, err := ts.Client().Get(ts.URL + "/ws")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hijacked" {
				t.Errorf("body %q", body)
			}
			p := next(t, srv)
			if p.ScriptName != "/ws" || len(p.Timers) != 1 || p.Timers[0].Tags.Get("step") != "hijack" {
				t.Errorf("script %q timers %v", p.ScriptName, p.Timers)
			}
			t.Logf("hijacked request: status %d, document size %d", p.Status, p.DocumentSize)
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines", n)
			}
		})
	}
}

// A handler that streams: Flush reaches the client at once, through the
// http.Flusher interface and through http.ResponseController (which also
// reaches the deadlines through Unwrap); the packet counts every byte.
func TestFaultStreamingFlush(t *testing.T) {
	srv := newServer(t)
	step := make(chan struct{}, 2)
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		tm := Timer(Tags{"step": "stream"}).Start()
		defer tm.Stop()
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline through the wrapper: %v", err)
		}
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex through the wrapper: %v", err)
		}
		wait := func(what string) bool {
			select {
			case <-step:
				return true
			case <-time.After(wait):
				t.Errorf("the client never saw %s", what)
				return false
			}
		}
		io.WriteString(w, "part1")
		w.(http.Flusher).Flush()
		if !wait("part1") {
			return
		}
		io.WriteString(w, "part2")
		if err := rc.Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
		if !wait("part2") {
			return
		}
		io.WriteString(w, "end")
	}, srv.Addr())
	ts := httpServer(t, m)
	resp, err := ts.Client().Get(ts.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for _, want := range []string{"part1", "part2"} {
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != want {
			t.Fatalf("read %q, %v; want %q", buf, err, want)
		}
		step <- struct{}{}
	}
	if rest, _ := io.ReadAll(br); string(rest) != "end" {
		t.Errorf("rest %q", rest)
	}
	p := next(t, srv)
	if p.Status != 200 || p.DocumentSize != 13 || len(p.Timers) != 1 || p.Timers[0].Tags.Get("step") != "stream" {
		t.Errorf("status %d size %d timers %v", p.Status, p.DocumentSize, p.Timers)
	}
	if n := registrySize(); n != 0 {
		t.Errorf("registry holds %d goroutines", n)
	}
}

// Handles kept after their request ended (a TimerRef or Collector in a
// closure, a goroutine started with Go) while their collectors serve new
// requests: every use is ignored and counted, exactly once, never a race,
// a panic or a timer in another request's packet.
func TestFaultLateUsesAcrossReusedCollectors(t *testing.T) {
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
}

// Close while requests run, over HTTP and directly: every request completes
// normally, Close returns, every packet is counted as sent or not sent, and
// no goroutine is left behind.
func TestFaultCloseDuringTraffic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := pinbatest.NewServer()
	defer srv.Close()
	var errs errLog
	var handled, flushes atomic.Int64
	m, err := NewMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := handled.Add(1)
		Time(Tags{"step": "a"}, func() {})
		if n%5 == 0 {
			flushes.Add(1)
			Flush()
		}
		Go(func() { Timer(Tags{"step": "child"}).Start().Stop() })
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

// cycleStringer is a fmt.Stringer that is part of a cycle: its String method is
// called, the cycle is never walked.
type cycleStringer struct {
	next *cycleStringer
	name string
}

func (c *cycleStringer) String() string { return c.name + "->" + c.next.name }

// reenteringStringer is a fmt.Stringer that uses the request it is a tag of (a
// handle it keeps, and the proxy) while the packet is being built.
type reenteringStringer struct{ h Collector }

func (r reenteringStringer) String() string {
	r.h.SetTag("from-stringer", "x")
	r.h.Timer(Tags{"from": "stringer"}).Start().Stop()
	Timer(Tags{"from": "stringer-proxy"}).Start().Stop()
	_ = r.h.Timers()
	return "reentered"
}

// unusableTags returns one tag of every kind of value that cannot be a tag.
func unusableTags() Tags {
	cycSlice := []any{"x", nil}
	cycSlice[1] = cycSlice
	cycMap := map[string]any{"k": "v"}
	cycMap["self"] = cycMap
	var cycPtr any
	cycPtr = &cycPtr
	var cycFn func() any
	cycFn = func() any { return cycFn }
	var x int
	return Tags{
		"chan":       make(chan int),
		"func-args":  func(int) string { return "" },
		"func-2out":  func() (string, error) { return "", nil },
		"func-nil":   (func() string)(nil),
		"map-nil":    map[string]any(nil),
		"tags-nil":   Tags(nil),
		"map-int":    map[int]string{1: "a"},
		"ptr-nil":    (*int)(nil),
		"nil":        nil,
		"struct":     struct{ X int }{1},
		"unsafe":     unsafe.Pointer(&x),
		"cycle-sl":   cycSlice,
		"cycle-map":  cycMap,
		"cycle-ptr":  cycPtr,
		"cycle-fn":   cycFn,
		"str-panics": tagPanicStringer{},
		"fn-panics":  func() string { panic("callable boom") },
	}
}

// Every kind of value that cannot be a tag, in timer and request tags,
// next to good ones (a Stringer in a cycle, one that uses the request while
// the packet is built, NaN and infinities): the request is unharmed, each
// bad tag is dropped, counted and reported by name, the rest is sent.
func TestBadTagValues(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	cyc := &cycleStringer{name: "a"}
	cyc.next = &cycleStringer{name: "b", next: cyc}
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		good := Tags{"ok": "1", "cycle-str": cyc, "reenter": reenteringStringer{Current()}, "nan": math.NaN(), "inf": math.Inf(-1)}
		tags := unusableTags()
		for k, v := range good {
			tags[k] = v
			SetTag(k, v)
		}
		for k, v := range unusableTags() {
			SetTag(k, v)
		}
		Timer(tags).Start().Stop()
		if r.URL.Path == "/flush" {
			if err := Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}
		io.WriteString(w, "ok")
	}, srv.Addr(), WithErrorHandler(errs.handle))

	nBad := len(unusableTags())
	for _, path := range []string{"/end", "/flush"} {
		errs.reset()
		before := m.Stats()
		done := make(chan *httptest.ResponseRecorder)
		go func() { done <- serve(m, path) }()
		var w *httptest.ResponseRecorder
		select {
		case w = <-done:
		case <-time.After(wait):
			t.Fatalf("%s: the request hangs", path)
		}
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Fatalf("%s: response %d %q", path, w.Code, w.Body)
		}
		packets := 1
		if path == "/flush" {
			packets = 2
		}
		ps, err := srv.Wait(packets, wait)
		if err != nil {
			t.Fatal(err)
		}
		p := ps[0]
		checkPacket(t, p)
		want := "[{cycle-str a->b} {inf -Inf} {nan NaN} {ok 1} {reenter reentered}]"
		if len(p.Timers) < 1 || fmt.Sprint(p.Timers[0].Tags) != want {
			t.Errorf("%s: timers %v, want the first with tags %s", path, p.Timers, want)
		}
		gotReq := fmt.Sprint(p.Tags)
		if gotReq != want && gotReq != strings.Replace(want, "[", "[{from-stringer x} ", 1) {
			t.Errorf("%s: request tags %s, want %s", path, gotReq, want)
		}
		for _, p := range ps[1:] {
			checkPacket(t, p)
		}
		// Each bad tag is dropped once as a timer tag and once as a request
		// tag, in each packet built.
		names := map[string]int{}
		for _, err := range errs.all() {
			var te *TagError
			if errors.As(err, &te) {
				names[te.Name]++
			}
		}
		for k := range unusableTags() {
			if names[k] < 2 {
				t.Errorf("%s: tag %q reported %d times, want at least 2", path, k, names[k])
			}
		}
		s := m.Stats()
		if got := s.TagErrors - before.TagErrors; got < uint64(2*nBad) || s.EncodeErrors != 0 {
			t.Errorf("%s: %d tag errors counted, want at least %d; stats %+v", path, got, 2*nBad, s)
		}
		if n := registrySize(); n != 0 {
			t.Errorf("registry holds %d goroutines", n)
		}
	}
}

// Very long names and values: never cut on the wire; what fits is sent
// whole, what does not is trimmed or dropped, counted and reported.
func TestBadLongStrings(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	long := strings.Repeat("n", 100_000)
	huge := strings.Repeat("v", 1<<20)
	fits := strings.Repeat("/long", 12_000) // 60,000 bytes
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fits":
			SetScriptName(fits)
			Timer(Tags{"name": strings.Repeat("t", 1000)}).Start().Stop()
		case "/timer":
			Timer(Tags{"short": "kept"}).Start().Stop()
			Timer(Tags{long: huge}).Start().Stop()
		case "/request-tag":
			SetTag(long, "v")
		case "/hostname":
			SetHostname(huge)
		}
		io.WriteString(w, "ok")
	}, srv.Addr(), WithErrorHandler(errs.handle))

	serve(m, "/fits")
	p := next(t, srv)
	if p.ScriptName != fits || len(p.Timers) != 1 || p.Timers[0].Tags.Get("name") != strings.Repeat("t", 1000) {
		t.Errorf("long strings that fit were changed: script of %d bytes, timers %d", len(p.ScriptName), len(p.Timers))
	}

	serve(m, "/timer")
	p = next(t, srv)
	if len(p.Timers) != 1 || p.Timers[0].Tags.Get("short") != "kept" {
		t.Errorf("timers %v, want only the short one", p.Timers)
	}
	var tl *PacketTooLargeError
	if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || tl.Dropped || tl.Kept != 1 || tl.Timers != 2 {
		t.Errorf("errors %v", all)
	}

	for _, path := range []string{"/request-tag", "/hostname"} {
		errs.reset()
		if w := serve(m, path); w.Code != 200 || w.Body.String() != "ok" {
			t.Errorf("%s: response %d %q", path, w.Code, w.Body)
		}
		noMorePackets(t, srv, m)
		if all := errs.all(); len(all) != 1 || !errors.As(all[0], &tl) || !tl.Dropped {
			t.Errorf("%s: errors %v", path, all)
		}
	}
	if s := m.Stats(); s.TooLarge != 3 || s.Requests != 6 || s.Packets != 4 {
		t.Errorf("stats %+v", s)
	}
}

// Invalid UTF-8 and NUL bytes in every string: sent byte for byte.
func TestBadInvalidUTF8(t *testing.T) {
	srv := newServer(t)
	bad := "\xff\xfe\xc3(\x00end"
	if utf8.ValidString(bad) {
		t.Fatal("the test string is valid UTF-8")
	}
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		SetHostname("h" + bad)
		SetServerName("s" + bad)
		SetScriptName("/" + bad)
		SetSchema(bad)
		SetTag("n"+bad, "v"+bad)
		Timer(Tags{"t" + bad: []byte("b" + bad)}).Start().Stop()
	}, srv.Addr())
	serve(m, "/")
	p := next(t, srv)
	if p.Hostname != "h"+bad || p.ServerName != "s"+bad || p.ScriptName != "/"+bad || p.Schema != bad {
		t.Errorf("header strings changed: %q %q %q %q", p.Hostname, p.ServerName, p.ScriptName, p.Schema)
	}
	if p.Tags.Get("n"+bad) != "v"+bad || len(p.Timers) != 1 || p.Timers[0].Tags.Get("t"+bad) != "b"+bad {
		t.Errorf("tags changed: %q, %v", p.Tags, p.Timers)
	}
	if !pinbatest.Warnings(p.Raw).Has(pinbatest.RuleNULByte) {
		t.Error("no warning for the NUL bytes")
	}
}

// Empty names: a tag with an empty name, or an empty key in a map, is
// dropped and reported; a timer left with no tag is not sent.
func TestBadEmptyNames(t *testing.T) {
	srv := newServer(t)
	var errs errLog
	m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
		Timer(Tags{"": "only"}).Start().Stop()
		Timer(Tags{"": "x", "ok": "1", "m": map[string]any{"": 1, "k": 2}}).Start().Stop()
		SetTag("", "empty")
		SetTag("req", "ok")
	}, srv.Addr(), WithTags(Tags{"": "configured"}), WithErrorHandler(errs.handle))
	serve(m, "/")
	p := next(t, srv)
	if len(p.Timers) != 1 || fmt.Sprint(p.Timers[0].Tags) != "[{m.k 2} {ok 1}]" {
		t.Errorf("timers %v", p.Timers)
	}
	if fmt.Sprint(p.Tags) != "[{req ok}]" {
		t.Errorf("request tags %v", p.Tags)
	}
	names := map[string]int{}
	for _, err := range errs.all() {
		var te *TagError
		if errors.As(err, &te) {
			names[te.Name]++
		}
	}
	if names[""] != 3 || names["m."] != 1 {
		t.Errorf("tag errors by name %v; all %v", names, errs.all())
	}
	if s := m.Stats(); s.TagErrors != 5 {
		t.Errorf("TagErrors %d, want 5 (3 empty names, 1 empty key, 1 timer with no tag)", s.TagErrors)
	}
}

// A nil handler: NewMiddleware refuses it; Monitor reports it and returns
// it unchanged; a typed nil HandlerFunc panics in the request, as without
// monitoring, and the request is still sent.
func TestBadNilHandler(t *testing.T) {
	srv := newServer(t)
	if m, err := NewMiddleware(nil, srv.Addr()); err == nil || m != nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("NewMiddleware(nil): %v, %v", m, err)
	}
	var errs errLog
	if h := Monitor(srv.Addr(), WithErrorHandler(errs.handle))(nil); h != nil {
		t.Errorf("Monitor(...)(nil) = %v", h)
	}
	if all := errs.all(); len(all) != 1 || !strings.Contains(all[0].Error(), "nil handler") {
		t.Errorf("errors %v", all)
	}
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
}

// Bad server strings, each entry form: every constructor refuses them with
// an error that names the bad entry; Monitor reports it and leaves the
// handler unmonitored. Good ones of each form are accepted.
func TestBadServerStrings(t *testing.T) {
	bad := map[string]string{ // servers string: what the error must contain
		"":                                "no Pinba server",
		" ,\t, ":                          "no Pinba server",
		"bad!host":                        "bad!host",
		"127.0.0.256":                     "127.0.0.256",
		"a..b":                            "a..b",
		strings.Repeat("a", 64) + ".test": strings.Repeat("a", 64),
		"host:":                           "host:",
		"host:0":                          "host:0",
		"host:65536":                      "host:65536",
		"host:-1":                         "host:-1",
		"host:+5":                         "host:+5",
		"host:port":                       "host:port",
		":30002":                          ":30002",
		"127.0.0.1:99999":                 "127.0.0.1:99999",
		"host:1:2":                        "host:1:2",
		"[::1":                            "[::1",
		"::1]":                            "::1]",
		"[]":                              "[]",
		"[]:30002":                        "[]:30002",
		"[pinba.test]":                    "[pinba.test]",
		"[::1]x":                          "[::1]x",
		"[::1]:":                          "[::1]:",
		"[::1]:0":                         "[::1]:0",
		"[::1]:65536":                     "[::1]:65536",
		"[::1]:abc":                       "[::1]:abc",
		"[::1]:1]":                        "[::1]:1]",
		"fe80::1:80":                      "fe80::1:80",
		"a1,a2,a3,a4,a5,a6,a7,a8,a9":      "a9",
		"127.0.0.1, bad!":                 "bad!",
	}
	h := &nopHandler{}
	for servers, want := range bad {
		opts := []Option{WithResolver(loopbackResolver)}
		check := func(what string, err error) {
			t.Helper()
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s(%q): error %v, want one containing %q", what, servers, err, want)
			}
		}
		if r, err := NewReporter(servers, opts...); err == nil {
			r.Close()
			check("NewReporter", err)
		} else {
			check("NewReporter", err)
		}
		if m, err := NewMiddleware(h, servers, opts...); err == nil {
			m.Close()
			check("NewMiddleware", err)
		} else {
			check("NewMiddleware", err)
		}
		if sm, err := NewScriptMonitor(servers, opts...); err == nil {
			sm.Close()
			check("NewScriptMonitor", err)
		} else {
			check("NewScriptMonitor", err)
		}
		var errs errLog
		if got := Monitor(servers, append(opts, WithErrorHandler(errs.handle))...)(h); got != h {
			t.Errorf("Monitor(%q) wrapped the handler", servers)
		}
		all := errs.all()
		if len(all) != 1 {
			t.Errorf("Monitor(%q): errors %v", servers, all)
		} else {
			check("Monitor", all[0])
		}
	}

	good := []string{"127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:65535", "::1", "pinba.test", "pinba.test:30002",
		"[127.0.0.1]:30002", "a.test,b.test c.test\td.test", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8"}
	for _, servers := range good {
		r, err := NewReporter(servers, WithResolver(loopbackResolver))
		if err != nil {
			t.Errorf("NewReporter(%q): %v", servers, err)
			continue
		}
		r.Close()
	}
}

// Options out of range: refused by every constructor with an error that
// says the value; Monitor reports it. The bounds themselves are accepted.
func TestBadOptions(t *testing.T) {
	bad := map[string]Option{
		"-1":                    WithMaxPacketSize(-1),
		"511":                   WithMaxPacketSize(511),
		"65508":                 WithMaxPacketSize(65508),
		fmt.Sprint(math.MaxInt): WithMaxPacketSize(math.MaxInt),
		"0s":                    WithResolveInterval(0),
		"-1s":                   WithResolveInterval(-time.Second),
		"999µs":                 WithResolveInterval(999 * time.Microsecond),
		"async queue length 0":  WithAsync(0),
		"length -1":             WithAsync(-1),
		"1048577":               WithAsync(1<<20 + 1),
		"WithReporter(nil)":     WithReporter(nil),
		"WithResolver(nil)":     WithResolver(nil),
	}
	h := &nopHandler{}
	for want, opt := range bad {
		if _, err := NewReporter("127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewReporter with %s: %v", want, err)
		}
		if _, err := NewMiddleware(h, "127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewMiddleware with %s: %v", want, err)
		}
		if _, err := NewScriptMonitor("127.0.0.1", opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewScriptMonitor with %s: %v", want, err)
		}
		// Monitor logs the error (see TestBugMonitorBadOptionSkipsErrorHandler).
		log.SetOutput(io.Discard)
		got := Monitor("127.0.0.1", opt)(h)
		log.SetOutput(os.Stderr)
		if got != h {
			t.Errorf("Monitor with %s wrapped the handler", want)
		}
	}
	for _, opts := range [][]Option{
		{WithMaxPacketSize(512)}, {WithMaxPacketSize(DefaultMaxPacketSize)}, {WithResolveInterval(time.Millisecond)},
		{WithResolveInterval(math.MaxInt64)}, {WithAsync(1)}, {WithAsync(1 << 20)}, {nil}, {WithTags(nil)},
		{WithErrorHandler(nil)}, {WithScriptName(nil)}, {WithFilter(nil)}, {WithPrefix("")},
	} {
		m, err := NewMiddleware(h, "127.0.0.1", opts...)
		if err != nil {
			t.Errorf("options %v: %v", opts, err)
			continue
		}
		m.Close()
	}
}

// Negative and huge numbers (Python pynba hung on a negative number): the
// request completes and the packet is valid, negatives sent as 0.
func TestBadNegativeAndHugeNumbers(t *testing.T) {
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

// Bugs found (issue 6): each test fails until its fix is applied. The tests
// that can leave a goroutine blocked come last.

// Durations that add up past time.Duration's range (timers merged, or a
// timer added to and then run) must saturate, not wrap to a negative sum
// that is then sent as 0.
func TestBugDurationSumOverflows(t *testing.T) {
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

// A WithScriptName or WithFilter function that panics (say on a route it
// does not expect) must not break a request whose handler succeeded, nor
// lose its packet uncounted: the panic is recovered and reported, the
// script name falls back to the path.
func TestBugUserCallbackPanics(t *testing.T) {
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

// A TimerRef kept after its request, used while the same collector makes
// new timers in its reused slots: under -race, TimerRef.lock's read of the
// slot's collector pointer (before taking the lock) races with newTimer
// rewriting the whole slot.
func TestBugStaleTimerRefRacesWithSlotReuse(t *testing.T) {
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

// Monitor with a bad option says so through the error handler it was given
// (its doc: "through the error handler (or the standard logger when there
// is none)"); it logs instead, because it looks for the handler by building
// the whole configuration, which the bad option makes fail.
func TestBugMonitorBadOptionSkipsErrorHandler(t *testing.T) {
	var errs errLog
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	h := &nopHandler{}
	if got := Monitor("127.0.0.1", WithErrorHandler(errs.handle), WithMaxPacketSize(1))(h); got != h {
		t.Error("Monitor with a bad option wrapped the handler")
	}
	if all := errs.all(); len(all) != 1 || !strings.Contains(all[0].Error(), "max packet size 1 ") {
		t.Errorf("errors %v, want the bad option reported to the error handler", all)
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
// Flush: the request must not hang.
func TestBugTagCallableFlushesItsRequest(t *testing.T) {
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
