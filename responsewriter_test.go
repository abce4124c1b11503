package pynba

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeWriter is the state of the fake ResponseWriters that
// responsewriter_gen_test.go makes, one type per combination of optional
// interfaces: it records what reaches it.
type fakeWriter struct {
	header   http.Header
	codes    []int
	body     bytes.Buffer
	calls    []string
	closed   chan bool
	deadline time.Time
}

var errFakeHijack = errors.New("fake: hijacked")

func newFakeWriter() *fakeWriter {
	return &fakeWriter{header: http.Header{}, closed: make(chan bool)}
}

func (f *fakeWriter) called(name string) { f.calls = append(f.calls, name) }

func (f *fakeWriter) Header() http.Header { return f.header }
func (f *fakeWriter) WriteHeader(code int) {
	f.codes = append(f.codes, code)
}
func (f *fakeWriter) Write(b []byte) (int, error) { return f.body.Write(b) }

// SetWriteDeadline is reached by http.ResponseController through Unwrap.
func (f *fakeWriter) SetWriteDeadline(t time.Time) error {
	f.deadline = t
	return nil
}

// optional lists the interfaces of the combination bits, in order.
var optional = []struct {
	name string
	has  func(http.ResponseWriter) bool
}{
	{"http.Flusher", func(w http.ResponseWriter) bool { _, ok := w.(http.Flusher); return ok }},
	{"http.CloseNotifier", func(w http.ResponseWriter) bool { _, ok := w.(http.CloseNotifier); return ok }},
	{"http.Hijacker", func(w http.ResponseWriter) bool { _, ok := w.(http.Hijacker); return ok }},
	{"io.ReaderFrom", func(w http.ResponseWriter) bool { _, ok := w.(io.ReaderFrom); return ok }},
	{"http.Pusher", func(w http.ResponseWriter) bool { _, ok := w.(http.Pusher); return ok }},
	{"io.StringWriter", func(w http.ResponseWriter) bool { _, ok := w.(io.StringWriter); return ok }},
}

func TestResponseWriterHasExactlyTheInterfaces(t *testing.T) {
	types := map[reflect.Type]int{}
	for combo := range 1 << len(optional) {
		under := newFake(combo, newFakeWriter())
		rw := &respWriter{w: under}
		got := rw.wrap()
		for i, o := range optional {
			want := combo&(1<<i) != 0
			if o.has(under) != want {
				t.Fatalf("combination %d: the fake itself is wrong about %s", combo, o.name)
			}
			if o.has(got) != want {
				t.Errorf("combination %d: wrapper has %s %v, the writer %v", combo, o.name, o.has(got), want)
			}
		}
		_, flushErr := got.(interface{ FlushError() error })
		if flushErr != (combo&rwFlusher != 0) {
			t.Errorf("combination %d: FlushError %v", combo, flushErr)
		}
		u, ok := got.(interface{ Unwrap() http.ResponseWriter })
		if !ok || u.Unwrap() != under {
			t.Errorf("combination %d: Unwrap does not return the writer", combo)
		}
		if prev, ok := types[reflect.TypeOf(got)]; ok {
			t.Errorf("combinations %d and %d share the type %T", prev, combo, got)
		}
		types[reflect.TypeOf(got)] = combo
	}
}

func TestResponseWriterCallsThrough(t *testing.T) {
	for combo := range 1 << len(optional) {
		t.Run(fmt.Sprint(combo), func(t *testing.T) {
			f := newFakeWriter()
			under := newFake(combo, f)
			rw := &respWriter{w: under}
			w := rw.wrap()
			w.Header().Set("X-Test", "1")
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusTeapot) // superfluous: not recorded
			io.WriteString(w, "abc")         // WriteString when there is one
			w.Write([]byte("de"))
			want, wantCalls := "abcde", []string(nil)
			if combo&rwStringWriter != 0 {
				wantCalls = append(wantCalls, "WriteString")
			}
			if combo&rwFlusher != 0 {
				w.(http.Flusher).Flush()
				if err := w.(interface{ FlushError() error }).FlushError(); err != nil {
					t.Errorf("FlushError: %v", err)
				}
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("ResponseController.Flush: %v", err)
				}
				wantCalls = append(wantCalls, "Flush", "Flush", "Flush")
			} else if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("ResponseController.Flush on a writer that cannot: %v", err)
			}
			if combo&rwCloseNotifier != 0 {
				if ch := w.(http.CloseNotifier).CloseNotify(); ch != f.closed {
					t.Error("CloseNotify did not return the writer's channel")
				}
				wantCalls = append(wantCalls, "CloseNotify")
			}
			if combo&rwHijacker != 0 {
				if _, _, err := w.(http.Hijacker).Hijack(); err != errFakeHijack {
					t.Errorf("Hijack: %v", err)
				}
				wantCalls = append(wantCalls, "Hijack")
			}
			if combo&rwReaderFrom != 0 {
				n, err := w.(io.ReaderFrom).ReadFrom(strings.NewReader("fghi"))
				if n != 4 || err != nil {
					t.Errorf("ReadFrom: %d, %v", n, err)
				}
				want += "fghi"
				wantCalls = append(wantCalls, "ReadFrom")
			}
			if combo&rwPusher != 0 {
				if err := w.(http.Pusher).Push("/style.css", nil); err != nil {
					t.Errorf("Push: %v", err)
				}
				wantCalls = append(wantCalls, "Push /style.css")
			}
			deadline := time.Unix(1e9, 0)
			if err := http.NewResponseController(w).SetWriteDeadline(deadline); err != nil || !f.deadline.Equal(deadline) {
				t.Errorf("ResponseController.SetWriteDeadline through Unwrap: %v, deadline %v", err, f.deadline)
			}
			if f.header.Get("X-Test") != "1" || fmt.Sprint(f.codes) != "[103 404 418]" || f.body.String() != want {
				t.Errorf("writer got header %v codes %v body %q", f.header, f.codes, f.body.String())
			}
			if fmt.Sprint(f.calls) != fmt.Sprint(wantCalls) {
				t.Errorf("calls %v, want %v", f.calls, wantCalls)
			}
			if rw.code.Load() != http.StatusNotFound || rw.written.Load() != uint64(len(want)) {
				t.Errorf("recorded code %d and %d bytes, want 404 and %d", rw.code.Load(), rw.written.Load(), len(want))
			}
		})
	}
}

var sinkWriter http.ResponseWriter

func TestResponseWriterAllocatesNothing(t *testing.T) {
	for _, combo := range []int{0, rwFlusher | rwStringWriter, 1<<len(optional) - 1} {
		rw := &respWriter{w: newFake(combo, newFakeWriter())}
		b := []byte("x")
		allocs := testing.AllocsPerRun(100, func() {
			w := rw.wrap()
			w.Write(b)
			w.WriteHeader(http.StatusOK)
			if s, ok := w.(io.StringWriter); ok {
				s.WriteString("y")
			}
			sinkWriter = w
		})
		if allocs != 0 {
			t.Errorf("combination %d: %v allocations to wrap and write", combo, allocs)
		}
	}
}

// Through a real server: the handler sees the server's own interfaces,
// flushes and copies through them, and the packet counts every byte.
func TestMonitorRealServerWriter(t *testing.T) {
	errs := make(chan error, 8)
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, o := range optional {
			if o.name != "http.Pusher" && !o.has(w) { // net/http's HTTP/1 writer has all but Pusher
				errs <- fmt.Errorf("the handler's writer is not an %s", o.name)
			}
		}
		io.WriteString(w, "a")
		rc := http.NewResponseController(w)
		if err := rc.Flush(); err != nil {
			errs <- fmt.Errorf("Flush: %v", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			errs <- fmt.Errorf("SetWriteDeadline: %v", err)
		}
		n, err := io.Copy(w, strings.NewReader(strings.Repeat("x", 3000))) // ReadFrom
		if n != 3000 || err != nil {
			errs <- fmt.Errorf("io.Copy: %d, %v", n, err)
		}
	}))
	ts := httptest.NewServer(m)
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/copy")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(body) != 3001 {
		t.Errorf("client got %d bytes", len(body))
	}
	if p := next(t, srv); p.DocumentSize != 3001 || p.Status != 200 || p.ScriptName != "/copy" {
		t.Errorf("packet: size %d status %d script %q", p.DocumentSize, p.Status, p.ScriptName)
	}
}

// Under HTTP/2 the server's writer is a Pusher, and so is the wrapper.
func TestMonitorHTTP2Pusher(t *testing.T) {
	var mu sync.Mutex
	var isPusher bool
	var pushErr error
	m, srv := monitored(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := w.(http.Pusher)
		mu.Lock()
		defer mu.Unlock()
		isPusher = ok
		if ok {
			pushErr = p.Push("/style.css", nil) // the Go client refuses pushes
		}
		io.WriteString(w, "h2")
	}))
	ts := httptest.NewUnstartedServer(m)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.ProtoMajor != 2 || !isPusher || !errors.Is(pushErr, http.ErrNotSupported) {
		t.Errorf("proto %d, pusher %v, push error %v", resp.ProtoMajor, isPusher, pushErr)
	}
	if p := next(t, srv); p.DocumentSize != 2 || p.Schema != "https" {
		t.Errorf("packet size %d schema %q", p.DocumentSize, p.Schema)
	}
}

// A handler that streams: Flush reaches the client at once, through the
// http.Flusher interface and through http.ResponseController (which also
// reaches the deadlines through Unwrap); the packet counts every byte.
func TestStreamingFlush(t *testing.T) {
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

// A handler that hijacks the connection, through the Hijacker interface or
// http.ResponseController, writes its own response on it (any status, a
// protocol switch included); its packet is sent with its timer, with 101
// for a switch, and the registry is left empty.
func TestHijack(t *testing.T) {
	viaHijacker := func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			return nil, nil, errors.New("the writer is not a Hijacker")
		}
		return hj.Hijack()
	}
	viaController := func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
		return http.NewResponseController(w).Hijack()
	}
	const ok = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked"
	cases := []struct {
		name    string
		hijack  func(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error)
		reply   string // what the handler writes on the connection
		upgrade bool   // the client asks for a protocol switch
		code    int    // the status the client reads
		body    string // the body the client reads
		status  uint32 // the packet's status; 0: not checked
	}{
		{"Hijacker", viaHijacker, ok, false, 200, "hijacked", 0},
		{"ResponseController", viaController, ok, false, 200, "hijacked", 0},
		{"own status", viaHijacker, "HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked", false, 202, "hijacked", 0},
		{"switching protocols", viaHijacker, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n", true, 101, "", 101},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := newServer(t)
			m := newMiddleware(t, func(w http.ResponseWriter, r *http.Request) {
				tm := Timer(Tags{"step": "hijack"}).Start()
				conn, rw, err := c.hijack(w)
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				rw.WriteString(c.reply)
				rw.Flush()
				tm.Stop()
			}, srv.Addr())
			ts := httpServer(t, m)
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := "GET /ws HTTP/1.1\r\nHost: example.com\r\n"
			if c.upgrade {
				req += "Connection: Upgrade\r\nUpgrade: test\r\n"
			}
			io.WriteString(conn, req+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || string(body) != c.body {
				t.Errorf("client got %d %q", resp.StatusCode, body)
			}
			p := next(t, srv)
			if p.ScriptName != "/ws" || len(p.Timers) != 1 || p.Timers[0].Tags.Get("step") != "hijack" {
				t.Errorf("script %q timers %v", p.ScriptName, p.Timers)
			}
			if c.status != 0 && p.Status != c.status {
				t.Errorf("status %d, want %d", p.Status, c.status)
			}
			t.Logf("hijacked request: status %d, document size %d", p.Status, p.DocumentSize)
			if n := registrySize(); n != 0 {
				t.Errorf("registry holds %d goroutines", n)
			}
		})
	}
}
