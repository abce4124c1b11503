// Package routertest holds what the router integrations' tests and
// benchmarks share: two overlapping requests whose timers must each land in
// their own packet, the requests of the naming tests and their check, and
// a sink to benchmark real sends against.
package routertest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/pynba-go/pynba"
	"github.com/pynba-go/pynba/pinbatest"
)

// Overlap runs two requests at once through a router and checks that each
// packet holds its own timers only. The route's handler calls Work.
type Overlap struct {
	ready   chan struct{}
	release chan struct{}
}

// NewOverlap returns an Overlap for one test.
func NewOverlap() *Overlap {
	return &Overlap{ready: make(chan struct{}, 2), release: make(chan struct{})}
}

// Work is the route's handler body: a timer through the proxy held until
// both requests run, one through FromContext(ctx), and the request tag id.
func (o *Overlap) Work(ctx context.Context, id string) {
	tm := pynba.Timer(pynba.Tags{"proxy": id}).Start()
	o.ready <- struct{}{}
	select {
	case <-o.release:
	case <-time.After(5 * time.Second):
	}
	tm.Stop()
	pynba.FromContext(ctx).Timer(pynba.Tags{"ctx": id}).Start().Stop()
	pynba.SetTag("id", id)
}

// Check sends GET path(id) for ids 1 and 2 through h, monitored towards
// srv, and checks both packets: script name wantScript, two timers of
// their own request each.
func (o *Overlap) Check(t *testing.T, h http.Handler, srv *pinbatest.Server, path func(id string) string, wantScript string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, id := range []string{"1", "2"} {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path(id), nil)) })
	}
	for range 2 {
		select {
		case <-o.ready:
		case <-time.After(5 * time.Second):
			t.Error("the two requests did not overlap")
		}
	}
	close(o.release)
	wg.Wait()
	pkts, err := srv.Wait(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pkts {
		id := p.Tags.Get("id")
		seen[id] = true
		if p.ScriptName != wantScript {
			t.Errorf("request %s: script %q, want %q", id, p.ScriptName, wantScript)
		}
		if len(p.Timers) != 2 {
			t.Errorf("request %s: %d timers, want 2: %v", id, len(p.Timers), p.Timers)
		}
		for _, tm := range p.Timers {
			if !tm.Tags.Has("proxy", id) && !tm.Tags.Has("ctx", id) {
				t.Errorf("request %s holds a timer of another: %v", id, tm)
			}
		}
	}
	if !seen["1"] || !seen["2"] {
		t.Errorf("request tags %v", seen)
	}
}

// discard is a ResponseWriter that keeps nothing, so benchmarks measure
// the router and the monitoring, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// Sink returns the address of a loopback UDP socket that nobody reads: the
// kernel drops what does not fit, so a benchmark pays for real sends
// without a decoder.
func Sink(b *testing.B) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c.LocalAddr().String()
}

// Serve benchmarks h on one request for target, writing to a discarding
// ResponseWriter.
func Serve(b *testing.B, h http.Handler, target string) {
	req := httptest.NewRequest("GET", target, nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// A Request is one request of a naming test and the status it must get.
type Request struct {
	Method, Target string
	Status         int
}

// TemplateRequests are the requests of the route-template test, against
// routes every router test defines: n GETs of /items/<i>, a POST of
// /items (answered 201) and a GET of /api/users/7/orders/99 (under a
// group or subrouter), then extra.
func TemplateRequests(n int, extra ...Request) []Request {
	reqs := make([]Request, 0, n+2+len(extra))
	for i := range n {
		reqs = append(reqs, Request{"GET", fmt.Sprintf("/items/%d", i), http.StatusOK})
	}
	reqs = append(reqs, Request{"POST", "/items", http.StatusCreated}, Request{"GET", "/api/users/7/orders/99", http.StatusOK})
	return append(reqs, extra...)
}

// NoRouteRequests match no route of those routes: two unknown paths (a
// scanner's), one under the group or subrouter, and two known paths with a
// method they do not take.
var NoRouteRequests = []Request{
	{"GET", "/nowhere/1", http.StatusNotFound},
	{"GET", "/nowhere/2", http.StatusNotFound},
	{"GET", "/api/nowhere", http.StatusNotFound},
	{"DELETE", "/items/1", http.StatusMethodNotAllowed},
	{"PUT", "/items", http.StatusMethodNotAllowed},
}

// CheckNames serves reqs through h, one after the other, each of which must
// get its status; then it checks that srv received a packet for each, in
// order, with that status, and that the packets' script names, counted,
// are want.
func CheckNames(t *testing.T, h http.Handler, srv *pinbatest.Server, reqs []Request, want map[string]int) {
	t.Helper()
	for _, r := range reqs {
		if code := Do(h, r.Method, r.Target); code != r.Status {
			t.Fatalf("%s %s: %d, want %d", r.Method, r.Target, code, r.Status)
		}
	}
	pkts, err := srv.Wait(len(reqs), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for i, p := range pkts {
		names[p.ScriptName]++
		if r := reqs[i]; p.Status != uint32(r.Status) {
			t.Errorf("%s %s: status %d sent, want %d", r.Method, r.Target, p.Status, r.Status)
		}
	}
	if !maps.Equal(names, want) {
		t.Errorf("script names %v, want %v", names, want)
	}
}

// Monitored wraps h with a pynba Middleware sending to a pinbatest server;
// both are closed when the test ends.
func Monitored(t testing.TB, h http.Handler, opts ...pynba.Option) (*pinbatest.Server, http.Handler) {
	t.Helper()
	srv := pinbatest.NewServer()
	m, err := pynba.NewMiddleware(h, srv.Addr(), opts...)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		srv.Close()
	})
	return srv, m
}

// Do serves one request through h and returns the status.
func Do(h http.Handler, method, target string) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Code
}

// ServeMonitored benchmarks h under a pynba Middleware sending to a Sink,
// on one request for target (see Serve).
func ServeMonitored(b *testing.B, h http.Handler, target string, opts ...pynba.Option) {
	m, err := pynba.NewMiddleware(h, Sink(b), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	Serve(b, m, target)
}
