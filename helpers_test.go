package pynba

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pynba-go/pynba/pb"
	"github.com/pynba-go/pynba/pinbatest"
)

// Helpers shared by the package's tests: every test that needs a Pinba
// server, a monitored handler, a request or a packet uses these.

// wait bounds every wait of the tests for something that should happen at
// once (a packet on loopback, a handler returning).
const wait = 3 * time.Second

// monitored starts a pinbatest server and a Middleware around h sending to
// it, both closed at the end of the test.
func monitored(t testing.TB, h http.Handler, opts ...Option) (*Middleware, *pinbatest.Server) {
	t.Helper()
	srv := newServer(t)
	return middlewareFor(t, h, srv.Addr(), opts...), srv
}

// next waits for one packet and checks that it decodes and passes
// Validate.
func next(t testing.TB, srv *pinbatest.Server) *pinbatest.Packet {
	t.Helper()
	p, err := srv.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	checkPacket(t, p)
	return p
}

// errLog records what the error handler hears. It is safe for concurrent
// use.
type errLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// count returns how many recorded errors match.
func (l *errLog) count(match func(error) bool) int {
	n := 0
	for _, err := range l.all() {
		if match(err) {
			n++
		}
	}
	return n
}

func (l *errLog) reset() {
	l.mu.Lock()
	l.errs = nil
	l.mu.Unlock()
}

// newServer starts a pinbatest server closed at the end of the test.
func newServer(t testing.TB) *pinbatest.Server {
	t.Helper()
	srv := pinbatest.NewServer()
	t.Cleanup(srv.Close)
	return srv
}

// newMiddleware returns a Middleware around the handler function h sending
// to servers, closed at the end of the test.
func newMiddleware(t testing.TB, h http.HandlerFunc, servers string, opts ...Option) *Middleware {
	t.Helper()
	return middlewareFor(t, h, servers, opts...)
}

// middlewareFor returns a Middleware around h sending to servers, closed at
// the end of the test.
func middlewareFor(t testing.TB, h http.Handler, servers string, opts ...Option) *Middleware {
	t.Helper()
	m, err := NewMiddleware(h, servers, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// checkPacket fails the test when p does not decode or fails Validate.
func checkPacket(t testing.TB, p *pinbatest.Packet) {
	t.Helper()
	if p.Err != nil {
		t.Fatalf("undecodable packet: %v", p.Err)
	}
	if err := pinbatest.Validate(p.Raw); err != nil {
		t.Fatalf("packet of %d bytes fails Validate: %v", len(p.Raw), err)
	}
}

// serve runs one request through h directly and returns the recorder.
func serve(h http.Handler, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
	return w
}

// noMorePackets checks that nothing more arrives at srv: it sends a marker
// request through marker and expects it to be the next packet.
func noMorePackets(t testing.TB, srv *pinbatest.Server, marker http.Handler) {
	t.Helper()
	serve(marker, "/marker")
	p := next(t, srv)
	if p.ScriptName != "/marker" {
		t.Fatalf("a packet %q arrived before the marker", p.ScriptName)
	}
}

// accounted says whether every packet handed to a one-server reporter is
// counted once as sent or as lost.
func accounted(s Stats) bool {
	return s.Packets == s.Sent+s.SendErrors+s.Unresolved+s.QueueDropped
}

// eventually polls cond until it holds or wait passes.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// httpServer serves m over real HTTP on 127.0.0.1, with the server's
// log of recovered panics discarded; closed at the end of the test.
func httpServer(t *testing.T, m http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(m)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	ts.Client().Timeout = wait
	return ts
}

// gatedResolver is an injected Resolver: "pinba.test" fails until ok is
// set, then resolves to 127.0.0.1; while gate is non-nil, lookups after the
// first wait for it to be closed (or for their context to end), to show
// that requests never wait on DNS.
type gatedResolver struct {
	mu      sync.Mutex
	calls   int
	ok      bool
	gate    chan struct{}
	entered chan struct{} // receives once per lookup that waits on gate
}

func (g *gatedResolver) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	g.mu.Lock()
	g.calls++
	first, gate, ok := g.calls == 1, g.gate, g.ok
	g.mu.Unlock()
	if host != "pinba.test" {
		return nil, fmt.Errorf("unexpected lookup of %q", host)
	}
	if !first && gate != nil {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		g.mu.Lock()
		ok = g.ok
		g.mu.Unlock()
	}
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// nopHandler is a handler that can be compared.
type nopHandler struct{}

func (*nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

// within runs fn and fails the test when it does not return in time (a
// deadlock), instead of hanging the whole run.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%s: does not return (deadlock)", what)
	}
}

// fuzzBytes hands out fuzz bytes; past the end it gives zeros.
type fuzzBytes struct{ b []byte }

func (r *fuzzBytes) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// fuzzChan is a tag value that cannot be a tag.
var fuzzChan = make(chan int)

// rawPacket returns a valid Pinba packet for script, padded to size bytes
// when size > 0.
func rawPacket(tb testing.TB, script string, size int) []byte {
	tb.Helper()
	rec := pb.Record{Hostname: "reporter.test", ServerName: "srv", ScriptName: script, RequestCount: 1}
	pkt, err := rec.Append(nil)
	if err != nil {
		tb.Fatal(err)
	}
	if size > 0 {
		// script_name grows from len(script) to L bytes; its length
		// prefix takes 2 bytes from 128 on.
		rec.ScriptName += strings.Repeat("x", size-len(pkt)-1)
		if pkt, err = rec.Append(nil); err != nil || len(pkt) != size {
			tb.Fatalf("packet of %d bytes (%v), want %d", len(pkt), err, size)
		}
	}
	return pkt
}

// testReporter returns a Reporter sending to servers, closed at the end of
// the test.
func testReporter(tb testing.TB, servers string, opts ...Option) *Reporter {
	tb.Helper()
	r, err := NewReporter(servers, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// discardServer is a loopback UDP receiver that reads and discards,
// allocating nothing: allocation counts (testing.AllocsPerRun, -benchmem)
// cover every goroutine, and pinbatest's decoding would be counted.
func discardServer(tb testing.TB) (addr string, received *atomic.Int64) {
	tb.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	received = new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, err := conn.Read(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			received.Add(1)
		}
	}()
	tb.Cleanup(func() {
		conn.Close()
		<-done
	})
	return conn.LocalAddr().String(), received
}

// benchWriter is a ResponseWriter that discards, with the optional
// interfaces of net/http's own (Flusher, Hijacker, ReaderFrom,
// StringWriter), so that the wrapper's cost is the one met in production.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) { w.code = code }

func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

func (w *benchWriter) WriteString(s string) (int, error) {
	w.n += len(s)
	return len(s), nil
}

func (w *benchWriter) Flush() {}

func (w *benchWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("benchWriter: no connection")
}

func (w *benchWriter) ReadFrom(r io.Reader) (int64, error) { return io.Copy(io.Discard, r) }

var benchRequest = httptest.NewRequest("GET", "http://shop.example.com/cart/42", nil)

var burnSink atomic.Int64

// panicMessage runs fn and returns what it panicked with, "" if it did not.
func panicMessage(fn func()) (msg string) {
	defer func() {
		if p := recover(); p != nil {
			msg = fmt.Sprint(p)
		}
	}()
	fn()
	return ""
}

// mustEventually polls cond until it holds, and fails the test when wait
// passes first.
func mustEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !eventually(cond) {
		t.Fatalf("waited %v for %s", wait, what)
	}
}

// fakeDNS resolves the names it was told, and fails for all others.
type fakeDNS struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	calls atomic.Int64
}

func (d *fakeDNS) set(host string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(addrs) == 0 {
		delete(d.names, host)
		return
	}
	d.names[host] = nil
	for _, a := range addrs {
		d.names[host] = append(d.names[host], netip.MustParseAddr(a))
	}
}

func (d *fakeDNS) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	d.calls.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.names[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func newFakeDNS() *fakeDNS { return &fakeDNS{names: map[string][]netip.Addr{}} }
